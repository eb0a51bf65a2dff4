"""A LocalStack Lambda runtime executor that runs Python functions as host processes (no Docker).

Selected with LAMBDA_RUNTIME_EXECUTOR=tollgate-host. Each LocalStack execution environment gets
one worker process (worker.py) of the function's runtime interpreter, taken from the virtualenvs
in $TOLLGATE_LAMBDA_RUNTIMES/<runtime> (made by local/launcher.py, with the AWS SDK the Lambda
runtime ships). The worker imports the handler once (init) and serves invocations until
LocalStack stops the environment (warm reuse). The timeout is enforced here: on expiry the
worker is killed and the next invocation starts a fresh one, as AWS does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

LOG = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
SUPPORTED_RUNTIMES = ("python3.12", "python3.13")
INIT_TIMEOUT_S = 10.0  # AWS's limit for the init phase of an on-demand function
LOG_DRAIN_S = 2.0  # how long to wait for the end of an invocation's output after its result
# LocalStack-internal variables that mean nothing to a host process
_DROPPED_ENV = (
    "LOCALSTACK_RUNTIME_ID",
    "LOCALSTACK_RUNTIME_ENDPOINT",
    "LOCALSTACK_CHMOD_PATHS",
    "LAMBDA_RUNTIME_DIR",
)


def runtime_python(runtime: str | None) -> Path:
    if runtime not in SUPPORTED_RUNTIMES:
        raise LambdaRuntimeException(
            f"The local host executor runs the runtimes {', '.join(SUPPORTED_RUNTIMES)} only, "
            f"not {runtime or 'container images'}."
        )
    root = os.environ.get("TOLLGATE_LAMBDA_RUNTIMES", "")
    python = Path(root, runtime, "bin", "python")
    if not root or not python.exists():
        raise LambdaRuntimeException(
            f"The Lambda runtime {runtime} is not installed on this machine ({python} is missing): "
            f"install Python {runtime[6:]} and run `make localstack-up` again."
        )
    return python


class _Worker:
    """One running worker process and its two readers (results, output)."""

    def __init__(self, python: Path, env: dict[str, str], cwd: str):
        read_fd, write_fd = os.pipe()
        env = {**env, "TOLLGATE_RESULT_FD": str(write_fd)}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(python), "-P", "-u", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own group, so a timeout kills whatever the function started
        )
        os.close(write_fd)
        self.results: queue.Queue[dict | None] = queue.Queue()
        self.output: list[str] = []
        self.output_lock = threading.Lock()
        self.markers: dict[str, threading.Event] = {"init": threading.Event()}
        self.recent: deque[str] = deque(maxlen=300)
        self._result_file = os.fdopen(read_fd, "rb")
        threading.Thread(target=self._read_results, daemon=True, name="lambda-worker-results").start()
        threading.Thread(target=self._read_output, daemon=True, name="lambda-worker-output").start()

    def _read_results(self) -> None:
        with self._result_file:
            for line in self._result_file:
                try:
                    self.results.put(json.loads(line))
                except ValueError:
                    LOG.warning("Lambda worker sent an unreadable message: %r", line[:200])
        self.results.put(None)  # the worker is gone

    def _read_output(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace")
            text, sep, nonce = line.partition("\x1e")
            with self.output_lock:
                if text and text != "\n":
                    self.output.append(text if text.endswith("\n") else text + ("\n" if sep else ""))
                    self.recent.append(text)
                if sep:
                    self.markers.setdefault(nonce.strip(), threading.Event()).set()
        with self.output_lock:
            for event in self.markers.values():
                event.set()

    def expect(self, nonce: str) -> threading.Event:
        with self.output_lock:
            return self.markers.setdefault(nonce, threading.Event())

    def take_output(self) -> str:
        with self.output_lock:
            text, self.output = "".join(self.output), []
            return text

    def send(self, request: dict) -> None:
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def max_rss_mib(self) -> int:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
        return 0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._env: dict[str, str] = {}
        self._worker: _Worker | None = None
        self._init_error: dict | None = None
        self._init_report: str = ""
        self._lock = threading.Lock()
        self._tmp: Path | None = None
        self._unsupported: dict | None = None
        self._stopped = False
        self._python = Path()
        self._task_root = ""
        self._init_ms = 0.0

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        fv = self.function_version
        try:
            python = runtime_python(fv.config.runtime)
        except LambdaRuntimeException as e:
            # reported by every invocation; failing here instead would leave a function that
            # LocalStack can no longer delete
            self._unsupported = {"errorType": "Runtime.InvalidRuntime", "errorMessage": str(e)}
            return
        task_root = str(fv.config.code.get_unzipped_code_location())
        self._tmp = Path(config.dirs.tmp, "lambda-tmp", self.id)
        self._tmp.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TMPDIR": str(self._tmp),
            # no ~/.aws of whoever runs LocalStack: a function sees only its own environment
            "HOME": str(self._tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update({k: str(v) for k, v in env_vars.items() if k not in _DROPPED_ENV})
        env.update(
            {
                "LAMBDA_TASK_ROOT": task_root,
                "PYTHONPATH": task_root,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fv.config.runtime}",
            }
        )
        # the function's own variables win, as LocalStack's environment ordering intends
        env.update(fv.config.environment or {})
        self._env = env
        self._python = python
        self._task_root = task_root
        self._spawn()

    def _spawn(self) -> None:
        self._init_error = None
        self._worker = _Worker(self._python, self._env, self._task_root)
        try:
            message = self._worker.results.get(timeout=INIT_TIMEOUT_S)
        except queue.Empty:
            message = {
                "type": "init_error",
                "error": {
                    "errorType": "Runtime.InitTimeout",
                    "errorMessage": f"Init phase exceeded {INIT_TIMEOUT_S:.0f} seconds",
                },
            }
            self._worker.kill()
        if message is None:
            message = {
                "type": "init_error",
                "error": {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited during init"},
            }
        self._worker.expect("init").wait(LOG_DRAIN_S)
        init_ms = (time.monotonic() - self._worker.started) * 1000
        runtime = self.function_version.config.runtime
        self._init_report = f"INIT_START Runtime Version: {runtime}.host\n" + self._worker.take_output()
        self._init_ms = init_ms
        if message["type"] == "init_error":
            self._init_error = message["error"]

    def stop(self) -> None:
        # no lock: stopping interrupts a running invocation (it then ends as Runtime.ExitError)
        self._stopped = True
        worker, self._worker = self._worker, None
        if worker:
            worker.kill()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    # --- invocation -------------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._lock:
            return self._invoke(payload)

    def _invoke(self, payload: dict[str, str]) -> InvocationResult:
        fv = self.function_version
        request_id = payload["invoke-id"]
        if self._unsupported:
            error = {**self._unsupported, "requestId": request_id}
            log = f"START RequestId: {request_id} Version: {fv.id.qualifier}\n{error['errorMessage']}\n"
            return InvocationResult(request_id, json.dumps(error).encode(), is_error=True, logs=log)
        if self._stopped:
            raise LambdaRuntimeException(f"The execution environment {self.id} was stopped.")
        if self._worker is None or self._worker.proc.poll() is not None:
            self._spawn()  # after a timeout or a crash: a fresh environment, as on AWS
        worker = self._worker
        log = [self._init_report] if self._init_report else []
        init_ms, self._init_report = (self._init_ms if self._init_report else None), ""
        log.append(f"START RequestId: {request_id} Version: {fv.id.qualifier}\n")
        started = time.monotonic()

        if self._init_error is not None:
            worker.kill()  # AWS runs init again on the next invocation
            result, status, max_mem = (
                {"type": "error", "error": {**self._init_error, "requestId": request_id}},
                "error",
                0,
            )
        else:
            result, status, max_mem = self._run(worker, request_id, payload)
        if status:  # the worker is gone (timed out or exited)
            self._worker = None
        log.append(worker.take_output())
        if status == "timeout":
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            log.append(f"{stamp} {request_id} Task timed out after {float(fv.config.timeout):.2f} seconds\n")

        duration_ms = (time.monotonic() - started) * 1000
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {fv.config.memory_size} MB\t"
            f"Max Memory Used: {max_mem} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        log.append(f"END RequestId: {request_id}\n{report}\n")
        if result["type"] == "result":
            return InvocationResult(request_id, result["payload"].encode(), is_error=False, logs="".join(log))
        return InvocationResult(
            request_id, json.dumps(result["error"]).encode(), is_error=True, logs="".join(log)
        )

    def _run(self, worker: _Worker, request_id: str, payload: dict[str, str]) -> tuple[dict, str | None, int]:
        """Send one invocation; (result message, None | "timeout" | "error", max memory MiB)."""
        timeout_s = float(self.function_version.config.timeout)
        nonce = uuid.uuid4().hex
        marker = worker.expect(nonce)
        try:
            worker.send(
                {
                    "nonce": nonce,
                    "requestId": request_id,
                    "payload": payload.get("payload") or "",
                    "deadlineMs": (time.time() + timeout_s) * 1000,
                    "functionArn": payload.get("invoked-function-arn") or self.function_version.qualified_arn,
                    "traceId": payload.get("trace-id") or "",
                }
            )
            message = worker.results.get(timeout=timeout_s)
        except OSError:  # the worker died before it read the request
            message = None
        except queue.Empty:
            max_mem = worker.max_rss_mib()
            worker.kill()
            error = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            return (
                {"type": "error", "error": {"errorType": "Sandbox.Timedout", "errorMessage": error}},
                "timeout",
                max_mem,
            )
        max_mem = worker.max_rss_mib()
        if message is None:
            worker.kill()
            code = worker.proc.returncode
            error = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            return (
                {"type": "error", "error": {"errorType": "Runtime.ExitError", "errorMessage": error}},
                "error",
                max_mem,
            )
        marker.wait(LOG_DRAIN_S)
        return message, None, max_mem

    # --- addresses (a host process reaches LocalStack on loopback) -----------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        worker = self._worker
        return "".join(worker.recent) if worker else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        try:
            runtime_python(function_version.config.runtime)
        except LambdaRuntimeException as e:
            LOG.warning("Function %s cannot run here: %s", function_version.id.function_name, e)
        if function_version.config.layers:
            LOG.warning(
                "Function %s has layers: the host executor ignores them", function_version.id.function_name
            )
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "tollgate-host"

    def load(self, *args, **kwargs):
        return HostRuntimeExecutor
