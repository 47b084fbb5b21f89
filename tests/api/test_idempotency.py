"""Idempotency-Key: retries replay the first response and store nothing; races included."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from intake.models import Intake
from referrals.models import IdempotencyRecord
from tests.api.conftest import Api, intake_body


@pytest.mark.django_db
def test_a_retry_with_the_same_key_and_body_replays_the_first_response(api):
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/api/v1/intakes", intake_body("V09"), headers=headers)
    again = api.post("/api/v1/intakes", intake_body("V09"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Intake.objects.count() == 1
    assert IdempotencyRecord.objects.get().response_status == 201


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409(api):
    headers = {"Idempotency-Key": "order-42"}
    api.post("/api/v1/intakes", intake_body("V09"), headers=headers)
    response = api.post("/api/v1/intakes", intake_body("V01"), headers=headers)
    assert response.status_code == 409
    assert "different body" in response.json()["errors"]["non_field_errors"][0]
    assert Intake.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("refused_by", ["the answers' checks", "the outer checks"])
def test_a_refused_submission_keeps_nothing_and_the_corrected_body_goes_under_the_same_key(
    api, refused_by
):
    """A refusal by the answers' checks was kept (its corrected body then a 409 "different
    body"), one by the outer checks was not (a review): neither is kept now."""
    headers = {"Idempotency-Key": "order-8812"}
    wrong = intake_body()
    if refused_by == "the answers' checks":
        wrong["answers"]["pain_now_nrs"] = 99
    else:
        del wrong["preferred_contact"]
    for _ in range(2):
        refused = api.post("/api/v1/intakes", wrong, headers=headers)
        assert refused.status_code == 400
        assert "Idempotent-Replayed" not in refused
    assert not IdempotencyRecord.objects.exists()
    created = api.post("/api/v1/intakes", intake_body(), headers=headers)
    assert created.status_code == 201
    again = api.post("/api/v1/intakes", intake_body(), headers=headers)
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json() == created.json()
    assert Intake.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_one_token(api, make_token):
    headers = {"Idempotency-Key": "shared"}
    api.post("/api/v1/intakes", intake_body("V01"), headers=headers)
    other = Api(make_token().raw)
    assert other.post("/api/v1/intakes", intake_body("V01"), headers=headers).status_code == 201
    assert Intake.objects.count() == 2


@pytest.mark.django_db
def test_without_a_key_each_request_is_a_new_submission(api):
    api.post("/api/v1/intakes", intake_body("V01"))
    api.post("/api/v1/intakes", intake_body("V01"))
    assert Intake.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_key_is_400(api, key):
    response = api.post("/api/v1/intakes", intake_body(), headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_racing_retries_store_one_intake_and_get_the_same_answer(integration):
    assert connection.vendor == "postgresql"
    for attempt in range(3):
        headers = {"Idempotency-Key": f"race-{attempt}"}
        body = intake_body("V09")
        barrier = threading.Barrier(2)
        responses: list = [None, None]

        def send(index: int, body=body, headers=headers, barrier=barrier, out=responses) -> None:
            try:
                client = Api(integration.raw)
                barrier.wait()
                out[index] = client.post("/api/v1/intakes", body, headers=headers)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert [r.status_code for r in responses] == [201, 201]
        assert responses[0].json() == responses[1].json()
        assert sorted(r.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
        assert Intake.objects.filter(public_id=responses[0].json()["id"]).count() == 1
    assert Intake.objects.count() == 3
