"""Start-up hooks: the fault switch's HTTP routes, S3's scratch folder kept inside our tmp, Step
Functions' tracing configuration described as AWS does, a missing dashboard reported as AWS does,
CloudWatch's GetMetricData and GetMetricStatistics matching a series' dimensions exactly as AWS does,
Step Functions made cheaper here (JSONPath parsing and each definition's parse tree cached, the
execution log delivered in the background; TOLLGATE_SFN_SPEEDUPS=0 turns these three off, to
measure them), executions profiled on request (TOLLGATE_SFN_PROFILE), and services started in the
background as soon as LocalStack is ready (TOLLGATE_PRELOAD)."""

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
    _dashboard_not_found()
    _exact_dimension_match()
    if os.environ.get("TOLLGATE_SFN_SPEEDUPS", "1") != "0":
        _cache_jsonpath_parsing()
        _cache_definition_parse()
        _deliver_execution_logs_in_background()
    if os.environ.get("TOLLGATE_SFN_PROFILE"):
        _profile_executions(os.environ["TOLLGATE_SFN_PROFILE"])


def _dashboard_not_found() -> None:
    """GetDashboard of a missing dashboard is a 404 ResourceNotFound on AWS; LocalStack answers 400
    InvalidParameterValue, which Terraform cannot tell from a real error, so a refresh after
    LocalStack restarted (and forgot everything) fails instead of planning to recreate it."""
    from localstack.aws.api.cloudwatch import DashboardNotFoundError, InvalidParameterValueException
    from localstack.services.cloudwatch.provider_v2 import CloudwatchProvider
    from localstack.utils.patch import patch

    @patch(CloudwatchProvider.get_dashboard)
    def get_dashboard(fn, self, context, dashboard_name, **kwargs):
        try:
            return fn(self, context, dashboard_name, **kwargs)
        except InvalidParameterValueException as e:
            if "does not exist" in str(e):
                raise DashboardNotFoundError(str(e)) from e
            raise


def _exact_dimension_match() -> None:
    """GetMetricData and GetMetricStatistics return the one series whose dimensions are exactly the
    query's, on AWS. LocalStack keeps a series' dimensions as one string ``Name=Value<TAB>...``
    (sorted by name) and selects with ``LIKE '%Name=Value%...'``: a query for {Model=x} also sums
    every series with Model=x among more dimensions, and {Environment=prod} also sums
    Environment=production. While a statistic is read, the search pattern is the stored string
    itself, so the match is exact (but for LIKE's case-insensitivity and ``_``/``%`` inside values).
    ListMetrics keeps the subset match, which is what AWS does there."""
    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase
    from localstack.utils.patch import patch

    reading = threading.local()

    @patch(CloudwatchDatabase.get_metric_data_stat)
    def get_metric_data_stat(fn, self, *args, **kwargs):
        reading.exact = True
        try:
            return fn(self, *args, **kwargs)
        finally:
            reading.exact = False

    @patch(CloudwatchDatabase._get_ordered_dimensions_with_separator)
    def ordered_dimensions(fn, self, dims, for_search=False):
        return fn(self, dims, for_search=for_search and not getattr(reading, "exact", False))


def _cache_jsonpath_parsing() -> None:
    """LocalStack's Step Functions parses each JSONPath of a state on every evaluation, and
    jsonpath_ng builds its whole LALR parser for each parse: about 40% of LocalStack's CPU time in
    a Tollgate execution (measured with py-spy). Parsed paths are immutable, so they are cached."""
    import functools

    from localstack.services.stepfunctions.asl.component.common.path import result_path
    from localstack.services.stepfunctions.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


def _cache_definition_parse() -> None:
    """Every execution lexes and parses its whole definition with ANTLR before it runs. The parse
    tree depends only on the definition's text and is only read afterwards, so it is kept per
    definition; the evaluation components are still built fresh for
    each execution from it (they hold per-execution state)."""
    import collections
    import threading

    from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser
    from localstack.services.stepfunctions.asl.parse.preprocessor import Preprocessor
    from localstack.services.stepfunctions.backend.execution_worker import ExecutionWorker
    from localstack.utils.patch import patch

    trees: collections.OrderedDict[str, object] = collections.OrderedDict()
    lock = threading.Lock()

    @patch(ExecutionWorker._get_evaluation_entrypoint)
    def entrypoint(fn, self):
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            tree = trees.get(definition)
            if tree is not None:
                trees.move_to_end(definition)
        if tree is None:
            _, tree = AmazonStateLanguageParser.parse(definition)
            with lock:
                trees[definition] = tree
                while len(trees) > 64:
                    trees.popitem(last=False)
        return Preprocessor().visit(tree)


def _deliver_execution_logs_in_background() -> None:
    """With the log level ALL, each execution history event (about 37 per Tollgate execution) is a
    PutLogEvents call that the execution waits for: a quarter to two fifths of an execution here
    (measured with cProfile). On AWS, delivery of the execution log is asynchronous too; here one
    background thread delivers the events in the order they happened."""
    import queue
    import threading

    from localstack.services.stepfunctions.asl.eval.event.logging import CloudWatchLoggingSession
    from localstack.utils.patch import patch

    pending: queue.Queue = queue.Queue()

    def deliver() -> None:
        while True:
            fn, session, history_log = pending.get()
            try:
                fn(session, history_log)
            except Exception as e:  # noqa: BLE001 - one lost log event must not stop the others
                LOG.warning("Could not deliver a Step Functions execution log event: %s", e)

    threading.Thread(target=deliver, name="tollgate-sfn-logs", daemon=True).start()

    @patch(CloudWatchLoggingSession.publish_history_log)
    def publish_history_log(fn, self, history_log):
        pending.put((fn, self, history_log))


def _profile_executions(folder: str) -> None:
    """cProfile each execution whose name starts with "profile-" and write its statistics (sorted
    by cumulative time) as text to <folder>/<execution name>.txt: what `make bench` reports."""
    import cProfile
    import io
    import pstats

    from localstack.services.stepfunctions.backend.execution_worker import ExecutionWorker
    from localstack.utils.patch import patch

    @patch(ExecutionWorker._execution_logic)
    def execution_logic(fn, self):
        name = self._evaluation_details.execution_details.name or ""
        if not name.startswith("profile-"):
            return fn(self)
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(fn, self)
        finally:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{name}.txt"), "w", encoding="utf-8") as f:
                f.write(out.getvalue())


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
