"""``bpu-dev``: the whole embedded stack in the foreground, in one command, and its control.

``bpu-dev up`` starts the broker (Tansu, memory only), the store (NX-27017, SQLite files under
the data folder) and the four services as child processes, waits until every service answers
``GET /ready``, prints their addresses and the admin key, and streams one merged log.

It keeps them running as compose's ``restart: unless-stopped`` would: a child that dies while
the stack runs (a service, the broker or the store) is started again after a backoff of 1 s,
doubling up to 30 s while it keeps dying, back to 1 s once it has stayed up for 60 s; the log
says which child, how it ended and when it comes back. The broker comes back empty, which the
services notice and answer by publishing their retained events again
(``OUTBOX_REPUBLISH_ON_BROKER_LOSS``, set here for every service). A child that dies before the
stack was first ready stops the stack instead: that is a setup error no restart mends.

``bpu-dev restart NAME`` asks the running runner, through the unix socket
``<data dir>/bpu-dev.sock``, to stop one child (SIGTERM, then SIGKILL after the stop timeout)
and start it again, and answers once it is ready. The socket also keeps a second runner off
the same data folder.

Every child's output goes as written to ``<data dir>/logs/<name>.log`` (JSON lines from the
services). On a terminal the services' lines are shown in the human form of
``bpu_shared.logging.LogLine``; elsewhere as written, prefixed with the child's name.

Ctrl-C, SIGTERM or SIGHUP stops the services, then the store and the broker (SIGTERM, then
SIGKILL after a timeout) and exits 0. Every child is started with the Linux parent-death signal,
so that even ``kill -9`` of this runner leaves no server holding a port.
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
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Literal, cast

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from bpu_devstack.samples import BadKind, sample_rows, write_sample
from bpu_devstack.servers import (
    ChildServer,
    EmbeddedKafka,
    EmbeddedMongo,
    ServiceProcess,
    port_open,
    stop_all,
)
from bpu_shared.logging import LogLine, mask_niks

HOST = "127.0.0.1"
SERVICES = ("registration", "billing", "claims", "reporting")
CHILDREN = ("kafka", "mongodb", *SERVICES)
STYLES = {
    "kafka": "magenta",
    "mongodb": "green",
    "registration": "cyan",
    "billing": "yellow",
    "claims": "bright_blue",
    "reporting": "bright_magenta",
}
LEVEL_STYLES = {"DEBUG": "dim", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}
PART_STYLES = {"time": "dim", "fields": "dim", "cid": "dim", "exc": "red"}
ADMIN_KEY_FILE = "admin-api-key"
CONTROL_SOCKET = "bpu-dev.sock"
TAIL_LINES = 25
PROBE_INTERVAL = 0.25
NAME_WIDTH = max(len(n) for n in STYLES)
# Restart backoff: the first delay, its cap, and how long a child must stay up for the next
# death to count as a first one again.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
BACKOFF_RESET = 60.0


class DevSettings(BaseSettings):
    """Settings of ``bpu-dev``, each from the upper-case env var of the same name."""

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
    # human: the services' JSON lines rendered for a person; json: every line as written;
    # auto: human when standard output is a terminal.
    log_format: Literal["auto", "human", "json"] = Field("auto", validation_alias="BPU_LOG_FORMAT")
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
    """Raised in the main thread by the first SIGINT, SIGTERM or SIGHUP."""


class StackError(Exception):
    """The stack cannot start or keep running; the message says why."""


@dataclass
class Request:
    """A ``bpu-dev restart`` connection: one request line in, then answer lines out
    (``info …``, and last ``ok …`` or ``error …``)."""

    conn: socket.socket
    received: bytes = b""
    text: str = ""

    def reply(self, kind: str, message: str) -> None:
        # A requester that went away must not hold up or break the runner.
        with contextlib.suppress(OSError):
            self.conn.sendall(f"{kind} {' '.join(message.splitlines())}\n".encode())

    def finish(self, ok: bool, message: str) -> None:
        self.reply("ok" if ok else "error", message)
        self.conn.close()


@dataclass
class Child:
    """One child process of the stack, with its log and its restart state."""

    server: ChildServer
    log_file: IO[bytes]
    started: float = field(default_factory=time.monotonic)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    partial: bytes = b""
    ready_after: float | None = None
    last_answer: str = "not started"
    last_probe: float = 0.0
    task: TaskID | None = None
    # Set while it is (re)starting after the stack was ready: until when to wait for ready.
    ready_deadline: float | None = None
    # Set while it waits to be started again after it died.
    restart_at: float | None = None
    quick_deaths: int = 0
    waiting: list[Request] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.server.proc is not None
        return self.server.proc

    @property
    def style(self) -> str:
        return STYLES.get(self.name, "white")


@dataclass
class StopState:
    stopping: bool = False
    force: bool = False


class Stack:
    """The children, the merged log, their restarts and the orderly stop."""

    def __init__(self, settings: DevSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.children: list[Child] = []
        self.selector = selectors.DefaultSelector()
        self.state = StopState()
        self.stopped = False
        self.control: socket.socket | None = None
        self.requests: list[Request] = []
        mode = settings.log_format
        self.human = mode == "human" or (mode == "auto" and console.is_terminal)

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
        self.console.print(self.shown(child, line), soft_wrap=True)

    def shown(self, child: Child, line: str) -> Text:
        """A child's line as the terminal shows it (the log file keeps it as written)."""
        if not self.human:
            return Text.assemble(
                (f"{child.name:<{NAME_WIDTH}}", child.style), (" | ", "dim"), mask_niks(line)
            )
        entry = LogLine.from_json(line)
        if entry is None:
            # Not a log line of ours (the broker's and store's output, a crash's traceback):
            # the time it arrived, the child, the text.
            entry = LogLine(datetime.now().astimezone(), child.name, "", line)
        return Text.assemble(
            *(
                (text, child.style if kind == "service" else self.part_style(kind, entry))
                for text, kind in entry.parts()
            )
        )

    @staticmethod
    def part_style(kind: str, entry: LogLine) -> str:
        if kind == "level":
            return LEVEL_STYLES.get(entry.level, "")
        return PART_STYLES.get(kind, "")

    def pump(self, timeout: float) -> None:
        """Print whatever the children wrote and take in ``bpu-dev restart`` requests, waiting
        at most ``timeout`` seconds for either."""
        if not self.selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            if isinstance(key.data, Request):
                self._read_request(key.data)
            elif key.data is None:
                self._accept()
            else:
                self._read_child(key)

    def _read_child(self, key: selectors.SelectorKey) -> None:
        child: Child = key.data
        try:
            chunk = os.read(key.fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            # The selector holds only the children's stdout pipes (see _attach).
            self._forget_pipe(child, cast(IO[bytes], key.fileobj))
            return
        *lines, child.partial = (child.partial + chunk).split(b"\n")
        for raw in lines:
            self.emit(child, raw)
        child.log_file.flush()

    def _forget_pipe(self, child: Child, pipe: IO[bytes]) -> None:
        """The end of a child's output (it exited, or is being started again)."""
        with contextlib.suppress(KeyError):
            self.selector.unregister(pipe)
        if child.partial:
            self.emit(child, child.partial)
            child.partial = b""
        child.log_file.flush()
        pipe.close()

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def tail_of(self, child: Child) -> str:
        lines = "\n".join(f"    {line}" for line in child.tail) or "    (it wrote nothing)"
        return f"last lines of its log ({self.log_path(child.name)}):\n{lines}"

    # -- starting -----------------------------------------------------------------------------

    def _adopt(self, server: ChildServer) -> Child:
        child = Child(server, open(self.log_path(server.name), "wb"))
        self.children.append(child)
        self._attach(child)
        return child

    def _attach(self, child: Child) -> None:
        """Read the output of the child's current process."""
        stdout = child.proc.stdout
        assert stdout is not None
        os.set_blocking(stdout.fileno(), False)
        self.selector.register(stdout, selectors.EVENT_READ, child)

    def start_server(self, server: ChildServer) -> float:
        """Start the broker or the store; return how long its port took to open."""
        began = time.monotonic()
        try:
            server.start(timeout=30.0, stdout=subprocess.PIPE, die_with_parent=True)
        except BaseException as exc:
            if server.proc is None:
                raise
            child = self._adopt(server)  # so that stop() stops it
            if not isinstance(exc, RuntimeError | TimeoutError):
                raise
            self.drain(child)
            raise StackError(f"{server.name} did not start: {exc}\n{self.tail_of(child)}") from exc
        self._adopt(server)
        self.pump(0)
        return time.monotonic() - began

    def start_service(self, server: ServiceProcess) -> Child:
        server.spawn(stdout=subprocess.PIPE, die_with_parent=True)
        return self._adopt(server)

    def drain(self, child: Child, timeout: float = 1.0) -> None:
        """Print what an exited child still had in its pipe (its last words)."""
        deadline = time.monotonic() + timeout
        while self.reading(child.proc.stdout) and time.monotonic() < deadline:
            self.pump(0.05)

    def reading(self, pipe: IO[bytes] | None) -> bool:
        """Whether the pipe is still being read (not yet at its end)."""
        return pipe is not None and not pipe.closed and pipe in self.selector.get_map()

    def check_alive(self, phase: str) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                self.drain(child)
                raise StackError(
                    f"{child.name} exited {phase} ({describe_exit(code)})\n{self.tail_of(child)}"
                )

    def probe(self, child: Child) -> None:
        """Is it ready: ``GET /ready`` answers 200 for a service, the port opens for the broker
        and the store."""
        child.last_probe = time.monotonic()
        if child.name not in SERVICES:
            if port_open(HOST, child.port):
                child.ready_after = time.monotonic() - child.started
            child.last_answer = "listening" if child.ready_after else "port not open yet"
            return
        url = f"http://{HOST}:{child.port}/ready"
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

    def ready_url(self, child: Child) -> str:
        if child.name in SERVICES:
            return f"GET http://{HOST}:{child.port}/ready"
        return f"{HOST}:{child.port}"

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
                    f"{self.settings.ready_timeout:.0f}s; {first.name}'s "
                    f"{self.ready_url(first)} last answered: {first.last_answer}\n"
                    f"{self.tail_of(first)}"
                )
            progress.refresh()

    # -- running: restarts and requests -------------------------------------------------------

    def watch(self) -> None:
        """Stream the logs, restart what dies, serve ``bpu-dev restart``; only a signal ends
        this (it raises Shutdown)."""
        while True:
            self.pump(0.2)
            self.supervise()

    def supervise(self) -> None:
        while self.requests:
            self.serve(self.requests.pop(0))
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.proc.poll() is not None:
                self.died(child)
            elif child.restart_at is not None and now >= child.restart_at:
                self.respawn(child)
            elif child.ready_deadline is not None and now - child.last_probe >= PROBE_INTERVAL:
                self.check_ready_again(child)

    def died(self, child: Child) -> None:
        """A child ended by itself: say how, and when it starts again."""
        self.drain(child)
        up_for = time.monotonic() - child.started
        code = describe_exit(child.proc.returncode)
        self.schedule(child, f"{child.name} exited ({code}) after {up_for:.1f}s", up_for)

    def schedule(self, child: Child, what: str, up_for: float) -> None:
        """Start the child again after the backoff delay, and say so."""
        if up_for >= BACKOFF_RESET:
            child.quick_deaths = 0
        delay = min(BACKOFF_FIRST * 2**child.quick_deaths, BACKOFF_MAX)
        child.quick_deaths += 1
        child.restart_at = time.monotonic() + delay
        child.ready_deadline = None
        self.say(f"{what}; restarting it in {delay:g}s", "yellow")
        for request in child.waiting:
            request.finish(False, f"{what}, before it was ready; restarting it in {delay:g}s")
        child.waiting.clear()

    def respawn(self, child: Child) -> None:
        child.restart_at = None
        old_pipe = child.proc.stdout
        if old_pipe is not None and self.reading(old_pipe):
            # A leftover of the old process may still hold its pipe open.
            self._forget_pipe(child, old_pipe)
        child.started = time.monotonic()
        try:
            child.server.spawn(stdout=subprocess.PIPE, die_with_parent=True)
        except (RuntimeError, OSError) as exc:
            self.schedule(child, f"{child.name} could not be started ({exc})", 0.0)
            return
        self._attach(child)
        child.ready_after = None
        child.last_probe = 0.0
        child.ready_deadline = child.started + self.settings.ready_timeout
        self.say(f"{child.name} started again (pid {child.proc.pid})")

    def check_ready_again(self, child: Child) -> None:
        assert child.ready_deadline is not None
        self.probe(child)
        if child.ready_after is not None:
            child.ready_deadline = None
            message = f"{child.name} ready again after {child.ready_after:.1f}s"
            if child.name == "kafka":
                message += " (empty: the services publish their retained events again)"
            self.say(message, "green")
            for request in child.waiting:
                request.finish(True, message)
        elif time.monotonic() > child.ready_deadline:
            child.ready_deadline = None
            message = (
                f"{child.name} not ready {self.settings.ready_timeout:.0f}s after it was "
                f"started again; {self.ready_url(child)} last answered: {child.last_answer}"
            )
            self.say(message, "red")
            for request in child.waiting:
                request.finish(False, message)
        else:
            return
        child.waiting.clear()

    def restart(self, child: Child, request: Request) -> None:
        """Stop one child gracefully and start it again; the requester hears when it is ready."""
        self.say(f"{child.name}: restart requested")
        if child.proc.poll() is None:
            request.reply("info", f"stopping {child.name} (pid {child.proc.pid})")
            stop_all(
                [child.server],
                self.settings.stop_timeout,
                wait=self.pump,
                force=lambda: self.state.force,
                on_kill=self._killing,
            )
            self.drain(child)
            self.say(f"{child.name} stopped ({describe_exit(child.proc.returncode)})")
        child.quick_deaths = 0
        self.respawn(child)
        if child.restart_at is not None:  # it could not be started
            request.finish(False, f"{child.name} could not be started again; see bpu-dev's log")
            return
        request.reply("info", f"{child.name} started (pid {child.proc.pid}), waiting until ready")
        child.waiting.append(request)

    # -- the control socket -------------------------------------------------------------------

    def listen(self) -> None:
        """Open ``<data dir>/bpu-dev.sock`` for ``bpu-dev restart``; refuse to run when another
        runner already answers there (two stores on the same files would corrupt them)."""
        path = self.data_dir / CONTROL_SOCKET
        if path.is_socket():
            if control_answers(path):
                raise StackError(
                    f"another bpu-dev up is running with the data folder {self.data_dir} "
                    f"(it answers on {path}); stop it first, or set BPU_DATA_DIR to another folder"
                )
            path.unlink()  # left by a runner that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with socket_address(path) as address:
                sock.bind(address)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise StackError(f"cannot open the control socket {path}: {exc}") from exc
        sock.setblocking(False)
        self.control = sock
        self.selector.register(sock, selectors.EVENT_READ, None)

    def _accept(self) -> None:
        assert self.control is not None
        try:
            conn, _ = self.control.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, Request(conn))

    def _read_request(self, request: Request) -> None:
        try:
            chunk = request.conn.recv(1024)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        request.received += chunk
        if chunk and b"\n" not in request.received and len(request.received) < 1024:
            return
        self.selector.unregister(request.conn)
        if not chunk and not request.received:
            request.conn.close()
            return
        # Answers are a few short lines: a blocking send with a timeout is simplest.
        request.conn.settimeout(2.0)
        request.text = request.received.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        self.requests.append(request)

    def serve(self, request: Request) -> None:
        words = request.text.split()
        if len(words) != 2 or words[0] != "restart":
            request.finish(False, f"unknown request {request.text!r}; known: restart NAME")
            return
        child = next((c for c in self.children if c.name == words[1]), None)
        if child is None:
            names = ", ".join(c.name for c in self.children)
            request.finish(False, f"no child named {words[1]!r}; this stack runs {names}")
            return
        self.restart(child, request)

    # -- stopping -----------------------------------------------------------------------------

    def _killing(self, server: ChildServer) -> None:
        self.say(f"{server.name} did not stop in time: SIGKILL", "yellow")

    def stop(self) -> None:
        """Stop the services, then the store and the broker: SIGTERM, then SIGKILL."""
        self.state.stopping = True
        if self.stopped:
            return
        self.stopped = True
        services = [c.server for c in self.children if c.name in SERVICES]
        servers = [c.server for c in self.children if c.name not in SERVICES]
        for group in (services, servers):
            stop_all(
                group,
                self.settings.stop_timeout,
                wait=self.pump,
                force=lambda: self.state.force,
                on_kill=self._killing,
            )
        self.pump(0)
        for request in self.requests + [r for c in self.children for r in c.waiting]:
            request.finish(False, "the stack is stopping")
        if self.control is not None:
            self.control.close()
            (self.data_dir / CONTROL_SOCKET).unlink(missing_ok=True)
        for child in self.children:
            with contextlib.suppress(Exception):
                child.log_file.close()


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """The address by which to bind or connect the unix socket ``path``: such an address is
    limited to about 107 bytes, so a longer path is reached from inside its folder."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    cwd = os.open(".", os.O_RDONLY)
    try:
        os.chdir(path.parent)
        yield path.name
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def control_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            with socket_address(path) as address:
                sock.connect(address)
        except OSError:
            return False
        return True


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
        # The embedded broker keeps nothing across its restarts; the services must notice and
        # publish their retained events again.
        OUTBOX_REPUBLISH_ON_BROKER_LOSS="true",
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
    stack.listen()
    stack.say(f"data in {data_dir}, logs in {stack.log_dir}")
    took = stack.start_server(kafka)
    stack.say(f"kafka listening on {kafka.bootstrap_servers} after {took:.1f}s", "green")
    took = stack.start_server(mongo)
    stack.say(f"mongodb listening on {mongo.url} after {took:.1f}s", "green")

    services = [
        stack.start_service(
            ServiceProcess(
                name=name,
                host=HOST,
                port=settings.service_port(name),
                argv=argvs[name],
                env=service_env(settings, name, key),
            )
        )
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
    console.print(
        Text("  Ctrl-C stops the stack; `bpu-dev restart NAME` restarts one child.", style="dim")
    )
    console.print()
    stack.watch()
    return 1  # watch() returns only by an exception


def restart(settings: DevSettings, console: Console, name: str) -> int:
    """Ask the runner of the stack on this data folder to restart one child; 0 once it is
    ready again, 1 with the reason otherwise."""

    def fail(message: str) -> int:
        console.print(Text.assemble(("bpu-dev: error: ", "bold red"), message))
        return 1

    data_dir = settings.data_dir.resolve()
    path = data_dir / CONTROL_SOCKET
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The runner answers within its stop and ready timeouts; these are the same settings.
    sock.settimeout(settings.stop_timeout + settings.ready_timeout + 30.0)
    with sock:
        try:
            with socket_address(path) as address:
                sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError):
            return fail(
                f"no stack is running with the data folder {data_dir} (nothing answers on "
                f"{path}); start one with `bpu-dev up`, or set BPU_DATA_DIR to the folder of "
                "the running one"
            )
        except OSError as exc:
            return fail(f"cannot reach the stack's control socket {path}: {exc}")
        try:
            sock.sendall(f"restart {name}\n".encode())
            with sock.makefile("r", encoding="utf-8", errors="replace") as answers:
                for line in answers:
                    kind, _, message = line.rstrip("\n").partition(" ")
                    if kind == "ok":
                        console.print(Text(f"bpu-dev: {message}", style="bold green"))
                        return 0
                    if kind == "error":
                        return fail(message)
                    console.print(f"bpu-dev: {message}")
        except TimeoutError:
            return fail(f"the stack did not answer within {sock.gettimeout():.0f}s")
        except OSError as exc:
            return fail(f"lost the connection to the stack: {exc}")
    return fail("the stack closed the connection without an answer (is it stopping?)")


def sample_workers(args: argparse.Namespace, console: Console) -> int:
    """Write a generated list of workers (``bpu_devstack.samples``) and say what is in it."""
    began = time.monotonic()
    try:
        sample = sample_rows(
            args.region,
            args.count,
            bad_share=args.bad_share,
            seed=args.seed,
            cover_start=args.cover_start,
        )
        write_sample(sample, args.out, excel=args.excel, xlsx=args.xlsx)
    except (ValueError, OSError) as exc:
        console.print(Text(f"bpu-dev: error: {exc}", style="bold red"))
        return 2
    kinds = ", ".join(
        f"{kind.value} {sample.count(kind)}" for kind in BadKind if sample.count(kind)
    )
    form = "XLSX" if args.xlsx else "CSV as Excel exports it" if args.excel else "CSV"
    console.print(
        f"bpu-dev: wrote {args.out} ({form}): {args.count:,} workers in {args.region}, "
        f"{len(sample.bad):,} bad ({kinds or 'none'}) in {time.monotonic() - began:.1f}s"
    )
    return 0


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
            "then stream every child's log (in human form on a terminal; each child's output "
            "is kept as written in <data dir>/logs/<name>.log). A child that dies is started "
            "again after 1 s, doubling up to 30 s while it keeps dying. Ctrl-C, SIGTERM or "
            "SIGHUP stops everything and exits 0; a child that dies before the stack is ready "
            "stops it with exit code 1."
        ),
        epilog=(
            "Settings (env vars): BPU_DATA_DIR (default .data), KAFKA_PORT (9092), "
            "MONGODB_PORT (27017), REGISTRATION_PORT (8001), BILLING_PORT (8002), CLAIMS_PORT "
            "(8003), REPORTING_PORT (8004), ADMIN_API_KEY (default: generated once and kept in "
            "<data dir>/admin-api-key), BPU_READY_TIMEOUT (90 s), BPU_STOP_TIMEOUT (10 s), "
            "BPU_LOG_FORMAT (auto: human on a terminal; human; json), LOG_LEVEL, LOG_JSON, "
            "BPU_SERVICE_COMMAND (default 'bpu-{name}')."
        ),
    )
    up_parser.add_argument("--data-dir", type=Path, help="overrides BPU_DATA_DIR")
    up_parser.add_argument("--ready-timeout", type=float, help="overrides BPU_READY_TIMEOUT")
    restart_parser = commands.add_parser(
        "restart",
        help="restart one child of the running stack",
        description=(
            "Ask the running `bpu-dev up` (the one using the same data folder) to stop one "
            "child gracefully (SIGTERM, then SIGKILL after BPU_STOP_TIMEOUT) and start it "
            "again; return once it is ready (exit 0), or say why not (exit 1)."
        ),
    )
    restart_parser.add_argument("name", choices=CHILDREN, help="the child to restart")
    restart_parser.add_argument("--data-dir", type=Path, help="overrides BPU_DATA_DIR")
    sample_parser = commands.add_parser(
        "sample-workers",
        help="write a generated list of workers to upload (CSV or XLSX)",
        description=(
            "Write COUNT generated workers living in REGION (villages spread evenly over its "
            "districts), with valid NIKs, names, phones, occupations and incomes, in the "
            "columns of the bulk-enrolment template; --bad-share of the rows are bad in "
            "varied kinds (malformed or duplicated NIK, impossible birth date, domicile "
            "outside the region or not a village, income under Rp1.000.000, unknown "
            "occupation, empty name, age outside 15-64). The same --seed gives the same file."
        ),
    )
    sample_parser.add_argument("--region", required=True, help="e.g. 64.01 (Paser), 17.04 (Kaur)")
    sample_parser.add_argument("--count", type=int, required=True, help="how many workers")
    sample_parser.add_argument(
        "--bad-share", type=float, default=0.0, help="share of bad rows, 0 to 1 (default 0)"
    )
    sample_parser.add_argument("--seed", type=int, default=0, help="default 0")
    sample_parser.add_argument("--cover-start", help="YYYY-MM for every row (default empty)")
    sample_parser.add_argument("--out", type=Path, required=True, help="the file to write")
    form = sample_parser.add_mutually_exclusive_group()
    form.add_argument(
        "--excel", action="store_true", help="CSV as Excel in Indonesia exports it: ';', cp1252"
    )
    form.add_argument("--xlsx", action="store_true", help="an XLSX workbook")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stdout = SafeStream(sys.stdout)
    # SafeStream is a text stream by delegation (__getattr__), which mypy cannot see.
    console = Console(file=cast(IO[str], stdout), highlight=False, emoji=False, soft_wrap=True)
    if args.command == "sample-workers":
        return sample_workers(args, console)
    try:
        settings = DevSettings()
    except ValidationError as exc:
        console.print(Text(f"bpu-dev: error: bad settings:\n{exc}", style="bold red"))
        return 2
    overrides = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "ready_timeout", None) is not None:
        overrides["ready_timeout"] = args.ready_timeout
    if overrides:
        settings = settings.model_copy(update=overrides)
    if args.command == "restart":
        return restart(settings, console, args.name)
    code = up(settings, console)
    if stdout.broken:  # nothing more can be written there, not even at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
