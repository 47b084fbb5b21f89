"""A task worker killed with SIGKILL in the middle of a webhook delivery (docs/RELIABILITY.md).

The receiver is slow to answer, so the kill lands while the request is in flight: the receiver
has the event but the worker never recorded it. After a restart the stale-delivery sweeper
sends it again: at least once, with the same event id so the receiver can drop the duplicate.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from referrals.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from tests.helpers import ROOT, child_env, run_manage, run_python, wait_for
from tests.live import PYTHON, cluster, migrate, service_env

pytestmark = pytest.mark.fault

SECRET = "whsec-fault-test-0123456789"
SLOW_SECONDS = 4.0
STALE_SECONDS = 12
STALE_QUERY = (
    "SELECT count(*) FROM referrals_webhookdelivery "
    "WHERE next_attempt_at < now() - interval '12 seconds'"
)


class SlowReceiver:
    """Records every request; the first answer comes only after SLOW_SECONDS."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                if len(receiver.requests) == 1:
                    time.sleep(SLOW_SECONDS)
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the worker that asked is dead

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def worker(env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [PYTHON, "manage.py", "run_worker", "--no-startup-delay", "--interval", "0.5"],
        cwd=ROOT,
        env=child_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


SUBMIT = """
import django; django.setup()
from referrals.models import WebhookEndpoint, WebhookEvent
from tests.clinic_fixtures import submit
WebhookEndpoint.objects.create(
    name="Slow", url={url!r}, secret={secret!r}, events=[WebhookEvent.INTAKE_SUBMITTED]
)
print(submit("V01").intake.reference)
"""


def test_a_worker_killed_mid_delivery_delivers_after_restart_at_least_once():
    receiver = SlowReceiver()
    with cluster("worker") as db:
        env = service_env(
            db,
            WEBHOOK_TIMEOUT_SECONDS="10",
            WEBHOOK_STALE_SECONDS=str(STALE_SECONDS),
            WEBHOOK_RETRY_BASE_SECONDS="1",
        )
        migrate(env)
        submitted = run_python(SUBMIT.format(url=receiver.url, secret=SECRET), env)
        assert submitted.returncode == 0, submitted.stderr

        first = worker(env)
        try:
            wait_for(lambda: len(receiver.requests) == 1, 60, "the first delivery attempt")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == -signal.SIGKILL
        row = db.query("SELECT status, attempts FROM referrals_webhookdelivery")
        assert row == "pending|0", row

        second = worker(env)
        try:
            # The killed task stays "running" in the queue: nothing sends it again by itself.
            time.sleep(SLOW_SECONDS + 1)
            assert len(receiver.requests) == 1
            wait_for(
                lambda: db.query(STALE_QUERY) == "1",
                STALE_SECONDS + 30,
                "the delivery to become stale",
            )
            scheduled = run_manage("run_scheduler", "--once", env=env)
            assert scheduled.returncode == 0, scheduled.stderr
            wait_for(
                lambda: db.query("SELECT status FROM referrals_webhookdelivery") == "delivered",
                60,
                "the sweeper's re-delivery",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=20)
            except subprocess.TimeoutExpired:
                second.kill()

    receiver.server.shutdown()
    assert len(receiver.requests) == 2
    event_ids = {headers[EVENT_ID_HEADER] for headers, _ in receiver.requests}
    assert len(event_ids) == 1, "a duplicate carries the same event id"
    for headers, body in receiver.requests:
        assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=int(time.time()))
        assert json.loads(body)["id"] in event_ids
    print(f"\nworker killed mid-delivery; delivered after the sweep; {len(receiver.requests)} "
          "requests, one event id")  # fmt: skip
