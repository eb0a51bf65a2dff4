"""Make a release of the Lambda package: dist/tollgate-<version>.zip, its SHA-256, a CHANGELOG entry.

The version is pyproject.toml's. The zip is `make package`'s dist/tollgate.zip under the
versioned name (same bytes: the build is deterministic). Next to it, tollgate-<version>.zip.sha256
in `sha256sum` format (check with `sha256sum -c`), and the base64 digest that Lambda reports as
CodeSha256 is printed. CHANGELOG.md must have a `## [<version>]` section; if it has none, its
`## [Unreleased]` section becomes the version's, or one is drafted from the commit subjects since
the previous release, to be edited before tagging.

    python tools/release.py --package dist/tollgate.zip
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ReleaseError(Exception):
    """Something to fix before releasing; printed as one line."""


def project_version(pyproject: Path) -> str:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def write_release(package: Path, version: str, dist: Path) -> tuple[Path, Path, str]:
    """Copy the package to dist/tollgate-<version>.zip, write its .sha256; return both, base64 digest."""
    if not package.is_file():
        raise ReleaseError(f"{package} does not exist; run `make package` first")
    dist.mkdir(parents=True, exist_ok=True)
    zip_path = dist / f"tollgate-{version}.zip"
    shutil.copyfile(package, zip_path)
    digest = hashlib.sha256(zip_path.read_bytes()).digest()
    sha_path = zip_path.with_name(zip_path.name + ".sha256")
    sha_path.write_text(f"{digest.hex()}  {zip_path.name}\n", encoding="utf-8")
    return zip_path, sha_path, base64.b64encode(digest).decode()


def changes_since_last_release(root: Path) -> list[str]:
    """Commit subjects since the last v* tag (all of them if there is none)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)

    tag = git("describe", "--tags", "--abbrev=0", "--match", "v*")
    span = [f"{tag.stdout.strip()}..HEAD"] if tag.returncode == 0 else []
    log = git("log", "--no-merges", "--format=%s", *span)
    return [line for line in log.stdout.splitlines() if line.strip()] if log.returncode == 0 else []


def ensure_changelog_entry(changelog: Path, version: str, changes: list[str], today: str) -> bool:
    """Give ``version`` a `## [version] - today` section unless it has one; True if changed.

    An `## [Unreleased]` section becomes the version's; otherwise a section is drafted from
    ``changes`` above the newest one.
    """
    text = changelog.read_text(encoding="utf-8")
    if f"\n## [{version}]" in f"\n{text}":
        return False
    if "\n## [Unreleased]" in f"\n{text}":
        changelog.write_text(
            text.replace("## [Unreleased]", f"## [{version}] - {today}", 1), encoding="utf-8"
        )
        return True
    items = "\n".join(f"- {subject}" for subject in changes) or "- (describe the changes)"
    entry = f"## [{version}] - {today}\n\n### Changed\n{items}\n\n"
    at = text.find("\n## [")
    text = text + "\n" + entry if at < 0 else text[: at + 1] + entry + text[at + 1 :]
    changelog.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=ROOT / "dist" / "tollgate.zip")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--changelog", type=Path, default=ROOT / "CHANGELOG.md")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    try:
        version = project_version(args.pyproject)
        zip_path, sha_path, b64 = write_release(args.package, version, args.dist)
    except ReleaseError as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    today = datetime.now(UTC).date().isoformat()
    if ensure_changelog_entry(args.changelog, version, changes_since_last_release(ROOT), today):
        print(f"{args.changelog.name}: added a [{version}] entry from the commits; edit it before tagging")
    else:
        print(f"{args.changelog.name}: has an entry for [{version}]")
    print(f"{zip_path}\n{sha_path}: {sha_path.read_text(encoding='utf-8').split()[0]}")
    print(f"CodeSha256 (base64, as Lambda reports it): {b64}")
    print(f"upload: aws s3api put-object --bucket <bucket> --key tollgate/{zip_path.name} --body {zip_path}")
    print("then set lambda_package_s3 = { bucket, key, object_version = <VersionId from put-object> }")
    return 0


if __name__ == "__main__":
    sys.exit(main())
