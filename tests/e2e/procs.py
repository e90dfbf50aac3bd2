"""Services run as their own processes, as operators run them, so a test can SIGKILL one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bpu_devstack.servers import free_port
from tests.harness import ADMIN_KEY

BIN = Path(sys.executable).parent


def service_env(infra: Any, prefix: str, name: str, port: int, **extra: Any) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "MONGODB_URL": infra.mongodb_url,
        "MONGODB_DATABASE": f"{prefix}{name}".replace(".", "_"),
        "KAFKA_TOPIC_PREFIX": prefix,
        "ADMIN_API_KEY": ADMIN_KEY,
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "OUTBOX_RELAY_INTERVAL_SECONDS": "0.05",
        "LEASE_TTL_SECONDS": "2",
        "CONSUMER_RETRY_BACKOFF_SECONDS": "0.05",
    }
    env.update({key.upper(): str(value) for key, value in extra.items()})
    return env


class ServiceProcess:
    """One replica of a service on a free port."""

    def __init__(self, infra: Any, prefix: str, name: str, log_dir: Path, **extra: Any) -> None:
        self.name = name
        self.port = free_port()
        self.log = (log_dir / f"{name}-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / f"bpu-{name}")],
            env=service_env(infra, prefix, name, self.port, **extra),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} on {self.port} not ready after {timeout:.0f}s")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
