"""Attribution profiles: with a registry whose items map model x cost center x environment to
application inference profiles, validate sends every call to a model route through the profile
tagged with the request's tags, refuses a combination that has none, and leaves cost-center
routes and applications without a map as they were."""

import boto3
import pytest
from conftest import TABLE, article_request, article_routes
from lambda_context import LAMBDA_CONTEXT
from test_validation import OPTIONS

from tollgate import config_store
from tollgate.applications import Application, ApplicationConfigError, application_from_item
from tollgate.config_store import ConfigStore
from tollgate.handlers import validate
from tollgate.routing import KIND_APPLICATION_PROFILE, Route, default_routes
from tollgate.validation import ValidationOptions, validate_request

HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
SUPPORT_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/supp0rtprod1"
SALES_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sa1esprod002"
OPEN_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/unassigned03"
SEED_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/seedsales004"

HELPER = Application(
    "aws-documentation-helper",
    cost_centers=("support", "sales"),
    environments=("production",),
    routes=("claude-3-5-haiku", "sales"),
    profiles={f"{HAIKU}|support|production": SUPPORT_ARN, f"{HAIKU}|sales|production": SALES_ARN},
)
OPEN = Application("open", profiles={f"{HAIKU}|unassigned|unassigned": OPEN_ARN})
REGISTRY = {HELPER.application_id: HELPER, OPEN.application_id: OPEN}


def routes(catalogue):
    seed = Route(
        name="sales",
        kind=KIND_APPLICATION_PROFILE,
        model_id=SEED_ARN,
        base_model_id="anthropic.claude-3-haiku-20240307-v1:0",
    )
    return {**default_routes(catalogue), **article_routes(), "sales": seed}


def check(request, catalogue, applications=REGISTRY):
    options = ValidationOptions(
        OPTIONS.allowed_environments, OPTIONS.max_prompt_chars, False, applications=applications
    )
    return validate_request(request, routes=routes(catalogue), catalogue=catalogue, options=options)


def with_tags(**tags):
    return {**article_request(), "tags": tags}


def test_a_model_route_goes_through_the_profile_tagged_with_the_requests_tags(catalogue):
    context = check(article_request(), catalogue).context  # support / production
    assert context["valid"] is True
    assert context["modelId"] == SUPPORT_ARN
    assert context["kind"] == KIND_APPLICATION_PROFILE
    assert context["modelMetric"] == "supp0rtprod1"
    assert context["dimensions"]["ModelId"] == "supp0rtprod1"
    # the route, its model and its prices are the route's: only the resource billed changes
    assert context["route"] == "claude-3-5-haiku"
    assert context["baseModelId"] == HAIKU
    plain = check(article_request(), catalogue, applications={}).context
    assert context["prices"] == plain["prices"] and context["estimate"] == plain["estimate"]

    sales = with_tags(applicationId="aws-documentation-helper", costCenter="sales", environment="production")
    assert check(sales, catalogue).context["modelId"] == SALES_ARN


def test_open_lists_are_billed_to_the_unassigned_profile(catalogue):
    anything = {"applicationId": "open", "costCenter": "x", "environment": "dev"}
    for tags in ({"applicationId": "open"}, anything):
        assert check(with_tags(**tags), catalogue).context["modelId"] == OPEN_ARN


def test_a_combination_without_a_profile_is_a_validation_error_naming_the_tags(catalogue):
    request = {**with_tags(applicationId="open"), "model": "nova-lite"}
    context = check(request, catalogue).context
    assert context["valid"] is False
    [error] = context["errors"]
    assert error["field"] == "tags"
    assert "model 'nova-lite'" in error["message"] and "applicationId 'open'" in error["message"]
    assert "untagged" in error["message"]


def test_a_cost_center_route_keeps_its_own_profile(catalogue):
    request = {**article_request(), "model": "sales"}
    context = check(request, catalogue).context
    assert context["valid"] is True and context["modelId"] == SEED_ARN


def test_an_application_without_a_profile_map_calls_the_model_as_before(catalogue):
    registry = {"aws-documentation-helper": Application("aws-documentation-helper")}
    context = check(article_request(), catalogue, registry).context
    assert context["modelId"] == HAIKU and context["kind"] == "model"


def test_application_from_item_reads_the_profile_map_and_refuses_a_broken_one():
    item = {"pk": "APPLICATION", "sk": "a", "profiles": {f"{HAIKU}|unassigned|unassigned": OPEN_ARN}}
    assert application_from_item(item).profiles == {f"{HAIKU}|unassigned|unassigned": OPEN_ARN}
    assert application_from_item({"pk": "APPLICATION", "sk": "a"}).profiles is None
    with pytest.raises(ApplicationConfigError, match="profiles"):
        application_from_item({"pk": "APPLICATION", "sk": "a", "profiles": ["not", "a", "map"]})


def test_the_validate_handler_routes_through_the_profile_of_the_table_item(article_routing, table, catalogue):
    table.put_item(
        Item={
            "pk": "APPLICATION",
            "sk": "aws-documentation-helper",
            "costCenters": ["support"],
            "environments": ["production"],
            "profiles": {f"{HAIKU}|support|production": SUPPORT_ARN},
        }
    )
    config_store.clear_cache()
    store = ConfigStore(TABLE, boto3.client("dynamodb"), cache_seconds=60, catalogue=catalogue)
    assert store.applications()["aws-documentation-helper"].profiles == {
        f"{HAIKU}|support|production": SUPPORT_ARN
    }
    result = validate.handler({"request": article_request(), "executionId": "e"}, LAMBDA_CONTEXT)
    assert result["valid"] is True
    assert result["modelId"] == SUPPORT_ARN and result["modelMetric"] == "supp0rtprod1"
