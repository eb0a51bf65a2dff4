from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import at

from tollgate.limits import (
    Amounts,
    Limit,
    LimitConfigError,
    limit_from_item,
    plan_counters,
    retry_after_seconds,
    window_bounds,
)


@pytest.mark.parametrize(
    ("window", "moment", "start", "end"),
    [
        ("minute", "2025-03-04T10:15:59.999999Z", "2025-03-04T10:15:00Z", "2025-03-04T10:16:00Z"),
        ("minute", "2025-03-04T10:16:00Z", "2025-03-04T10:16:00Z", "2025-03-04T10:17:00Z"),
        ("minute", "2025-12-31T23:59:30Z", "2025-12-31T23:59:00Z", "2026-01-01T00:00:00Z"),
        ("hour", "2025-03-04T10:59:59Z", "2025-03-04T10:00:00Z", "2025-03-04T11:00:00Z"),
        ("hour", "2025-03-04T23:00:00Z", "2025-03-04T23:00:00Z", "2025-03-05T00:00:00Z"),
        ("day", "2025-03-04T23:59:59Z", "2025-03-04T00:00:00Z", "2025-03-05T00:00:00Z"),
        ("day", "2024-02-28T12:00:00Z", "2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("day", "2024-02-29T12:00:00Z", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"),
        ("month", "2025-01-31T23:59:59Z", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"),
        ("month", "2025-02-14T00:00:00Z", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"),
        ("month", "2024-02-29T23:59:59Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
        ("month", "2025-04-30T08:00:00Z", "2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z"),
        ("month", "2025-12-31T23:59:59Z", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ],
)
def test_windows_are_calendar_aligned_in_utc(window, moment, start, end):
    assert window_bounds(window, at(moment)) == (at(start), at(end))


@pytest.mark.parametrize(
    ("month", "days"),
    [("2025-01", 31), ("2025-02", 28), ("2024-02", 29), ("2100-02", 28), ("2000-02", 29), ("2025-04", 30)],
)
def test_a_month_window_is_as_long_as_the_month(month, days):
    start, end = window_bounds("month", at(f"{month}-10T00:00:00Z"))
    assert end - start == timedelta(days=days)


def test_a_window_is_computed_in_utc_whatever_the_offset():
    from datetime import datetime, timezone

    local = datetime(2025, 3, 5, 1, 30, tzinfo=timezone(timedelta(hours=5)))  # 2025-03-04T20:30Z
    assert window_bounds("day", local) == (at("2025-03-04T00:00:00Z"), at("2025-03-05T00:00:00Z"))


@pytest.mark.parametrize(
    ("now", "end", "seconds"),
    [
        ("2025-03-04T10:15:59.001Z", "2025-03-04T10:16:00Z", 1),
        ("2025-03-04T10:15:58.5Z", "2025-03-04T10:16:00Z", 2),
        ("2025-03-04T10:15:00Z", "2025-03-04T10:16:00Z", 60),
        ("2025-03-04T10:16:00Z", "2025-03-04T10:16:00Z", 1),
        ("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z", 86400),
    ],
)
def test_retry_after_rounds_up_to_the_window_end_and_is_at_least_one(now, end, seconds):
    assert retry_after_seconds(at(end), at(now)) == seconds


def test_a_limit_item_is_checked():
    with pytest.raises(LimitConfigError) as raised:
        limit_from_item({"sk": "x", "scope": {"team": "a"}, "window": "week", "unit": "pages", "limit": -1})
    message = str(raised.value)
    assert message.startswith("Limit 'x' cannot be used:")
    for part in ("scope must map", "window must be one of", "unit must be one of", "limit must be a number"):
        assert part in message


def test_enforce_defaults_to_true():
    limit = limit_from_item({"sk": "x", "scope": {}, "window": "day", "unit": "usd", "limit": Decimal("2.5")})
    assert limit.enforce is True
    assert limit.ceiling == Decimal("2.5")
    shadow = limit_from_item({"sk": "y", "window": "day", "unit": "usd", "limit": 1, "enforce": False})
    assert shadow.enforce is False


CONTEXT = {
    "requestId": "r",
    "route": "sales",
    "baseRoute": "claude-3-haiku",
    "modelId": "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1",
    "tags": {"applicationId": "app", "costCenter": "sales"},
}
AMOUNTS = Amounts(input_tokens=40, output_tokens=2000, total_tokens=2040, usd=Decimal("0.0025100000"))
NOW = at("2025-03-04T10:15:30Z")


def limit(limit_id, scope, unit="requests", window="day"):
    return Limit(id=limit_id, scope=scope, window=window, unit=unit, ceiling=Decimal(100))


def test_a_limit_applies_when_every_scope_key_matches():
    limits = [
        limit("global", {}),
        limit("by-cc", {"costCenter": "sales"}),
        limit("other-cc", {"costCenter": "support"}),
        limit("cc-and-app", {"costCenter": "sales", "applicationId": "app"}),
        limit("cc-and-other-app", {"costCenter": "sales", "applicationId": "other"}),
        limit("by-route", {"model": "sales"}),
        limit("by-base-route", {"model": "claude-3-haiku"}),
        limit("by-model-id", {"model": CONTEXT["modelId"]}),
        limit("other-model", {"model": "nova-lite"}),
        limit("by-environment", {"environment": "prod"}),
    ]
    planned = [p.limit.id for p in plan_counters(limits, CONTEXT, AMOUNTS, NOW)]
    assert planned == sorted(["global", "by-cc", "cc-and-app", "by-route", "by-base-route", "by-model-id"])


def test_counter_keys_follow_the_window_and_the_scope_values():
    limits = [
        limit("*/minute/requests", {}, window="minute"),
        limit("each-app", {"applicationId": "*", "costCenter": "sales"}, unit="usd", window="month"),
        limit("each-env", {"environment": "*"}, unit="output_tokens", window="hour"),
        limit("each-model", {"model": "*"}, unit="total_tokens"),
    ]
    plans = {p.limit.id: p for p in plan_counters(limits, CONTEXT, AMOUNTS, NOW)}
    assert plans["*/minute/requests"].pk == "COUNTER#*/minute/requests"
    assert plans["*/minute/requests"].sk == "2025-03-04T10:15:00Z#"
    assert plans["each-app"].sk == "2025-03-01T00:00:00Z#applicationId=app,costCenter=sales"
    # An absent optional tag has its own counter instead of escaping a per-value limit.
    assert plans["each-env"].sk == "2025-03-04T10:00:00Z#environment=unspecified"
    assert plans["each-model"].sk == "2025-03-04T00:00:00Z#model=sales"


def test_each_unit_counts_its_own_amount():
    units = ["requests", "input_tokens", "output_tokens", "total_tokens", "usd"]
    plans = plan_counters([limit(u, {}, unit=u) for u in units], CONTEXT, AMOUNTS, NOW)
    assert {p.limit.id: p.amount for p in plans} == {
        "requests": 1,
        "input_tokens": 40,
        "output_tokens": 2000,
        "total_tokens": 2040,
        "usd": Decimal("0.00251"),
    }


def test_reservation_room_and_counter_expiry():
    (plan,) = plan_counters([limit("x", {}, unit="total_tokens", window="hour")], CONTEXT, AMOUNTS, NOW)
    assert plan.ceiling_minus_amount == 100 - 2040
    assert plan.fits_at_all is False
    # Counters live one hour past their window so a late settle still finds them.
    assert plan.expires_at == int(at("2025-03-04T12:00:00Z").timestamp())
