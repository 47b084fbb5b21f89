"""GET /referrals (filters, keyset pages), GET /referrals/{id}, every move, clear-red-flag."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from referrals import selectors
from referrals.api import ReferralListItemSerializer
from referrals.models import (
    TRANSITIONS,
    Action,
    AuditEntry,
    EventKind,
    Referral,
    Scope,
    Status,
)
from referrals.services import (
    ASSIGNEE_ONLY,
    intake_clear_red_flag,
    referral_cancel,
    referral_claim,
    referral_override_urgency,
    referral_reroute,
)
from tests.api.conftest import Api
from tests.clinic_fixtures import details, submit
from tests.conftest import on_postgresql
from tests.helpers import sqlite_plan

pytestmark = pytest.mark.django_db

CASES = ["V01", "V06", "V09", "V11", "V13", "V17", "V21", "V24"]


def many_cases(count: int = 8) -> list[Referral]:
    for index in range(count):
        submit(
            CASES[index % len(CASES)],
            patient=details(family_name=f"Family{index}", phone=f"07700 9{index:05d}"),
        )
    return list(Referral.objects.order_by("-priority", "due_at", "id"))


def ids(results: list[dict]) -> list[str]:
    return [r["id"] for r in results]


def all_pages(api: Api, **params) -> list[str]:
    seen: list[str] = []
    page = api.get("/api/v1/referrals", **params).json()
    seen += ids(page["results"])
    while page["next"]:
        page = api.client.get(page["next"], headers=api.headers).json()
        seen += ids(page["results"])
    return seen


def test_the_list_is_ordered_like_the_admin_queue(api):
    expected = [str(r.public_id) for r in many_cases()]
    assert ids(api.get("/api/v1/referrals", limit=200).json()["results"]) == expected


def test_keyset_pages_cover_every_referral_once(api):
    expected = [str(r.public_id) for r in many_cases(12)]
    assert all_pages(api, limit=2) == expected
    assert all_pages(api, limit=5) == expected


def test_pages_stay_correct_while_referrals_change(api, triage_lead):
    ordered = many_cases(10)
    first = api.get("/api/v1/referrals", limit=3).json()
    # Between pages: a referral already seen jumps to the top, one not yet seen sinks.
    seen, unseen = ordered[0], ordered[6]
    referral_override_urgency(
        referral=ordered[1], actor=triage_lead, urgency="emergency", reason="Rang in"
    )
    referral_override_urgency(
        referral=unseen,
        actor=triage_lead,
        urgency="routine" if unseen.urgency != "routine" else "urgent",
        reason="Checked",
    )
    rest: list[str] = []
    page = first
    while page["next"]:
        page = api.client.get(page["next"], headers=api.headers).json()
        rest += ids(page["results"])
    got = ids(first["results"]) + rest
    assert len(got) == len(set(got)), "no referral twice"
    unchanged = {str(r.public_id) for r in ordered} - {
        str(ordered[1].public_id),
        str(unseen.public_id),
    }
    assert unchanged <= set(got), "no unchanged referral skipped"
    assert str(seen.public_id) in got


def test_a_deep_page_is_one_range_query_without_offset(api):
    many_cases(6)
    cursor_url = api.get("/api/v1/referrals", limit=2).json()["next"]
    with CaptureQueriesContext(connection) as queries:
        api.client.get(cursor_url, headers=api.headers)
    listing = [q["sql"] for q in queries.captured_queries if "referrals_referral" in q["sql"]]
    assert listing
    assert all("OFFSET" not in sql.upper() for sql in listing)


def test_a_deep_pages_id_ranges_read_the_referral_table_alone(api):
    """The page's columns join the intake, the assignee and the rerouted-from referral; the two
    ranges after the cursor must not (``keyset_page`` applies the columns after them). With
    those joins in each range, PostgreSQL without statistics joined all of a range: 644,826
    rows for a page half-way down 1,000,000 cases (docs/BENCHMARKS.md)."""
    many_cases(6)
    cursor_url = api.get("/api/v1/referrals", limit=2).json()["next"]
    with CaptureQueriesContext(connection) as queries:
        assert api.client.get(cursor_url, headers=api.headers).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    (page,) = [sql for sql in statements if "UNION" in sql or " OR " in sql]
    # Not the row's red_flag_elsewhere, a subquery of the intake table (... LIMIT 1).
    subqueries = re.findall(r"\(SELECT .*? LIMIT \d+\)", page)
    ranges = [part for part in subqueries if '"intake_intake"' not in part]
    assert len(ranges) == 2, page
    assert all(" JOIN " not in part for part in ranges), ranges
    assert page.count(" JOIN ") == 3, "the columns' own joins, outside the ranges"


def test_list_rows_are_what_the_referral_serializer_writes(api, triage_lead):
    """The list builds its rows without DRF's serializer; the output must not drift from it."""
    referrals = many_cases(len(CASES))
    rerouted = next(r for r in referrals if r.queue in {"chiropractic", "podiatry"})
    claimed, closed, late = [r for r in referrals if r != rerouted][:3]
    referral_claim(referral=claimed, actor=triage_lead)
    referral_reroute(
        referral=rerouted,
        actor=triage_lead,
        queue="general_review",
        reason="Wrong team",
    )
    referral_cancel(referral=closed, actor=triage_lead, reason="Moved away")
    Referral.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    listed = selectors.with_red_flag_elsewhere(selectors.referral_list(user=triage_lead))
    listed = listed.select_related("rerouted_from")
    expected = json.loads(JSONRenderer().render(ReferralListItemSerializer(listed, many=True).data))
    got = api.get("/api/v1/referrals", limit=200).json()["results"]
    assert got == expected
    assert len({r["link_summary"]["kind"] for r in got}) >= 3
    assert any(r["rerouted_from"] for r in got)
    assert any(r["assigned_to"] for r in got)
    assert any(r["closed_at"] for r in got)
    assert any(r["overdue"] for r in got)


