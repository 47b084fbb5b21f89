"""Races decided by the database, on real PostgreSQL connections (SQLite would hide them)."""

import threading
from typing import Any

import psycopg
import pytest
from django.db import connection

from referrals.errors import TransitionNotAllowed
from referrals.models import EventKind, Referral, Status
from referrals.services import referral_claim
from tests.clinic_fixtures import details, submit, worked_case
from tests.helpers import lock_waiter_seen, own_dsn

# No serialized_rollback: an earlier transactional test's flush recreates the content types
# under new ids, and reloading the serialized ones then collides with them. The staff groups
# these tests need are recreated by make_staff (ensure_staff_groups).
pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def run_at_once(*jobs):
    """Start every job on its own thread (its own connection) at the same instant."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[tuple[str, Any] | None] = [None] * len(jobs)

    def runner(index, job):
        try:
            barrier.wait()
            outcomes[index] = ("ok", job())
        except Exception as exc:
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_staff_claiming_at_once_exactly_one_wins(chiropractor, second_chiropractor):
    assert connection.vendor == "postgresql"
    for attempt in range(5):
        (referral,) = submit("V01", patient=details(phone=f"07700 90010{attempt}")).referrals
        outcomes = run_at_once(
            lambda r=referral: referral_claim(referral=r, actor=chiropractor),
            lambda r=referral: referral_claim(referral=r, actor=second_chiropractor),
        )
        kinds = sorted(kind for kind, _ in outcomes)
        assert kinds == ["error", "ok"], outcomes
        (error,) = [value for kind, value in outcomes if kind == "error"]
        assert isinstance(error, TransitionNotAllowed)
        assert "already been claimed" in error.message
        referral.refresh_from_db()
        assert referral.status == Status.CLAIMED
        assert referral.events.filter(kind=EventKind.TRANSITION).count() == 1


def test_two_submissions_for_one_new_patient_at_once_make_one_patient_and_one_referral():
    outcomes = run_at_once(lambda: submit("V01"), lambda: submit("V01"))
    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    assert Referral.objects.filter(status=Status.NEW).count() == 1
    referral = Referral.objects.get()
    assert referral.intakes.count() == 2


def test_the_compiled_open_referral_lookup_locks_the_rows_and_refuses_to_run_unlocked():
    import psycopg
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    from referrals.services import _open_referrals

    first = submit("V22")
    patient_id = first.intake.patient_id
    queues = sorted({r.queue for r in first.referrals})
    dsn = own_dsn()
    with transaction.atomic():
        locked = _open_referrals(patient_id, queues)
        assert len(locked) == 3
        with psycopg.connect(dsn, autocommit=True) as other:
            for referral in locked:
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(
                        "SELECT id FROM referrals_referral WHERE id = %s FOR UPDATE NOWAIT",
                        [referral.pk],
                    )
    with pytest.raises(TransactionManagementError, match="outside of a transaction"):
        _open_referrals(patient_id, queues)


def test_a_reroute_and_a_submission_opening_the_same_queue_at_once_share_one_referral(
    chiropractor,
):
    """Both open a podiatry referral for one patient: the reroute takes the patient's lock as a
    submission does, so the later one joins the referral the first opened instead of failing
    the one-open-referral index (a 500, and the case not stored; a review suspected it)."""
    from referrals.services import referral_reroute

    for attempt in range(5):
        patient = details(phone=f"07700 90020{attempt}")
        (referral,) = submit("V01", patient=patient).referrals  # chiropractic
        outcomes = run_at_once(
            lambda r=referral: referral_reroute(
                referral=r, actor=chiropractor, queue="podiatry", reason="Heel, not back"
            ),
            lambda p=patient: submit("V11", patient=p),  # podiatry and orthotic fitting
        )
        assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
        podiatry = Referral.objects.filter(
            patient_id=referral.patient_id, queue="podiatry", status=Status.NEW
        )
        assert podiatry.count() == 1
        assert podiatry.get().intakes.count() == 2


def test_an_erasure_and_a_submission_matching_the_patient_at_once_leave_nothing_identifying(
    monkeypatch,
):
    """The submission has read the patient when the erasure starts: the erasure waits for the
    person's lock, then erases the new intake too (a review found identity written back onto
    the erased patient, and a new intake with the full birth date and free text)."""
    import time

    import intake.services
    from intake.models import Intake, Patient
    from intake.privacy import ERASED_TEXT, patient_erase

    person = details(email="ada@example.com")
    first = submit("V01", patient=person, answers={**worked_case("V01"), "main_concern": "Back"})
    public_id = first.intake.patient.public_id
    read = threading.Event()
    real_refresh = intake.services.patient_refresh_contact

    def refresh_slowly(*args: Any, **kwargs: Any) -> Any:
        read.set()  # the submission has matched the stored patient
        time.sleep(1.0)
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(intake.services, "patient_refresh_contact", refresh_slowly)
    later = details(email="ada.new@example.com", phone=person.phone)

    def erase() -> Any:
        assert read.wait(10)
        return patient_erase(public_id=public_id, actor=None, reason="Asked to be forgotten")

    outcomes = run_at_once(
        lambda: submit(
            "V11", patient=later, answers={**worked_case("V11"), "main_concern": "Heel, Ada L."}
        ),
        erase,
    )
    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    patient = Patient.objects.get(public_id=public_id)
    assert patient.anonymised_at is not None
    assert (patient.email, patient.phone) == ("", "")
    assert patient.family_name_key == patient.given_name_key == ""
    intakes = Intake.objects.filter(patient=patient)
    assert intakes.count() == 2
    for case in intakes:
        assert case.date_of_birth.month == case.date_of_birth.day == 1
        assert case.answers["main_concern"] == ERASED_TEXT


def test_two_runs_of_one_delivery_at_once_make_one_attempt():
    """The sweeper's run and a retry (or two sweeps) at once: one claims the attempt, the other
    leaves it; one request, one attempt counted, the outcome kept (a review found a 503 after a
    200 leaving the delivery pending with a new retry chain)."""
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from referrals.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
    from referrals.webhooks import webhook_deliver

    requests: list[str] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            time.sleep(1.0)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        WebhookEndpoint.objects.create(
            name="Slow",
            url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            secret="s",
            events=[WebhookEvent.INTAKE_SUBMITTED],
        )
        submit("V01")  # the immediate backend sends it at once: made pending again below
        (delivery,) = WebhookDelivery.objects.all()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, attempts=0, delivered_at=None
        )
        requests.clear()
        outcomes = run_at_once(
            lambda: webhook_deliver(delivery_id=delivery.pk),
            lambda: webhook_deliver(delivery_id=delivery.pk),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(value for _, value in outcomes) == ["delivered", "pending"], outcomes
    assert len(requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_a_claim_and_the_workers_announcement_at_once_tell_the_case_once(settings, chiropractor):
    """The claim announces a case the worker has not (referrals.tasks.announce_pending); the
    worker's run at the same instant must not tell it a second time, nor deadlock."""
    from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
    from referrals.tasks import announce_intake, announcement_of

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    endpoint = WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )
    for attempt in range(5):
        case = submit("V01", patient=details(phone=f"07700 90020{attempt}"))
        (referral,) = case.referrals
        arguments = announcement_of(case.intake)
        outcomes = run_at_once(
            lambda r=referral: referral_claim(referral=r, actor=chiropractor),
            lambda i=case.intake.pk, a=arguments: announce_intake.call(i, *a),
        )
        assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
        told = WebhookDelivery.objects.filter(
            endpoint=endpoint, payload__data__intake__reference=case.intake.reference
        )
        types = [d.event_type for d in told.order_by("id")]
        assert types.count(WebhookEvent.INTAKE_SUBMITTED) == 1, types
        changes = [
            d.payload["data"]["referral"]["status"]
            for d in told.filter(event_type=WebhookEvent.REFERRAL_STATUS_CHANGED).order_by("id")
        ]
        assert changes == ["new", "claimed"], changes


