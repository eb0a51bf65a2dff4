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


WARM_UP_EXECUTIONS = 24  # as many as the widest parallel burst of the tests (test_workflow: 24)
WARM_UP_ROUNDS = 4


def _warm_up(aws, applied) -> None:
    """Start as many execution environments of each function as the parallel tests use, once.

    On AWS a cold start takes about a second; LocalStack's host executor starts a Python process
    per environment, and twenty at once on two cores can outlast the states' 10 s TimeoutSeconds
    (which the Express bound keeps tight: tools/workflow_bound.py). The warm-up application has a
    limit of 0 requests (tests/e2e/deployment.py), so every warm-up request is denied before any
    reservation or model call: nothing is left for the sweeper, and only TotalRequests and
    RateLimitDenied are counted. The outcomes are not asserted: an environment that was still
    starting is reused once it has started."""
    from concurrent.futures import ThreadPoolExecutor

    from tollgate import cli

    sfn = aws("stepfunctions")
    body = {
        "model": "nova-micro",
        "prompt": {"messages": [{"role": "user", "content": "Warm up."}], "parameters": {"max_tokens": 20}},
        "tags": {"applicationId": RUN.app("warm-up"), "costCenter": "e2e", "environment": "dev"},
    }

    def one(_: int) -> str:
        return cli.run_request(sfn, applied.state_machine_arn, body, express=True).name

    # A round whose environments were still starting ends some executions in a state's timeout
    # (validate's first, then reserve's: a step is warmed only once the one before it answers), so
    # the burst is repeated until every execution is the expected denial, WARM_UP_ROUNDS at most.
    for _ in range(WARM_UP_ROUNDS):
        with ThreadPoolExecutor(max_workers=WARM_UP_EXECUTIONS) as pool:
            names = list(pool.map(one, range(WARM_UP_EXECUTIONS)))
        if all(name == "RateLimitExceeded" for name in names):
            return


def _deployed(aws, tmp_path_factory, variables, workspace: str, name: str):
    """Apply examples/localstack with ``variables``; destroy it afterwards and check nothing is left."""
    import deployment as tf

    var_file = tmp_path_factory.mktemp("terraform") / f"{workspace}.tfvars.json"
    applied = tf.apply(RUN, variables, workspace, var_file)
    if variables.get("workflow_type", "EXPRESS") == "EXPRESS":
        _warm_up(aws, applied)
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
