"""AWS Budgets for LocalStack (PROVIDER_OVERRIDE_BUDGETS=tollgate): moto's budgets backend,
completed with what Terraform's aws_budgets_budget calls and moto lacks (subscribers of a
notification, budget tags, UpdateBudget). A cost budget is described with its actual spend this
month (CalculatedSpend.ActualSpend): what the Bedrock emulator served, priced and filtered as the
local Cost Explorer does, by its Service filter (Claude bills under its Marketplace name, so
Service = Amazon Bedrock alone misses it) and its TagKeyValue filter (user:<key>$<value>, active
tags only). Budgets send no notifications (see docs/reporting.md)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

from localstack.aws.api import CommonServiceException, RequestContext, handler
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider


def _backend(context: RequestContext):
    from moto.budgets.models import budgets_backends

    return budgets_backends[context.account_id]["aws"]


def _not_found(message: str) -> CommonServiceException:
    return CommonServiceException("NotFoundException", message, status_code=400, sender_fault=True)


def _budget(context: RequestContext, account: str, name: str):
    budget = _backend(context).budgets[account].get(name)
    if budget is None:
        raise _not_found(f"Unable to get budget: {name} - the budget doesn't exist.")
    return budget


def _same(a: dict, b: dict) -> bool:
    keys = ("NotificationType", "ComparisonOperator", "ThresholdType")
    return all(
        a.get(k, "PERCENTAGE" if k == "ThresholdType" else None)
        == b.get(k, "PERCENTAGE" if k == "ThresholdType" else None)
        for k in keys
    ) and float(a["Threshold"]) == float(b["Threshold"])


def _notification(context: RequestContext, request: dict):
    budget = _budget(context, request["AccountId"], request["BudgetName"])
    for n in budget.notifications:
        if _same(n.details, request["Notification"]):
            return n
    raise _not_found(f"Unable to find the notification of budget {request['BudgetName']}.")


def _with_spend(budget: dict, account: str) -> dict:
    """The budget with this month's actual spend under its filters."""
    from .bedrock.usage import USAGE
    from .costexplorer import TAG_STATUS, _amount, cost_usd, service_of

    if budget.get("BudgetType") != "COST":
        return budget
    filters = budget.get("CostFilters") or {}
    services, tag_values = filters.get("Service"), filters.get("TagKeyValue")
    active = TAG_STATUS.active(account)
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def tagged(record, wanted: str) -> bool:
        key, _, value = wanted.removeprefix("user:").partition("$")
        return key in active and dict(record.tags).get(key, "") == value

    spend = sum(
        (
            cost_usd(r)
            for r in USAGE.of(account)
            if month <= r.at <= now
            and (not services or service_of(r.model_id) in services)
            and (not tag_values or any(tagged(r, t) for t in tag_values))
        ),
        Decimal(0),
    )
    calculated = dict(budget.get("CalculatedSpend") or {})
    calculated["ActualSpend"] = {"Amount": _amount(spend), "Unit": "USD"}
    return {**budget, "CalculatedSpend": calculated}


def _arn(account: str, name: str) -> str:
    return f"arn:aws:budgets::{account}:budget/{name}"


class BudgetsProvider:
    service = "budgets"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tags: dict[str, dict[str, str]] = {}  # budget ARN -> tags

    @handler("CreateBudget", expand=False)
    def create_budget(self, context: RequestContext, request: dict) -> dict:
        response = call_moto(context)
        tags = request.get("ResourceTags") or []
        with self.lock:
            self.tags[_arn(request["AccountId"], request["Budget"]["BudgetName"])] = {
                t["Key"]: t["Value"] for t in tags
            }
        return response

    # moto's own (LocalStack has no generated API for budgets, so each is named here)
    @handler("DescribeBudget", expand=False)
    def describe_budget(self, context: RequestContext, request: dict) -> dict:
        response = call_moto(context)
        if response.get("Budget"):
            response["Budget"] = _with_spend(response["Budget"], request["AccountId"])
        return response

    @handler("DescribeBudgets", expand=False)
    def describe_budgets(self, context: RequestContext, request: dict) -> dict:
        response = call_moto(context)
        response["Budgets"] = [_with_spend(b, request["AccountId"]) for b in response.get("Budgets") or []]
        return response

    @handler("CreateNotification", expand=False)
    def create_notification(self, context: RequestContext, request: dict) -> dict:
        return call_moto(context)

    @handler("DeleteNotification", expand=False)
    def delete_notification(self, context: RequestContext, request: dict) -> dict:
        return call_moto(context)

    @handler("DescribeNotificationsForBudget", expand=False)
    def describe_notifications_for_budget(self, context: RequestContext, request: dict) -> dict:
        return call_moto(context)

    @handler("DeleteBudget", expand=False)
    def delete_budget(self, context: RequestContext, request: dict) -> dict:
        response = call_moto(context)
        with self.lock:
            self.tags.pop(_arn(request["AccountId"], request["BudgetName"]), None)
        return response

    @handler("UpdateBudget", expand=False)
    def update_budget(self, context: RequestContext, request: dict) -> dict:
        new = request["NewBudget"]
        budget = _budget(context, request["AccountId"], new["BudgetName"])
        kept = {k: budget.budget[k] for k in ("TimePeriod",) if k in budget.budget and k not in new}
        budget.budget = {**new, **kept, "LastUpdatedTime": budget.budget.get("LastUpdatedTime")}
        return {}

    @handler("DescribeSubscribersForNotification", expand=False)
    def describe_subscribers_for_notification(self, context: RequestContext, request: dict) -> dict:
        return {"Subscribers": list(_notification(context, request).subscribers)}

    @handler("CreateSubscriber", expand=False)
    def create_subscriber(self, context: RequestContext, request: dict) -> dict:
        _notification(context, request).subscribers.append(request["Subscriber"])
        return {}

    @handler("DeleteSubscriber", expand=False)
    def delete_subscriber(self, context: RequestContext, request: dict) -> dict:
        n = _notification(context, request)
        gone = request["Subscriber"]
        n.subscribers = [
            s
            for s in n.subscribers
            if (s["SubscriptionType"], s["Address"]) != (gone["SubscriptionType"], gone["Address"])
        ]
        return {}

    @handler("UpdateNotification", expand=False)
    def update_notification(self, context: RequestContext, request: dict) -> dict:
        n = _notification(context, {**request, "Notification": request["OldNotification"]})
        n.details = request["NewNotification"]
        return {}

    def _tags_of(self, arn: str) -> dict[str, str]:
        if arn not in self.tags:
            raise _not_found(f"The resource {arn} does not exist.")
        return self.tags[arn]

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        with self.lock:
            tags = self._tags_of(request["ResourceARN"])
            return {"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        with self.lock:
            self._tags_of(request["ResourceARN"]).update(
                {t["Key"]: t["Value"] for t in request["ResourceTags"]}
            )
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        with self.lock:
            tags = self._tags_of(request["ResourceARN"])
            for key in request["ResourceTagKeys"]:
                tags.pop(key, None)
        return {}


@aws_provider(api="budgets", name="tollgate")
def budgets_tollgate() -> Service:
    return Service.for_provider(BudgetsProvider())