def test_a_raising_cases_announcement_and_a_claim_at_once_tell_each_change_once_in_order(
    settings, medical_reviewer
):
    """The worker announcing a case that raised a review (announcing the earlier case that
    opened it first) and a claim of the review (announcing both cases first) at the same
    instant: neither deadlocks, each change is told once, creation, raise, claim."""
    from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
    from referrals.tasks import announce_intake, announcement_of

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    endpoint = WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )
    for attempt in range(5):
        patient = details(phone=f"07700 90040{attempt}")
        (review,) = submit("V17", patient=patient).referrals
        later = submit("V09", patient=patient)  # raises the review to emergency
        arguments = announcement_of(later.intake)
        outcomes = run_at_once(
            lambda r=review: referral_claim(referral=r, actor=medical_reviewer),
            lambda i=later.intake.pk, a=arguments: announce_intake.call(i, *a),
        )
        assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
        told = [
            (d.event_type, d.payload["data"]["referral"])
            for d in WebhookDelivery.objects.filter(
                endpoint=endpoint, payload__data__referral__id=str(review.public_id)
            ).order_by("id")
        ]
        assert [
            (event, referral.get("previous_status"), referral.get("previous_urgency"))
            for event, referral in told
        ] == [
            (WebhookEvent.REFERRAL_STATUS_CHANGED, None, None),
            (WebhookEvent.REFERRAL_URGENCY_CHANGED, None, "urgent"),
            (WebhookEvent.REFERRAL_STATUS_CHANGED, "new", None),
        ], told


