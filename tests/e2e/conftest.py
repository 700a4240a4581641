"""End-to-end fixtures: the daemon as a real process, the fake Twilio API on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_api import FakeTwilio

ADHERENCE = str(Path(sys.executable).parent / "adherence")
FROM = "+12025550100"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    config: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Daemon:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [ADHERENCE, "run", "--config", str(self.config), "--port", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.extra_env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log.read_text()[-3000:]}")
            try:
                with urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"daemon not healthy: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@dataclass
class World:
    tmp: Path
    db_url: str
    fake: FakeTwilio
    daemons: list[Daemon] = field(default_factory=list)

    def config(self, port: int, **engine: Any) -> Path:
        path = self.tmp / f"adherence-{port}.toml"
        eng = {"max_sleep_seconds": 2, "nudges": 0} | engine
        lines = [
            "[database]",
            f'url = "{self.db_url}"',
            "[engine]",
            *[f"{k} = {v}" for k, v in eng.items()],
            "[twilio]",
            f'account_sid = "{self.fake.account_sid}"',
            f'auth_token = "{self.fake.auth_token}"',
            f'from_number = "{FROM}"',
            f'api_base_url = "{self.fake.url}"',
            "rate_per_second = 200",
            "timeout_seconds = 2",
            "[http]",
            f'public_base_url = "http://127.0.0.1:{port}"',
        ]
        path.write_text("\n".join(lines) + "\n")
        return path

    def daemon(self, **engine: Any) -> Daemon:
        port = free_port()
        d = Daemon(self.config(port, **engine), port, self.tmp / f"daemon-{port}.log")
        self.daemons.append(d)
        return d

    def cli(self, *args: str, config: Path | None = None) -> str:
        cfg = config or self.config(0)
        done = subprocess.run(
            [ADHERENCE, *args, "--config", str(cfg)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def post_signed(
        self,
        daemon: Daemon,
        path: str,
        params: dict[str, str],
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        url = daemon.base + path
        sig = (
            signature
            if signature is not None
            else RequestValidator(self.fake.auth_token).compute_signature(url, params)
        )
        req = Request(
            url,
            data=urlencode(params).encode(),
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sig,
                **(headers or {}),
            },
        )
        try:
            with urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except Exception as exc:  # HTTPError carries the status
            code = getattr(exc, "code", None)
            if code is None:
                raise
            return int(code), exc.read().decode()  # type: ignore[attr-defined]

    def doses(self, patient: str) -> list[dict[str, Any]]:
        return json.loads(self.cli("doses", patient, "--json"))


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    fake = FakeTwilio().start()
    w = World(tmp_path, db_url, fake)
    try:
        yield w
    finally:
        for d in w.daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(10)
        fake.stop()


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
