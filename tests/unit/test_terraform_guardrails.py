"""Organisation guardrails, for every resource the module's Terraform declares (whatever they are).

Every IAM role gets `path = var.iam_role_path` and `permissions_boundary =
var.iam_permissions_boundary_arn`; every resource of a type that takes tags gets `tags`; every
call of a sub-module passes on the variables it declares for these. The walk reads the .tf files
of the root module and of modules/, so a new role, resource or sub-module is checked without
changing this test. tests/terraform/guardrails.tftest.hcl checks the planned values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_DIRS = [ROOT, *sorted(p for p in (ROOT / "modules").iterdir() if p.is_dir())]

# Types whose provider schema has no `tags` argument (a new type is assumed taggable until it is
# listed here).
UNTAGGABLE = {
    "aws_cloudwatch_dashboard",
    "aws_dynamodb_table_item",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_kms_alias",
    "aws_lambda_permission",
    "aws_scheduler_schedule",
    "aws_sns_topic_policy",
    "aws_sns_topic_subscription",
    "aws_ce_cost_allocation_tag",
    "aws_cloudwatch_log_resource_policy",
    "aws_lambda_alias",
    "aws_cloudwatch_event_target",
    # a bucket's settings are sub-resources of the (tagged) bucket; none takes tags
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_policy",
}
GUARDRAIL_VARIABLES = ("iam_role_path", "iam_permissions_boundary_arn", "tags")


def blocks(text: str, kind: str) -> list[tuple[str, str, str]]:
    """(type or "", name, body) of every top-level `kind` block, by brace matching."""
    found = []
    for match in re.finditer(rf'^{kind} "([^"]+)"(?: "([^"]+)")? \{{', text, flags=re.MULTILINE):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        first, second = match.group(1), match.group(2)
        found.append((first if second else "", second or first, text[match.end() : i - 1]))
    return found


def argument(body: str, name: str) -> str | None:
    """The expression of a top-level argument of a block body (nested blocks skipped)."""
    depth = 0
    for line in body.splitlines():
        stripped = line.strip()
        if depth == 0 and (m := re.match(rf"^{name}\s*=\s*(.+)$", stripped)):
            return m.group(1).strip()
        depth += line.count("{") - line.count("}")
    return None


def declared(kind: str) -> list[tuple[Path, str, str, str]]:
    return [
        (directory, *block)
        for directory in MODULE_DIRS
        for tf in sorted(directory.glob("*.tf"))
        if tf.is_file()
        for block in blocks(tf.read_text(encoding="utf-8"), kind)
    ]


RESOURCES = declared("resource")


def test_the_walk_sees_the_module_s_resources():
    types = {t for _, t, _, _ in RESOURCES}
    assert {"aws_iam_role", "aws_lambda_function", "aws_sfn_state_machine", "aws_dynamodb_table"} <= types
    assert len([1 for _, t, _, _ in RESOURCES if t == "aws_iam_role"]) >= 2


@pytest.mark.parametrize(
    ("directory", "name", "body"),
    [(d, n, b) for d, t, n, b in RESOURCES if t == "aws_iam_role"],
    ids=lambda v: v.name if isinstance(v, Path) else None,
)
def test_every_role_has_the_path_and_the_boundary(directory, name, body):
    assert argument(body, "path") == "var.iam_role_path", f"{directory.name}: aws_iam_role.{name}"
    assert argument(body, "permissions_boundary") == "var.iam_permissions_boundary_arn", (
        f"{directory.name}: aws_iam_role.{name}"
    )


def test_every_taggable_resource_has_tags():
    untagged = [
        f"{d.relative_to(ROOT)}: {t}.{n}"
        for d, t, n, b in RESOURCES
        if t not in UNTAGGABLE and argument(b, "tags") is None
    ]
    assert untagged == []


def test_every_module_call_passes_the_guardrails_on():
    missing = []
    for directory, _, name, body in declared("module"):
        source = argument(body, "source")
        assert source and source.startswith('"./'), f"module.{name} must be local"
        child = (directory / source.strip('"')).resolve()
        child_variables = {
            n for tf in child.glob("*.tf") if tf.is_file() for _, n, _ in blocks(tf.read_text(), "variable")
        }
        for variable in GUARDRAIL_VARIABLES:
            if variable in child_variables and argument(body, variable) is None:
                missing.append(f"module.{name}: {variable}")
    assert missing == []


def test_a_role_without_the_guardrails_is_caught():
    body = 'name = "x"\n  path = var.iam_role_path\n  tags = var.tags\n'
    assert argument(body, "permissions_boundary") is None
    nested = 'name = "x"\n  ttl {\n    tags = 1\n  }\n'
    assert argument(nested, "tags") is None