def test_two_refer_agains_and_a_submission_at_once_leave_one_open_referral(
    chiropractor, second_chiropractor
):
    """Two staff referring one declined referral again while the patient fills in the form
    again: the patient's lock orders them (referrals.services.referral_refer_again), so one
    opens the queue's referral, a submission joins it and a refer-again is refused naming it;
    never two open referrals, nor an IntegrityError from the partial unique index."""
    from referrals.services import referral_decline, referral_refer_again

    for attempt in range(5):
        patient = details(phone=f"07700 90030{attempt}")
        (referral,) = submit("V01", patient=patient).referrals
        referral_decline(referral=referral, actor=chiropractor, reason="Seen elsewhere")
        outcomes = run_at_once(
            lambda r=referral: referral_refer_again(
                referral=r, actor=chiropractor, reason="Declined by mistake"
            ),
            lambda r=referral: referral_refer_again(
                referral=r, actor=second_chiropractor, reason="Declined by mistake"
            ),
            lambda p=patient: submit("V01", patient=p),
        )
        errors = [value for kind, value in outcomes if kind == "error"]
        assert all(isinstance(error, TransitionNotAllowed) for error in errors), outcomes
        assert len(errors) >= 1, outcomes  # the second refer-again at least
        open_ones = Referral.objects.filter(
            patient_id=referral.patient_id, queue="chiropractic", status=Status.NEW
        )
        assert open_ones.count() == 1
        (open_one,) = open_ones
        assert open_one.referred_again_from_id in (None, referral.pk)
        assert (
            referral.events.filter(kind=EventKind.REFERRED_AGAIN).count()
            == Referral.objects.filter(referred_again_from=referral).count()
            <= 1
        )


def test_a_completed_review_marked_entered_in_error_meanwhile_is_not_cleared_on_its_account(
    medical_reviewer,
):
    """A red flag left on a review completed by its work is cleared on that review's account;
    a colleague marking the review entered in error while the clearance runs (a move that locks
    the referral alone) must not be passed over: the clearance read the completed review
    without its lock, and released queues on the account of a review called wrong."""
    import psycopg

    from intake.models import Intake
    from referrals.services import (
        intake_clear_red_flag,
        referral_complete,
        referral_contact,
        referral_schedule,
    )

    case = submit("V09")
    (review,) = [r for r in case.referrals if r.queue == "urgent_medical_review"]
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        review = move(referral=review, actor=medical_reviewer)
    dsn = own_dsn()
    outcomes: list[Any] = []

    def reviewer() -> None:
        try:
            outcomes.append(
                intake_clear_red_flag(intake=case.intake, actor=medical_reviewer, reason="Seen")
            )
        except TransitionNotAllowed as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    with psycopg.connect(dsn) as colleague:
        colleague.execute("SELECT id FROM referrals_referral WHERE id = %s FOR UPDATE", [review.pk])
        thread = threading.Thread(target=reviewer)
        thread.start()
        waiting = lock_waiter_seen(colleague)  # until the clearance waits for the review's lock
        colleague.execute(
            "UPDATE referrals_referral SET status = 'entered_in_error' WHERE id = %s", [review.pk]
        )
        colleague.commit()
    thread.join(timeout=30)
    assert waiting, "the clearance never waited for the review's lock"
    (outcome,) = outcomes
    assert isinstance(outcome, TransitionNotAllowed), outcome
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is None


