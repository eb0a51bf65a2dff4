"""Property test: generated malformed requests through validate_request. Every one is invalid with
the broken field named, and none raises. The figures are printed."""

from __future__ import annotations

import copy
import time
from collections import Counter

from conftest import article_request, article_routes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tollgate.catalogue import load_catalogue
from tollgate.routing import default_routes
from tollgate.validation import ROLES, ValidationOptions, validate_request

CATALOGUE = load_catalogue()
ROUTES = {**default_routes(CATALOGUE), **article_routes()}
ENVIRONMENTS = ("dev", "staging", "prod", "production")
OPTIONS = ValidationOptions(ENVIRONMENTS, 100_000, False, max_request_bytes=4096)
EXAMPLES = 1_200

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
present = json_values.filter(lambda v: v is not None)  # None means "absent", which may be valid
not_text = present.filter(lambda v: not isinstance(v, str))
not_mapping = present.filter(lambda v: not isinstance(v, dict))
blank = st.text(alphabet=" \t\n", max_size=5)
bad_number_01 = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not 0 <= x <= 1),
    st.integers().filter(lambda x: not 0 <= x <= 1),
    not_text.filter(lambda v: not isinstance(v, int | float) or isinstance(v, bool)),
    st.text(max_size=5),
)
bad_tag_value = st.one_of(
    not_text,
    blank,
    st.text(min_size=257, max_size=300, alphabet="abc"),
    st.text(min_size=1, max_size=10).filter(lambda t: any(c not in _tag_chars() for c in t) and t.strip()),
)


def _tag_chars() -> set[str]:
    import string

    return set(string.ascii_letters + string.digits + " _.:/=+-@")


def _set(request: dict, path: tuple, value) -> dict:
    node = request
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return request


def _delete(request: dict, path: tuple) -> dict:
    node = request
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return request


