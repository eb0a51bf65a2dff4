"""The application registry: with APPLICATION items, tags are checked against them; without, they are
self-asserted as before."""

import boto3
import pytest
from conftest import TABLE, article_request, article_routes
from lambda_context import LAMBDA_CONTEXT
from test_validation import OPTIONS

from tollgate.applications import Application, application_from_item
from tollgate.config_store import ConfigStore
from tollgate.handlers import validate
from tollgate.routing import default_routes
from tollgate.validation import ValidationOptions, validate_request

HELPER = Application(
    "aws-documentation-helper",
    cost_centers=("support", "sales"),
    environments=("production",),
    routes=("claude-3-5-haiku", "nova-lite"),
)
REGISTRY = {HELPER.application_id: HELPER, "open": Application("open")}


def check(request, catalogue, applications=REGISTRY):
    options = ValidationOptions(
        OPTIONS.allowed_environments, OPTIONS.max_prompt_chars, False, applications=applications
    )
    return validate_request(
        request,
        routes={**default_routes(catalogue), **article_routes()},
        catalogue=catalogue,
        options=options,
    )


def errors(result):
    return {e["field"]: e["message"] for e in result.context.get("errors", [])}


def test_a_registered_application_within_its_tags_and_routes_is_valid(catalogue):
    assert check(article_request(), catalogue).valid


def test_without_a_registry_any_application_is_accepted(catalogue):
    request = article_request()
    request["tags"] = {"applicationId": "invented-per-request-123", "costCenter": "anyone"}
    assert check(request, catalogue, applications={}).valid


@pytest.mark.parametrize(
    ("tags", "model", "field", "message"),
    [
        (
            {"applicationId": "invented-123", "costCenter": "support"},
            "claude-3-5-haiku",
            "tags.applicationId",
            "Application 'invented-123' is not registered",
        ),
        (
            {
                "applicationId": "aws-documentation-helper",
                "costCenter": "finance",
                "environment": "production",
            },
            "claude-3-5-haiku",
            "tags.costCenter",
            "may not use costCenter 'finance': use 'support', 'sales'.",
        ),
        (
            {"applicationId": "aws-documentation-helper", "environment": "production"},
            "claude-3-5-haiku",
            "tags.costCenter",
            "tags.costCenter is required for application 'aws-documentation-helper'",
        ),
        (
            {"applicationId": "aws-documentation-helper", "costCenter": "sales", "environment": "dev"},
            "claude-3-5-haiku",
            "tags.environment",
            "Application 'aws-documentation-helper' may not use environment 'dev': use 'production'.",
        ),
        (
            {"applicationId": "aws-documentation-helper", "costCenter": "sales", "environment": "production"},
            "claude-3-5-sonnet-v2",
            "model",
            "Application 'aws-documentation-helper' may not use model 'claude-3-5-sonnet-v2'",
        ),
    ],
)
def test_anything_outside_the_registry_is_a_validation_error_naming_the_tag(
    catalogue, tags, model, field, message
):
    request = {**article_request(), "tags": tags, "model": model}
    result = check(request, catalogue)
    assert not result.valid
    assert list(errors(result)) == [field]
    assert message in errors(result)[field]


def test_an_unregistered_application_gets_no_metric_dimension_of_its_own(catalogue):
    request = {**article_request(), "tags": {"applicationId": "invented-123"}}
    assert check(request, catalogue).context["dimensions"]["Application"] == "invalid"


def test_an_application_that_lists_nothing_may_use_any_tag_and_route(catalogue):
    request = {
        **article_request(),
        "model": "nova-micro",
        "tags": {"applicationId": "open", "costCenter": "x"},
    }
    assert check(request, catalogue).valid


def test_an_empty_list_allows_nothing(catalogue):
    registry = {"locked": Application("locked", routes=())}
    request = {**article_request(), "tags": {"applicationId": "locked"}}
    assert "it may use none" in errors(check(request, catalogue, registry))["model"]


def test_items_become_the_registry_and_a_broken_item_is_left_out(table, catalogue, logs):
    table.put_item(
        Item={
            "pk": "APPLICATION",
            "sk": "aws-documentation-helper",
            "costCenters": ["support", "sales"],
            "environments": ["production"],
            "routes": ["claude-3-5-haiku", "nova-lite"],
        }
    )
    table.put_item(Item={"pk": "APPLICATION", "sk": "open"})
    table.put_item(Item={"pk": "APPLICATION", "sk": "broken", "routes": "not-a-list"})
    store = ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=60, catalogue=catalogue)
    assert store.applications() == REGISTRY
    assert any(line.get("applicationId") == "broken" and line["level"] == "ERROR" for line in logs())


def test_application_from_item_reads_the_lists():
    item = {"pk": "APPLICATION", "sk": "a", "costCenters": ["x"], "routes": []}
    assert application_from_item(item) == Application("a", cost_centers=("x",), routes=())


def test_the_validate_handler_reads_the_registry_from_the_table(article_routing, table):
    request = {**article_request(), "tags": {"applicationId": "invented-123"}}
    assert validate.handler({"request": request, "executionId": "e"}, LAMBDA_CONTEXT)["valid"] is True
    table.put_item(Item={"pk": "APPLICATION", "sk": "aws-documentation-helper"})
    from tollgate import config_store

    config_store.clear_cache()
    result = validate.handler({"request": request, "executionId": "e"}, LAMBDA_CONTEXT)
    assert result["valid"] is False
    assert [e["field"] for e in result["errors"]] == ["tags.applicationId"]
    assert (
        validate.handler({"request": article_request(), "executionId": "e"}, LAMBDA_CONTEXT)["valid"] is True
    )
