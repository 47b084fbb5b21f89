"""``{% staff_disclaimer cl %}``: the §7 staff text above a list of triage results."""

from typing import Any

from django import template

from intake.messages import staff_disclaimer_for
from intake.models import Intake
from intake.triage import RULESET_VERSION
from referrals.models import Referral

register = template.Library()


def _version(row: Any) -> str | None:
    """The ruleset version of a row as the lists hold it: the queue page's ``.values()`` row,
    a referral (its intake selected with it) or an intake."""
    if isinstance(row, dict):
        return row.get("intake__ruleset_version")
    if isinstance(row, Referral):
        return row.intake.ruleset_version
    if isinstance(row, Intake):
        return row.ruleset_version
    return None


@register.inclusion_tag("admin/referrals/disclaimer.html")
def staff_disclaimer(cl: Any) -> dict[str, str]:
    """Spec §7, "show on every triage view": the page's flags, urgencies and queues come from
    the ruleset versions named, those of the rows shown (docs/CLINICAL_DECISIONS.md)."""
    versions = (_version(row) for row in cl.result_list)
    return {"disclaimer": staff_disclaimer_for(versions, current=RULESET_VERSION)}
