"""A referral's version: its ETag, If-None-Match (304) and If-Match on every move (412)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from referrals.etags import tag_of
from referrals.models import Referral
from referrals.services import (
    referral_claim,
    referral_decline,
    referral_override_urgency,
    referral_refer_again,
)
from tests.api.conftest import Api
from tests.clinic_fixtures import submit
from tests.helpers import lock_waiter_seen, own_dsn

pytestmark = pytest.mark.django_db


def detail_path(referral: Referral) -> str:
    return f"/api/v1/referrals/{referral.public_id}"


def etag(api: Api, referral: Referral) -> str:
    response = api.get(detail_path(referral))
    assert response.status_code == 200
    return response.headers["ETag"]


def test_the_detail_carries_a_strong_etag_of_what_it_shows(api):
    (referral,) = submit("V01").referrals
    response = api.get(detail_path(referral))
    tag = response.headers["ETag"]
    assert tag[0] == tag[-1] == '"'  # strong (no W/): If-Match compares no other kind
    assert tag == tag_of(response.json())
    assert api.get(detail_path(referral)).headers["ETag"] == tag  # nothing changed


def test_every_moves_answer_carries_the_etag_a_read_then_gives(api):
    (referral,) = submit("V01").referrals
    before = etag(api, referral)
    response = api.post(f"{detail_path(referral)}/claim")
    assert response.status_code == 200
    assert response.headers["ETag"] != before
    assert response.headers["ETag"] == etag(api, referral)


def test_a_reroutes_answer_carries_the_new_referrals_etag(api):
    (referral,) = submit("V01").referrals
    response = api.post(f"{detail_path(referral)}/reroute", {"queue": "podiatry", "reason": "x"})
    new = Referral.objects.get(rerouted_from=referral)
    assert response.headers["ETag"] == etag(api, new) != etag(api, referral)


def test_the_etag_changes_with_a_case_that_joins(api):
    first = submit("V01")
    (referral,) = first.referrals
    before = etag(api, referral)
    submit("V01")  # the patient's later submission joins the open referral
    assert etag(api, referral) != before


def test_the_etag_changes_when_a_closed_referral_is_referred_again(api, triage_lead):
    """Its row is not written (its updated_at stays), only its history: the tag follows what
    the detail shows, not updated_at alone."""
    (referral,) = submit("V01").referrals
    closed = referral_decline(referral=referral, actor=triage_lead, reason="Seen elsewhere")
    before = etag(api, closed)
    updated = api.get(detail_path(closed)).json()["updated_at"]
    api.post(f"{detail_path(closed)}/refer-again", {"reason": "Declined the wrong case"})
    assert api.get(detail_path(closed)).json()["updated_at"] == updated
    assert etag(api, closed) != before


def test_the_etag_changes_when_the_referral_becomes_overdue(api):
    (referral,) = submit("V01").referrals
    body = api.get(detail_path(referral)).json()
    assert body["overdue"] is False
    before = etag(api, referral)
    # Only the clock moves: its due time passes.
    Referral.objects.filter(pk=referral.pk).update(due_at=referral.created_at)
    after = api.get(detail_path(referral))
    assert after.json()["overdue"] is True
    assert after.headers["ETag"] != before


@pytest.mark.parametrize("form", ["{tag}", "W/{tag}", '"old", {tag}', "*"])
def test_if_none_match_naming_the_current_version_is_304_without_a_body(api, form):
    (referral,) = submit("V01").referrals
    tag = etag(api, referral)
    response = api.client.get(
        detail_path(referral), headers={**api.headers, "If-None-Match": form.format(tag=tag)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == tag


def test_if_none_match_naming_an_older_version_answers_with_the_referral(api):
    (referral,) = submit("V01").referrals
    old = etag(api, referral)
    api.post(f"{detail_path(referral)}/claim")
    response = api.client.get(detail_path(referral), headers={**api.headers, "If-None-Match": old})
    assert response.status_code == 200
    assert response.json()["status"] == "claimed"
    assert response.headers["ETag"] != old


def test_a_malformed_if_none_match_is_a_400_naming_the_header(api):
    (referral,) = submit("V01").referrals
    response = api.client.get(
        detail_path(referral), headers={**api.headers, "If-None-Match": "no-quotes"}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["If-None-Match"]


def test_if_none_match_is_a_404_for_a_referral_out_of_the_tokens_queues(make_token):
    (referral,) = submit("V01").referrals  # chiropractic
    podiatry = Api(make_token(queues=("podiatry",)).raw)
    response = podiatry.client.get(
        detail_path(referral), headers={**podiatry.headers, "If-None-Match": "*"}
    )
    assert response.status_code == 404
    assert "ETag" not in response.headers


def test_the_schema_documents_the_etag_and_if_none_match(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    read = schema["paths"]["/api/v1/referrals/{public_id}"]["get"]
    assert "If-None-Match" in [p["name"] for p in read["parameters"] if p["in"] == "header"]
    for code in ("200", "304"):
        assert "ETag" in read["responses"][code]["headers"], code
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/referrals/{public_id}/"):
            assert "ETag" in operations["post"]["responses"]["200"]["headers"], path
    listed = schema["paths"]["/api/v1/referrals"]["get"]["responses"]["200"]
    assert "ETag" not in listed.get("headers", {})


# --- If-Match on the moves --------------------------------------------------------------------


def post(api: Api, referral: Referral, move: str, body: dict | None = None, /, **headers: str):
    return api.post(f"{detail_path(referral)}/{move}", body or {}, headers=headers)


def test_a_move_naming_the_current_version_goes_through(api):
    (referral,) = submit("V01").referrals
    response = post(api, referral, "claim", **{"If-Match": etag(api, referral)})
    assert response.status_code == 200
    assert response.json()["status"] == "claimed"


def test_a_move_naming_an_older_version_is_412_and_saves_nothing(api, chiropractor):
    """A colleague claimed the referral after the partner read it: its decline, chosen on
    what it read, is refused, with what the referral is now and its new version."""
    (referral,) = submit("V01").referrals
    read = etag(api, referral)
    referral_claim(referral=referral, actor=chiropractor)
    events = referral.events.count()
    response = post(api, referral, "decline", {"reason": "Seen elsewhere"}, **{"If-Match": read})
    assert response.status_code == 412
    body = response.json()
    (message,) = body["errors"]["non_field_errors"]
    assert message.startswith("Nothing was saved: the referral changed since")
    assert "It is now Claimed, assigned to chiro_carla, routine" in message
    assert "moved to claimed by chiro_carla" in message
    assert body["etag"] == response.headers["ETag"] == etag(api, referral)
    referral.refresh_from_db()
    assert referral.status == "claimed"
    assert referral.events.count() == events


def test_a_stale_version_is_412_before_the_moves_own_refusal(api, chiropractor):
    # Claimed since: "already claimed" (409) would hide that the partner's copy is stale.
    (referral,) = submit("V01").referrals
    read = etag(api, referral)
    referral_claim(referral=referral, actor=chiropractor)
    assert post(api, referral, "claim", **{"If-Match": read}).status_code == 412
    assert post(api, referral, "claim").status_code == 409


@pytest.mark.parametrize(
    ("move", "body"),
    [
        ("reroute", {"queue": "podiatry", "reason": "Heel, not back"}),
        ("override-urgency", {"urgency": "urgent", "reason": "Worse"}),
        ("cancel", {"reason": "Moved away"}),
    ],
)
def test_every_kind_of_move_checks_if_match(api, chiropractor, move, body):
    (referral,) = submit("V01").referrals
    read = etag(api, referral)
    referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="emergency", reason="Red flag by phone"
    )
    response = post(api, referral, move, body, **{"If-Match": read})
    assert response.status_code == 412, response.json()
    referral.refresh_from_db()
    assert (referral.status, referral.urgency) == ("new", "emergency")
    assert not Referral.objects.filter(rerouted_from=referral).exists()


def test_refer_again_checks_if_match(api, triage_lead):
    (referral,) = submit("V01").referrals
    closed = referral_decline(referral=referral, actor=triage_lead, reason="Seen elsewhere")
    read = etag(api, closed)
    # A colleague refers it again meanwhile: the closed referral's history names the new one.
    referral_refer_again(referral=closed, actor=triage_lead, reason="Declined by mistake")
    made = Referral.objects.get(referred_again_from=closed)
    response = post(api, closed, "refer-again", {"reason": "Wrong case"}, **{"If-Match": read})
    assert response.status_code == 412
    assert list(Referral.objects.filter(referred_again_from=closed)) == [made]


def test_refer_again_with_if_match_on_an_unchanged_referral_goes_through(api, triage_lead):
    (referral,) = submit("V01").referrals
    closed = referral_decline(referral=referral, actor=triage_lead, reason="Seen elsewhere")
    read = etag(api, closed)
    response = post(api, closed, "refer-again", {"reason": "Wrong case"}, **{"If-Match": read})
    assert response.status_code == 200
    assert Referral.objects.filter(referred_again_from=closed).count() == 1


@pytest.mark.parametrize("form", ["*", '"older", {tag}', '{tag},"other"'])
def test_if_match_passes_with_star_or_a_list_naming_the_current_version(api, form):
    (referral,) = submit("V01").referrals
    header = form.format(tag=etag(api, referral))
    assert post(api, referral, "claim", **{"If-Match": header}).status_code == 200


def test_a_weak_tag_never_passes_if_match(api):
    # RFC 9110 §13.1.1: If-Match compares strongly.
    (referral,) = submit("V01").referrals
    response = post(api, referral, "claim", **{"If-Match": f"W/{etag(api, referral)}"})
    assert response.status_code == 412
    referral.refresh_from_db()
    assert referral.status == "new"
    # It said the referral "changed since the version your If-Match names", which it had not
    # (an API QA round): it says why the tag did not pass.
    assert response.json()["errors"]["non_field_errors"] == [
        "Nothing was saved: If-Match compares strong tags only, and the tag that names the "
        "referral's current version is sent weak (W/). Send the ETag as the answer gave it, "
        "without W/."
    ]
    assert response["ETag"] == etag(api, referral)


@pytest.mark.parametrize("header", ["v1", '"v1', "", '"a" "b"'])
def test_a_malformed_if_match_is_a_400_naming_the_header(api, header):
    (referral,) = submit("V01").referrals
    response = post(api, referral, "claim", **{"If-Match": header})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["If-Match"]
    referral.refresh_from_db()
    assert referral.status == "new"


def test_a_move_sent_again_after_its_answer_was_lost_is_412_naming_the_senders_move(api):
    """The retry story for moves (idempotency keys are a submission's): the same If-Match
    refuses the second send, and names the change since as the sender's own move."""
    (referral,) = submit("V01").referrals
    read = etag(api, referral)
    first = post(api, referral, "claim", **{"If-Match": read})
    again = post(api, referral, "claim", **{"If-Match": read})
    assert again.status_code == 412
    assert again.json()["etag"] == first.headers["ETag"]
    assert (
        "its last change: moved to claimed by you at"
        in again.json()["errors"]["non_field_errors"][0]
    )


def test_a_412_after_the_due_time_passed_does_not_say_a_move_went_through(api):
    """The version changes when the referral falls overdue, which records no change: a move
    sent on a copy read before is refused, and its message must not tell the sender that a
    first send went through (it did, from "the last change was yours": a review found it)."""
    (referral,) = submit("V01").referrals
    read = etag(api, referral)
    Referral.objects.filter(pk=referral.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    refused = post(api, referral, "claim", **{"If-Match": read})
    assert refused.status_code == 412
    message = refused.json()["errors"]["non_field_errors"][0]
    assert "went through" not in message
    assert "its last change: created by the clinic" in message
    referral.refresh_from_db()
    assert referral.status == "new"


def test_a_move_without_if_match_acts_on_the_referral_as_it_is(api, chiropractor):
    (referral,) = submit("V01").referrals
    referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="urgent", reason="Worse by phone"
    )
    response = post(api, referral, "claim")
    assert response.status_code == 200


def test_the_schema_documents_if_match_and_412_on_every_move(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    moves = [
        operations["post"]
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/referrals/{public_id}/")
    ]
    assert len(moves) == 11
    for move in moves:
        assert "If-Match" in [p["name"] for p in move["parameters"] if p["in"] == "header"]
        failed = move["responses"]["412"]
        assert "ETag" in failed["headers"]
        ref = failed["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/PreconditionFailed"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_if_match_is_compared_under_the_moves_lock_not_before_it(make_token):
    """A colleague's change commits while the partner's move waits for the referral's lock:
    compared before the lock, the partner's tag still matched and its move went through on
    what it had not seen. The service compares under its lock, so the move is 412."""
    import threading

    import psycopg
    from django.db import connection

    api = Api(make_token(name="GP portal").raw)
    (referral,) = submit("V01").referrals
    read = etag(api, referral)
    dsn = own_dsn()
    answers: list[int] = []

    def partner() -> None:
        try:
            answers.append(post(api, referral, "claim", **{"If-Match": read}).status_code)
        finally:
            connection.close()

    with psycopg.connect(dsn) as colleague:
        colleague.execute(
            "SELECT id FROM referrals_referral WHERE id = %s FOR UPDATE", [referral.pk]
        )
        thread = threading.Thread(target=partner)
        thread.start()
        # Until the partner's move waits for the lock.
        assert lock_waiter_seen(colleague), "the partner's move never waited for the lock"
        colleague.execute(
            "UPDATE referrals_referral SET note = note || ' Phoned: worse.' WHERE id = %s",
            [referral.pk],
        )
        colleague.commit()
    thread.join(timeout=30)
    assert answers == [412]
    referral.refresh_from_db()
    assert referral.status == "new"
    assert referral.note.endswith("Phoned: worse.")


def test_a_submissions_retry_replays_its_stored_answer_whatever_if_match_says(api):
    """docs/API.md: If-Match is the moves'; a submission (no version yet) does not read it,
    and its Idempotency-Key replay is the stored answer."""
    from tests.api.conftest import intake_body

    body = intake_body("V01")
    first = api.post("/api/v1/intakes", body, headers={"Idempotency-Key": "portal-1"})
    again = api.post(
        "/api/v1/intakes", body, headers={"Idempotency-Key": "portal-1", "If-Match": '"stale"'}
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


@pytest.mark.django_db(transaction=True)
def test_a_reroute_into_the_review_of_an_unannounced_red_flag_keeps_its_if_match(api, settings):
    """A reroute into urgent medical review announces the red-flag case feeding the review if
    the worker has not yet (announce_pending, inside the move's transaction). That
    announcement's stamp of the patient's specialty referrals (their red_flag_elsewhere) once
    ran there too and changed the moved referral's version under its If-Match: 412 on every
    try until the worker came round (a review). It is a task of its own now."""
    from django.core.management import call_command

    from intake.models import Intake
    from tests.clinic_fixtures import details

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    person = details(phone="07700 900337")
    three = submit("V22", patient=person)  # chiropractic, orthotic fitting, podiatry
    chiropractic, orthotic = (
        next(r for r in three.referrals if r.queue == queue)
        for queue in ("chiropractic", "orthotic_fitting")
    )
    emergency = submit("V09", patient=person)
    assert Intake.objects.get(pk=emergency.intake.pk).announced_at is None  # queued
    tag = etag(api, chiropractic)
    response = api.post(
        f"{detail_path(chiropractic)}/reroute",
        {"queue": "urgent_medical_review", "reason": "Red flag on a later case"},
        headers={"If-Match": tag},
    )
    assert response.status_code == 200, response.json()
    assert Intake.objects.get(pk=emergency.intake.pk).announced_at is not None
    before = Referral.objects.get(pk=orthotic.pk).updated_at
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert Referral.objects.get(pk=orthotic.pk).updated_at > before  # stamped, by the task
