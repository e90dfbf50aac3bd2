"""``bpu-dev up``: the whole embedded stack in the foreground, in one command.

It starts the broker (Tansu, memory only), the store (NX-27017, SQLite files under the data
folder) and the four services as child processes, waits until every service answers
``GET /ready``, prints their addresses and the admin key, and streams one merged log: every
line of every child, prefixed with the child's name. Ctrl-C or SIGTERM stops every child
(SIGTERM, then SIGKILL after a timeout) and exits 0. Every child is started with the Linux
parent-death signal, so that even ``kill -9`` of this runner leaves no server holding a port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from bpu_devstack.servers import (
    ChildServer,
    EmbeddedKafka,
    EmbeddedMongo,
    death_signal_preexec,
    port_open,
)

HOST = "127.0.0.1"
SERVICES = ("registration", "billing", "claims", "reporting")
STYLES = {
    "kafka": "magenta",
    "mongodb": "green",
    "registration": "cyan",
    "billing": "yellow",
    "claims": "bright_blue",
    "reporting": "bright_magenta",
}
ADMIN_KEY_FILE = "admin-api-key"
TAIL_LINES = 25
PROBE_INTERVAL = 0.25
NAME_WIDTH = max(len(n) for n in STYLES)


class DevSettings(BaseSettings):
    """Settings of ``bpu-dev up``, each from the upper-case env var of the same name."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path(".data"), validation_alias="BPU_DATA_DIR")
    kafka_port: int = Field(9092, ge=1, le=65535)
    mongodb_port: int = Field(27017, ge=1, le=65535)
    registration_port: int = Field(8001, ge=1, le=65535)
    billing_port: int = Field(8002, ge=1, le=65535)
    claims_port: int = Field(8003, ge=1, le=65535)
    reporting_port: int = Field(8004, ge=1, le=65535)
    admin_api_key: SecretStr | None = None
    ready_timeout: float = Field(90.0, gt=0, validation_alias="BPU_READY_TIMEOUT")
    stop_timeout: float = Field(10.0, gt=0, validation_alias="BPU_STOP_TIMEOUT")
    # The command line of each service; ``{name}`` is replaced by the service's name. A bare
    # program name is looked up beside this Python first (the workspace's venv), then on PATH.
    service_command: str = Field("bpu-{name}", validation_alias="BPU_SERVICE_COMMAND")

    def service_port(self, name: str) -> int:
        return int(getattr(self, f"{name}_port"))


class SafeStream:
    """Standard output that goes on when its reader goes away (a closed pipe or terminal), so
    that the stack still stops in order; what is lost is only the copy on screen."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except OSError:
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except OSError:
                self.broken = True

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


class Shutdown(Exception):
    """Raised in the main thread by the first SIGINT or SIGTERM."""


class StackError(Exception):
    """The stack cannot start or keep running; the message says why."""


@dataclass
class Child:
    """One child process of the stack, with its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log_file: IO[bytes]
    port: int
    started: float = field(default_factory=time.monotonic)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    partial: bytes = b""
    ready_after: float | None = None
    last_answer: str = "not started"
    last_probe: float = 0.0
    task: TaskID | None = None

    @property
    def style(self) -> str:
        return STYLES.get(self.name, "white")


@dataclass
class StopState:
    stopping: bool = False
    force: bool = False


