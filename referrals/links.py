"""Is this foot pain coming from the back, or this back pain from the feet? (issue 9)

Pure, beside the routing: reads the flags and two answers, never the clock or the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

NERVE_ROOT_FLAGS: Final = frozenset(
    {
        "SCIATIC_PATTERN",
        "L5_RADICULOPATHY_SIGNS",
        "S1_RADICULOPATHY_SIGNS",
        "NEUROGENIC_CLAUDICATION",
    }
)
# The L5 and S1 skin zones; the sock area is a neuropathy pattern, not the back's (spec §3.2).
ROOT_NUMBNESS: Final = frozenset({"shin_and_top_of_foot", "outer_foot_and_sole"})
CONTRIBUTING_FLAGS: Final = ("FOOTWEAR_RELATED", "FOOT_STRUCTURE")

BACK_TO_FOOT: Final = "back_to_foot"
FOOT_TO_BACK: Final = "foot_to_back"
BOTH: Final = "both"
SEPARATE: Final = "separate"
FOOT_ONLY: Final = "foot_only"
BACK_ONLY: Final = "back_only"
NEITHER: Final = "neither"

# The kinds that link foot and back, one way or both, or that say they are separate: the admin
# index's foot-and-back columns (referrals.dashboard), and the referrals indexed by kind.
LINKED_KINDS: Final = (BACK_TO_FOOT, FOOT_TO_BACK, BOTH, SEPARATE)

KINDS: Final[Mapping[str, tuple[str, str]]] = {
    # kind: (short label, arrow icon)
    BACK_TO_FOOT: ("Back → foot", "↓"),
    FOOT_TO_BACK: ("Foot → back", "↑"),
    BOTH: ("Both ways", "⇅"),
    SEPARATE: ("Separate problems", "∥"),
    FOOT_ONLY: ("Foot only", "·"),
    BACK_ONLY: ("Back only", "·"),
    NEITHER: ("Neither", "·"),
}

SENTENCES: Final[Mapping[str, str]] = {
    BACK_TO_FOOT: (
        "The foot or leg symptoms may come from the back: a nerve-root pattern comes with foot "
        "pain or numbness in the L5 or S1 zone."
    ),
    FOOT_TO_BACK: (
        "The back, hip or knee pain may follow the foot problem: the patient walks differently "
        "since it began."
    ),
    BOTH: (
        "Links both ways: a nerve-root pattern reaches the foot, and the patient walks "
        "differently because of a foot problem."
    ),
    SEPARATE: (
        "Foot pain and back pain are both reported, with no sign that one comes from the other."
    ),
    FOOT_ONLY: "Foot problem only: nothing points to the back.",
    BACK_ONLY: "Back or nerve-root problem only: no foot pain reported.",
    NEITHER: "Neither foot pain nor back pain is reported.",
}

CONTRIBUTING_SENTENCE: Final = (
    "Footwear or foot structure is a possible contributing factor to the back pain, not a "
    "shown cause (the evidence for a causal link is weak)."
)


@dataclass(frozen=True)
class LinkSummary:
    kind: str
    sentence: str
    contributing: tuple[str, ...]

    @property
    def label(self) -> str:
        return KINDS[self.kind][0]

    @property
    def icon(self) -> str:
        return KINDS[self.kind][1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "sentence": self.sentence,
            "contributing_factors": list(self.contributing),
            "contributing_sentence": CONTRIBUTING_SENTENCE if self.contributing else "",
        }


def link_kind(flag_codes: Collection[str], answers: Mapping[str, Any]) -> str:
    flags = frozenset(flag_codes)
    nerve_root = bool(flags & NERVE_ROOT_FLAGS)
    foot_pain = "FOOT_PAIN" in flags
    back_pain = "BACK_PAIN" in flags
    back_to_foot = nerve_root and (
        foot_pain or bool(ROOT_NUMBNESS & set(answers.get("numbness_areas") or ()))
    )
    foot_to_back = "GAIT_COMPENSATION" in flags
    if back_to_foot and foot_to_back:
        return BOTH
    if back_to_foot:
        return BACK_TO_FOOT
    if foot_to_back:
        return FOOT_TO_BACK
    if back_pain and foot_pain:
        return SEPARATE
    if foot_pain:
        return FOOT_ONLY
    # A nerve-root pattern without a ticked back region still starts in the back
    # (docs/CLINICAL_DECISIONS.md, "Foot and back links").
    if back_pain or nerve_root:
        return BACK_ONLY
    return NEITHER


def link_summary(flag_codes: Collection[str], answers: Mapping[str, Any]) -> LinkSummary:
    flags = frozenset(flag_codes)
    return stored_link_summary(link_kind(flags, answers), flags)


def stored_link_summary(kind: str, flag_codes: Collection[str]) -> LinkSummary:
    """The summary from an intake's stored ``link_kind`` (always ``link_kind(flags, answers)``):
    lists need not read the answers."""
    flags = frozenset(flag_codes)
    contributing = (
        tuple(code for code in CONTRIBUTING_FLAGS if code in flags) if "BACK_PAIN" in flags else ()
    )
    return _summary(kind, contributing)


@cache
def _summary(kind: str, contributing: tuple[str, ...]) -> LinkSummary:
    # Seven kinds times four contributing sets: every list row shares one of these.
    return LinkSummary(kind=kind, sentence=SENTENCES[kind], contributing=contributing)
