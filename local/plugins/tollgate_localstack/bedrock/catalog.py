"""The emulator's foundation models and system (cross-region) inference profiles.

Facts as AWS lists them (model IDs, names, output ceilings, which models are served on demand
and which only through an inference profile, lifecycles). Identifiers only; the replies come from
model.py.

Lifecycles: GetFoundationModel/ListFoundationModels report `modelLifecycle` as AWS does today
(2026-11-30): the article's models are LEGACY, with `legacyTime` and `endOfLifeTime` where AWS
publishes them. The emulator still *serves* them (except Claude 2, which it refuses as AWS does
an end-of-life model) so that the article's request runs locally: it plays a Bedrock that has
not switched them off yet. docs/models.md says why.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

ON_DEMAND = "ON_DEMAND"
INFERENCE_PROFILE = "INFERENCE_PROFILE"

# geography prefix of a system profile -> the regions it routes to
GEOGRAPHIES = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3"),
    "apac": ("ap-northeast-1", "ap-southeast-1", "ap-southeast-2"),
}
GEO_NAMES = {"us": "US", "eu": "EU", "apac": "APAC"}
# when the system profiles appeared (a fixed date keeps responses stable)
SYSTEM_PROFILE_CREATED = datetime(2024, 8, 27, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class FoundationModel:
    model_id: str
    name: str
    provider: str
    family: str  # anthropic | nova | meta | mistral: decides the request fields it accepts
    max_tokens: int  # the output ceiling
    inference_types: tuple[str, ...]
    geographies: tuple[str, ...] = ()  # system profiles that contain it
    input_modalities: tuple[str, ...] = ("TEXT",)
    end_of_life: bool = False  # refused: ResourceNotFoundException, as AWS answers an EOL model
    legacy_since: date | None = None  # LEGACY from this day
    end_of_life_on: date | None = None  # the EOL date AWS publishes (served here all the same)
    one_sampling_parameter: bool = False  # rejects temperature and top_p together (Claude 4.5 on)

    def arn(self, region: str) -> str:
        return f"arn:aws:bedrock:{region}::foundation-model/{self.model_id}"

    def summary(self, region: str) -> dict:
        return {
            "modelArn": self.arn(region),
            "modelId": self.model_id,
            "modelName": self.name,
            "providerName": self.provider,
            "inputModalities": list(self.input_modalities),
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": [],
            "inferenceTypesSupported": list(self.inference_types),
            "modelLifecycle": self.lifecycle(),
        }

    def lifecycle(self) -> dict:
        legacy = self.end_of_life or self.legacy_since is not None or self.end_of_life_on is not None
        lifecycle: dict = {"status": "LEGACY" if legacy else "ACTIVE"}
        if self.legacy_since:
            lifecycle["legacyTime"] = datetime.combine(self.legacy_since, datetime.min.time(), UTC)
        if self.end_of_life_on:
            lifecycle["endOfLifeTime"] = datetime.combine(self.end_of_life_on, datetime.min.time(), UTC)
        return lifecycle


_BOTH = (ON_DEMAND, INFERENCE_PROFILE)
_PROFILE = (INFERENCE_PROFILE,)
_ALL_GEOS = ("us", "eu", "apac")
_TEXT, _IMAGE, _VIDEO = ("TEXT",), ("TEXT", "IMAGE"), ("TEXT", "IMAGE", "VIDEO")

# fmt: off
MODELS: dict[str, FoundationModel] = {
    m.model_id: m
    for m in (
        # model ID, name, provider, family, output ceiling, served, system profiles, input
        FoundationModel("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", "nova", 5000, _BOTH, _ALL_GEOS,
                        _TEXT),
        FoundationModel("amazon.nova-lite-v1:0", "Nova Lite", "Amazon", "nova", 5000, _BOTH, _ALL_GEOS,
                        _VIDEO),
        FoundationModel("amazon.nova-pro-v1:0", "Nova Pro", "Amazon", "nova", 5000, _BOTH, _ALL_GEOS,
                        _VIDEO),
        FoundationModel("anthropic.claude-v2:0", "Claude", "Anthropic", "anthropic", 4096, (ON_DEMAND,), (),
                        _TEXT, end_of_life=True),
        FoundationModel("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic", "anthropic",
                        4096, _BOTH, _ALL_GEOS, _IMAGE, end_of_life_on=date(2026, 9, 10)),
        FoundationModel("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Anthropic",
                        "anthropic", 4096, _BOTH, _ALL_GEOS, _IMAGE, legacy_since=date(2025, 8, 25)),
        FoundationModel("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "Anthropic",
                        "anthropic", 8192, _PROFILE, ("us", "apac"), _IMAGE, legacy_since=date(2025, 8, 25)),
        FoundationModel("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", "Anthropic",
                        "anthropic", 8192, _PROFILE, ("us",), _TEXT, end_of_life_on=date(2026, 6, 19)),
        FoundationModel("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", "Anthropic",
                        "anthropic", 64000, _PROFILE, _ALL_GEOS, _IMAGE, end_of_life_on=date(2026, 4, 28)),
        FoundationModel("anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5", "Anthropic",
                        "anthropic", 64000, _PROFILE, _ALL_GEOS, _IMAGE, one_sampling_parameter=True),
        FoundationModel("meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", "Meta", "meta", 2048,
                        _BOTH, ("us",), _TEXT),
        FoundationModel("mistral.mistral-large-2407-v1:0", "Mistral Large (24.07)", "Mistral AI", "mistral",
                        8192, (ON_DEMAND,), (), _TEXT),
    )
}
# fmt: on


def geography_of(region: str) -> str | None:
    prefix = region.split("-", 1)[0]
    return {"us": "us", "eu": "eu", "ap": "apac"}.get(prefix)


@dataclasses.dataclass(frozen=True)
class SystemProfile:
    profile_id: str  # e.g. us.anthropic.claude-3-5-haiku-20241022-v1:0
    model: FoundationModel
    geography: str

    def arn(self, region: str, account: str) -> str:
        return f"arn:aws:bedrock:{region}:{account}:inference-profile/{self.profile_id}"

    def model_arns(self) -> list[str]:
        return [self.model.arn(r) for r in GEOGRAPHIES[self.geography]]

    def describe(self, region: str, account: str) -> dict:
        regions = GEOGRAPHIES[self.geography]
        return {
            "inferenceProfileName": f"{GEO_NAMES[self.geography]} {self.model.provider} {self.model.name}",
            "description": (
                f"Routes requests to {self.model.provider} {self.model.name} in "
                f"{', '.join(regions[:-1])} and {regions[-1]}."
            ),
            "createdAt": SYSTEM_PROFILE_CREATED,
            "updatedAt": SYSTEM_PROFILE_CREATED,
            "inferenceProfileArn": self.arn(region, account),
            "models": [{"modelArn": arn} for arn in self.model_arns()],
            "inferenceProfileId": self.profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }


def system_profiles(region: str) -> dict[str, SystemProfile]:
    """The system profiles a caller in this region can use: those of its own geography."""
    geo = geography_of(region)
    return {
        f"{geo}.{m.model_id}": SystemProfile(f"{geo}.{m.model_id}", m, geo)
        for m in MODELS.values()
        if geo in m.geographies and not m.end_of_life
    }