def _count_queries(api: Api, url: str, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.client.get(url, params, headers=api.headers).status_code == 200
    return len(queries.captured_queries)


def test_first_and_deep_pages_run_three_queries_whatever_the_size(api):
    """Token, rate counter, the page: no count, no query per row, at any depth or size."""
    many_cases(4)
    api.get("/api/v1/referrals")  # the token's first use stamps last_used_at and opens a window
    counts = []
    for size in ("small", "larger"):
        if size == "larger":
            for i in range(16):
                submit(CASES[i % len(CASES)], patient=details(phone=f"07700 8{i:05d}"))
        deep = api.get("/api/v1/referrals", limit=2).json()["next"]
        counts += [_count_queries(api, "/api/v1/referrals", limit=2), _count_queries(api, deep)]
    assert counts == [3, 3, 3, 3]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage"},
        {"limit": "0"},
        {"limit": "x"},
        {"queue": "nowhere"},
        # int() took these (a review); the schema says a whole number.
        {"limit": " 5"},
        {"limit": "+5"},
        {"limit": "5_0"},
        {"limit": "\u0665"},  # Arabic-Indic five
    ],
)
def test_bad_list_parameters_are_400(api, params):
    response = api.get("/api/v1/referrals", **params)
    assert response.status_code == 400
    assert list(response.json()) == ["errors"]


