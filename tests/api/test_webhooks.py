"""Webhooks to a real receiver on 127.0.0.1: signed, after commit, retried with backoff."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from intake.messages import staff_disclaimer
from intake.models import Intake
from referrals.models import (
    DeliveryStatus,
    Referral,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from referrals.services import referral_claim
from referrals.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, retry_delay, sign, verify
from tests.api.conftest import intake_body
from tests.clinic_fixtures import submit

SECRET = "whsec-test-secret-0123456789"
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class Receiver:
    """An HTTP receiver answering with scripted statuses (then 200), recording every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def endpoint_for(receiver: Receiver, *events: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="Receiver", url=receiver.url, secret=SECRET, events=list(events or WebhookEvent.values)
    )


@pytest.mark.django_db
def test_an_intake_is_announced_signed_after_commit_without_clinical_detail(
    receiver, api, django_capture_on_commit_callbacks
):
    endpoint_for(receiver, WebhookEvent.INTAKE_SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/intakes", intake_body("V01")).json()
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=int(time.time()))
    payload = json.loads(body)
    assert headers[EVENT_ID_HEADER] == payload["id"]
    assert payload["type"] == "intake.submitted"
    (referral,) = Referral.objects.filter(intake__public_id=created["id"])
    assert payload["data"] == {
        "intake": {
            "id": created["id"],
            "reference": created["reference"],
            "urgency": "routine",
        },
        "referrals": [
            {
                "id": str(referral.public_id),
                "queue": "chiropractic",
                "status": "new",
                "urgency": "routine",
                "red_flag_elsewhere": False,
            }
        ],
        "staff_disclaimer": staff_disclaimer(ruleset_version="1.0.0"),
    }
    text = body.decode()
    for secret in ("Okafor", "Ada", "07700", "pain_regions", "main_concern", "RED_FLAG"):
        assert secret not in text
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


@pytest.mark.django_db
def test_a_status_change_is_announced(receiver, api, django_capture_on_commit_callbacks):
    (referral,) = submit("V01").referrals
    endpoint_for(receiver, WebhookEvent.REFERRAL_STATUS_CHANGED)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/referrals/{referral.public_id}/claim")
    (payload,) = receiver.payloads()
    assert payload["type"] == "referral.status_changed"
    assert payload["data"] == {
        "referral": {
            "id": str(referral.public_id),
            "queue": "chiropractic",
            "status": "claimed",
            "previous_status": "new",
            "urgency": "routine",
            "red_flag_elsewhere": False,
        },
        "intake": {"id": str(referral.intake.public_id), "reference": referral.intake.reference},
        "staff_disclaimer": staff_disclaimer(ruleset_version="1.0.0"),
    }


@pytest.mark.django_db
def test_new_referrals_are_announced_as_status_changes_from_nothing(
    receiver, django_capture_on_commit_callbacks
):
    endpoint_for(receiver, WebhookEvent.REFERRAL_STATUS_CHANGED)
    with django_capture_on_commit_callbacks(execute=True):
        submit("V22")
    got = sorted(
        (p["data"]["referral"]["queue"], p["data"]["referral"]["previous_status"])
        for p in receiver.payloads()
    )
    assert got == [("chiropractic", None), ("orthotic_fitting", None), ("podiatry", None)]


@pytest.mark.django_db
def test_a_change_that_rolls_back_is_never_announced(
    receiver, chiropractor, django_capture_on_commit_callbacks
):
    (referral,) = submit("V01").referrals
    endpoint_for(receiver)
    seen_inside: list[int] = []

    def claim_then_fail() -> None:
        with transaction.atomic():
            referral_claim(referral=referral, actor=chiropractor)
            # The outbox row is written inside the change's transaction...
            seen_inside.append(WebhookDelivery.objects.count())
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        claim_then_fail()
    assert seen_inside == [1]
    # ...and goes with it.
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


@pytest.mark.django_db
def test_inactive_or_unsubscribed_endpoints_get_nothing(
    receiver, django_capture_on_commit_callbacks
):
    endpoint_for(receiver)
    WebhookEndpoint.objects.update(is_active=False)
    WebhookEndpoint.objects.create(name="Quiet", url=receiver.url, secret=SECRET, events=[])
    with django_capture_on_commit_callbacks(execute=True):
        submit("V01")
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"s", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s", 1700000000, body) == expected
    header = f"t=1700000000,v1={expected}"
    assert verify("s", header, body, now=1700000100)
    assert not verify("s", header, body + b" ", now=1700000100)
    assert not verify("s", header, body, now=1700001000)  # too old: replay
    assert not verify("other", header, body, now=1700000100)
    assert not verify("s", "garbage", body, now=1700000100)


