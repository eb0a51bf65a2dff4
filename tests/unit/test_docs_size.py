"""The README and docs/ stay within their budgets (issue 16), and every link into them still lands.

README.md, generated tables included, at most 20,000 bytes; docs/*.md at most 120,000 bytes in all.
Every relative link in the Markdown files, and every `docs/<page>.md#anchor` named in the code,
points at a file that exists and a heading that exists (GitHub's anchor rules).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_BUDGET = 20_000
DOCS_BUDGET = 120_000

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_REF = re.compile(r"\bdocs/([a-z_]+\.md)(#[a-z0-9_-]+)?")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            base = slug(m[1])
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def broken(target: Path, anchor: str) -> str | None:
    if not target.exists():
        return f"{target.relative_to(ROOT)} does not exist"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return f"{target.relative_to(ROOT)} has no heading #{anchor}"
    return None


def test_slug_follows_github():
    assert slug("0. From an application: `tollgate.client`") == "0-from-an-application-tollgateclient"
    assert slug("5.5 Record: one record per execution, whatever its outcome") == (
        "55-record-one-record-per-execution-whatever-its-outcome"
    )
    assert slug("Limit (written by Terraform, read by `rate_limit`)") == (
        "limit-written-by-terraform-read-by-rate_limit"
    )


def test_readme_fits_its_budget_including_the_generated_tables():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_BUDGET, f"README.md is {size:,} bytes; the budget is {README_BUDGET:,}"


def test_docs_fit_their_budget():
    sizes = {p.name: len(p.read_bytes()) for p in (ROOT / "docs").glob("*.md")}
    total = sum(sizes.values())
    largest = ", ".join(f"{name} {size:,}" for name, size in sorted(sizes.items(), key=lambda i: -i[1])[:3])
    assert total <= DOCS_BUDGET, f"docs/*.md is {total:,} bytes; the budget is {DOCS_BUDGET:,} ({largest})"


def test_the_readme_starts_with_the_commands_a_new_user_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Quick start")
    quick_start = readme[start : readme.index("\n## ", start + 1)]
    assert "make demo" in quick_start and "make test" in quick_start
    sections = ("## Use the module from another stack", "## The request and its outcomes", "## Documentation")
    for heading in sections:
        assert heading in readme
    for outcome in ("RateLimitExceeded", "InvocationFailed", "ValidationError", "Succeed"):
        assert outcome in readme
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme, f"the README does not link docs/{page.name}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands(path: Path):
    problems = []
    for link in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", link):
            continue
        file, _, anchor = link.partition("#")
        target = (path.parent / file).resolve() if file else path
        if problem := broken(target, anchor):
            problems.append(f"({link}): {problem}")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_every_docs_page_named_in_the_code_exists_with_its_anchor():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    problems = []
    for name in tracked:
        path = ROOT / name
        if path.suffix == ".md" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for page, anchor in CODE_REF.findall(text):
            if problem := broken(ROOT / "docs" / page, anchor.lstrip("#")):
                problems.append(f"{name}: docs/{page}{anchor}: {problem}")
    assert not problems, "; ".join(problems)