def test_filters_by_queue_status_urgency_overdue_and_updated_since(api, chiropractor):
    referrals = many_cases()
    chiro = [r for r in referrals if r.queue == "chiropractic"]
    got = api.get("/api/v1/referrals", queue="chiropractic").json()["results"]
    assert ids(got) == [str(r.public_id) for r in chiro]
    assert {
        r["urgency"] for r in api.get("/api/v1/referrals", urgency="emergency").json()["results"]
    } == {"emergency"}
    api.post(f"/api/v1/referrals/{chiro[0].public_id}/claim")
    claimed = api.get("/api/v1/referrals", status="claimed").json()["results"]
    assert ids(claimed) == [str(chiro[0].public_id)]
    Referral.objects.filter(pk=chiro[1].pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    assert ids(api.get("/api/v1/referrals", overdue="true").json()["results"]) == [
        str(chiro[1].public_id)
    ]
    assert str(chiro[1].public_id) not in ids(
        api.get("/api/v1/referrals", overdue="false", limit=200).json()["results"]
    )
    assert ids(api.get("/api/v1/referrals", overdue="1").json()["results"]) == [
        str(chiro[1].public_id)
    ]
    # Not true or false: an error, not the filter silently left out.
    maybe = api.get("/api/v1/referrals", overdue="maybe")
    assert maybe.status_code == 400
    assert maybe.json() == {"errors": {"overdue": ["Use true or false."]}}
    since = (timezone.now() - dt.timedelta(seconds=1)).isoformat()
    day_ago = timezone.now() - dt.timedelta(days=1)
    # Created then too: a referral is never updated before it was created (a constraint).
    Referral.objects.exclude(pk=chiro[0].pk).update(created_at=day_ago, updated_at=day_ago)
    assert ids(api.get("/api/v1/referrals", updated_since=since).json()["results"]) == [
        str(chiro[0].public_id)
    ]


def test_updated_since_takes_any_offset_python_reads_as_the_same_instant(api):
    """PostgreSQL takes offsets up to 15:59; a later one was a 500 there (schema fuzzing)."""
    (referral,) = submit("V01").referrals
    stamp = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    Referral.objects.filter(pk=referral.pk).update(created_at=stamp, updated_at=stamp)
    far_east = dt.timezone(dt.timedelta(hours=21, minutes=41))
    for since, shown in ((stamp, True), (stamp + dt.timedelta(minutes=1), False)):
        response = api.get(
            "/api/v1/referrals", updated_since=since.astimezone(far_east).isoformat()
        )
        assert response.status_code == 200
        assert ids(response.json()["results"]) == ([str(referral.public_id)] if shown else [])
    assert (
        api.get("/api/v1/referrals", updated_since="1375-08-15T10:53:59+21:41").status_code == 200
    )


@pytest.mark.parametrize(
    "since", ["2026-03-01t12:00:00z", "2026-03-01T12:00:00z", "2026-03-01 12:00Z"]
)
def test_updated_since_takes_the_letters_of_rfc_3339_in_either_case(api, since):
    """RFC 3339 lets the T and the Z be lower case: "…z" was refused as a time without a time
    zone (an API QA round)."""
    (referral,) = submit("V01").referrals
    stamp = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    Referral.objects.filter(pk=referral.pk).update(created_at=stamp, updated_at=stamp)
    response = api.get("/api/v1/referrals", updated_since=since)
    assert response.status_code == 200, response.json()
    assert ids(response.json()["results"]) == [str(referral.public_id)]


@pytest.mark.parametrize("since", ["2026-07-01T12:00:00", "2026-07-01", "2026-07-01T12:00"])
def test_updated_since_without_a_time_zone_is_a_400_not_read_as_the_clinics_local_time(api, since):
    """docs/API.md: times are ISO 8601 with a time zone. Without one, the time was read in the
    clinic's TIME_ZONE: a poller sending its own local (or UTC) time without an offset was off
    by the difference and silently missed changes."""
    response = api.get("/api/v1/referrals", updated_since=since)
    assert response.status_code == 400
    assert response.json()["errors"]["updated_since"] == [
        "Give the time zone: Z for UTC or an offset such as +01:00."
    ]


@pytest.mark.parametrize(
    "query", ["2026-07-01T12:00:00+01:00", "2026-07-01T12:00+0100", "2026-07-01T12:00:00.5+01"]
)
def test_an_offsets_plus_left_unescaped_in_the_url_is_a_400_that_says_so(api, query):
    """A + in a query string is a space: "?updated_since=…T12:00:00+01:00" typed into a URL
    was refused with "Enter a valid date/time." and no word why."""
    response = api.client.get(f"/api/v1/referrals?updated_since={query}", headers=api.headers)
    assert response.status_code == 400
    (message,) = response.json()["errors"]["updated_since"]
    assert "send the offset's + as %2B" in message
    escaped = api.get("/api/v1/referrals", updated_since=query)
    assert escaped.status_code == 200


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:30:00-05:00"])
def test_updated_since_with_no_utc_time_is_a_400_naming_the_field(api, since):
    response = api.get("/api/v1/referrals", updated_since=since)
    assert response.status_code == 400
    assert response.json()["errors"]["updated_since"] == [
        "Enter a time between the years 1 and 9999 in UTC."
    ]


def test_detail_lists_every_case_that_fed_the_referral_oldest_first(api):
    """A patient's later submission joins the open referral; the list's row and link summary
    are the opening case's, so an integrator could not tell which cases a referral holds nor
    see a later case's flags (the history's "linked" event names none)."""
    first = submit("V01")
    later = submit("V01")
    (referral,) = first.referrals
    assert [r.pk for r in later.referrals] == [referral.pk]
    with CaptureQueriesContext(connection) as ctx:
        body = api.get(f"/api/v1/referrals/{referral.public_id}").json()
    cases = body["cases"]
    assert [c["id"] for c in cases] == [str(first.intake.public_id), str(later.intake.public_id)]
    assert [c["reference"] for c in cases] == [first.intake.reference, later.intake.reference]
    assert cases[1]["flags"] == later.intake.flag_codes
    assert cases[1]["urgency"] == later.intake.urgency
    assert cases[1]["red_flag_cleared_at"] is None
    assert set(cases[0]) == {
        "id", "reference", "submitted_at", "urgency", "flags", "red_flag_cleared_at", "linked_at"
    }  # fmt: skip
    # The cases' answers and triage results (the bulk of their rows) are not read.
    (read,) = [q["sql"] for q in ctx.captured_queries if "referralintake" in q["sql"]]
    assert "answers" not in read
    assert "triage_result" not in read


def test_detail_names_the_patients_cases_whose_red_flag_stands_on_a_specialty_referral(
    api, medical_reviewer
):
    """As the case page does (CLINICAL_DECISIONS, Red-flag clearance and reroutes 7): a
    chiropractic referral open when a later case of the patient went to urgent medical review
    with a red flag; a record system reading it saw nothing of it. Until a reviewer clears it,
    and on §4.4's three queues alone."""
    person = details(phone="07700 900331")
    (chiropractic,) = submit("V01", patient=person).referrals
    path = f"/api/v1/referrals/{chiropractic.public_id}"
    assert api.get(path).json()["red_flags_elsewhere"] == []
    before = api.get(path)["ETag"]
    emergency = submit("V09", patient=person)
    (general,) = submit("V24", patient=person).referrals
    said = api.get(path)
    assert said.json()["red_flags_elsewhere"] == [emergency.intake.reference]
    assert said["ETag"] != before  # what the detail says changed
    assert api.get(f"/api/v1/referrals/{general.public_id}").json()["red_flags_elsewhere"] == []
    intake_clear_red_flag(
        intake=emergency.intake, actor=medical_reviewer, reason="Examined: no emergency."
    )
    assert api.get(path).json()["red_flags_elsewhere"] == []


def _flagged(api: Api, **params: str) -> dict[tuple[str, str], bool]:
    """Every listed referral's (reference, queue) and red_flag_elsewhere, page after page."""
    flagged, url = {}, None
    while True:
        answer = (
            api.client.get(url, headers=api.headers)
            if url
            else api.get("/api/v1/referrals", limit=2, **params)
        )
        body = answer.json()
        flagged.update(
            {(r["reference"], r["queue"]): r["red_flag_elsewhere"] for r in body["results"]}
        )
        url = body["next"]
        if url is None:
            return flagged


def test_the_list_says_which_open_specialty_referrals_have_a_red_flag_standing_elsewhere(
    api, triage_lead, medical_reviewer
):
    """The detail's red_flags_elsewhere on each item of the list, as a boolean: a record system
    paging a chiropractic queue saw nothing of the patient's later red flag without reading
    every referral. True on an open referral of §4.4's three queues while the red flag stands;
    not on a closed one, general review, the review itself or another patient's, not after the
    clearance; on the first page and deeper, filtered or not, in the statements the list ran
    before (CLINICAL_DECISIONS, Red-flag clearance and reroutes 7)."""
    person = details(phone="07700 900334")
    three = submit("V22", patient=person)  # chiropractic, orthotic fitting, podiatry
    (podiatry,) = [r for r in three.referrals if r.queue == "podiatry"]
    referral_cancel(referral=podiatry, actor=triage_lead, reason="Seen elsewhere")
    general = submit("V24", patient=person)
    other = submit("V01", patient=details(family_name="Hughes", phone="07700 900335"))
    api.get("/api/v1/referrals")  # the token's first use stamps it
    statements = _count_queries(api, "/api/v1/referrals")
    assert not any(_flagged(api).values())

    emergency = submit("V09", patient=person)
    ref = three.intake.reference
    everything = _flagged(api)
    assert everything == {
        (ref, "chiropractic"): True,
        (ref, "orthotic_fitting"): True,
        (ref, "podiatry"): False,  # cancelled
        (general.intake.reference, "general_review"): False,
        (emergency.intake.reference, "urgent_medical_review"): False,
        (other.intake.reference, "chiropractic"): False,
    }
    assert _flagged(api, queue="chiropractic") == {
        (ref, "chiropractic"): True,
        (other.intake.reference, "chiropractic"): False,
    }
    assert _count_queries(api, "/api/v1/referrals") == statements == 3
    # As the serializer writes it, and the detail agrees.
    listed = selectors.with_red_flag_elsewhere(selectors.referral_list(user=triage_lead))
    expected = ReferralListItemSerializer(listed.select_related("rerouted_from"), many=True).data
    got = api.get("/api/v1/referrals", limit=200).json()["results"]
    assert got == json.loads(JSONRenderer().render(expected))
    for item in got:
        detail = api.get(f"/api/v1/referrals/{item['id']}").json()
        assert item["red_flag_elsewhere"] == bool(detail["red_flags_elsewhere"])

    intake_clear_red_flag(
        intake=emergency.intake, actor=medical_reviewer, reason="Examined: no emergency."
    )
    assert not any(_flagged(api).values())


def test_polling_by_updated_since_brings_a_referral_whose_red_flag_elsewhere_changed(
    api, medical_reviewer, django_capture_on_commit_callbacks
):
    """red_flag_elsewhere is read from the patient's other cases; a record system polling the
    list by updated_since (docs/API.md) never saw it turn true, nor false again: the red
    flag's announcement and its clearance stamp the patient's open specialty referrals."""
    person = details(phone="07700 900336")
    (chiropractic,) = [
        r for r in submit("V22", patient=person).referrals if r.queue == "chiropractic"
    ]
    general = submit("V24", patient=person).referrals[0]

    def polled(since: dt.datetime) -> dict[str, bool]:
        body = api.get("/api/v1/referrals", updated_since=since.isoformat(), limit=200).json()
        return {r["id"]: r["red_flag_elsewhere"] for r in body["results"]}

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):  # the announcement, as a worker
        emergency = submit("V09", patient=person)
    chiropractic.refresh_from_db()
    assert chiropractic.updated_at >= before
    seen = polled(before)
    assert seen[str(chiropractic.public_id)] is True
    assert str(general.public_id) not in seen  # not a specialty queue: nothing changed

    cleared_at = timezone.now()
    intake_clear_red_flag(  # releasing nothing: a release joining it would stamp it anyway
        intake=emergency.intake,
        actor=medical_reviewer,
        reason="Examined: no emergency.",
        release_queues=[],
    )
    assert polled(cleared_at)[str(chiropractic.public_id)] is False


