import pytest

from intake.assessment import assess
from referrals import links
from tests.clinic_fixtures import worked_cases

EXPECTED = {
    "V01": (links.BACK_ONLY, ()),
    "V06": (links.BACK_ONLY, ()),
    "V09": (links.BACK_ONLY, ()),
    "V11": (links.FOOT_ONLY, ()),
    "V13": (links.SEPARATE, ("FOOT_STRUCTURE",)),
    "V14": (links.BACK_ONLY, ("FOOT_STRUCTURE",)),
    "V15": (links.FOOT_TO_BACK, ()),
    "V17": (links.FOOT_ONLY, ()),
    "V21": (links.FOOT_ONLY, ()),
    "V22": (links.BACK_TO_FOOT, ("FOOTWEAR_RELATED",)),
    "V24": (links.NEITHER, ()),
    "V37": (links.BACK_ONLY, ()),
}


@pytest.mark.parametrize("case", worked_cases(), ids=lambda c: c["id"][:3])
def test_every_worked_case_gets_the_right_link_summary(case):
    result = assess(case["answers"])
    summary = links.link_summary([f["code"] for f in result["flags"]], case["answers"])
    assert (summary.kind, summary.contributing) == EXPECTED[case["id"][:3]]


def test_every_worked_case_is_in_the_table():
    assert {c["id"][:3] for c in worked_cases()} == set(EXPECTED)


@pytest.mark.parametrize(
    ("flags", "numbness", "kind"),
    [
        ({"SCIATIC_PATTERN", "FOOT_PAIN"}, [], links.BACK_TO_FOOT),
        ({"L5_RADICULOPATHY_SIGNS", "BACK_PAIN"}, ["shin_and_top_of_foot"], links.BACK_TO_FOOT),
        ({"S1_RADICULOPATHY_SIGNS"}, ["outer_foot_and_sole"], links.BACK_TO_FOOT),
        ({"NEUROGENIC_CLAUDICATION", "FOOT_PAIN"}, [], links.BACK_TO_FOOT),
        # The sock area is a neuropathy pattern, not the back's.
        ({"SCIATIC_PATTERN", "BACK_PAIN"}, ["both_feet_sock_area"], links.BACK_ONLY),
        ({"SCIATIC_PATTERN", "BACK_PAIN"}, ["inner_shin"], links.BACK_ONLY),
        ({"GAIT_COMPENSATION", "FOOT_PAIN", "BACK_PAIN"}, [], links.FOOT_TO_BACK),
        ({"GAIT_COMPENSATION", "SCIATIC_PATTERN", "FOOT_PAIN"}, [], links.BOTH),
        ({"BACK_PAIN", "FOOT_PAIN"}, [], links.SEPARATE),
        ({"FOOT_PAIN"}, [], links.FOOT_ONLY),
        ({"BACK_PAIN"}, [], links.BACK_ONLY),
        (set(), ["shin_and_top_of_foot"], links.NEITHER),
    ],
)
def test_link_rules(flags, numbness, kind):
    assert links.link_kind(flags, {"numbness_areas": numbness}) == kind


def test_footwear_with_back_pain_is_a_contributing_factor_never_a_link():
    summary = links.link_summary({"BACK_PAIN", "FOOTWEAR_RELATED", "FOOT_STRUCTURE"}, {})
    assert summary.kind == links.BACK_ONLY
    assert summary.contributing == ("FOOTWEAR_RELATED", "FOOT_STRUCTURE")
    assert "not a shown cause" in summary.as_dict()["contributing_sentence"]
    assert links.link_summary({"FOOTWEAR_RELATED", "FOOT_PAIN"}, {}).contributing == ()


@pytest.mark.django_db
@pytest.mark.parametrize("case", [c["id"][:3] for c in worked_cases()])
def test_the_stored_link_kind_is_the_link_summary_of_every_worked_case(case):
    from tests.clinic_fixtures import submit

    intake = submit(case).intake
    intake.refresh_from_db()
    assert intake.link_kind == links.link_summary(intake.flag_codes, intake.answers).kind
    assert intake.link_kind == EXPECTED[case][0]


@pytest.mark.django_db
def test_the_migration_backfills_the_link_kind_of_existing_cases():
    from importlib import import_module

    from django.apps import apps

    from intake.models import Intake
    from tests.clinic_fixtures import details, submit

    ids = {
        case: submit(case, patient=details(phone=f"07700 90{i:04d}")).intake.pk
        for i, case in enumerate(("V15", "V22", "V13"))
    }
    Intake.objects.update(link_kind=links.NEITHER)
    migration = import_module("intake.migrations.0004_intake_link_kind")
    migration.backfill(apps, None)
    stored = dict(Intake.objects.values_list("pk", "link_kind"))
    assert {case: stored[pk] for case, pk in ids.items()} == {
        "V15": links.FOOT_TO_BACK,
        "V22": links.BACK_TO_FOOT,
        "V13": links.SEPARATE,
    }
