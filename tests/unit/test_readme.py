"""The README's inputs and outputs tables name exactly the module's variables and outputs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def declared(kind: str, path: Path) -> list[str]:
    return re.findall(rf'^{kind} "([a-z0-9_]+)"', path.read_text(encoding="utf-8"), flags=re.MULTILINE)


def documented(section: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| <a name=\"[a-z0-9_]+\"></a> `([a-z0-9_]+)` \|", body, flags=re.MULTILINE)


def test_every_variable_is_in_the_inputs_table_and_nothing_else():
    assert documented("Inputs") == declared("variable", ROOT / "variables.tf")


def test_every_output_is_in_the_outputs_table_and_nothing_else():
    assert documented("Outputs") == declared("output", ROOT / "outputs.tf")


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
