"""Reminder dispatch throughput and lateness against a fake Twilio with 100 ms latency.

    python bench/dispatch.py                 # 20,000 reminders due in one minute
    python bench/dispatch.py --quick         # 2,000, for a smoke run

Three runs in one process, all against the same fake Twilio API on loopback (answering
every create after ``--latency`` seconds) and with the real ``twilio`` client:

1. burst: ``--count`` reminders due at the same instant, sent by the engine (dispatch +
   outbox + threaded sender, ``--workers`` concurrent requests) from a SQLite file. Judged
   by lateness from the due time (Twilio's receipt time minus the dose's due time): p50,
   p99 and the last one, which must be within 60 s. Nothing is timed from when the worker
   starts: a worker that starts late, or a set-up that overruns the due time, shows as
   lateness. The rate is reminders per second of the last one's lateness;
2. baseline: the bare ``twilio`` client creating the same number of messages at the same
   concurrency; prints its rate and the ratio engine/baseline (goal >= 0.7);
3. steady: ``--steady-seconds`` of reminders due at 100 per second, driven by the
   daemon's worker loop; prints p50/p99 lateness (goal p99 < 2 s).
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import update
from sqlmodel import Session, select

from adherence.bootstrap import App
from adherence.core.config import settings_from_mapping
from adherence.daemon import Worker
from adherence.dosing.materialize import materialize
from adherence.metrics import DaemonState
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import Dose, OutboxMessage
from notifiers.sms import SmsMessage
from notifiers.twilio_sms import TwilioConfig, TwilioSms
from schedules import load_catalog
from tests.fakes.twilio_api import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent


class FakeProcess:
    """The fake Twilio API in its own process, so it does not share this process's CPU
    (and interpreter lock) with the sender being measured. Same account and token."""

    account_sid = FakeTwilio.account_sid
    auth_token = FakeTwilio.auth_token

    def __init__(self, latency: float) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.twilio_api",
                "--port",
                str(self.port),
                "--latency",
                str(latency),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # "fake Twilio at ..." once it listens

    def count(self) -> int:
        with urlopen(self.url + "/_fake/count", timeout=10) as r:
            return int(json.load(r)["count"])

    def messages(self) -> list[dict[str, Any]]:
        req = Request(f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages.json")
        token = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        with urlopen(req, timeout=60) as r:
            return list(json.load(r)["messages"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


TZ = "America/New_York"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(url: str, count: int, now: datetime) -> None:
    """``count`` patients on a once-daily pill, each with one dose materialised."""
    engine = make_engine(url)
    upgrade(engine)
    catalog = load_catalog()
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="Bench clinic", tz=TZ, now=now)
        for i in range(count):
            p = create_patient(
                s,
                team=team,
                name=f"P{i}",
                phone=f"+1202555{i % 10000:04d}" if i < 10000 else f"+1312555{i % 10000:04d}",
                tz=TZ,
                now=now,
                commit=False,
            )
            create_plan(
                s,
                catalog=catalog,
                patient=p,
                regimen="Aubagio",
                start=now.date(),
                now=now,
                times=["12:00"],
                commit=False,
            )
        s.commit()
        materialize(s, now=now, catalog=catalog, horizon_days=1)
    engine.dispose()


def set_due(url: str, due: list[datetime]) -> None:
    """Give the doses these due times (one statement: the set-up must not eat into the
    time before the burst is due)."""
    engine = make_engine(url)
    with Session(engine) as s:
        ids = [d for d in s.exec(select(Dose.id).order_by(Dose.id)).all()]
        s.execute(
            update(Dose),
            [
                {"id": dose_id, "due_at": at, "next_action_at": at,
                 "window_closes_at": at + timedelta(hours=8)}
                for dose_id, at in zip(ids, due, strict=False)
            ],
        )  # fmt: skip
        s.commit()
    engine.dispose()


def make_app(url: str, fake: FakeProcess, workers: int) -> App:
    settings = settings_from_mapping(
        {
            "database": {"url": url},
            "engine": {"nudges": 0, "max_sleep_seconds": 1},
            "twilio": {
                "account_sid": fake.account_sid,
                "auth_token": fake.auth_token,
                "from_number": "+12025550100",
                "api_base_url": fake.url,
                "rate_per_second": 10_000.0,
                "max_workers": workers,
            },
            "http": {"public_base_url": "http://127.0.0.1:9"},
        },
        label="bench",
    )
    return App(settings=settings, engine=make_engine(url), catalog=load_catalog())


def channel(fake: FakeProcess) -> TwilioSms:
    return TwilioSms(
        TwilioConfig(
            fake.account_sid,
            fake.auth_token,
            from_number="+12025550100",
            api_base_url=fake.url,
            timeout=10,
        )
    )


def lateness(fake: FakeProcess, url: str) -> list[float]:
    """Seconds from each dose's due time to Twilio receiving its reminder."""
    received = {m["sid"]: m["x_received_at"] for m in fake.messages()}
    engine = make_engine(url)
    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage.provider_id, Dose.due_at).join(
                Dose, Dose.id == OutboxMessage.dose_id
            )
        ).all()
    engine.dispose()
    return [received[sid] - due.timestamp() for sid, due in rows if sid in received]


