"""`tollgate models`: every route with the lifecycle Amazon Bedrock reports for the model behind it
(ListFoundationModels / GetFoundationModel `modelLifecycle`), beside the catalogue's, flagging
Legacy models and those past their end of life."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import ClientError

from tollgate.catalogue import Catalogue, strip_geo_prefix
from tollgate.routing import Route

ACTIVE, LEGACY, EOL, UNKNOWN = "ACTIVE", "LEGACY", "EOL", "UNKNOWN"


def foundation_model_id(route: Route) -> str:
    """The foundation model behind a route: a system profile's model (us.x -> x), an ARN's last part."""
    return strip_geo_prefix(route.base_model_id.rsplit("/", 1)[-1])


def aws_lifecycles(bedrock: Any, model_ids: set[str]) -> dict[str, dict[str, Any] | None]:
    """modelLifecycle per model ID: one ListFoundationModels, then GetFoundationModel for any model
    it did not list; None for a model Bedrock does not know."""
    listed = {
        m["modelId"]: m.get("modelLifecycle") or {}
        for m in bedrock.list_foundation_models()["modelSummaries"]
    }
    found: dict[str, dict[str, Any] | None] = {}
    for model_id in sorted(model_ids):
        if model_id in listed:
            found[model_id] = listed[model_id]
            continue
        try:
            details = bedrock.get_foundation_model(modelIdentifier=model_id)["modelDetails"]
            found[model_id] = details.get("modelLifecycle") or {}
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in (
                "ResourceNotFoundException",
                "ValidationException",
            ):
                raise
            found[model_id] = None
    return found


def _day(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    return str(value)[:10] if value else None


def model_rows(
    routes: Mapping[str, Route], bedrock: Any, catalogue: Catalogue, today: date | None = None
) -> list[dict[str, Any]]:
    today_text = (today or datetime.now(UTC).date()).isoformat()
    ids = {name: foundation_model_id(route) for name, route in routes.items()}
    lifecycles = aws_lifecycles(bedrock, set(ids.values()))
    rows = []
    for name, route in sorted(routes.items()):
        info = catalogue.model(route.base_model_id)
        aws = lifecycles[ids[name]]
        status = UNKNOWN if aws is None else str(aws.get("status") or UNKNOWN)
        end_of_life = _day((aws or {}).get("endOfLifeTime")) or info.eol_date
        if aws is None:
            flag = "NOT FOUND on Bedrock"
        elif end_of_life and end_of_life <= today_text:
            flag = f"{EOL} since {end_of_life}"
        elif status == LEGACY:
            flag = f"{LEGACY}" + (f", EOL {end_of_life}" if end_of_life else "")
        else:
            flag = ""
        rows.append(
            {
                "route": name,
                "kind": route.kind,
                "modelId": route.model_id,
                "foundationModel": ids[name],
                "status": status,
                "legacySince": _day((aws or {}).get("legacyTime")),
                "endOfLife": end_of_life,
                "catalogueLifecycle": info.lifecycle,
                "catalogueEolDate": info.eol_date,
                "flag": flag,
            }
        )
    return rows


MODEL_COLUMNS = [
    ("route", "route"),
    ("foundationModel", "model"),
    ("status", "Bedrock status"),
    ("endOfLife", "end of life"),
    ("catalogueLifecycle", "catalogue"),
    ("flag", "attention"),
]
