"""Session fixtures for the end-to-end tests: the local AWS is brought up once (or reused)."""

from __future__ import annotations

import pytest
from localstack import client, default_port, ensure_localstack, stop_localstack


@pytest.fixture(scope="session")
def localstack_endpoint():
    """The endpoint of a running LocalStack; stopped at the end only if this session started it."""
    endpoint, started = ensure_localstack(default_port())
    yield endpoint
    if started:
        stop_localstack(default_port())


@pytest.fixture(scope="session")
def aws(localstack_endpoint):
    """aws("lambda") -> a boto3 client for the local AWS; aws("bedrock-runtime", retries=1): no retries."""

    def make(service: str, retries: int | None = None):
        return client(service, localstack_endpoint, retries)

    return make


@pytest.fixture(scope="session")
def deployment(localstack_endpoint, aws, tmp_path_factory):
    """examples/localstack applied with this session's limits; destroyed at the end, leaving nothing."""
    import deployment as tf

    var_file = tmp_path_factory.mktemp("terraform") / "e2e.tfvars.json"
    applied = tf.apply(tf.new_run(), localstack_endpoint, var_file)
    yield applied
    tf.destroy(var_file)
    left = tf.leftovers(aws)
    assert not left, f"terraform destroy left these behind: {left}"