def test_a_write_that_waited_out_an_erasure_holds_the_lock_of_the_erased_identity_too(
    monkeypatch,
):
    """``lock_patient`` took the lock of the identity it read; an erasure holding that lock
    rewrites the identity (names and birth date), so a write that waited it out held the old
    identity's lock while a later one (a red-flag stamp, a reroute) took the new identity's:
    the two ran at once. The waiter now reads the identity again once it holds the lock."""
    import psycopg
    from django.db import transaction

    import intake.privacy
    from intake.locks import lock_name, lock_patient
    from intake.models import Patient
    from intake.privacy import patient_erase

    patient_id = submit("V01").intake.patient_id
    erasing, erase_go, locked, release = (threading.Event() for _ in range(4))
    real_audit = intake.privacy.audit_record

    def audit_then_hold(**kwargs: Any) -> Any:
        erasing.set()  # the erasure holds the old identity's lock and has rewritten it
        assert erase_go.wait(10)
        return real_audit(**kwargs)

    monkeypatch.setattr(intake.privacy, "audit_record", audit_then_hold)
    public_id = Patient.objects.get(pk=patient_id).public_id

    def erase() -> Any:
        return patient_erase(public_id=public_id, actor=None, reason="Asked to be forgotten")

    def write() -> None:
        assert erasing.wait(10)
        with transaction.atomic():
            lock_patient(patient_id)  # waits for the erasure
            locked.set()
            assert release.wait(10)

    with psycopg.connect(own_dsn(), autocommit=True) as other:
        finished: list[Any] = []

        def run(job: Any) -> None:
            try:
                finished.append(job())
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(job,)) for job in (erase, write)]
        for thread in threads:
            thread.start()
        try:
            assert lock_waiter_seen(other), "the write never waited for the erasure"
            erase_go.set()
            assert locked.wait(10), "the write never took the lock"
            erased = Patient.objects.get(pk=patient_id)
            assert erased.anonymised_at is not None
            new = lock_name(erased.family_name_key, erased.date_of_birth)
            with other.transaction():
                row = other.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtext(%s))", [new]
                ).fetchone()
            assert row == (False,), "a write after the erasure could run beside the waiter"
        finally:
            erase_go.set()
            release.set()
            for thread in threads:
                thread.join(timeout=30)
    assert len(finished) == 2, "the erasure or the write failed"


def _unannounced_chiropractic_case_behind_a_red_flag(settings, phone: str):
    """A patient's red-flag case, announced, then a later case of theirs without one opening a
    chiropractic referral, its announcement queued and not run (a worker's backlog)."""
    person = details(phone=phone)
    red = submit("V09", patient=person)  # announced at its commit (the immediate backend)
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    later = submit("V01", patient=person)
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    (chiropractic,) = later.referrals
    return red, later, chiropractic


def _second_waits_for_first(
    first: tuple[str, Any], second: tuple[str, Any], holding: threading.Event, go: threading.Event
) -> tuple[dict[str, Any], bool]:
    """Run the named jobs on their own threads (connections): ``first`` until it sets
    ``holding`` (its locks taken), then ``second``; ``go`` is set once ``second`` is seen
    waiting for a lock, or after 10 s. Each job's outcome ("ok" or its exception) by name, and
    whether ``second`` was seen waiting."""
    outcomes: dict[str, Any] = {}

    def run(name: str, job: Any) -> None:
        try:
            job()
            outcomes[name] = "ok"
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=job) for job in (first, second)]
    threads[0].start()
    assert holding.wait(20)
    with psycopg.connect(own_dsn(), autocommit=True) as watcher:
        threads[1].start()
        waited = lock_waiter_seen(watcher)
    go.set()
    for thread in threads:
        thread.join(30)
    return outcomes, waited