class Stack:
    """The children, the merged log and the orderly stop."""

    def __init__(self, settings: DevSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.children: list[Child] = []
        self.selector = selectors.DefaultSelector()
        self.state = StopState()
        self.stopped = False

    # -- output -------------------------------------------------------------------------------

    def say(self, message: str, style: str = "bold") -> None:
        self.console.print(Text.assemble(("bpu-dev", "bold"), ": ", (message, style)))

    def emit(self, child: Child, raw: bytes) -> None:
        child.log_file.write(raw + b"\n")
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        child.tail.append(line)
        if child.name == "mongodb" and " - INFO - " in line:
            # The store logs every command it serves at INFO: kept in its log file, not shown.
            return
        self.console.print(
            Text.assemble((f"{child.name:<{NAME_WIDTH}}", child.style), (" | ", "dim"), line),
            soft_wrap=True,
        )

    def pump(self, timeout: float) -> None:
        """Print whatever the children wrote, waiting at most ``timeout`` seconds for it."""
        if not self.selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            child: Child = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(key.fileobj)
                if child.partial:
                    self.emit(child, child.partial)
                    child.partial = b""
                child.log_file.flush()
                continue
            *lines, child.partial = (child.partial + chunk).split(b"\n")
            for raw in lines:
                self.emit(child, raw)
            child.log_file.flush()

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def tail_of(self, child: Child) -> str:
        lines = "\n".join(f"    {line}" for line in child.tail) or "    (it wrote nothing)"
        return f"last lines of its log ({self.log_path(child.name)}):\n{lines}"

    # -- starting -----------------------------------------------------------------------------

    def _adopt(self, name: str, proc: subprocess.Popen[bytes], port: int) -> Child:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        child = Child(name, proc, open(self.log_path(name), "wb"), port)
        self.children.append(child)
        self.selector.register(proc.stdout, selectors.EVENT_READ, child)
        return child

    def start_server(self, server: ChildServer) -> float:
        """Start the broker or the store; return how long its port took to open."""
        began = time.monotonic()
        try:
            server.start(timeout=30.0, stdout=subprocess.PIPE, die_with_parent=True)
        except BaseException as exc:
            if server.proc is None:
                raise
            child = self._adopt(server.name, server.proc, server.port)  # so that stop() stops it
            if not isinstance(exc, RuntimeError | TimeoutError):
                raise
            self.drain(child)
            raise StackError(f"{server.name} did not start: {exc}\n{self.tail_of(child)}") from exc
        assert server.proc is not None
        self._adopt(server.name, server.proc, server.port)
        self.pump(0)
        return time.monotonic() - began

    def start_service(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=death_signal_preexec(),
        )
        return self._adopt(name, proc, self.settings.service_port(name))

    def drain(self, child: Child, timeout: float = 1.0) -> None:
        """Print what an exited child still had in its pipe (its last words)."""
        deadline = time.monotonic() + timeout
        fd = child.proc.stdout
        while fd is not None and fd in self.selector.get_map() and time.monotonic() < deadline:
            self.pump(0.05)

    def check_alive(self, phase: str) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                self.drain(child)
                raise StackError(
                    f"{child.name} exited {phase} ({describe_exit(code)})\n{self.tail_of(child)}"
                )

    def probe(self, child: Child) -> None:
        url = f"http://{HOST}:{child.port}/ready"
        child.last_probe = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    child.ready_after = time.monotonic() - child.started
                child.last_answer = f"{response.status}"
        except urllib.error.HTTPError as exc:
            body = exc.read(300).decode("utf-8", errors="replace").strip()
            child.last_answer = f"{exc.code} {body}".strip()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            child.last_answer = f"no answer ({reason})"

    def wait_ready(self, services: list[Child], progress: Progress) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout
        for child in services:
            child.task = progress.add_task(child.name, total=None, status="starting")
        progress.refresh()
        while True:
            self.pump(0.1)
            self.check_alive("before it was ready")
            waiting = [c for c in services if c.ready_after is None]
            if not waiting:
                return
            now = time.monotonic()
            for child in waiting:
                if now - child.last_probe >= PROBE_INTERVAL:
                    self.probe(child)
                    assert child.task is not None
                    if child.ready_after is not None:
                        progress.update(child.task, status="ready", completed=1, total=1)
                        self.say(f"{child.name} ready after {child.ready_after:.1f}s", "green")
                    else:
                        progress.update(child.task, status=shorten(child.last_answer, 60))
            if time.monotonic() > deadline:
                late = [c for c in services if c.ready_after is None]
                first = late[0]
                raise StackError(
                    f"{', '.join(c.name for c in late)} not ready after "
                    f"{self.settings.ready_timeout:.0f}s; {first.name}'s GET "
                    f"http://{HOST}:{first.port}/ready last answered: {first.last_answer}\n"
                    f"{self.tail_of(first)}"
                )
            progress.refresh()

    # -- running and stopping -----------------------------------------------------------------

    def watch(self) -> None:
        """Stream the logs until a child exits (an error) or a signal comes (raises Shutdown)."""
        while True:
            self.pump(0.2)
            self.check_alive("unexpectedly")

    def stop(self) -> None:
        """Stop the services, then the store and the broker: SIGTERM, then SIGKILL."""
        self.state.stopping = True
        if self.stopped:
            return
        self.stopped = True
        services = [c for c in self.children if c.name in SERVICES]
        servers = [c for c in self.children if c.name not in SERVICES]
        for group in (services, servers):
            self._stop_group(group)
        self.pump(0)
        for child in self.children:
            with contextlib.suppress(Exception):
                child.log_file.close()

    def _stop_group(self, group: list[Child]) -> None:
        running = [c for c in group if c.proc.poll() is None]
        for child in running:
            signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_timeout
        while any(c.proc.poll() is None for c in running):
            if self.state.force or time.monotonic() > deadline:
                for child in running:
                    if child.proc.poll() is None:
                        self.say(f"{child.name} did not stop in time: SIGKILL", "yellow")
                        signal_group(child.proc, signal.SIGKILL)
                for child in running:
                    child.proc.wait()
                break
            self.pump(0.05)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- preparation ------------------------------------------------------------------------------


def admin_key(settings: DevSettings, data_dir: Path) -> tuple[str, str]:
    """The admin key and where it comes from: the env var, else a file kept in the data dir."""
    if settings.admin_api_key is not None:
        key = settings.admin_api_key.get_secret_value()
        if len(key) < 16:
            raise StackError("ADMIN_API_KEY is too short: it needs at least 16 characters")
        return key, "from ADMIN_API_KEY"
    path = data_dir / ADMIN_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if len(key) >= 16:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            return key, f"kept in {path}"
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{ADMIN_KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.replace(tmp, path)
    return key, f"new, kept in {path}"


def listener_of(port: int) -> str:
    """Best effort: which process listens on ``port`` (Linux /proc), for the error message."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return ""
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                        return f" by pid {pid_dir.name} ({shorten(cmd, 80)})"
    return ""


def check_ports(settings: DevSettings) -> list[tuple[str, int]]:
    ports = [("kafka", settings.kafka_port), ("mongodb", settings.mongodb_port)]
    ports += [(name, settings.service_port(name)) for name in SERVICES]
    seen: dict[int, str] = {}
    for name, port in ports:
        if port in seen:
            raise StackError(f"{name} and {seen[port]} are both set to port {port}")
        seen[port] = name
    busy = [(n, p) for n, p in ports if port_open(HOST, p)]
    if busy:
        lines = [
            f"  {name}: {HOST}:{port} is already in use{listener_of(port)}; "
            f"set {name.upper()}_PORT to another port"
            for name, port in busy
        ]
        raise StackError(
            "ports busy (another bpu-dev up, or an old server still running?):\n" + "\n".join(lines)
        )
    return ports


def service_argv(settings: DevSettings, name: str) -> list[str]:
    argv = shlex.split(settings.service_command.format(name=name))
    if not argv:
        raise StackError("BPU_SERVICE_COMMAND is empty")
    if "/" not in argv[0]:
        beside = Path(sys.executable).parent / argv[0]
        found = str(beside) if beside.is_file() else shutil.which(argv[0])
        if found is None:
            raise StackError(
                f"{name}: command {argv[0]!r} not found (run `uv sync`, then `uv run bpu-dev up`)"
            )
        argv[0] = found
    return argv


def service_env(settings: DevSettings, name: str, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=f"{HOST}:{settings.kafka_port}",
        MONGODB_URL=f"mongodb://{HOST}:{settings.mongodb_port}",
        ADMIN_API_KEY=key,
        HTTP_HOST=HOST,
        HTTP_PORT=str(settings.service_port(name)),
        LOG_JSON=os.environ.get("LOG_JSON", "true"),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def stop_signals(state: StopState) -> Iterator[None]:
    """The first SIGINT, SIGTERM or SIGHUP raises Shutdown; another one during the stop makes
    it SIGKILL what is left at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if state.stopping:
            state.force = True
            return
        state.stopping = True
        raise Shutdown(signal.Signals(signum).name)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# -- the command ------------------------------------------------------------------------------


def up(settings: DevSettings, console: Console) -> int:
    began = time.monotonic()
    stack = Stack(settings, console)
    try:
        with stop_signals(stack.state):
            try:
                return _up(stack, began)
            except Shutdown as exc:
                stack.state.stopping = True
                stack.say(f"{exc}: stopping the stack")
                stack.stop()
                stack.say("stopped")
                return 0
            except StackError as exc:
                stack.state.stopping = True
                console.print(Text.assemble(("bpu-dev: error: ", "bold red"), str(exc)))
                if stack.children:
                    stack.say("stopping the stack")
                    stack.stop()
                    stack.say("stopped", "red")
                return 1
            finally:
                stack.state.stopping = True
                stack.stop()  # a no-op once stopped; covers any unexpected exception
    except Shutdown:  # a signal in the narrow gap before the handler saw `stopping`
        stack.stop()
        return 0


def _up(stack: Stack, began: float) -> int:
    settings = stack.settings
    data_dir = stack.data_dir
    check_ports(settings)
    argvs = {name: service_argv(settings, name) for name in SERVICES}
    data_dir.mkdir(parents=True, exist_ok=True)
    stack.log_dir.mkdir(exist_ok=True)
    key, key_origin = admin_key(settings, data_dir)

    kafka = EmbeddedKafka(host=HOST, port=settings.kafka_port)
    mongo = EmbeddedMongo(host=HOST, port=settings.mongodb_port, data_dir=data_dir / "mongodb")
    stack.say(f"data in {data_dir}, logs in {stack.log_dir}")
    took = stack.start_server(kafka)
    stack.say(f"kafka listening on {kafka.bootstrap_servers} after {took:.1f}s", "green")
    took = stack.start_server(mongo)
    stack.say(f"mongodb listening on {mongo.url} after {took:.1f}s", "green")

    services = [
        stack.start_service(name, argvs[name], service_env(settings, name, key))
        for name in SERVICES
    ]
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<14}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=stack.console,
        transient=True,
        auto_refresh=False,  # no refresh thread: children are forked with a preexec_fn
    )
    with progress:
        stack.wait_ready(services, progress)
    elapsed = time.monotonic() - began

    console = stack.console
    console.print()
    console.print(Text(f"bpu-dev: stack ready in {elapsed:.1f}s", style="bold green"))
    for child in services:
        url = f"http://{HOST}:{child.port}"
        console.print(
            Text.assemble(
                (f"  {child.name:<{NAME_WIDTH}} ", child.style),
                url,
                ("  docs: ", "dim"),
                f"{url}/docs",
            ),
            soft_wrap=True,
        )
    console.print(
        Text.assemble((f"  {'kafka':<{NAME_WIDTH}} ", "magenta"), kafka.bootstrap_servers)
    )
    console.print(
        Text.assemble(
            (f"  {'mongodb':<{NAME_WIDTH}} ", "green"), mongo.url, f"  (data in {mongo.data_dir})"
        ),
        soft_wrap=True,
    )
    console.print(
        Text.assemble(("  admin key    ", "bold"), key, (f"  ({key_origin})", "dim")),
        soft_wrap=True,
    )
    console.print(Text("  Ctrl-C stops the stack.", style="dim"))
    console.print()
    stack.watch()
    return 1  # watch() returns only by an exception


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bpu-dev", description="The embedded development stack of the BPU platform."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up_parser = commands.add_parser(
        "up",
        help="start broker, store and the four services in the foreground",
        description=(
            "Start the embedded broker (Tansu, memory only), the store (NX-27017, SQLite files "
            "in <data dir>/mongodb) and the registration, billing, claims and reporting "
            "services; wait until each answers GET /ready; print their URLs and the admin key; "
            "then stream every child's log, one line each, prefixed with its name. Ctrl-C or "
            "SIGTERM stops everything and exits 0; a child that exits by itself stops the stack "
            "with exit code 1."
        ),
        epilog=(
            "Settings (env vars): BPU_DATA_DIR (default .data), KAFKA_PORT (9092), "
            "MONGODB_PORT (27017), REGISTRATION_PORT (8001), BILLING_PORT (8002), CLAIMS_PORT "
            "(8003), REPORTING_PORT (8004), ADMIN_API_KEY (default: generated once and kept in "
            "<data dir>/admin-api-key), BPU_READY_TIMEOUT (90 s), BPU_STOP_TIMEOUT (10 s), "
            "LOG_LEVEL, LOG_JSON, BPU_SERVICE_COMMAND (default 'bpu-{name}')."
        ),
    )
    up_parser.add_argument("--data-dir", type=Path, help="overrides BPU_DATA_DIR")
    up_parser.add_argument("--ready-timeout", type=float, help="overrides BPU_READY_TIMEOUT")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stdout = SafeStream(sys.stdout)
    console = Console(file=stdout, highlight=False, emoji=False, soft_wrap=True)
    try:
        settings = DevSettings()
    except ValidationError as exc:
        console.print(Text(f"bpu-dev: error: bad settings:\n{exc}", style="bold red"))
        return 2
    overrides = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.ready_timeout is not None:
        overrides["ready_timeout"] = args.ready_timeout
    if overrides:
        settings = settings.model_copy(update=overrides)
    code = up(settings, console)
    if stdout.broken:  # nothing more can be written there, not even at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
