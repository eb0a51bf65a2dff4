"""`make release`: the versioned zip, its SHA-256 file and the CHANGELOG entry."""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import release  # noqa: E402

CHANGELOG = """# Changelog

Intro.

## [0.1.0] - 2026-11-28

### Added
- first
"""


def test_the_versioned_zip_and_its_sha256_file(tmp_path):
    package = tmp_path / "tollgate.zip"
    package.write_bytes(b"PK\x03\x04 not really a zip")
    zip_path, sha_path, b64 = release.write_release(package, "0.2.0", tmp_path / "dist")
    digest = hashlib.sha256(package.read_bytes()).digest()
    assert zip_path == tmp_path / "dist" / "tollgate-0.2.0.zip"
    assert zip_path.read_bytes() == package.read_bytes()
    # the format `sha256sum -c` reads
    assert sha_path.read_text() == f"{digest.hex()}  tollgate-0.2.0.zip\n"
    assert b64 == base64.b64encode(digest).decode()


def test_a_missing_package_says_to_build_it(tmp_path, capsys):
    code = release.main(["--package", str(tmp_path / "none.zip"), "--dist", str(tmp_path)])
    assert code == 1
    assert "run `make package` first" in capsys.readouterr().err


def test_a_changelog_entry_is_added_once_above_the_newest(tmp_path):
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG)
    assert release.ensure_changelog_entry(changelog, "0.2.0", ["S3 package", "Guardrails"], "2026-11-30")
    text = changelog.read_text()
    assert text.index("## [0.2.0] - 2026-11-30") < text.index("## [0.1.0]")
    assert "- S3 package\n- Guardrails\n" in text
    assert not release.ensure_changelog_entry(changelog, "0.2.0", ["other"], "2026-12-01")
    assert changelog.read_text() == text


def test_an_existing_entry_is_left_alone(tmp_path):
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG)
    assert not release.ensure_changelog_entry(changelog, "0.1.0", ["x"], "2026-11-30")
    assert changelog.read_text() == CHANGELOG


def test_the_project_has_a_changelog_entry_for_its_version():
    version = release.project_version(ROOT / "pyproject.toml")
    assert f"\n## [{version}]" in (ROOT / "CHANGELOG.md").read_text()


def test_the_unreleased_section_becomes_the_version(tmp_path):
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG.replace("## [0.1.0]", "## [Unreleased]\n\n### Added\n- S3\n\n## [0.1.0]"))
    assert release.ensure_changelog_entry(changelog, "0.2.0", ["ignored"], "2026-11-30")
    text = changelog.read_text()
    assert "## [Unreleased]" not in text and "ignored" not in text
    assert text.index("## [0.2.0] - 2026-11-30\n\n### Added\n- S3") < text.index("## [0.1.0]")
