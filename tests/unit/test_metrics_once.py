"""PutMetricData is not idempotent: a request that may have been stored is never sent again
(neither by the SDK nor as EMF), so a lost answer under load cannot count an execution twice; a
request that never left is sent once more."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from tollgate import clients, metrics

DIMENSIONS = {"Model": "m", "ModelId": "id", "CostCenter": "cc", "Application": "app", "Environment": "dev"}


class FlakyCloudWatch:
    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.calls = 0
        self.stored = 0

    def put_metric_data(self, **kwargs):
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if isinstance(failure, ReadTimeoutError):
            self.stored += 1  # it arrived; the answer was lost
        if failure is not None:
            raise failure
        self.stored += 1


def emit(cw):
    return metrics.emit(
        {"TotalRequests": 1, "InputTokens": 5},
        DIMENSIONS,
        namespace="ns",
        sink="cloudwatch_api",
        cloudwatch=lambda: cw,
    )


def emf_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_the_sdk_never_retries_put_metric_data():
    assert clients.CLOUDWATCH_CONFIG.retries["total_max_attempts"] == 1


def test_a_lost_answer_is_not_sent_again_nor_written_as_emf(capsys):
    cw = FlakyCloudWatch(ReadTimeoutError(endpoint_url="http://cw"))
    assert emit(cw) == "cloudwatch_api"
    assert (cw.calls, cw.stored) == (1, 1)
    assert emf_lines(capsys) == []


def test_a_request_that_never_left_is_sent_once_more(capsys):
    cw = FlakyCloudWatch(EndpointConnectionError(endpoint_url="http://cw"))
    assert emit(cw) == "cloudwatch_api"
    assert (cw.calls, cw.stored) == (2, 1)
    assert emf_lines(capsys) == []


def test_twice_unreachable_falls_back_to_emf_once(capsys):
    cw = FlakyCloudWatch(
        ConnectTimeoutError(endpoint_url="http://cw"), ConnectTimeoutError(endpoint_url="http://cw")
    )
    assert emit(cw) == "emf"
    assert cw.stored == 0
    assert len(emf_lines(capsys)) == 1


@pytest.mark.parametrize("code", ["Throttling", "InternalServiceError"])
def test_a_refusal_stores_nothing_and_falls_back_to_emf(capsys, code):
    cw = FlakyCloudWatch(ClientError({"Error": {"Code": code, "Message": "no"}}, "PutMetricData"))
    assert emit(cw) == "emf"
    assert (cw.calls, cw.stored) == (1, 0)
    assert len(emf_lines(capsys)) == 1


def test_the_sweepers_count_is_not_sent_again_after_a_lost_answer(capsys):
    cw = FlakyCloudWatch(ReadTimeoutError(endpoint_url="http://cw"))
    metrics.emit_count("SweptReservations", 2, namespace="ns", sink="cloudwatch_api", cloudwatch=lambda: cw)
    assert (cw.calls, cw.stored) == (1, 1)
    assert emf_lines(capsys) == []
