"""tools/package.py: the same sources give the same zip, byte for byte."""

import hashlib
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("package_tool", ROOT / "tools" / "package.py")
package_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(package_tool)


def make_tree(base: Path, files: dict[str, str], *, mtime: int, mode: int, reverse: bool) -> Path:
    for name in sorted(files, reverse=reverse):
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))
    return base


DEPS = {
    "somelib/__init__.py": "VALUE = 1\n",
    "somelib/__pycache__/__init__.cpython-312.pyc": "bytecode",
    "somelib-1.0.dist-info/RECORD": "somelib/__init__.py,,\n",
    "bin/somelib-cli": "#!/usr/bin/python\n",
}


def build_copy(tmp_path: Path, name: str, *, mtime: int, mode: int, reverse: bool) -> tuple[str, Path]:
    source = tmp_path / name / "tollgate"
    shutil.copytree(
        ROOT / "functions" / "tollgate", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "stray.cpython-311.pyc").write_text("stale")
    for path in sorted(source.rglob("*"), reverse=reverse):
        if path.is_file():
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))
    deps = make_tree(tmp_path / name / "deps", DEPS, mtime=mtime, mode=mode, reverse=reverse)
    output = tmp_path / name / "dist" / "tollgate.zip"
    return package_tool.build(source, [deps], output), output


def test_two_builds_of_the_same_sources_have_the_same_sha256(tmp_path):
    first, first_zip = build_copy(tmp_path, "a", mtime=1_000_000_000, mode=0o644, reverse=False)
    second, second_zip = build_copy(tmp_path, "b", mtime=1_700_000_000, mode=0o755, reverse=True)
    assert first == second
    assert hashlib.sha256(first_zip.read_bytes()).hexdigest() == first
    assert first_zip.read_bytes() == second_zip.read_bytes()


def test_a_changed_source_changes_the_zip(tmp_path):
    first, _ = build_copy(tmp_path, "a", mtime=1_000_000_000, mode=0o644, reverse=False)
    source = tmp_path / "a" / "tollgate"
    (source / "tokens.py").write_text((source / "tokens.py").read_text() + "\n# changed\n")
    assert package_tool.build(source, [tmp_path / "a" / "deps"], tmp_path / "c.zip") != first


def test_the_zip_holds_the_package_and_dependencies_normalised(tmp_path):
    _, output = build_copy(tmp_path, "a", mtime=1_700_000_000, mode=0o755, reverse=False)
    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    for required in (
        "tollgate/__init__.py",
        "tollgate/data/models.json",
        "tollgate/handlers/validate.py",
        "tollgate/handlers/rate_limit.py",
        "tollgate/handlers/invoke.py",
        "tollgate/handlers/record_metrics.py",
        "tollgate/handlers/sweeper.py",
        "tollgate/py.typed",  # PEP 561: the package's annotations are its types
        "somelib/__init__.py",
        "somelib-1.0.dist-info/RECORD",
    ):
        assert required in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("bin/")]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}


def test_a_dependency_that_shadows_the_package_is_refused(tmp_path):
    deps = make_tree(tmp_path / "deps", {"tollgate/__init__.py": ""}, mtime=0, mode=0o644, reverse=False)
    with pytest.raises(SystemExit, match=r"both have tollgate/__init__\.py"):
        package_tool.build(ROOT / "functions" / "tollgate", [deps], tmp_path / "x.zip")
