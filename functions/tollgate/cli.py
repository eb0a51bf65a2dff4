"""`tollgate`: send a request through the workflow, or show how much of each limit is used.

    tollgate invoke --model claude-3-5-haiku --app docs-helper "Explain S3 in 100 words."
    tollgate invoke --file request.json --json
    tollgate usage
    tollgate report --by costCenter --html report.html
    tollgate dashboard --html dashboard.html

The state machine and the table come from flags, from TOLLGATE_STATE_MACHINE_ARN /
TOLLGATE_TABLE_NAME, or from `terraform output -json` in --terraform-dir. The standard AWS
settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...) apply.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.client import ExecutionFailed, Tollgate, TollgateError
from tollgate.config_store import deserialize
from tollgate.limits import counter_key, counter_scope, format_instant, limit_from_item, window_bounds
from tollgate.values import json_safe

# One exit code per outcome, so scripts can branch without parsing output.
EXIT_CODES = {
    "Succeeded": 0,
    "CliError": 1,  # bad configuration, AWS unreachable, ...
    # 2 is argparse's usage error
    "ValidationError": 3,
    "RateLimitExceeded": 4,
    "InvocationFailed": 5,
    "ExecutionFailed": 6,  # timed out, aborted, or an error outside the contract
}
POLL_SECONDS = 0.5
# The caller settings of docs/deploying.md. An Express execution ends within 5 minutes whatever
# happens (tools/workflow_bound.py proves Tollgate's longest path shorter), so a read timeout
# above that never gives up on a running execution; and no SDK retries, because every retry of
# StartSyncExecution/StartExecution is a new execution.
CALLER_READ_TIMEOUT_SECONDS = 330
CALLER_CONFIG = {"read_timeout": CALLER_READ_TIMEOUT_SECONDS, "retries": {"total_max_attempts": 1}}


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 1."""


@dataclass
class Outcome:
    """How one execution ended."""

    name: str  # Succeeded, ValidationError, RateLimitExceeded, InvocationFailed, or another error
    execution_arn: str
    output: dict[str, Any] | None = None
    cause: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.name, EXIT_CODES["ExecutionFailed"])

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": self.name, "executionArn": self.execution_arn}
        if self.output is not None:
            body["output"] = self.output
        if self.cause:
            body["cause"] = self.cause
        return body


# --- configuration ----------------------------------------------------------------------------