def test_retries_back_off_exponentially(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


# --- through the real database queue and its worker --------------------------------------------


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_failed_deliveries_are_retried_by_the_worker_until_they_succeed(settings, receiver):
    settings.TASKS = DATABASE_QUEUE
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    receiver.statuses = [500, 503]
    endpoint_for(receiver, WebhookEvent.INTAKE_SUBMITTED)
    submit("V01")
    assert receiver.requests == []  # nothing is sent until a worker runs
    run_worker()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    event_ids = {headers[EVENT_ID_HEADER] for headers, _ in receiver.requests}
    assert event_ids == {str(delivery.event_id)}, "one event id for receivers to de-duplicate"
    assert len(receiver.requests) == 3
    assert DBTaskResult.objects.filter(task_path__endswith="deliver_webhook").count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_worker_gives_up_after_the_last_attempt(settings, receiver):
    settings.TASKS = DATABASE_QUEUE
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500] * 10
    endpoint_for(receiver, WebhookEvent.INTAKE_SUBMITTED)
    submit("V01")
    run_worker()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 500)
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_a_retry_is_scheduled_for_later_on_the_queue(settings, receiver):
    settings.TASKS = DATABASE_QUEUE
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    receiver.statuses = [500]
    endpoint_for(receiver, WebhookEvent.INTAKE_SUBMITTED)
    submit("V01")
    before = timezone.now()
    run_worker()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    waiting = DBTaskResult.objects.get(status="READY")
    assert waiting.run_after is not None
    assert (
        before + dt.timedelta(seconds=55) <= waiting.run_after <= before + dt.timedelta(seconds=65)
    )
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_receiver_is_a_failed_attempt_not_a_crash(settings):
    settings.TASKS = DATABASE_QUEUE
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    WebhookEndpoint.objects.create(
        name="Gone", url="http://127.0.0.1:9/hook", secret=SECRET, events=WebhookEvent.values
    )
    submit("V01")
    run_worker()
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}
    assert all(d.last_error for d in WebhookDelivery.objects.all())
    assert Intake.objects.count() == 1


class RawServer:
    """A loopback server that answers every connection with ``reply`` (bytes as given) and
    records the request lines it was sent."""

    def __init__(self, reply: bytes) -> None:
        import socket

        self.reply = reply
        self.request_lines: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                self.request_lines.append(data.split(b"\r\n", 1)[0].decode())
                conn.sendall(self.reply)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("reply", "code", "error"),
    [
        (b"HTTP/1.1 302 Found\r\nLocation: /landing\r\nContent-Length: 0\r\n\r\n", 302, "redirect"),
        (b"HTTP/1.1 301 Moved\r\nLocation: /landing\r\nContent-Length: 0\r\n\r\n", 301, "redirect"),
        (b"garbage that is no status line\r\n\r\n", None, "BadStatusLine"),
    ],
)
def test_a_redirect_or_a_malformed_answer_is_a_failed_attempt(settings, reply, code, error):
    """A review found a 301/302/303 followed as a GET without the body and recorded as
    delivered, and a malformed answer escaping the attempt, so it was never counted."""
    settings.TASKS = DATABASE_QUEUE
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    server = RawServer(reply)
    WebhookEndpoint.objects.create(
        name="Odd", url=server.url, secret=SECRET, events=[WebhookEvent.INTAKE_SUBMITTED]
    )
    submit("V01")
    run_worker()
    server.sock.close()
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "failed",
        1,
        code,
    )
    assert error in delivery.last_error
    assert server.request_lines == ["POST /hook HTTP/1.1"]  # no GET to the new address


@pytest.mark.django_db(transaction=True)
def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_time_limit(settings):
    """WEBHOOK_TIMEOUT_SECONDS bounds the whole attempt: a receiver trickling its answer held
    the worker 18 s with a 1 s limit, then counted as delivered (a review found it)."""
    import socket

    settings.TASKS = DATABASE_QUEUE
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if stop.wait(0.3):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    WebhookEndpoint.objects.create(
        name="Trickle",
        url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook",
        secret=SECRET,
        events=[WebhookEvent.INTAKE_SUBMITTED],
    )
    submit("V01")
    began = time.monotonic()
    run_worker()
    took = time.monotonic() - began
    stop.set()
    listener.close()
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "No complete answer within 1 s."
    assert took < 5, took


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_at_an_ipv6_address_is_reached(settings):
    """http.client reads a bare IPv6 address's last part as a port: "[::1]" went to host ":"
    port 1 (a review found it when the POST moved off urllib)."""
    import socket

    settings.TASKS = DATABASE_QUEUE
    listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    seen: list[bytes] = []

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            seen.append(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    WebhookEndpoint.objects.create(
        name="Six",
        url=f"http://[::1]:{listener.getsockname()[1]}/hook?k=1",
        secret=SECRET,
        events=[WebhookEvent.INTAKE_SUBMITTED],
    )
    submit("V01")
    run_worker()
    listener.close()
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.status, delivery.last_status_code) == ("delivered", 204)
    assert seen[0].startswith(b"POST /hook?k=1 HTTP/1.1")


def test_a_receivers_check_refuses_a_forged_header_without_raising():
    body = b'{"a":1}'
    for header in ("t=abc,v1=00", "t=1700000000,v1=ü", "t=,v1=", "v1=1"):
        assert not verify("s", header, body, now=1700000000), header


@pytest.mark.django_db
def test_the_delivery_log_is_read_only_in_the_admin(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        submit("V01")
    admin = User.objects.create_superuser("root", "root@clinic.test", "pw-long-enough-123")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/referrals/webhookdelivery/")
    assert listing.status_code == 200
    assert b"intake.submitted" in listing.content
    delivery = WebhookDelivery.objects.earliest("id")
    page = client.get(f"/admin/referrals/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get("/admin/referrals/webhookdelivery/add/").status_code == 403