def test_detail_shows_the_history(api):
    (referral,) = submit("V01").referrals
    api.post(f"/api/v1/referrals/{referral.public_id}/claim")
    body = api.get(f"/api/v1/referrals/{referral.public_id}").json()
    assert body["status"] == "claimed"
    assert [(e["kind"], e["to_status"]) for e in body["events"]] == [
        ("created", "new"),
        ("transition", "claimed"),
    ]
    assert body["events"][1]["actor"].startswith("api-")
    # Reading it is a look at patient data: audited, as the case's other reads are.
    (entry,) = AuditEntry.objects.filter(action="api_view")
    assert entry.object_id == str(referral.public_id)
    assert entry.patient_id == referral.patient_id
    assert entry.actor is not None
    assert entry.actor.username.startswith("api-")


def test_the_whole_pathway_through_the_api(api):
    (referral,) = submit("V01").referrals
    base = f"/api/v1/referrals/{referral.public_id}"
    for move, status in [
        ("claim", "claimed"),
        ("contact", "contacted"),
        ("schedule", "scheduled"),
        ("complete", "completed"),
    ]:
        response = api.post(f"{base}/{move}", {})
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == status
    assert Referral.objects.get().events.filter(kind=EventKind.TRANSITION).count() == 4


def test_release_puts_a_claimed_referral_back(api):
    (referral,) = submit("V01").referrals
    api.post(f"/api/v1/referrals/{referral.public_id}/claim")
    body = api.post(f"/api/v1/referrals/{referral.public_id}/release").json()
    assert (body["status"], body["assigned_to"]) == ("new", None)


