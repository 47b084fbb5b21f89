"""clinic.instances.unsaved: the same instance as the model's constructor, made faster."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db.models import Model, signals

from clinic.instances import unsaved
from intake.models import Intake, Patient
from referrals.models import Referral, ReferralEvent

AT = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)
# Callable defaults give each instance its own value: compared by type, not equality.
RANDOM_DEFAULTS = {"public_id": uuid.UUID}


def _patient() -> dict[str, Any]:
    return {
        "given_name": "Ada",
        "family_name": "Okafor",
        "family_name_key": "okafor",
        "date_of_birth": dt.date(1980, 1, 2),
        "phone": "07700 900123",
        "phone_key": "447700900123",
        "email": "",
        "email_key": "",
        "preferred_contact": "phone",
    }


def _state(obj: Model) -> dict[str, Any]:
    state = {k: v for k, v in obj.__dict__.items() if k != "_state"}
    for name, kind in RANDOM_DEFAULTS.items():
        if name in state:
            assert isinstance(state.pop(name), kind)
    return state


def _same(model: type[Model], values: dict[str, Any]) -> Model:
    fast, slow = unsaved(model, **values), model(**values)
    assert type(fast) is type(slow)
    assert list(fast.__dict__) == list(slow.__dict__)  # the same attributes, in the same order
    assert _state(fast) == _state(slow)
    assert fast._state.db == slow._state.db
    assert fast._state.adding is slow._state.adding is True
    cached, expected = fast._state.fields_cache, slow._state.fields_cache
    assert cached.keys() == expected.keys()
    assert all(cached[key] is expected[key] for key in cached)
    return fast


def test_each_builders_form_gives_what_the_constructor_gives():
    patient = _same(Patient, _patient())
    intake = _same(
        Intake,
        {"patient": patient, "source": "api", "answers": {"a": 1}, "submitted_at": AT},
    )
    referral = _same(
        Referral,
        {"patient_id": 7, "intake": intake, "queue": "podiatry", "due_at": AT, "created_by": None},
    )
    _same(
        ReferralEvent,
        {"referral": referral, "kind": "created", "actor": None, "data": {"intake": "X"}},
    )


def test_defaults_are_fresh_per_instance():
    one, two = unsaved(Intake, source="api"), unsaved(Intake, source="api")
    assert one.public_id != two.public_id
    assert one.answers is not two.answers or one.answers is None


def test_the_constructor_is_used_when_an_init_signal_listens():
    seen: list[Model] = []

    def receiver(sender: type[Model], instance: Model, **kwargs: Any) -> None:
        seen.append(instance)

    signals.post_init.connect(receiver, sender=Patient)
    try:
        patient = unsaved(Patient, **_patient())
    finally:
        signals.post_init.disconnect(receiver, sender=Patient)
    assert seen == [patient]


def test_an_unknown_keyword_is_refused_like_the_constructor():
    with pytest.raises(TypeError, match="unexpected keyword"):
        unsaved(Patient, nickname="Ada")


def test_a_related_object_of_another_model_is_refused_like_the_constructor():
    wrong: Any = Patient(**_patient())  # the mistake under test
    with pytest.raises(ValueError, match='must be a "Intake" instance'):
        Referral(intake=wrong)
    with pytest.raises(ValueError, match='must be a "Intake" instance'):
        unsaved(Referral, intake=wrong)


def test_a_related_object_of_another_database_is_refused_like_the_constructor():
    patient = Patient(**_patient())
    patient._state.db = "other"
    intake = Intake()
    intake._state.db = "default"
    with pytest.raises(ValueError, match="router prevents"):
        Referral(patient=patient, intake=intake)
    with pytest.raises(ValueError, match="router prevents"):
        unsaved(Referral, patient=patient, intake=intake)


def test_a_database_router_sees_the_related_objects(settings: Any):
    seen: list[tuple[Model, Model]] = []

    class Router:
        def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
            seen.append((obj1, obj2))
            return True

    settings.DATABASE_ROUTERS = [Router()]
    patient = Patient(**_patient())
    intake = _same(Intake, {"patient": patient, "source": "api"})
    # unsaved's instance, then the constructor's: both asked the router.
    assert [obj1 for obj1, _ in seen] == [patient, patient]
    assert seen[0][1] is intake