def run_burst(fake: FakeProcess, url: str, count: int, workers: int) -> list[float]:
    """Each reminder's lateness from its due time (seconds)."""
    app = make_app(url, fake, workers)
    due = datetime.now(UTC) + timedelta(seconds=2)
    set_due(url, [due] * count)
    worker = Worker(app, channel(fake), DaemonState())
    worker.next_materialize = datetime.max.replace(tzinfo=UTC)  # doses are already there
    overran = (datetime.now(UTC) - due).total_seconds()
    if overran > 0:
        print(f"note: set-up ended {overran:.1f} s after the due time (it counts as lateness)")
    while datetime.now(UTC) < due:
        time.sleep(0.01)
    started = time.perf_counter()  # only a guard against a run that never ends
    before = fake.count()
    while True:
        result = worker.run_once()
        if (
            not result.dispatched.acted
            and not worker.sender.busy
            and (result.next_at is None or result.next_at > datetime.now(UTC))
        ):
            break  # everything due was dispatched and every request answered
        if time.perf_counter() - started > 300:
            break
    assert fake.count() - before == count, (fake.count() - before, count)
    worker.stop()
    return lateness(fake, url)


def run_baseline(fake: FakeProcess, count: int, workers: int) -> float:
    client = channel(fake)
    before = fake.count()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            pool.map(
                lambda i: client.send(
                    SmsMessage(key=str(i), to="+12025550143", body=f"baseline {i}")
                ),
                range(count),
            )
        )
    elapsed = time.perf_counter() - started
    assert fake.count() - before == count
    return elapsed


def run_steady(
    fake: FakeProcess, url: str, seconds: int, per_second: int, workers: int
) -> list[float]:
    app = make_app(url, fake, workers)
    start = datetime.now(UTC) + timedelta(seconds=3)
    due = [start + timedelta(seconds=i / per_second) for i in range(seconds * per_second)]
    set_due(url, due)
    worker = Worker(app, channel(fake), DaemonState())
    worker.next_materialize = datetime.max.replace(tzinfo=UTC)  # keep the spread due times
    before = fake.count()
    stop = threading.Event()

    def loop() -> None:  # what the daemon's scheduler does: tick, sleep until next due
        while not stop.is_set():
            result = worker.run_once()
            nxt = result.next_at
            wait = 0.5 if nxt is None else max(0.0, (nxt - datetime.now(UTC)).total_seconds())
            stop.wait(min(wait, 0.5))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds + 30
    while fake.count() - before < len(due) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    thread.join(10)
    worker.stop()
    return lateness(fake, url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--steady-seconds", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.count, args.steady_seconds = 2_000, 5
    fake = FakeProcess(latency=args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t = time.perf_counter()
        seed(url, args.count, datetime.now(UTC))
        print(f"setup: {args.count:,} patients enrolled in {time.perf_counter() - t:.1f} s")
        late = run_burst(fake, url, args.count, args.workers)
        last = max(late)
        rate = len(late) / last
        met = "met" if last <= 60 else "NOT met"
        print(
            f"burst: {len(late):,} reminders due at one instant, the last handed to Twilio"
            f" {last:.1f} s after the due time = {rate:,.0f}/s (goal: all within 60 s of the"
            f" due time: {met}) with {args.workers} workers, {args.latency * 1000:.0f} ms latency"
        )
        print(
            f"burst lateness from the due time: p50 {pct(late, 0.5):.2f} s,"
            f" p99 {pct(late, 0.99):.2f} s, max {last:.2f} s"
        )
        base_elapsed = run_baseline(fake, args.count, args.workers)
        base_rate = args.count / base_elapsed
        print(
            f"baseline: bare twilio client {args.count:,} creates in {base_elapsed:.1f} s = {base_rate:,.0f}/s"
        )
        print(f"ratio: {rate / base_rate:.2f} (goal >= 0.7)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/steady.db"
        n = args.steady_seconds * 100
        seed(url, n, datetime.now(UTC))
        late = run_steady(fake, url, args.steady_seconds, 100, args.workers)
        print(
            f"steady: {len(late):,} reminders due at 100/s for {args.steady_seconds} s: "
            f"lateness p50 {pct(late, 0.5):.2f} s, p99 {pct(late, 0.99):.2f} s (goal p99 < 2 s)"
        )
    fake.stop()


if __name__ == "__main__":
    main()
