"""The generated inputs/outputs tables (tools/tfdocs.py): what they render, and that they are current."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("tfdocs", ROOT / "tools" / "tfdocs.py")
tfdocs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tfdocs)


def declared(kind: str, path: Path) -> list[str]:
    return re.findall(rf'^{kind} "([a-z0-9_]+)"', path.read_text(encoding="utf-8"), flags=re.MULTILINE)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    (tmp_path / "variables.tf").write_text(
        'variable "needed" {\n  description = "A | pipe\\nand a newline."\n  type = string\n}\n\n'
        'variable "limits" {\n  description = "Some limits."\n'
        "  type = list(object({ unit = string, enforce = optional(bool, true) }))\n"
        '  default = [{ unit = "requests", enforce = false }]\n}\n',
        encoding="utf-8",
    )
    (tmp_path / "outputs.tf").write_text(
        'output "arn" {\n  description = "The ARN."\n  value = "x"\n}\n', encoding="utf-8"
    )
    return tmp_path


def test_a_variable_without_default_is_required_and_cells_stay_on_one_line(module):
    table = tfdocs.render(module)
    row = next(line for line in table.splitlines() if "`needed`" in line)
    expected = '| <a name="input_needed"></a> `needed` | A \\| pipe and a newline. | `string` | n/a | yes |'
    assert row == expected


def test_types_and_defaults_read_as_hcl(module):
    row = next(line for line in tfdocs.render(module).splitlines() if "`limits`" in line)
    assert "`list(object({unit = string, enforce = optional(bool, true)}))`" in row
    assert '`[{unit = "requests", enforce = false}]` | no |' in row
    assert '| <a name="output_arn"></a> `arn` | The ARN. |' in tfdocs.render(module)


def test_with_links_object_types_are_compact_and_link_to_their_section(module):
    page = "docs/" + "x.md#limits"  # this test's own page (test_docs_size checks the real docs/ links)
    table = tfdocs.render(module, {"limits": page})
    row = next(line for line in table.splitlines() if "`limits`" in line)
    assert f"| [`list(object)`]({page}) |" in row
    needed = next(line for line in table.splitlines() if "`needed`" in line)
    assert "| `string` |" in needed, "a type without an object stays whole"


def test_a_section_is_found_in_terraform_md_first_then_in_the_page_that_owns_it(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "terraform.md").write_text("# Module\n\n### `models`\n", encoding="utf-8")
    (docs / "ledger.md").write_text("# Ledger\n\n## Limits\n\n### `models`\n", encoding="utf-8")
    links = tfdocs.section_links(["models", "limits", "alarms"], docs / "terraform.md", tmp_path)
    assert links == {"models": "docs/terraform.md#models", "limits": "docs/ledger.md#limits", "alarms": None}


def test_every_object_variable_has_a_section():
    links = tfdocs.section_links(tfdocs.linked_variables(ROOT), tfdocs.ROOT_DOCS, ROOT)
    assert {"models", "limits", "budgets"} <= set(links)
    assert [name for name, link in links.items() if link is None] == []
    assert tfdocs.anchor("`lambda_package_s3`") == "lambda_package_s3"
    assert tfdocs.anchor("Routes and limits") == "routes-and-limits"


def test_a_missing_section_fails_the_check(monkeypatch, tmp_path):
    docs = tmp_path / "terraform.md"
    docs.write_text("# The Terraform module\n\n## What it builds\n", encoding="utf-8")
    monkeypatch.setattr(tfdocs, "ROOT_DOCS", docs)
    assert tfdocs.main(["--check"]) == 1


def test_the_root_tables_fit_their_budget():
    # issue 16: a README of at most 20,000 bytes leaves the generated tables about 12,000.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tables = readme[readme.index(tfdocs.BEGIN) : readme.index(tfdocs.END)]
    assert len(tables.encode("utf-8")) <= 12_000


def test_updated_replaces_only_what_is_between_the_markers():
    readme = f"intro\n{tfdocs.BEGIN}\nold\n{tfdocs.END}\noutro\n"
    assert tfdocs.updated(readme, "new") == f"intro\n{tfdocs.BEGIN}\nnew\n{tfdocs.END}\noutro\n"
    with pytest.raises(SystemExit, match="markers"):
        tfdocs.updated("no markers here", "new")


def test_every_module_readme_is_current():
    assert tfdocs.main(["--check"]) == 0, "run `make docs`"


def test_the_root_readme_names_every_variable_and_output():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in declared("variable", ROOT / "variables.tf"):
        assert f'<a name="input_{name}"></a>' in readme
    for name in declared("output", ROOT / "outputs.tf"):
        assert f'<a name="output_{name}"></a>' in readme


def test_the_issue_s_output_names_are_all_there():
    required = {
        "state_machine_arn",
        "state_machine_name",
        "limits_table_name",
        "limits_table_arn",
        "function_arns",
        "inference_profile_arns",
        "model_routes",
        "dashboard_name",
        "metrics_namespace",
    }
    assert required <= set(declared("output", ROOT / "outputs.tf"))