@pytest.mark.parametrize(
    ("move", "status"),
    [("decline", "declined"), ("cancel", "cancelled"), ("entered-in-error", "entered_in_error")],
)
def test_closing_moves_need_a_reason(api, move, status):
    (referral,) = submit("V01").referrals
    path = f"/api/v1/referrals/{referral.public_id}/{move}"
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": False}):
        response = api.post(path, body)
        assert response.status_code == 400
        assert "reason" in response.json()["errors"]
    response = api.post(path, {"reason": "Patient moved away"})
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert response.json()["events"][-1]["reason"] == "Patient moved away"


def test_an_illegal_move_is_409_with_the_reason(api):
    (referral,) = submit("V01").referrals
    response = api.post(f"/api/v1/referrals/{referral.public_id}/complete")
    assert response.status_code == 409
    assert response.json() == {
        "errors": {
            "non_field_errors": ["A referral that is new (proposed) cannot be moved by “complete”."]
        }
    }


def test_each_moves_schema_and_the_guide_say_from_which_status_to_which(db):
    """Neither said it: an integrator learnt the status machine one 409 at a time (an API QA
    round). Both are checked against the machine itself."""
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    guide = (Path(__file__).parents[2] / "docs" / "API.md").read_text()
    rows = {
        move: sources
        for move, sources, _ in re.findall(
            r"^\| `([a-z-]+)` \| ([^|]+) \| ([^|]+) \|$", guide, re.MULTILINE
        )
    }
    for action, move in TRANSITIONS.items():
        if action == Action.CLEAR_RED_FLAG:
            continue  # POST /intakes/{id}/clear-red-flag, §5
        slug = action.replace("_", "-")
        said = schema["paths"][f"/api/v1/referrals/{{public_id}}/{slug}"]["post"]["description"]
        named = [status for status in Status.values if f"`{status}`" in said.split(" to ")[0]]
        assert set(named) == set(move.sources), (slug, said)
        assert f"to `{move.target}`" in said, slug
        assert (action in ASSIGNEE_ONLY) == ("Only by whoever claimed the referral" in said)
        if slug != "entered-in-error":
            assert set(re.findall(r"`([a-z_]+)`", rows[slug])) == set(move.sources), slug


