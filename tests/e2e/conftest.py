"""Session fixtures for the end-to-end tests: the local AWS is brought up once (or reused)."""

from __future__ import annotations

import pytest
from deployment import new_run
from localstack import client, default_port, ensure_localstack, stop_localstack

RUN = new_run()  # one run ID per session: the application IDs its limits are scoped to


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


def _deployed(aws, tmp_path_factory, variables, workspace: str, name: str):
    """Apply examples/localstack with ``variables``; destroy it afterwards and check nothing is left."""
    import deployment as tf

    var_file = tmp_path_factory.mktemp("terraform") / f"{workspace}.tfvars.json"
    applied = tf.apply(RUN, variables, workspace, var_file)
    yield applied
    tf.destroy(applied)
    left = tf.leftovers(aws, name)
    assert not left, f"terraform destroy left these behind: {left}"


@pytest.fixture(scope="session")
def deployment(localstack_endpoint, aws, tmp_path_factory):
    """The module as EXPRESS with this session's limits and profiles (the default workflow)."""
    import deployment as tf

    yield from _deployed(aws, tmp_path_factory, tf.tfvars(RUN, localstack_endpoint), tf.WORKSPACE, tf.NAME)


@pytest.fixture(scope="session")
def standard_deployment(localstack_endpoint, aws, tmp_path_factory):
    """The module as a STANDARD workflow, in a workspace of its own."""
    import deployment as tf

    variables = tf.standard_tfvars(RUN, localstack_endpoint)
    yield from _deployed(aws, tmp_path_factory, variables, tf.STANDARD_WORKSPACE, tf.STANDARD_NAME)
