"""A real `hass` process for the soak run: config dir, start, kill -9, restart, clean stop, RSS.

The onboarding, login and config-flow glue is the demo's (scripts/demo_ha.py, imported as is);
this module adds what a soak needs on top: our own minimal configuration.yaml, an HTTP store with
a login-attempts threshold (so an ip_ban would really trigger if an upload counted as a failed
login), and process control by pid (the process is started in its own session; only that pid is
ever signalled).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import importlib.util
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

import aiohttp

from .sites import REPO


def _load_demo_ha() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_ha", REPO / "scripts" / "demo_ha.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_ha"] = module
    spec.loader.exec_module(module)
    return module


demo_ha = _load_demo_ha()

USER = "soak"
PASSWORD = "soak-soak-soak"

# Explicit and minimal (default_config partly fails on these machines): the REST API, the config
# flow API, the frontend only because onboarding (our way to a user and a token) comes with it.
CONFIGURATION_YAML = """\
# Written by loadtests/realhass.py for scripts/soak; rewritten on every run.
homeassistant:
  name: FlexSCADA soak
  unit_system: metric
  time_zone: UTC

frontend:
config:
api:

logger:
  default: warning
  logs:
    custom_components.flexscada: info
    homeassistant.components.http.ban: warning
"""

#: Failed logins from one address before HA bans it. Low on purpose: if a bad upload counted
#: as a failed login, the flood would get 127.0.0.1 (the devices' address too) banned at once.
LOGIN_ATTEMPTS_THRESHOLD = 5


def prepare(config_dir: Path, port: int) -> None:
    """Write a fresh config dir: configuration.yaml, the HTTP store, the integration symlink."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(CONFIGURATION_YAML, encoding="utf-8")
    demo_ha.prepare_config_dir(config_dir, port, "127.0.0.1")
    store = config_dir / ".storage" / "http"
    document = json.loads(store.read_text(encoding="utf-8"))
    document["data"]["stable"]["login_attempts_threshold"] = LOGIN_ATTEMPTS_THRESHOLD
    document["data"]["stable"]["ip_ban_enabled"] = True
    store.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HassProcess:
    """One `hass -c DIR` process, restartable."""

    config_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    token: str | None = None
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    #: (monotonic time, CPU seconds used by the hass pid so far), sampled with the RSS.
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Return the running process's pid."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start hass in its own session, appending to the log."""
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts + 1} at {time.ctime()} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "hass"), "-c", str(self.config_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1

    async def wait_up(self, session: aiohttp.ClientSession, *, first: bool) -> Any:  # noqa: ANN401
        """Wait for HTTP, onboard (first start) and RUNNING; return the demo client."""
        client = demo_ha.HassClient(session, self.url)
        await client.wait_http(300)
        if first:
            await client.onboard(USER, PASSWORD)
            self.token = await client.create_long_lived_token()
        client.token = self.token
        await client.wait_running(300)
        return client

    def kill9(self) -> None:
        """SIGKILL the hass process (only its pid) and reap it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    async def stop(self, wait: float = 120) -> int:
        """SIGTERM and wait for a clean exit; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + wait
        while self.process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return -9
        return int(self.process.returncode)

    def sample_rss(self) -> int | None:
        """Record and return VmRSS (KiB) of the hass pid, None if it is not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        except OSError:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            self.cpu_samples.append((time.monotonic(), (int(fields[11]) + int(fields[12])) / ticks))
        except OSError, IndexError, ValueError:
            pass
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                kib = int(line.split()[1])
                self.rss_samples.append((time.monotonic(), kib))
                return kib
        return None