def test_a_token_cannot_complete_a_referral_a_member_of_staff_claimed(api, chiropractor):
    """As the guide's status table says: contact, schedule, complete and release are the
    claimant's, and a token acts as its own user."""
    (referral,) = submit("V01").referrals
    referral_claim(referral=referral, actor=chiropractor)
    for move in ("contact", "release"):
        response = api.post(f"/api/v1/referrals/{referral.public_id}/{move}")
        assert response.status_code == 409
        assert response.json()["errors"]["non_field_errors"] == [
            "Only the clinician who claimed this referral can do that."
        ]


def test_claiming_twice_is_409_naming_who_has_it(api, make_token):
    (referral,) = submit("V01").referrals
    api.post(f"/api/v1/referrals/{referral.public_id}/claim")
    other = Api(make_token(Scope.REFERRALS_WRITE, Scope.REFERRALS_READ).raw)
    response = other.post(f"/api/v1/referrals/{referral.public_id}/claim")
    assert response.status_code == 409
    assert "already been claimed by api-" in response.json()["errors"]["non_field_errors"][0]


def test_reroute_answers_with_the_new_referral(api):
    (referral,) = submit("V01").referrals
    path = f"/api/v1/referrals/{referral.public_id}/reroute"
    assert "queue" in api.post(path, {"reason": "Foot problem"}).json()["errors"]
    assert api.post(path, {"queue": "chiropractic", "reason": "x"}).status_code == 409
    body = api.post(path, {"queue": "podiatry", "reason": "Foot problem"}).json()
    assert body["queue"] == "podiatry"
    assert body["rerouted_from"] == str(referral.public_id)
    referral.refresh_from_db()
    assert referral.status == Status.REROUTED


