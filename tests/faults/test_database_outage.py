"""The database stops in the middle of load and comes back (docs/RELIABILITY.md).

While it is away every answer is a 503 with Retry-After (JSON under /api/, a friendly page for
the form), never a 500; no half-written case is left; once it is back the service recovers by
itself, without a restart.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.helpers import wait_for
from tests.live import (
    Gunicorn,
    Reply,
    api_body,
    api_submit,
    cluster,
    form_submit,
    make_token,
    migrate,
    random_patient,
    request,
    service_env,
)

pytestmark = pytest.mark.fault


class Load:
    """Threads sending API submissions and form walks until stopped, recording every reply."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.replies: list[tuple[float, str, Reply]] = []
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.running.set()
        self.threads = [
            threading.Thread(target=self.loop, args=(kind,), daemon=True)
            for kind in ("api", "api", "form", "form")
        ]

    def record(self, kind: str, reply: Reply) -> None:
        with self.lock:
            self.replies.append((time.monotonic(), kind, reply))

    def loop(self, kind: str) -> None:
        send: Callable[[], list[Reply]] = (
            (lambda: [api_submit(self.base, self.token, api_body(random_patient()))])
            if kind == "api"
            else (lambda: form_submit(self.base, random_patient()))
        )
        while self.running.is_set():
            for reply in send():
                self.record(kind, reply)
            time.sleep(0.02)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=60)

    def since(self, moment: float) -> list[tuple[str, Reply]]:
        with self.lock:
            return [(kind, reply) for at, kind, reply in self.replies if at >= moment]


def test_a_database_outage_under_load_is_503_then_recovers_by_itself():
    with cluster("outage") as db:
        env = service_env(db)
        migrate(env)
        token = make_token(env)
        server = Gunicorn(env, workers=2)
        load = Load(server.base, token)
        try:
            load.start()
            started = time.monotonic()
            wait_for(
                lambda: Counter(k for k, r in load.since(started) if r.status == 201)["api"] >= 3,
                60,
                "API submissions before the outage",
            )
            db.stop()
            stopped = time.monotonic()
            wait_for(
                lambda: {k for k, r in load.since(stopped) if r.status == 503} == {"api", "form"},
                60,
                "503 answers to both the API and the form",
            )
            health = request("GET", f"{server.base}/healthz")[1]
            assert health.status == 503
            assert health.headers.get("Retry-After")
            time.sleep(2)
            db.start()
            restarted = time.monotonic()
            wait_for(
                lambda: (
                    {k for k, r in load.since(restarted + 1) if r.status in (201, 302)}
                    == {"api", "form"}
                ),
                90,
                "the API and the form to succeed again",
            )
            assert request("GET", f"{server.base}/healthz")[0] == 200
            with load.lock:
                recovered = min(
                    at for at, _, r in load.replies if at >= restarted and r.status in (201, 302)
                )
            print(f"\nfirst success {recovered - restarted:.1f} s after the database restarted")
        finally:
            load.stop()
            server.stop()

        replies = load.since(0)
        statuses = Counter((kind, reply.status) for kind, reply in replies)
        print("\nreplies by kind and status:", dict(sorted(statuses.items())))
        assert not [r for _, r in replies if r.status >= 500 and r.status != 503]
        assert not [r for _, r in replies if r.status == 0], "a connection was dropped"
        for kind, reply in replies:
            if reply.status != 503:
                continue
            assert reply.headers.get("Retry-After") == "30"
            if kind == "api":
                assert reply.headers["Content-Type"] == "application/json"
                assert reply.json()["errors"]["non_field_errors"]
            else:
                assert reply.headers["Content-Type"].startswith("text/html")
                assert b"Please try again in a minute" in reply.body
                assert b"Traceback" not in reply.body
        # Every stored case is whole: each intake has its referral link and referral.
        orphans = db.query(
            "SELECT count(*) FROM intake_intake i WHERE NOT EXISTS "
            "(SELECT 1 FROM referrals_referralintake ri WHERE ri.intake_id = i.id)"
        )
        intakes = int(db.query("SELECT count(*) FROM intake_intake"))
        print(f"intakes stored: {intakes}, without referrals: {orphans}")
        assert orphans == "0"
        assert intakes >= statuses[("api", 201)]
