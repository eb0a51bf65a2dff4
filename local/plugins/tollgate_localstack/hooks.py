"""Start-up hooks: the fault switch's HTTP routes, S3's scratch folder kept inside our tmp, Step
Functions' tracing configuration described as AWS does, and services started in the background
as soon as LocalStack is ready (TOLLGATE_PRELOAD)."""

import logging
import os
import threading

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def tollgate_setup() -> None:
    from localstack.services.edge import ROUTER
    from localstack.services.s3 import provider as s3_provider

    from .bedrock.faults import FaultRoutes

    ROUTER.add(FaultRoutes())
    # LocalStack's S3 (which also holds Lambda code) writes to a fixed /tmp/localstack-s3-storage,
    # shared by every instance on the machine; give each instance its own, under its TMPDIR.
    s3_provider.DEFAULT_S3_TMP_DIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "localstack-s3-storage")
    _describe_tracing_configuration()


def _describe_tracing_configuration() -> None:
    """DescribeStateMachine on AWS always holds tracingConfiguration ({"enabled": false} unless
    set); LocalStack leaves it out, so Terraform's aws_sfn_state_machine plans a change forever."""
    from localstack.services.stepfunctions.backend.state_machine import StateMachineInstance
    from localstack.utils.patch import patch

    @patch(StateMachineInstance.describe)
    def describe(fn, self):
        output = fn(self)
        output.setdefault("tracingConfiguration", self.tracing_config or {"enabled": False})
        return output


@hooks.on_infra_ready()
def tollgate_preload() -> None:
    """Start the listed services now, in the background: DynamoDB Local's JVM takes seconds to
    start, which the first request would otherwise wait for."""
    from localstack.aws.spec import get_service_catalog
    from localstack.services.plugins import SERVICE_PLUGINS

    def start(names: list[str]) -> None:
        get_service_catalog()  # built on the first request otherwise (about two seconds)
        for name in names:
            try:
                SERVICE_PLUGINS.require(name)
            except Exception as e:  # noqa: BLE001 - the first request will report it properly
                LOG.warning("Could not preload %s: %s", name, e)

    names = [n.strip() for n in os.environ.get("TOLLGATE_PRELOAD", "").split(",") if n.strip()]
    threading.Thread(target=start, args=(names,), name="tollgate-preload", daemon=True).start()
