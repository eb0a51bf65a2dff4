"""The aggregate series: every metric also goes out as a total, and by Model, CostCenter,
Environment and Application alone, in both sinks; sums over them equal sums over the
five-dimension series (docs/metrics.md)."""

from __future__ import annotations

import itertools

import boto3
import pytest
from conftest import NAMESPACE, emf_blobs

from tollgate import metrics

FIVE = ("Model", "ModelId", "CostCenter", "Application", "Environment")


def dims(app: str, model: str, cost_center: str = "support", env: str = "prod") -> dict[str, str]:
    return {
        "Model": model,
        "ModelId": f"id-{model}",
        "CostCenter": cost_center,
        "Application": app,
        "Environment": env,
    }


def test_the_aggregate_sets_are_a_total_and_each_dashboard_dimension_alone():
    assert metrics.DIMENSION_SETS[0] == FIVE
    assert set(metrics.AGGREGATE_DIMENSION_SETS) == {
        (),
        ("Model",),
        ("CostCenter",),
        ("Environment",),
        ("Application",),
    }
    assert all(set(s) <= set(FIVE) for s in metrics.DIMENSION_SETS)


def test_one_emf_blob_carries_every_metric_under_every_dimension_set(capsys):
    metrics.emit_emf({"TotalRequests": 1, "InputTokens": 31}, dims("app-a", "nova-lite"), namespace=NAMESPACE)
    (blob,) = emf_blobs(capsys.readouterr().out)
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert [tuple(s) for s in directive["Dimensions"]] == list(metrics.DIMENSION_SETS)
    # EMF applies every metric of the directive to every dimension set
    assert {m["Name"] for m in directive["Metrics"]} == {"TotalRequests", "InputTokens"}
    assert {k: blob[k] for k in FIVE} == dims("app-a", "nova-lite")
    assert blob["TotalRequests"] == [1.0] and blob["InputTokens"] == [31.0]


def test_a_new_metric_name_flows_through_both_sinks_under_every_set(monkeypatch, capsys, aws):
    monkeypatch.setitem(metrics.UNITS, "CacheReadInputTokens", "Count")
    values = {"TotalRequests": 1, "CacheReadInputTokens": 7}
    metrics.emit_emf(values, dims("app-a", "nova-lite"), namespace=NAMESPACE)
    (blob,) = emf_blobs(capsys.readouterr().out)
    assert blob["CacheReadInputTokens"] == [7.0]
    assert len(blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]) == len(metrics.DIMENSION_SETS)

    client = boto3.client("cloudwatch")
    metrics.put_metric_data(client, values, dims("app-a", "nova-lite"), namespace=NAMESPACE)
    listed = client.list_metrics(Namespace=NAMESPACE, MetricName="CacheReadInputTokens")["Metrics"]
    assert sorted(tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed) == sorted(
        tuple(sorted(s)) for s in metrics.DIMENSION_SETS
    )


class RecordingCloudWatch:
    """Keeps what PutMetricData was given; sums series by their exact dimension set, as CloudWatch
    does (moto's statistics also match series with more dimensions, so they cannot judge this)."""

    def __init__(self) -> None:
        self.data: list[dict] = []

    def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> None:
        assert Namespace == NAMESPACE
        self.data += MetricData

    def sum(self, name: str, dimensions: dict[str, str]) -> float:
        wanted = sorted(dimensions.items())
        return sum(
            d["Value"]
            for d in self.data
            if d["MetricName"] == name and sorted((x["Name"], x["Value"]) for x in d["Dimensions"]) == wanted
        )


@pytest.mark.parametrize("dimension", ["Model", "CostCenter", "Application", "Environment"])
def test_each_aggregate_equals_the_sum_of_the_five_dimension_series(dimension):
    client = RecordingCloudWatch()
    traffic = []
    combinations = itertools.product(
        ["app-a", "app-b", "app-c"], ["nova-lite", "haiku"], ["sales", "support"], ["dev", "prod"]
    )
    for i, combination in enumerate(combinations):
        values = {"TotalRequests": 1, "InputTokens": 10 + i}
        metrics.put_metric_data(client, values, dims(*combination), namespace=NAMESPACE)
        traffic.append(dims(*combination))

    for name in ("TotalRequests", "InputTokens"):
        detailed = {tuple(d.items()): client.sum(name, d) for d in traffic}
        for value in {d[dimension] for d in traffic}:
            expected = sum(v for key, v in detailed.items() if dict(key)[dimension] == value)
            assert client.sum(name, {dimension: value}) == expected > 0
        assert client.sum(name, {}) == sum(detailed.values()) > 0
    assert client.sum("TotalRequests", {}) == len(traffic) == 24