@st.composite
def malformed(draw) -> tuple[str, object, str]:
    """(kind of damage, the request, the field that must be named)."""
    request = article_request()
    kind = draw(
        st.sampled_from(
            [
                "not an object",
                "missing field",
                "unknown field",
                "model",
                "prompt",
                "messages",
                "message",
                "role",
                "content",
                "first turn",
                "parameters",
                "max_tokens",
                "temperature/top_p",
                "top_k",
                "tags",
                "tag value",
                "environment",
                "requestId",
                "too many bytes",
            ]
        )
    )
    index = draw(st.integers(0, 1))
    if kind == "not an object":
        return kind, draw(not_mapping), "request"
    if kind == "missing field":
        path = draw(
            st.sampled_from(
                [("model",), ("prompt",), ("tags",), ("prompt", "messages"), ("tags", "applicationId")]
            )
        )
        return kind, _delete(request, path), ".".join(path)
    if kind == "unknown field":
        name = draw(st.text(min_size=1, max_size=80))
        where = draw(st.sampled_from(["", "prompt", "prompt.parameters", "tags", "prompt.messages[0]"]))
        node = {
            "": request,
            "prompt": request["prompt"],
            "prompt.parameters": request["prompt"]["parameters"],
            "tags": request["tags"],
            "prompt.messages[0]": request["prompt"]["messages"][0],
        }[where]
        if name in node:
            name += "_extra"
        node[name] = draw(json_values)
        return kind, request, f"{where}.{name[:64]}" if where else name[:64]
    if kind == "model":
        value = draw(
            st.one_of(not_text, blank, st.text(min_size=1, max_size=40).filter(lambda t: t not in ROUTES))
        )
        return kind, _set(request, ("model",), value), "model"
    if kind == "prompt":
        return kind, _set(request, ("prompt",), draw(not_mapping)), "prompt"
    if kind == "messages":
        value = draw(st.one_of(not_mapping.filter(lambda v: not isinstance(v, list)), st.just([])))
        return kind, _set(request, ("prompt", "messages"), value), "prompt.messages"
    if kind == "message":
        return (
            kind,
            _set(request, ("prompt", "messages", index), draw(not_mapping)),
            f"prompt.messages[{index}]",
        )
    if kind == "role":
        value = draw(st.one_of(not_text, st.text(max_size=12).filter(lambda t: t not in ROLES)))
        return (
            kind,
            _set(request, ("prompt", "messages", index, "role"), value),
            f"prompt.messages[{index}].role",
        )
    if kind == "content":
        value = draw(st.one_of(not_text, blank))
        path = ("prompt", "messages", index, "content")
        return kind, _set(request, path, value), f"prompt.messages[{index}].content"
    if kind == "first turn":
        if draw(st.booleans()):
            request["prompt"]["messages"] = [{"role": "system", "content": "Be brief."}]
            return kind, request, "prompt.messages"
        request["prompt"]["messages"] = [
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "Hi"},
        ]
        return kind, request, "prompt.messages[1].role"
    if kind == "parameters":
        return kind, _set(request, ("prompt", "parameters"), draw(not_mapping)), "prompt.parameters"
    if kind == "max_tokens":
        value = draw(
            st.one_of(
                st.integers(max_value=0),
                st.integers(min_value=8193),
                not_text.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)),
                st.text(max_size=5),
            )
        )
        path = ("prompt", "parameters", "max_tokens")
        return kind, _set(request, path, value), "prompt.parameters.max_tokens"
    if kind == "temperature/top_p":
        name = draw(st.sampled_from(["temperature", "top_p"]))
        return (
            kind,
            _set(request, ("prompt", "parameters", name), draw(bad_number_01)),
            f"prompt.parameters.{name}",
        )
    if kind == "top_k":
        value = draw(
            st.one_of(
                st.integers(max_value=-1),
                not_text.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)),
                st.text(max_size=5),
            )
        )
        return kind, _set(request, ("prompt", "parameters", "top_k"), value), "prompt.parameters.top_k"
    if kind == "tags":
        return kind, _set(request, ("tags",), draw(not_mapping)), "tags"
    if kind == "tag value":
        name = draw(st.sampled_from(["applicationId", "costCenter", "environment"]))
        return kind, _set(request, ("tags", name), draw(bad_tag_value)), f"tags.{name}"
    if kind == "environment":
        value = draw(
            st.text(alphabet="abcxyz", min_size=1, max_size=12).filter(lambda t: t not in ENVIRONMENTS)
        )
        return kind, _set(request, ("tags", "environment"), value), "tags.environment"
    if kind == "requestId":
        value = draw(
            st.one_of(
                not_text,
                st.just(""),
                st.text(min_size=129, max_size=140, alphabet="ab"),
                st.text(min_size=1, max_size=10).filter(
                    lambda t: not all(c.isascii() and (c.isalnum() or c in "_.:-") for c in t)
                ),
            )
        )
        return kind, _set(request, ("requestId",), value), "requestId"
    # too many bytes: any text that takes the request over 4,096 bytes of UTF-8 JSON
    text = draw(st.text(min_size=1, max_size=20).filter(str.strip)) * 5000
    return kind, _set(request, ("prompt", "messages", 0, "content"), text), "request"


def test_generated_malformed_requests_are_all_invalid_with_the_field_named():
    kinds: Counter[str] = Counter()
    fields: Counter[str] = Counter()
    error_counts: list[int] = []
    failures: list[str] = []
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(malformed())
    def check(case):
        kind, request, expected = case
        original = copy.deepcopy(request)
        try:
            result = validate_request(request, routes=ROUTES, catalogue=CATALOGUE, options=OPTIONS)
        except Exception as error:  # the property is that nothing raises
            failures.append(f"{kind}: raised {error!r} for {original!r}"[:300])
            raise
        assert not result.valid, (kind, original)
        errors = result.context["errors"]
        assert errors and all(isinstance(e["field"], str) and e["field"] for e in errors)
        assert all(isinstance(e["message"], str) and e["message"] for e in errors)
        named = [e["field"] for e in errors]
        assert expected in named, (kind, expected, named)
        kinds[kind] += 1
        fields.update(named)
        error_counts.append(len(errors))

    check()
    elapsed = time.monotonic() - started
    total = sum(kinds.values())
    print(
        f"\nproperty: {total} malformed requests in {elapsed:.1f} s, all invalid with the field named, "
        f"none raised; {len(kinds)} kinds of damage, {len(fields)} distinct fields named, "
        f"errors per request {min(error_counts)}-{max(error_counts)}"
    )
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<20} {count}")
    assert not failures
    assert total >= 1_000