def terraform_outputs(directory: str) -> dict[str, Any]:
    """`terraform output -json` of ``directory`` as plain values."""
    terraform = shutil.which("terraform")
    if not terraform:
        raise CliError("terraform is not on the PATH; pass --state-machine / --table instead")
    proc = subprocess.run(  # noqa: S603 - fixed arguments; the directory is the user's own flag
        [terraform, f"-chdir={directory}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CliError(f"terraform output failed in {directory}: {proc.stderr.strip().splitlines()[-1:]}")
    return {name: value.get("value") for name, value in json.loads(proc.stdout or "{}").items()}


class Resolver:
    """Finds the state machine ARN and the table name, asking Terraform at most once."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._outputs: dict[str, Any] | None = None

    def _output(self, name: str, flag: str, env: str) -> str:
        if self._outputs is None:
            self._outputs = terraform_outputs(self.args.terraform_dir)
        value = self._outputs.get(name)
        if not value:
            raise CliError(
                f"no {name} in the Terraform outputs of {self.args.terraform_dir}; "
                f"run terraform apply there, or pass {flag} or set {env}"
            )
        return str(value)

    def state_machine_arn(self) -> str:
        return (
            self.args.state_machine
            or os.environ.get("TOLLGATE_STATE_MACHINE_ARN")
            or self._output("state_machine_arn", "--state-machine", "TOLLGATE_STATE_MACHINE_ARN")
        )

    def table_name(self) -> str:
        return (
            self.args.table
            or os.environ.get("TOLLGATE_TABLE_NAME")
            or self._output("limits_table_name", "--table", "TOLLGATE_TABLE_NAME")
        )


def aws_client(args: argparse.Namespace, service: str, **settings: Any) -> Any:
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    custom_endpoint = args.endpoint_url or any(k.startswith("AWS_ENDPOINT_URL") for k in os.environ)
    # StartSyncExecution goes to a "sync-" host on AWS; against a custom endpoint (LocalStack on
    # localhost) that prefix would not resolve, so it is left off there.
    config = Config(inject_host_prefix=not custom_endpoint, **settings)
    return session.client(service, endpoint_url=args.endpoint_url, config=config)


# --- invoke -----------------------------------------------------------------------------------


def build_request(args: argparse.Namespace, stdin: Any) -> dict[str, Any]:
    """The request from --file, or from the flags and the prompt (argument or stdin)."""
    if args.file:
        text = stdin.read() if args.file == "-" else _read_file(args.file)
        try:
            request = json.loads(text)
        except json.JSONDecodeError as err:
            raise CliError(f"{args.file} is not JSON: {err}") from None
        if not isinstance(request, dict):
            raise CliError(f"{args.file} must hold a JSON object (the request)")
        if args.request_id:
            request["requestId"] = args.request_id
        return request

    if not args.model or not args.app:
        raise CliError("--model and --app are required unless --file gives the whole request")
    prompt = args.prompt if args.prompt is not None else ("" if stdin.isatty() else stdin.read())
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt.strip()})
    parameters = {
        name: value
        for name, value in (
            ("max_tokens", args.max_tokens),
            ("temperature", args.temperature),
            ("top_p", args.top_p),
            ("top_k", args.top_k),
        )
        if value is not None
    }
    tags = {"applicationId": args.app}
    if args.cost_center:
        tags["costCenter"] = args.cost_center
    if args.env:
        tags["environment"] = args.env
    request: dict[str, Any] = {"model": args.model, "prompt": {"messages": messages}, "tags": tags}
    if parameters:
        request["prompt"]["parameters"] = parameters
    if args.request_id:
        request["requestId"] = args.request_id
    return request


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}") from None


def _parse_cause(cause: str | None) -> dict[str, Any]:
    if not cause:
        return {}
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return {"message": cause}
    return parsed if isinstance(parsed, dict) else {"message": cause}


def run_request(sfn: Any, state_machine_arn: str, request: dict[str, Any], *, express: bool) -> Outcome:
    """Run one execution to its end through ``tollgate.client`` (synchronously for EXPRESS,
    start-and-poll for STANDARD), with ``sfn`` as its Step Functions client."""
    tollgate = Tollgate(
        state_machine_arn, stepfunctions=sfn, workflow_type="EXPRESS" if express else "STANDARD"
    )
    # As given: cmd_invoke has already given it a requestId (and said so); tests send bare bodies.
    return outcome_of(tollgate, request, ensure_request_id=False)


def outcome_of(tollgate: Tollgate, request: dict[str, Any], *, ensure_request_id: bool = True) -> Outcome:
    """How one request sent through the client ended, as an Outcome (its typed error's name)."""
    try:
        output, arn = tollgate.execute(request, ensure_request_id=ensure_request_id)
    except ExecutionFailed as error:
        if isinstance(error.__cause__, BotoCoreError | ClientError):
            raise error.__cause__ from None  # Step Functions itself refused: as the SDK said it
        return Outcome(error.error, error.execution_arn or "", cause=error.cause)
    except TollgateError as error:
        return Outcome(type(error).__name__, error.execution_arn or "", cause=error.cause)
    return Outcome("Succeeded", arn, output=output)


def is_express(sfn: Any, state_machine_arn: str) -> bool:
    return sfn.describe_state_machine(stateMachineArn=state_machine_arn).get("type", "EXPRESS") == "EXPRESS"


def describe_outcome(outcome: Outcome) -> str:
    """The outcome as a person reads it."""
    if outcome.name == "Succeeded" and outcome.output:
        out = outcome.output
        usage = out.get("usage") or {}
        response = out.get("response") or {}
        lines = [
            (response.get("text") or "").rstrip(),
            "",
            f"outcome   Succeeded{' (replay of an earlier execution)' if out.get('replayed') else ''}",
            f"request   {out.get('requestId')}",
            f"model     {out.get('model')} -> {out.get('modelId')}",
            f"usage     {usage.get('inputTokens')} in + {usage.get('outputTokens')} out = "
            f"{usage.get('totalTokens')} tokens (stop: {response.get('stopReason')})",
            f"cost      ${out.get('costUsd', 0):.6f}   latency {out.get('latencyMs')} ms",
        ]
        return "\n".join(lines)
    cause = outcome.cause
    lines = [f"outcome   {outcome.name}", f"request   {cause.get('requestId', '-')}"]
    if cause.get("message"):
        lines.append(f"reason    {cause['message']}")
    limit = cause.get("limit")
    if isinstance(limit, dict):
        lines.append(
            f"limit     {limit.get('id')}: {limit.get('used')} of {limit.get('limit')} {limit.get('unit')} "
            f"used this {limit.get('window')}, this request needs {limit.get('requested')}"
        )
    if "retryAfterSeconds" in cause:
        retry = cause["retryAfterSeconds"]
        lines.append(f"retry     {'never (it can never fit)' if retry is None else f'in {retry} s'}")
    for error in cause.get("errors") or []:
        lines.append(f"field     {error.get('field')}: {error.get('message')}")
    model_error = cause.get("modelError")
    if isinstance(model_error, dict):
        lines.append(f"model     {model_error.get('code')}: {model_error.get('message')}")
    return "\n".join(lines)


def ensure_request_id(request: dict[str, Any]) -> bool:
    """Give the request a requestId unless it has one; True when one was generated."""
    if request.get("requestId"):
        return False
    request["requestId"] = str(uuid.uuid4())
    return True


def cmd_invoke(args: argparse.Namespace) -> int:
    request = build_request(args, sys.stdin)
    if ensure_request_id(request):
        # On stderr, so --json output stays one document; the ID lets a retry replay, not re-run.
        print(
            f"requestId {request['requestId']} (generated; to retry this request without counting "
            f"it twice, pass --request-id {request['requestId']})",
            file=sys.stderr,
        )
    sfn = aws_client(args, "stepfunctions", **CALLER_CONFIG)
    arn = Resolver(args).state_machine_arn()
    outcome = run_request(sfn, arn, request, express=is_express(sfn, arn))
    print(json.dumps(outcome.as_dict(), indent=2) if args.json else describe_outcome(outcome))
    return outcome.exit_code


# --- usage ------------------------------------------------------------------------------------


def _query_all(ddb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("query").paginate(**kwargs):
        items += [deserialize(item) for item in page["Items"]]
    return items


def usage_rows(ddb: Any, table: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every limit with its current window's use: one row per counter (per scope value for `*`)."""
    now = now or datetime.now(UTC)
    rows = []
    limit_items = _query_all(
        ddb,
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "LIMIT"}},
    )
    for item in limit_items:
        limit = limit_from_item(item)
        start, end = window_bounds(limit.window, now)
        pk, window_prefix = counter_key(limit.id, start)
        counters = _query_all(
            ddb,
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :start)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":start": {"S": window_prefix}},
            ConsistentRead=True,
        )
        base = {
            "limitId": limit.id,
            "window": limit.window,
            "unit": limit.unit,
            "limit": limit.ceiling,
            "enforce": limit.enforce,
            "windowStart": format_instant(start),
            "resetsInSeconds": int((end - now).total_seconds()),
        }
        # A sharded limit's counter is several items (one per shard): one row with their sum.
        by_scope: dict[str, Decimal] = {}
        for counter in counters or [{"sk": window_prefix, "used": Decimal(0)}]:
            scope_key = counter_scope(str(counter["sk"]))
            by_scope[scope_key] = by_scope.get(scope_key, Decimal(0)) + Decimal(counter.get("used", 0))
        for scope_key, used in by_scope.items():
            percent = (
                (used / limit.ceiling * 100) if limit.ceiling else (Decimal(100) if used else Decimal(0))
            )
            rows.append({**base, "scope": scope_key or "*", "used": used, "percent": round(percent, 1)})
    return sorted(rows, key=lambda r: (r["limitId"], r["scope"]))


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A plain text table; ``columns`` is (key, heading)."""

    def cell(value: Any) -> str:
        if isinstance(value, Decimal):
            value = json_safe(value)
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)

    body = [[cell(row.get(key, "")) for key, _ in columns] for row in rows]
    widths = [max([len(heading), *(len(r[i]) for r in body)]) for i, (_, heading) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


USAGE_COLUMNS = [
    ("limitId", "limit"),
    ("scope", "scope"),
    ("used", "used"),
    ("limit", "ceiling"),
    ("percent", "%"),
    ("unit", "unit"),
    ("window", "window"),
    ("resetsInSeconds", "resets in s"),
    ("mode", "mode"),
]


def cmd_usage(args: argparse.Namespace) -> int:
    rows = usage_rows(aws_client(args, "dynamodb"), Resolver(args).table_name())
    if args.json:
        print(json.dumps(json_safe(rows), indent=2))
    elif not rows:
        print("no limits are configured")
    else:
        for row in rows:
            row["mode"] = "enforce" if row["enforce"] else "shadow"
        print(format_table(rows, USAGE_COLUMNS))
    return 0


# --- report -----------------------------------------------------------------------------------


def _optional_output(resolver: Resolver, name: str) -> str | None:
    """A Terraform output when the directory has one; the report works without it."""
    try:
        if resolver._outputs is None:
            resolver._outputs = terraform_outputs(resolver.args.terraform_dir)
    except CliError:
        resolver._outputs = {}
    value = resolver._outputs.get(name)
    return str(value) if value else None


def _cur_reader(args: argparse.Namespace, resolver: Resolver, client: Any) -> Any:
    """The bill from the CUR 2.0 export: Athena when a table is named, else DuckDB over the
    export's Parquet objects (bucket/prefix/export from the flags or the cost_export output)."""
    from tollgate.report import cur

    if args.athena_table:
        try:
            table = cur.AthenaTable(
                database=args.athena_database or "",
                table=args.athena_table,
                workgroup=args.athena_workgroup,
                output_location=args.athena_output,
            )
        except cur.CurError as e:
            raise CliError(str(e)) from None
        return lambda keys, since, until: cur.athena_daily(client("athena"), table, keys, since, until)
    _optional_output(resolver, "cost_export")
    export = (resolver._outputs or {}).get("cost_export") or {}
    bucket = args.cur_bucket or export.get("bucket")
    name = args.cur_export or export.get("export_name")
    prefix = args.cur_prefix if args.cur_prefix is not None else export.get("prefix", "")
    if not bucket or not name:
        raise CliError(
            "--source cur needs the export's --cur-bucket and --cur-export (or the module's cost_export "
            "output: set cost_export.enabled), or --athena-table and --athena-database"
        )
    where = cur.CurLocation(bucket=bucket, prefix=prefix or "", export_name=name)
    return lambda keys, since, until: cur.duckdb_daily(client("s3"), where, keys, since, until)


def cmd_report(args: argparse.Namespace) -> int:
    from tollgate.report import Period, build_report, render

    by = [k.strip() for part in (args.by or ["costCenter"]) for k in part.split(",") if k.strip()]
    try:
        period = Period.parse(args.since, args.until)
    except ValueError as e:
        raise CliError(str(e)) from None
    resolver = Resolver(args)
    namespace = (
        args.namespace
        or os.environ.get("TOLLGATE_METRICS_NAMESPACE")
        or _optional_output(resolver, "metrics_namespace")
        or "GenAIRateLimiting"
    )
    table = (
        args.table or os.environ.get("TOLLGATE_TABLE_NAME") or _optional_output(resolver, "limits_table_name")
    )
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = aws_client(args, service)
        return clients[service]

    bill = _cur_reader(args, resolver, client) if args.source == "cur" else None
    try:
        report = build_report(
            client,
            by=by,
            period=period,
            namespace=namespace,
            table=table,
            cost_explorer=not args.no_cost_explorer,
            services=args.ce_service,
            bill=bill,
        )
    except ValueError as e:  # CurError too
        raise CliError(str(e)) from None
    except (BotoCoreError, ClientError) as e:
        raise CliError(f"the CUR 2.0 export could not be read: {e}") from None
    if args.html:
        from tollgate.report.html import as_html

        try:
            page = as_html(report)
        except ImportError:
            raise CliError("--html needs plotly: pip install plotly (see requirements/dev.txt)") from None
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(page)
    if args.json:
        print(render.as_json(report))
    elif args.csv:
        print(render.as_csv(report), end="")
    else:
        print(render.as_text(report, rich=sys.stdout.isatty()))
        if args.html:
            print(f"\nwrote {args.html}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """The module's CloudWatch dashboard as CloudWatch holds it, drawn here with its data."""
    from tollgate.report import dashboard

    name = (
        args.name
        or os.environ.get("TOLLGATE_DASHBOARD_NAME")
        or _optional_output(Resolver(args), "dashboard_name")
    )
    if not name:
        raise CliError(
            f"no dashboard_name in the Terraform outputs of {args.terraform_dir} "
            "(create_dashboard = false?); pass --name or set TOLLGATE_DASHBOARD_NAME"
        )
    try:
        start, end = dashboard.time_range(args.hours)
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = aws_client(args, service)
            return clients[service]

        body = dashboard.load_body(client("cloudwatch"), name)
        panels = dashboard.panels(client, body, start, end)
    except dashboard.DashboardError as e:
        raise CliError(f"dashboard {name}: {e}") from None
    if args.html:
        try:
            page = dashboard.as_html(name, panels, start, end)
        except ImportError:
            raise CliError("--html needs plotly: pip install plotly (see requirements/dev.txt)") from None
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(page)
    if args.json:
        document = {
            "dashboard": name,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "widgets": [p.as_dict() for p in panels],
        }
        print(json.dumps(document, indent=2))
    else:
        print(dashboard.as_text(panels))
        if args.html:
            print(f"\nwrote {args.html}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from tollgate.catalogue import load_catalogue
    from tollgate.lifecycle import MODEL_COLUMNS, model_rows
    from tollgate.routing import routes_from_items

    catalogue = load_catalogue()
    items = _query_all(
        aws_client(args, "dynamodb"),
        TableName=Resolver(args).table_name(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ROUTE"}},
    )
    rows = model_rows(routes_from_items(items, catalogue), aws_client(args, "bedrock"), catalogue)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        shown = [{k: "-" if v is None else v for k, v in r.items()} for r in rows]
        print(format_table(shown, MODEL_COLUMNS))
        flagged = [r for r in rows if r["flag"]]
        if flagged:
            print(
                f"\n{len(flagged)} of {len(rows)} routes need attention: "
                "move them to an ACTIVE model (docs/models.md)."
            )
    return 0


# --- entry point ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where")
    where.add_argument(
        "--terraform-dir",
        default=os.environ.get("TOLLGATE_TERRAFORM_DIR", "."),
        help="read state_machine_arn / limits_table_name from `terraform output` here",
    )
    where.add_argument("--state-machine", help="state machine ARN (else TOLLGATE_STATE_MACHINE_ARN)")
    where.add_argument("--table", help="limits table name (else TOLLGATE_TABLE_NAME)")
    where.add_argument("--region", help="AWS region (else the usual AWS settings)")
    where.add_argument("--profile", help="AWS profile")
    where.add_argument("--endpoint-url", help="AWS endpoint (else AWS_ENDPOINT_URL)")
    common.add_argument("--json", action="store_true", help="print JSON for programs")

    top = argparse.ArgumentParser(prog="tollgate", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)

    invoke = commands.add_parser(
        "invoke",
        parents=[common],
        help="send one request through the workflow",
        description="Exit codes: 0 succeeded, 3 ValidationError, 4 RateLimitExceeded, "
        "5 InvocationFailed, 6 another execution failure, 1 a problem before the request ran.",
    )
    invoke.add_argument("prompt", nargs="?", help="the user message (default: read standard input)")
    invoke.add_argument("--file", help="a JSON file with the whole request ('-' for standard input)")
    invoke.add_argument("--model", help="route: an alias (claude-3-5-haiku) or a cost center (sales)")
    invoke.add_argument("--app", help="tags.applicationId")
    invoke.add_argument("--cost-center", help="tags.costCenter")
    invoke.add_argument("--env", help="tags.environment")
    invoke.add_argument("--system", help="a system prompt")
    invoke.add_argument("--max-tokens", type=int)
    invoke.add_argument("--temperature", type=float)
    invoke.add_argument("--top-p", type=float)
    invoke.add_argument("--top-k", type=int)
    invoke.add_argument("--request-id", help="your own request ID (a retry with it is not counted twice)")
    invoke.set_defaults(func=cmd_invoke)

    usage = commands.add_parser("usage", parents=[common], help="every limit with its current use")
    usage.set_defaults(func=cmd_usage)

    report = commands.add_parser(
        "report",
        parents=[common],
        help="spend, tokens and requests by cost center, application, environment, model",
        description="Tollgate's metrics side by side with Cost Explorer (by cost allocation tag, "
        "Amazon Bedrock and its Marketplace models) and AWS/Bedrock's token counts, with the drift. "
        "Each Cost Explorer request costs USD 0.01 on AWS.",
    )
    report.add_argument(
        "--by",
        action="append",
        help="group by costCenter, applicationId, environment, model (comma-separated or repeated; "
        "default costCenter)",
    )
    report.add_argument("--since", help="first day, UTC (default: the first of this month)")
    report.add_argument("--until", help="day after the last, UTC, exclusive (default: tomorrow)")
    report.add_argument("--csv", action="store_true", help="print CSV")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with charts")
    report.add_argument(
        "--namespace", help="metrics namespace (else TOLLGATE_METRICS_NAMESPACE or Terraform's)"
    )
    report.add_argument("--no-cost-explorer", action="store_true", help="do not call Cost Explorer")
    report.add_argument(
        "--source",
        choices=["cost-explorer", "cur"],
        default="cost-explorer",
        help="the bill: Cost Explorer (default) or the CUR 2.0 export (also allows --by iamPrincipal)",
    )
    cur_args = report.add_argument_group("the CUR 2.0 export (--source cur; default: the cost_export output)")
    cur_args.add_argument("--cur-bucket", help="the export's S3 bucket (read with DuckDB)")
    cur_args.add_argument("--cur-prefix", help="the export's S3 prefix")
    cur_args.add_argument("--cur-export", help="the export's name")
    cur_args.add_argument("--athena-table", help="read through Athena: the table over the export")
    cur_args.add_argument("--athena-database", help="its Glue database")
    cur_args.add_argument("--athena-workgroup", default="primary", help="Athena workgroup (default primary)")
    cur_args.add_argument("--athena-output", help="s3:// location for results, if the workgroup sets none")
    report.add_argument(
        "--ce-service",
        action="append",
        help="Cost Explorer service name to count (repeatable; default Amazon Bedrock and the "
        "'... (Amazon Bedrock Edition)' Marketplace names Cost Explorer lists for the period)",
    )
    report.set_defaults(func=cmd_report)
    board = commands.add_parser(
        "dashboard",
        parents=[common],
        help="the module's CloudWatch dashboard, drawn locally from the body CloudWatch holds",
        description="Reads the dashboard's body (GetDashboard) and each widget's data, prints a "
        "summary and, with --html, draws the widgets at their places on one self-contained page.",
    )
    board.add_argument("--name", help="dashboard name (else TOLLGATE_DASHBOARD_NAME or Terraform's)")
    board.add_argument(
        "--hours", type=float, default=3.0, help="time range: the last HOURS (default 3, the console's)"
    )
    board.add_argument("--html", metavar="FILE", help="write the dashboard as a self-contained HTML page")
    board.set_defaults(func=cmd_dashboard)
    models = commands.add_parser(
        "models", parents=[common], help="every route with the lifecycle Bedrock reports for its model"
    )
    models.set_defaults(func=cmd_models)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as err:
        print(f"tollgate: {err}", file=sys.stderr)
    except (BotoCoreError, ClientError) as err:
        print(f"tollgate: AWS said: {err}", file=sys.stderr)
    return EXIT_CODES["CliError"]


if __name__ == "__main__":
    sys.exit(main())
