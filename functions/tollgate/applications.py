"""The optional registry of applications: which cost centers, environments and routes each
``applicationId`` may use.

Without APPLICATION items in the table, tags are self-asserted (any applicationId, cost center and
environment is accepted). With at least one, a request whose applicationId is not registered, or
whose costCenter, environment or route is not among its application's, is invalid. A list that an
application leaves out (null) allows any value of that tag, and its absence; a list it gives makes
the tag required and one of the listed values. A registry is on as soon as the table holds an
APPLICATION item, usable or not: one whose items cannot be used refuses every applicationId (it fails
closed), never turns itself off.

With attribution profiles (the module's default when a registry is set), an application's item
also maps ``<model id>|<cost center>|<environment>`` to the application inference profile that
bills its calls under those tags; a list the application leaves open counts as ``unassigned``.
An application with such a map never calls a model route's model directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tollgate.observability import logger

ITEM_KIND = "APPLICATION"
UNASSIGNED = "unassigned"


class ApplicationConfigError(ValueError):
    """An APPLICATION item that cannot be used."""


@dataclass(frozen=True)
class Application:
    application_id: str
    cost_centers: tuple[str, ...] | None = None
    environments: tuple[str, ...] | None = None
    routes: tuple[str, ...] | None = None
    # "<model id>|<cost center>|<environment>" -> profile ARN; None: no attribution profiles.
    profiles: Mapping[str, str] | None = None

    def profile_key(self, model_id: str, tags: Mapping[str, Any]) -> str:
        """The key of the profile that bills a call to ``model_id`` with these (valid) tags."""
        cost_center = UNASSIGNED if self.cost_centers is None else str(tags.get("costCenter"))
        environment = UNASSIGNED if self.environments is None else str(tags.get("environment"))
        return f"{model_id}|{cost_center}|{environment}"


def application_from_item(item: Mapping[str, Any]) -> Application:
    def names(attribute: str) -> tuple[str, ...] | None:
        value = item.get(attribute)
        if value is None:
            return None
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ApplicationConfigError(f"{attribute} must be a list of strings")
        return tuple(value)

    application_id = item.get("sk")
    if not isinstance(application_id, str) or not application_id:
        raise ApplicationConfigError("sk (the applicationId) must be a non-empty string")
    profiles = item.get("profiles")
    if profiles is not None and (
        not isinstance(profiles, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in profiles.items())
    ):
        raise ApplicationConfigError("profiles must map strings to profile ARNs")
    return Application(
        application_id,
        names("costCenters"),
        names("environments"),
        names("routes"),
        dict(profiles) if profiles is not None else None,
    )


class Registry(dict[str, Application]):
    """The registry as read from the table: the usable applications by applicationId, and the
    entries that cannot be used (``unusable``: applicationId -> why). It is on (true) when it has
    any entry, usable or not."""

    def __init__(
        self, applications: Mapping[str, Application] | None = None, unusable: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(applications or {})
        self.unusable = dict(unusable or {})

    def __bool__(self) -> bool:
        return len(self) > 0 or bool(self.unusable)


def registry_from_items(items: Iterable[Mapping[str, Any]]) -> Registry:
    """The registry from APPLICATION items; an item that cannot be used is left out (its application
    is refused, and an ERROR line says why)."""
    applications, unusable = {}, {}
    for item in items:
        try:
            application = application_from_item(item)
        except ApplicationConfigError as error:
            logger.error(
                "Ignoring an application that cannot be used",
                extra={"applicationId": item.get("sk"), "error": str(error)},
            )
            unusable[str(item.get("sk"))] = str(error)
            continue
        applications[application.application_id] = application
    if unusable and not applications:
        logger.error(
            "The application registry has no usable application: every request is refused until its "
            "items are fixed",
            extra={"unusable": sorted(unusable)},
        )
    return Registry(applications, unusable)


def registry_problems(
    applications: Mapping[str, Application], tags: Mapping[str, Any], route_name: str | None
) -> list[tuple[str, str]]:
    """``(field, message)`` for every way the request's tags and route break the registry. Only
    tags that passed the AWS tag rules are checked (``tags`` holds those)."""
    application_id = tags.get("applicationId")
    if application_id is None:
        return []
    application = applications.get(application_id)
    unusable: Mapping[str, str] = getattr(applications, "unusable", {})
    if application is None and application_id in unusable:
        return [
            (
                "tags.applicationId",
                f"Application '{application_id}' is in the application registry, but its entry cannot be "
                f"used ({unusable[application_id]}): its requests are refused until the platform team "
                "fixes it.",
            )
        ]
    if application is None and unusable and len(applications) == 0:
        return [
            (
                "tags.applicationId",
                "The application registry cannot be used: none of its entries is valid, so every "
                "request is refused until the platform team fixes it.",
            )
        ]
    if application is None:
        return [
            (
                "tags.applicationId",
                f"Application '{application_id}' is not registered: this deployment accepts only the "
                "applications in its registry (the `applications` variable). Ask the platform team to "
                "add it.",
            )
        ]
    problems = []
    for tag, allowed in (("costCenter", application.cost_centers), ("environment", application.environments)):
        if allowed is None:
            continue
        value = tags.get(tag)
        if value is None:
            problems.append(
                (
                    f"tags.{tag}",
                    f"tags.{tag} is required for application '{application_id}': {_one_of(allowed)}.",
                )
            )
        elif value not in allowed:
            problems.append(
                (
                    f"tags.{tag}",
                    f"Application '{application_id}' may not use {tag} '{value}': {_one_of(allowed)}.",
                )
            )
    if application.routes is not None and route_name is not None and route_name not in application.routes:
        problems.append(
            (
                "model",
                f"Application '{application_id}' may not use model '{route_name}': "
                f"{_one_of(application.routes)}.",
            )
        )
    return problems


def _one_of(names: Sequence[str]) -> str:
    if not names:
        return "it may use none"
    return "use " + ", ".join(f"'{n}'" for n in names)
