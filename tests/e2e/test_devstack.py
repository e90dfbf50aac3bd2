"""``bpu-dev up`` end to end: start, stop, restart, survive ``kill -9`` of the runner, restart
what dies, restart one service on request.

The runner is started as a subprocess on a temporary data folder and free ports, exactly as a
developer starts it, and the tests check what a developer relies on: every service answers,
SIGTERM stops everything and exits 0, a restart keeps the admin key and the stored data, a
runner killed with ``kill -9`` leaves no server holding a port, a service killed with
``kill -9`` is started again while the rest keeps running, ``bpu-dev restart NAME`` restarts
just that service, and the terminal shows human log lines while the log files keep JSON.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from bpu_devstack.servers import free_port, port_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERVICES = ("registration", "billing", "claims", "reporting")
BPU_DEV = Path(sys.executable).parent / "bpu-dev"
READY_LINE = "stack ready in"
READY_TIMEOUT = 90.0


def distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie may wait a while for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Runner:
    """One ``bpu-dev up`` process, its output collected by a thread."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.log = log
        self.proc = subprocess.Popen(
            [str(BPU_DEV), "up"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.started = time.monotonic()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log.open("a") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.lines.append(line)
                log.write(line + "\n")
                if READY_LINE in line:
                    self.ready.set()

    def output(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])

    def wait_ready(self) -> float:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.wait(0.2):
            if self.proc.poll() is not None:
                self.reader.join(2)
                pytest.fail(f"bpu-dev up exited {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"bpu-dev up not ready after {READY_TIMEOUT}s:\n{self.output()}")
        return time.monotonic() - self.started

    def children(self) -> list[int]:
        pid = self.proc.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def printed_admin_key(self) -> str:
        for line in self.lines:
            if line.strip().startswith("admin key"):
                return line.split()[2]
        pytest.fail(f"no admin key printed:\n{self.output()}")

    def stop(self) -> None:
        """Whatever happened, leave nothing running."""
        pids = self.children() if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    names = ("kafka", "mongodb", *SERVICES)
    ports = dict(zip(names, distinct_free_ports(len(names)), strict=True))
    env = {k: v for k, v in os.environ.items() if k != "ADMIN_API_KEY"}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["BPU_DATA_DIR"] = str(tmp_path / "data")
    env["BPU_READY_TIMEOUT"] = str(READY_TIMEOUT - 10)
    env["LOG_LEVEL"] = "INFO"
    yield env, ports


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def check_up(ports: dict[str, int]) -> None:
    with httpx.Client(timeout=5) as http:
        for name in SERVICES:
            base = f"http://127.0.0.1:{ports[name]}"
            assert http.get(f"{base}/health").status_code == 200, name
            assert http.get(f"{base}/ready").status_code == 200, name


def open_ports(ports: dict[str, int]) -> list[str]:
    return [f"{name}:{port}" for name, port in ports.items() if port_open("127.0.0.1", port)]


def enrol_kaur_worker(ports: dict[str, int], key: str) -> float:
    """Sponsor, programme and worker for Kabupaten Kaur through the running registration; the
    seconds until reporting counts the worker in district 17.04.01."""
    auth = {"Authorization": f"Bearer {key}"}
    reg = f"http://127.0.0.1:{ports['registration']}"
    with httpx.Client(headers=auth, timeout=10) as http:
        sponsor = http.post(
            f"{reg}/sponsors",
            json={"name": "Pemerintah Kabupaten Kaur", "kind": "regency", "region_code": "17.04"},
        )
        assert sponsor.status_code == 201, sponsor.text
        programme = http.post(
            f"{reg}/programmes",
            json={
                "sponsor_id": sponsor.json()["sponsor_id"],
                "name": "Pekerja Rentan Kaur 2026",
                "budget_year": 2026,
                "budget_rupiah": 1_437_408_000,
                "quota": 7130,
                "start_month": "2026-01",
                "end_month": "2026-12",
            },
        )
        assert programme.status_code == 201, programme.text
        worker = http.post(
            f"{reg}/workers",
            json={
                "nik": "1704014107900001",
                "name": "Siti Aminah",
                "occupation": "farmer",
                "domicile_code": "17.04.01.2001",
                "programme_id": programme.json()["programme_id"],
            },
        )
        assert worker.status_code == 201, worker.text
        started = time.monotonic()
        while True:
            body = coverage(ports, key)
            if body["registered_workers"] == 1:
                elapsed = time.monotonic() - started
                break
            assert time.monotonic() - started < 5, body
            time.sleep(0.05)
    districts = {row["region"]: row["registered_workers"] for row in body["breakdown"]}
    assert districts["17.04.01"] == 1
    return elapsed


def coverage(ports: dict[str, int], key: str) -> dict:
    response = httpx.get(
        f"http://127.0.0.1:{ports['reporting']}/coverage",
        params={"region": "17.04"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def steady_count(ports: dict[str, int], key: str, seconds: float) -> set[int]:
    """Every count of Kaur's workers seen over ``seconds``."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(coverage(ports, key)["registered_workers"])
        time.sleep(0.25)
    return seen


def test_up_stop_restart_and_kill_9(
    stack_env: tuple[dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    env, ports = stack_env
    data_dir = Path(env["BPU_DATA_DIR"])
    key_file = data_dir / "admin-api-key"
    log = tmp_path / "bpu-dev.out"
    runners: list[Runner] = []

    def start() -> tuple[Runner, float]:
        runner = Runner(env, log)
        runners.append(runner)
        return runner, runner.wait_ready()

    try:
        # 1. First start: a new admin key, kept private; every service healthy and ready.
        first, first_ready = start()
        check_up(ports)
        key = key_file.read_text().strip()
        assert len(key) >= 32
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert first.printed_admin_key() == key
        with MongoClient(f"mongodb://127.0.0.1:{ports['mongodb']}") as mongo:
            mongo.e2e_devstack.marks.insert_one({"_id": "survives-restarts"})
        # The first slice through the running stack: a Kaur worker is counted within 5 s.
        counted_after = enrol_kaur_worker(ports, key)

        # 2. SIGTERM: exit 0, every child gone, every port closed.
        children = first.children()
        assert len(children) == 6, first.output()
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(30) == 0, first.output()
        assert not [pid for pid in children if alive(pid)]
        assert open_ports(ports) == []

        # 3. Restart on the same data folder and ports: same key, ready again.
        second, restart_ready = start()
        check_up(ports)
        assert key_file.read_text().strip() == key
        assert second.printed_admin_key() == key
        # The broker came back empty; the relay publishes its retained events again and the
        # projection, kept in the store, absorbs them: still one worker.
        assert steady_count(ports, key, seconds=8) == {1}

        # 4. kill -9 of the runner: the children get SIGTERM and free every port.
        children = second.children()
        killed_at = time.monotonic()
        second.proc.kill()
        second.proc.wait()
        assert wait_until(lambda: not open_ports(ports), 10), open_ports(ports)
        freed_after = time.monotonic() - killed_at
        assert wait_until(lambda: not [p for p in children if alive(p)], 15), [
            p for p in children if alive(p)
        ]

        # 5. A start after kill -9: no stale pid or lock file in the way; the data is there.
        _, third_ready = start()
        check_up(ports)
        with MongoClient(f"mongodb://127.0.0.1:{ports['mongodb']}") as mongo:
            assert mongo.e2e_devstack.marks.find_one({"_id": "survives-restarts"}) is not None
        assert steady_count(ports, key, seconds=8) == {1}
        print(
            f"worker counted {counted_after:.2f}s after registration; "
            f"ready after {first_ready:.1f}s, restart {restart_ready:.1f}s, "
            f"after kill -9 {third_ready:.1f}s; ports freed {freed_after:.1f}s after kill -9"
        )
    finally:
        for runner in runners:
            runner.stop()


# -- a running stack that keeps its children running -----------------------------------------


def run_bpu_dev(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[int, str]:
    done = subprocess.run(
        [str(BPU_DEV), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout + done.stderr


def service_pids(runner: Runner) -> dict[str, int]:
    """The pid of each service the runner has now."""
    pids = {}
    for pid in runner.children():
        for name in SERVICES:
            if f"bpu-{name}" in cmdline(pid):
                pids[name] = pid
    return pids


def wait_for_output(runner: Runner, pattern: str, after: int, timeout: float) -> str:
    """The first line of the runner's output past line ``after`` that matches ``pattern``."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in runner.lines[after:]:
            if regex.search(line):
                return line
        assert runner.proc.poll() is None, f"bpu-dev up exited:\n{runner.output()}"
        time.sleep(0.1)
    pytest.fail(f"no line matching {pattern!r} within {timeout}s:\n{runner.output()}")


def assert_only_restarted(runner: Runner, before: dict[str, int], name: str) -> None:
    """``name`` runs as a new process, every other service as the same one."""
    after = service_pids(runner)
    assert after[name] != before[name]
    assert {n: p for n, p in after.items() if n != name} == {
        n: p for n, p in before.items() if n != name
    }


@pytest.fixture(scope="module")
def running_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Runner, dict[str, str], dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("devstack")
    names = ("kafka", "mongodb", *SERVICES)
    ports = dict(zip(names, distinct_free_ports(len(names)), strict=True))
    env = {k: v for k, v in os.environ.items() if k != "ADMIN_API_KEY"}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["BPU_DATA_DIR"] = str(tmp / "data")
    env["BPU_READY_TIMEOUT"] = str(READY_TIMEOUT - 10)
    env["BPU_STOP_TIMEOUT"] = "5"
    env["BPU_LOG_FORMAT"] = "human"  # what a terminal shows; the output here is a pipe
    env["LOG_LEVEL"] = "INFO"
    runner = Runner(env, tmp / "bpu-dev.out")
    try:
        runner.wait_ready()
        yield runner, env, ports
    finally:
        runner.stop()


def test_a_killed_service_is_restarted_and_the_stack_stays_up(
    running_stack: tuple[Runner, dict[str, str], dict[str, int]],
) -> None:
    runner, _, ports = running_stack
    before = service_pids(runner)
    assert sorted(before) == sorted(SERVICES), runner.output()
    seen = len(runner.lines)

    os.kill(before["claims"], signal.SIGKILL)

    died = wait_for_output(runner, r"claims exited \(signal SIGKILL\)", seen, 10)
    assert "restarting it in 1s" in died, died
    wait_for_output(runner, r"claims ready again after", seen, 60)
    assert runner.proc.poll() is None, runner.output()
    check_up(ports)
    assert_only_restarted(runner, before, "claims")


def test_bpu_dev_restart_restarts_one_service(
    running_stack: tuple[Runner, dict[str, str], dict[str, int]],
) -> None:
    runner, env, ports = running_stack
    before = service_pids(runner)
    seen = len(runner.lines)

    code, out = run_bpu_dev(env, "restart", "reporting")

    assert code == 0, out
    assert "reporting ready again after" in out, out
    # Stopped gracefully: SIGTERM was enough, no SIGKILL needed.
    stopped = wait_for_output(runner, r"reporting stopped \(", seen, 5)
    assert "SIGKILL" not in stopped, runner.output()
    check_up(ports)
    assert_only_restarted(runner, before, "reporting")


def test_a_killed_broker_comes_back_and_the_services_are_ready_again(
    running_stack: tuple[Runner, dict[str, str], dict[str, int]],
) -> None:
    runner, _, ports = running_stack
    [kafka] = [p for p in runner.children() if "tansu" in cmdline(p)]
    seen = len(runner.lines)

    os.kill(kafka, signal.SIGKILL)

    wait_for_output(runner, r"kafka exited \(signal SIGKILL\)", seen, 10)
    wait_for_output(runner, r"kafka ready again after", seen, 30)
    assert wait_until(lambda: not_ready(ports) == [], 60), not_ready(ports)
    assert runner.proc.poll() is None, runner.output()


def not_ready(ports: dict[str, int]) -> list[str]:
    with httpx.Client(timeout=5) as http:
        return [
            name
            for name in SERVICES
            if http.get(f"http://127.0.0.1:{ports[name]}/ready").status_code != 200
        ]


def test_the_terminal_shows_human_lines_and_the_files_keep_json(
    running_stack: tuple[Runner, dict[str, str], dict[str, int]],
) -> None:
    runner, env, _ = running_stack
    human = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} registration +(INFO|WARNING|ERROR) +\S")
    assert any(human.match(line) for line in runner.lines), runner.output()
    assert not [line for line in runner.lines if line.startswith('{"ts"')], runner.output()
    log = Path(env["BPU_DATA_DIR"]) / "logs" / "registration.log"
    entries = [json.loads(line) for line in log.read_text().splitlines() if line]
    assert entries
    assert {entry["service"] for entry in entries} == {"registration"}


def test_a_second_runner_on_the_same_data_folder_is_refused(
    running_stack: tuple[Runner, dict[str, str], dict[str, int]],
) -> None:
    _, env, _ = running_stack
    other = dict(env)
    other.update(
        {
            f"{n.upper()}_PORT": str(p)
            for n, p in zip(("kafka", "mongodb", *SERVICES), distinct_free_ports(6), strict=True)
        }
    )
    code, out = run_bpu_dev(other, "up", timeout=30)
    assert code == 1, out
    assert "another bpu-dev up is running with the data folder" in out, out


def test_restart_without_a_running_stack_says_so(tmp_path: Path) -> None:
    env = dict(os.environ, BPU_DATA_DIR=str(tmp_path / "data"))
    code, out = run_bpu_dev(env, "restart", "reporting", timeout=30)
    assert code == 1, out
    assert "no stack is running with the data folder" in out, out
    assert "bpu-dev up" in out, out