def test_a_rerouted_referrals_detail_names_the_referral_it_went_on_in(api, triage_lead):
    """Rerouted into the patient's open podiatry referral, which had come from general review:
    that one's rerouted_from names the review, and nothing named where this one went."""
    (chiropractic,) = submit("V01").referrals
    (feet,) = submit("V21").referrals  # the same patient, in podiatry
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    podiatry = referral_reroute(referral=review, actor=triage_lead, queue="podiatry", reason="Feet")
    referral_reroute(referral=chiropractic, actor=triage_lead, queue="podiatry", reason="Heel")
    body = api.get(f"/api/v1/referrals/{chiropractic.public_id}").json()
    assert body["rerouted_into"] == str(podiatry.public_id)
    joined = api.get(f"/api/v1/referrals/{podiatry.public_id}").json()
    assert (joined["rerouted_from"], joined["rerouted_into"]) == (str(review.public_id), None)
    assert joined["events"][-1]["kind"] == "rerouted_in"
    # Every referral rerouted into it, the first first (rerouted_from names the first only).
    assert joined["rerouted_in"] == [str(review.public_id), str(chiropractic.public_id)]
    assert body["rerouted_in"] == []


def test_a_reroute_out_of_the_tokens_queues_answers_with_the_old_referral(make_token):
    (referral,) = submit("V01").referrals
    api = Api(make_token(Scope.REFERRALS_WRITE, Scope.REFERRALS_READ, queues=("chiropractic",)).raw)
    body = api.post(
        f"/api/v1/referrals/{referral.public_id}/reroute", {"queue": "podiatry", "reason": "Feet"}
    ).json()
    assert body["id"] == str(referral.public_id)
    assert body["status"] == "rerouted"


def test_override_urgency_needs_urgency_and_reason(api):
    (referral,) = submit("V01").referrals
    path = f"/api/v1/referrals/{referral.public_id}/override-urgency"
    assert set(api.post(path, {}).json()["errors"]) == {"urgency", "reason"}
    assert api.post(path, {"urgency": "routine", "reason": "same"}).status_code == 409
    body = api.post(path, {"urgency": "urgent", "reason": "Worse on the phone"}).json()
    assert (body["urgency"], body["events"][-1]["kind"]) == ("urgent", "urgency_overridden")


def test_clearing_a_red_flag_releases_the_case(api):
    submission = submit("V09")
    path = f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag"
    assert api.post(path, {}).json() == {"errors": {"reason": ["This field is required."]}}
    response = api.post(path, {"reason": "Examined: no cauda equina"})
    assert response.status_code == 200
    body = response.json()
    assert body["red_flag_cleared_at"] is not None
    statuses = {(r["queue"], r["status"]) for r in body["referrals"]}
    assert statuses == {("urgent_medical_review", "completed"), ("chiropractic", "new")}
    again = api.post(path, {"reason": "again"})
    assert again.status_code == 409
    assert "already been cleared" in again.json()["errors"]["non_field_errors"][0]