def test_a_clearance_while_a_worker_announces_a_case_tells_its_referral_false_after(
    medical_reviewer, settings
):
    """A later case without a red flag opens a chiropractic referral while the patient's red
    flag stands. The worker's announcement reads the flag standing and tells the creation
    ``red_flag_elsewhere: true``; a clearance committing before that announcement did, but
    after it read the flag, skipped the referral as untold (its case not announced yet) and a
    webhook receiver kept ``true`` for good. The clearance's stamp now announces the cases
    still to announce first: it waits for the worker's (the case's row lock), finds it told,
    and tells ``false`` after it."""
    from django.db import transaction

    from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
    from referrals.services import intake_clear_red_flag
    from referrals.tasks import announce_intake, announcement_of

    endpoint = WebhookEndpoint.objects.create(
        name="Record system",
        url="http://127.0.0.1:9/hook",
        secret="s",
        events=[
            WebhookEvent.REFERRAL_STATUS_CHANGED,
            WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED,
        ],
    )
    red, later, chiropractic = _unannounced_chiropractic_case_behind_a_red_flag(
        settings, "07700 900480"
    )
    announced, commit = threading.Event(), threading.Event()

    def worker() -> None:  # the worker's announcement, read and written, not yet committed
        with transaction.atomic():
            announce_intake.call(later.intake.pk, *announcement_of(later.intake))
            announced.set()
            commit.wait(20)

    def clearance() -> None:
        intake_clear_red_flag(
            intake=red.intake, actor=medical_reviewer, reason="Examined.", release_queues=[]
        )

    outcomes, waited = _second_waits_for_first(
        ("worker", worker), ("clearance", clearance), announced, commit
    )
    assert outcomes == {"worker": "ok", "clearance": "ok"}
    assert waited  # the clearance waited for the announcement
    told = [
        (d.event_type, d.payload["data"]["referral"]["red_flag_elsewhere"])
        for d in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id")
        if d.payload["data"]["referral"]["id"] == str(chiropractic.public_id)
    ]
    assert told == [
        (WebhookEvent.REFERRAL_STATUS_CHANGED, True),  # created while the red flag stood
        (WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED, False),  # then cleared
    ]


def test_a_clearance_releasing_into_a_referral_a_colleague_is_claiming_does_not_deadlock(
    medical_reviewer, chiropractor, settings, monkeypatch
):
    """The lock order is the patient's, the cases, then the referrals. A claim of a
    chiropractic referral whose case the worker has not announced yet announces it (the case's
    row lock), then locks the referral. A clearance releasing to chiropractic joins that open
    referral (its row lock) and only then, in red_flag_elsewhere_changed, announces the
    patient's unannounced cases (the same case's row lock): the two lock a case and a referral
    in opposite orders, and PostgreSQL kills one of them as a deadlock."""
    import referrals.services
    from referrals.services import intake_clear_red_flag
    from referrals.tasks import announce_pending as real_announce_pending

    red, _later, chiropractic = _unannounced_chiropractic_case_behind_a_red_flag(
        settings, "07700 900481"
    )
    announced, go = threading.Event(), threading.Event()

    def announce_then_pause(referral_id: int, *others: int) -> int:
        made = real_announce_pending(referral_id, *others)
        if referral_id == chiropractic.pk:  # the claim: the case locked, the referral not yet
            announced.set()
            go.wait(20)
        return made

    monkeypatch.setattr(referrals.services, "announce_pending", announce_then_pause)

    def claim() -> None:
        referral_claim(referral=chiropractic, actor=chiropractor)

    def clearance() -> None:
        intake_clear_red_flag(
            intake=red.intake,
            actor=medical_reviewer,
            reason="Examined.",
            release_queues=["chiropractic"],  # joins the open chiropractic referral
        )

    outcomes, waited = _second_waits_for_first(
        ("claim", claim), ("clearance", clearance), announced, go
    )
    assert waited
    assert outcomes == {"claim": "ok", "clearance": "ok"}, outcomes
