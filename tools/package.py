"""Build dist/tollgate.zip: the tollgate package and its runtime dependencies, deterministically.

The dependencies (requirements/lambda.txt) are installed as wheels for the Lambda runtime
(python3.12, x86_64, manylinux) into a cache under build/ keyed by the requirements' content, so a
second build needs no network. boto3 is not bundled: the Lambda runtime provides it.

The zip is the same bytes for the same sources: entries sorted, every timestamp 1980-01-01, every
file mode 0644, no directories, no __pycache__ or .pyc, one compression level.

    python tools/package.py --requirements requirements/lambda.txt --output dist/tollgate.zip
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "functions" / "tollgate"
CACHE = ROOT / "build" / "lambda-deps"
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
SKIPPED_DIRS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def install_dependencies(requirements: Path, platform: str, python_version: str) -> Path:
    """The directory holding the installed dependencies (built once per requirements content)."""
    fingerprint = f"{platform}|{python_version}|".encode() + requirements.read_bytes()
    target = CACHE / hashlib.sha256(fingerprint).hexdigest()[:16]
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=CACHE))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(staging), "--no-deps", "--no-compile", "--only-binary=:all:",
        "--platform", platform, "--python-version", python_version, "--implementation", "cp",
        "-r", str(requirements),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def files_under(base: Path, prefix: str = "") -> dict[str, Path]:
    """Archive name -> file, for every file under ``base`` that belongs in the zip."""
    found = {}
    for path in base.rglob("*"):
        relative = path.relative_to(base)
        if path.is_dir() or any(part in SKIPPED_DIRS for part in relative.parts):
            continue
        if relative.parts[0] == "bin":  # console scripts: their shebang names this machine's python
            continue
        if path.name.endswith(SKIPPED_SUFFIXES):
            continue
        found[prefix + relative.as_posix()] = path
    return found


def write_zip(entries: dict[str, Path], output: Path) -> str:
    """Write ``entries`` (archive name -> file) to ``output``; return its SHA-256."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes(), compresslevel=9)
    os.replace(partial, output)
    return hashlib.sha256(output.read_bytes()).hexdigest()


def build(source: Path, dependencies: Iterable[Path], output: Path) -> str:
    entries: dict[str, Path] = {}
    for directory in dependencies:
        entries.update(files_under(directory))
    package = files_under(source, prefix=f"{source.name}/")
    clash = sorted(set(entries) & set(package))
    if clash:
        raise SystemExit(f"The dependencies and the package both have {clash[0]}.")
    entries.update(package)
    return write_zip(entries, output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, required=True, help="runtime requirements (exact pins)")
    parser.add_argument("--output", type=Path, required=True, help="the zip to write")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the package directory")
    parser.add_argument("--deps-dir", type=Path, help="use these installed dependencies instead of pip")
    parser.add_argument("--platform", default=PLATFORM)
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    args = parser.parse_args(argv)

    deps = args.deps_dir or install_dependencies(args.requirements, args.platform, args.python_version)
    digest = build(args.source, [deps], args.output)
    print(f"{args.output}  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
