#!/usr/bin/env python3
"""Render the inputs and outputs tables of a Terraform module into its README.

terraform-docs is not available offline, so this does the part of its job Tollgate needs: the
tables go between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->`` in ``README.md`` of the
root module and of every ``modules/*``, read from ``variables.tf`` and ``outputs.tf`` with
python-hcl2.

    python tools/tfdocs.py           rewrite the tables in place
    python tools/tfdocs.py --check   exit 1, naming the stale READMEs, when a table is out of date

In the root README an object type is shown as ``object`` (``map(object)``, ...) linking to the
variable's section in docs/, as terraform-aws-modules do: the heading named after the variable
(``### `budgets` ``, ``## Limits``), in docs/terraform.md or else in the page that owns the
topic. The sub-modules' READMEs show the whole type. Both commands fail when a section is missing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
# Where the root module's object-typed variables are explained: a heading named after each,
# looked up in ROOT_DOCS first, then in the other pages of DOCS_DIR.
DOCS_DIR = ROOT / "docs"
ROOT_DOCS = DOCS_DIR / "terraform.md"


def module_dirs(root: Path = ROOT) -> list[Path]:
    return [root, *sorted(p for p in (root / "modules").iterdir() if (p / "variables.tf").exists())]


def _unquote(text: str) -> str:
    """python-hcl2 keeps a string's quotes and escapes: '"a\\"b"' -> 'a"b'."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return json.loads(text)
    return text


def _expression(value: Any) -> str:
    """An HCL value or type as it reads in source: ``${...}`` unwrapped, strings quoted once."""
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        if value.startswith('"'):
            return json.dumps(_unquote(value))
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_expression(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items() if k != "__is_block__"]
        return "{" + ", ".join(f"{_unquote(k)} = {_expression(v)}" for k, v in items) + "}"
    return json.dumps(value)


def _compact(kind: str) -> str:
    """``map(object({a = string}))`` -> ``map(object)``: the fields are in the variable's doc section."""
    return re.sub(r"object\(\{.*\}\)", "object", kind, flags=re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def doc_sections(markdown: str) -> set[str]:
    return {anchor(m) for m in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)}


def section_links(names: Iterable[str], root_docs: Path, base: Path) -> dict[str, str | None]:
    """Variable -> ``<page>#<anchor>`` of its section, relative to ``base`` (None: no section)."""
    pages = [root_docs, *sorted(p for p in root_docs.parent.glob("*.md") if p != root_docs)]
    headings = {page: doc_sections(page.read_text(encoding="utf-8")) for page in pages if page.exists()}
    return {
        name: next(
            (
                f"{page.relative_to(base).as_posix()}#{anchor(name)}"
                for page, found in headings.items()
                if anchor(name) in found
            ),
            None,
        )
        for name in names
    }


def linked_variables(module: Path) -> list[str]:
    """The variables whose type the tables link to their doc section (object types)."""
    return [
        name
        for name, body in _blocks(module / "variables.tf", "variable")
        if "object(" in _expression(body.get("type", "any"))
    ]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _blocks(path: Path, kind: str) -> Iterable[tuple[str, dict[str, Any]]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle)
    return [(_unquote(name), body) for block in parsed.get(kind, []) for name, body in block.items()]


def render(module: Path, links: dict[str, str | None] | None = None) -> str:
    """The tables; a variable in ``links`` has its object type compact, linking to its section."""
    lines = ["## Inputs", ""]
    variables = list(_blocks(module / "variables.tf", "variable"))
    if variables:
        lines += [
            "| Name | Description | Type | Default | Required |",
            "|------|-------------|------|---------|:--------:|",
        ]
        for name, body in variables:
            required = "default" not in body
            default = "n/a" if required else f"`{_cell(_expression(body['default']))}`"
            description = _cell(_unquote(body.get("description", "")))
            kind = f"`{_cell(_expression(body.get('type', 'any')))}`"
            if links and links.get(name):
                kind = f"[{_compact(kind)}]({links[name]})"
            lines.append(
                f'| <a name="input_{name}"></a> `{name}` | {description} | {kind} | {default} '
                f"| {'yes' if required else 'no'} |"
            )
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    outputs = list(_blocks(module / "outputs.tf", "output"))
    if outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        for name, body in outputs:
            description = _cell(_unquote(body.get("description", "")))
            lines.append(f'| <a name="output_{name}"></a> `{name}` | {description} |')
    else:
        lines.append("No outputs.")
    return "\n".join(lines)


def updated(readme: str, tables: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), flags=re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"no {BEGIN} ... {END} markers: add them where the tables belong")
    return pattern.sub(lambda _: f"{BEGIN}\n{tables}\n{END}", readme, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a README's tables are stale")
    args = parser.parse_args(argv)
    stale = []
    links = section_links(linked_variables(ROOT), ROOT_DOCS, ROOT)
    missing = [name for name, link in links.items() if link is None]
    if missing:
        print(
            f"docs/ needs a section (a heading named after the variable) for: {', '.join(missing)}.",
            file=sys.stderr,
        )
        return 1
    for module in module_dirs():
        readme = module / "README.md"
        if not readme.exists():
            stale.append(f"{readme.relative_to(ROOT)} (missing)")
            continue
        current = readme.read_text(encoding="utf-8")
        wanted = updated(current, render(module, links if module == ROOT else None))
        if wanted != current:
            if args.check:
                stale.append(str(readme.relative_to(ROOT)))
            else:
                readme.write_text(wanted, encoding="utf-8")
                print(f"updated {readme.relative_to(ROOT)}")
    if stale:
        print(f"Inputs/outputs tables are stale in: {', '.join(stale)}. Run `make docs`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