def test_a_move_needs_referrals_read_as_well_as_referrals_write(make_token):
    """The answer is the referral after the move, which referrals:read guards: a token with
    referrals:write alone moved the referral and got it back, patient included (the last
    note's known gap)."""
    (referral,) = submit("V01").referrals
    path = f"/api/v1/referrals/{referral.public_id}/claim"
    writer = Api(make_token(Scope.REFERRALS_WRITE).raw)
    refused = writer.post(path, {"reason": "Mine"})
    assert refused.status_code == 403
    assert set(refused.json()) == {"errors"}
    assert str(referral.public_id) not in refused.content.decode()
    referral.refresh_from_db()
    assert (referral.status, referral.assigned_to) == ("new", None)
    both = Api(make_token(Scope.REFERRALS_WRITE, Scope.REFERRALS_READ).raw)
    answer = both.post(path, {"reason": "Mine"})
    assert answer.status_code == 200
    assert answer.json()["id"] == str(referral.public_id)


def test_clearing_a_red_flag_needs_intake_read_as_well_as_referrals_write(make_token):
    """The answer is the whole case (patient, answers, flags), which intake:read guards, and a
    reviewer clears what they have read: a token with referrals:write alone got the case back
    (a review)."""
    submission = submit("V09")
    path = f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag"
    writer = Api(make_token(Scope.REFERRALS_WRITE).raw)
    refused = writer.post(path, {"reason": "Examined"})
    assert refused.status_code == 403
    assert submission.intake.reference not in refused.content.decode()
    submission.intake.refresh_from_db()
    assert submission.intake.red_flag_cleared_at is None
    both = Api(make_token(Scope.REFERRALS_WRITE, Scope.INTAKE_READ).raw)
    assert both.post(path, {"reason": "Examined"}).status_code == 200


def test_a_queue_released_twice_is_released_once(api):
    """Two proposals for one queue broke the open-referral unique index: a 500 (a review)."""
    submission = submit("V09")
    path = f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag"
    body = {"reason": "Examined", "release_queues": ["podiatry", "podiatry", "chiropractic"]}
    response = api.post(path, body)
    assert response.status_code == 200
    released = sorted(r["queue"] for r in response.json()["referrals"] if r["status"] == "new")
    assert released == ["chiropractic", "podiatry"]


def test_a_clearance_with_a_single_value_for_a_list_says_what_to_send(api):
    submission = submit("V09")
    path = f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag"
    response = api.post(
        path, {"reason": "Examined", "release_queues": "podiatry", "with_intakes": "R4FENG7B"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "release_queues": ['Send a list of queues, e.g. ["podiatry"].'],
            "with_intakes": ['Send a list of case references, e.g. ["R4FENG7B"].'],
        }
    }


def test_clearing_needs_the_urgent_medical_review_queue(make_token):
    submission = submit("V09")
    # Even once the case is visible through its released chiropractic referral, only the
    # urgent medical review queue clears red flags.
    submission.intake.refresh_from_db()
    Api(make_token(*Scope.values).raw).post(
        f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag", {"reason": "Examined"}
    )
    chiro = Api(make_token(*Scope.values, queues=("chiropractic",)).raw)
    response = chiro.post(
        f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag", {"reason": "x"}
    )
    assert response.status_code == 404


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
@pytest.mark.parametrize(
    "params",
    [{"status": "cancelled"}, {"status": "cancelled", "queue": "chiropractic"}],
    ids=["one status", "one status in one queue"],
)
def test_on_sqlite_a_closed_status_is_read_in_page_order_by_its_index(api, params, triage_lead):
    """No partial index holds closed referrals: a filter by one of them walked every referral
    in page order to find it, a cost that grew with the history."""
    (referral,) = submit("V01").referrals
    referral_cancel(referral=referral, actor=triage_lead, reason="The patient withdrew.")
    with CaptureQueriesContext(connection) as ctx:
        response = api.get("/api/v1/referrals", **params)
    assert ids(response.json()["results"]) == [str(referral.public_id)]
    (page,) = [q["sql"] for q in ctx.captured_queries if '"referrals_referral"' in q["sql"]]
    plan = " ".join(sqlite_plan(page))
    assert "USING INDEX referral_closed_order_idx (status=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
