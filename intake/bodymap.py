"""Body map drawn on the server as SVG: front, back and soles, one region per pain code.

Pure Python, no external images or scripts. One drawing serves the staff case page, the API
(`body-map.svg`) and the patient form's clickable map; only staff see nerve-root names (spec §1 D).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from html import escape
from typing import Any, Final

from intake.questionnaire import FIELD_BY_CODE

# (panel, shape) pairs; shapes are SVG element strings without styling. Front view: the
# patient's right is on the viewer's left; back view and soles: the patient's left is on the left.
Shape = str

# The light colours, which the API's standalone SVG is drawn in (it has no page theme). Each
# part also carries a class, by which the staff admin's style sheet redraws it in the admin's
# theme (referrals/static/referrals/admin.css; tests/referrals/test_admin_contrast.py holds both
# themes to WCAG 1.4.11's 3:1 against the colours beside each part). Lines that cross other
# marks (the numbness hatching and outlines, the radiating line) run on a halo of skin colour,
# so they keep their contrast over a pain region as well as over skin.
PAIN_FILL: Final = "#c62828"
PAIN_OPACITY: Final = 0.75
NUMB_STROKE: Final = "#1565c0"
RADIATING_STROKE: Final = "#6a1b9a"
SKIN: Final = "#eef0f2"
OUTLINE: Final = "#5f6b76"
HALO_WIDTH: Final = 3  # added to the width of the line it runs under: 1.5 on either side


def _e(cx: float, cy: float, rx: float, ry: float) -> Shape:
    return f'<ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}"/>'


def _r(x: float, y: float, w: float, h: float, r: float = 6) -> Shape:
    return f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{r}"/>'


def _p(d: str) -> Shape:
    return f'<path d="{d}"/>'


def _pair_e(cx: float, cy: float, rx: float, ry: float) -> list[Shape]:
    """An ellipse on both legs of a figure centred at x=100 (cx is the left one)."""
    return [_e(cx, cy, rx, ry), _e(200 - cx, cy, rx, ry)]


def _pair_r(x: float, y: float, w: float, h: float, r: float = 6) -> list[Shape]:
    return [_r(x, y, w, h, r), _r(200 - x - w, y, w, h, r)]


TOP: Final = 22  # room for the panel titles above the heads
FRONT_X: Final = 0
BACK_X: Final = 210
SOLES_X: Final = 420

SILHOUETTE: Final[list[Shape]] = [
    '<circle cx="100" cy="34" r="21"/>',
    _r(90, 52, 20, 16, 4),
    _r(60, 66, 80, 138, 18),
    _r(38, 72, 20, 130, 10),
    _r(142, 72, 20, 130, 10),
    _r(62, 196, 76, 46, 14),
    *_pair_r(64, 236, 34, 108, 12),
    *_pair_r(68, 344, 28, 92, 10),
    *_pair_e(81, 452, 15, 10),
]

SOLE_OUTLINE: Final[list[Shape]] = [
    _p(
        "M60 330 C40 330 36 360 40 390 C44 420 48 450 62 458 C76 452 82 420 80 390 "
        "C80 360 80 330 60 330 Z"
    ),
    _p(
        "M140 330 C160 330 164 360 160 390 C156 420 152 450 138 458 C124 452 118 420 120 390 "
        "C120 360 120 330 140 330 Z"
    ),
]

# Pain regions: code -> list of (panel x offset, shape)
PAIN_REGIONS: Final[dict[str, list[tuple[int, Shape]]]] = {
    "neck_shoulder": [(FRONT_X, _r(60, 54, 80, 24, 10)), (BACK_X, _r(60, 54, 80, 24, 10))],
    "mid_upper_back": [(BACK_X, _r(68, 80, 64, 76, 10))],
    "lower_back": [(BACK_X, _r(70, 158, 60, 40, 10))],
    "buttock": [(BACK_X, s) for s in _pair_e(83, 222, 18, 17)],
    "hip": [(FRONT_X, s) for s in _pair_e(76, 218, 13, 16)],
    "back_of_thigh": [(BACK_X, s) for s in _pair_r(66, 244, 30, 86, 10)],
    "knee": [(FRONT_X, s) for s in _pair_e(81, 340, 15, 12)]
    + [(BACK_X, s) for s in _pair_e(81, 340, 15, 12)],
    "lower_leg": [(FRONT_X, s) for s in _pair_r(70, 355, 24, 70, 9)]
    + [(BACK_X, s) for s in _pair_r(70, 355, 24, 70, 9)],
    "ankle": [(FRONT_X, s) for s in _pair_e(82, 432, 12, 7)]
    + [(BACK_X, s) for s in _pair_e(82, 432, 12, 7)],
    "heel": [(BACK_X, s) for s in _pair_e(82, 452, 11, 8)]
    + [(SOLES_X, _e(63, 440, 13, 13)), (SOLES_X, _e(137, 440, 13, 13))],
    "arch": [(SOLES_X, _e(64, 400, 11, 18)), (SOLES_X, _e(136, 400, 11, 18))],
    "ball_of_foot": [(SOLES_X, _r(44, 352, 36, 22, 10)), (SOLES_X, _r(120, 352, 36, 22, 10))],
    "top_of_foot": [(FRONT_X, s) for s in _pair_e(81, 448, 13, 7)],
    "toes": [(FRONT_X, s) for s in _pair_r(70, 455, 22, 8, 4)]
    + [(SOLES_X, _r(44, 330, 36, 18, 8)), (SOLES_X, _r(120, 330, 36, 18, 8))],
}

# Numbness zones, drawn where the nerve supplies the skin.
NUMB_REGIONS: Final[dict[str, list[tuple[int, Shape]]]] = {
    # L5: front and outer shin, top of the foot and the big toe.
    "shin_and_top_of_foot": [
        (FRONT_X, _p("M68 365 L78 365 L84 440 L92 452 L88 462 L72 458 L70 440 Z")),
        (FRONT_X, _p("M132 365 L122 365 L116 440 L108 452 L112 462 L128 458 L130 440 Z")),
    ],
    # S1: outer edge of the foot, the little toe and the sole.
    "outer_foot_and_sole": [
        (SOLES_X, _p("M42 340 C36 370 40 420 50 450 L62 456 L58 400 L54 340 Z")),
        (SOLES_X, _p("M158 340 C164 370 160 420 150 450 L138 456 L142 400 L146 340 Z")),
        (BACK_X, _e(72, 452, 6, 8)),
        (BACK_X, _e(128, 452, 6, 8)),
    ],
    # L4: inner side of the shin.
    "inner_shin": [
        (FRONT_X, _r(86, 360, 9, 68, 4)),
        (FRONT_X, _r(105, 360, 9, 68, 4)),
    ],
    # Polyneuropathy: both feet, as a sock would cover them.
    "both_feet_sock_area": [(FRONT_X, s) for s in _pair_r(66, 412, 32, 56, 8)]
    + [(SOLES_X, s) for s in SOLE_OUTLINE],
}

NUMB_LABELS_STAFF: Final = {
    "shin_and_top_of_foot": "L5",
    "outer_foot_and_sole": "S1",
    "inner_shin": "L4",
    "both_feet_sock_area": "sock area (polyneuropathy)",
}

# Pain radiating below the knee, on the back view: buttock, back of the thigh, calf, heel.
RADIATING_PATH: Final = {
    "left": "M83 222 C80 260 78 300 80 340 C80 380 82 420 82 452",
    "right": "M117 222 C120 260 122 300 120 340 C120 380 118 420 118 452",
}


def _label(field: str, code: str, *, staff: bool) -> str:
    for choice in FIELD_BY_CODE[field].choices:
        if choice.code == code:
            if staff and choice.staff_label:
                return f"{choice.label} [{choice.staff_label}]"
            return choice.label
    return code


@dataclass(frozen=True)
class BodyMapInput:
    pain_regions: Collection[str] = ()
    numbness_areas: Collection[str] = ()
    pain_below_knee_side: str = "none"


def text_alternative(data: BodyMapInput, *, staff: bool) -> list[str]:
    lines = []
    pain = [_label("pain_regions", c, staff=staff) for c in PAIN_REGIONS if c in data.pain_regions]
    lines.append("Pain: " + (", ".join(pain) if pain else "none reported") + ".")
    numb_codes = [
        c for c in FIELD_BY_CODE["numbness_areas"].choice_codes if c in data.numbness_areas
    ]
    numb_codes.sort(key=[c.code for c in FIELD_BY_CODE["numbness_areas"].choices].index)
    numb = [_label("numbness_areas", c, staff=staff) for c in numb_codes]
    lines.append("Numbness: " + (", ".join(numb) if numb else "none reported") + ".")
    side = data.pain_below_knee_side
    if side and side != "none":
        where = {"left": "the left leg", "right": "the right leg", "both": "both legs"}[side]
        lines.append(f"Pain travels from the back down {where} to below the knee.")
    return lines


def _panel_title(x: int, title: str, sides: tuple[str, str] | None) -> str:
    parts = [
        f'<text x="{x + 100}" y="16" text-anchor="middle" font-size="14" font-weight="600" '
        f'fill="currentColor">{escape(title)}</text>'
    ]
    if sides:
        parts.append(
            f'<text x="{x + 8}" y="505" font-size="11" fill="currentColor">{sides[0]}</text>'
            f'<text x="{x + 192}" y="505" font-size="11" text-anchor="end" '
            f'fill="currentColor">{sides[1]}</text>'
        )
    return "".join(parts)


def _group(shapes: Iterable[tuple[int, Shape]], attrs: str) -> str:
    inner = "".join(f'<g transform="translate({x} {TOP})">{shape}</g>' for x, shape in shapes)
    return f"<g {attrs}>{inner}</g>"


def render(
    data: BodyMapInput,
    *,
    staff: bool,
    id_prefix: str = "bodymap",
    interactive: str | None = None,
) -> str:
    """The SVG for one intake; `interactive` ("pain_regions" or "numbness_areas") draws the
    patient form's clickable map for that question instead of a read-only picture."""
    p = escape(id_prefix)
    selected_pain = set(data.pain_regions)
    selected_numb = set(data.numbness_areas)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 630 545" class="body-map" '
        + (
            f'role="group" aria-label="{escape(FIELD_BY_CODE[interactive].label)}">'
            if interactive
            else f'role="img" aria-labelledby="{p}-title {p}-desc">'
        ),
        f'<title id="{p}-title">Body map</title>',
        f'<desc id="{p}-desc">{escape(" ".join(text_alternative(data, staff=staff)))}</desc>',
        "<defs>"
        f'<pattern id="{p}-numb" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)">'
        f'<line class="map-halo" x1="4" y1="0" x2="4" y2="8" stroke="{SKIN}" '
        f'stroke-width="{2 + HALO_WIDTH}"/>'
        f'<line class="numb-hatch" x1="4" y1="0" x2="4" y2="8" stroke="{NUMB_STROKE}" '
        'stroke-width="2"/>'
        "</pattern></defs>",
        _panel_title(FRONT_X, "Front", ("R", "L")),
        _panel_title(BACK_X, "Back", ("L", "R")),
        _panel_title(SOLES_X, "Soles", ("L", "R")),
        _group(
            [(FRONT_X, s) for s in SILHOUETTE] + [(BACK_X, s) for s in SILHOUETTE],
            f'class="map-skin" fill="{SKIN}" stroke="{OUTLINE}" stroke-width="1.5" '
            'aria-hidden="true"',
        ),
        _group(
            [(SOLES_X, s) for s in SOLE_OUTLINE],
            f'class="map-skin" fill="{SKIN}" stroke="{OUTLINE}" stroke-width="1.5" '
            'aria-hidden="true"',
        ),
    ]
    if interactive:
        out.append(_interactive_regions(interactive, selected_pain | selected_numb, p))
    else:
        for code, shapes in PAIN_REGIONS.items():
            if code in selected_pain:
                out.append(
                    _group(
                        shapes,
                        f'class="pain" data-code="{code}" fill="{PAIN_FILL}" '
                        f'fill-opacity="{PAIN_OPACITY}" stroke="{PAIN_FILL}" aria-hidden="true"',
                    )
                )
        for code, shapes in NUMB_REGIONS.items():
            if code in selected_numb:
                out.append(
                    _group(
                        shapes,
                        f'class="map-halo" fill="none" stroke="{SKIN}" '
                        f'stroke-width="{1.5 + HALO_WIDTH}" aria-hidden="true"',
                    )
                )
                out.append(
                    _group(
                        shapes,
                        f'class="numb" data-code="{code}" fill="url(#{p}-numb)" '
                        f'stroke="{NUMB_STROKE}" stroke-width="1.5" aria-hidden="true"',
                    )
                )
        sides = {"left": ["left"], "right": ["right"], "both": ["left", "right"]}.get(
            data.pain_below_knee_side or "none", []
        )
        for side in sides:
            out.append(
                f'<g transform="translate({BACK_X} {TOP})" aria-hidden="true">'
                f'<path class="map-halo" d="{RADIATING_PATH[side]}" fill="none" '
                f'stroke="{SKIN}" stroke-width="{4 + HALO_WIDTH}"/>'
                f'<path class="radiating" data-side="{side}" d="{RADIATING_PATH[side]}" '
                f'fill="none" stroke="{RADIATING_STROKE}" stroke-width="4" '
                'stroke-dasharray="8 5"/></g>'
            )
        if staff:
            out.append(_staff_root_labels(selected_numb))
        out.append(_legend(staff=staff, radiating=bool(sides), prefix=p))
    out.append("</svg>")
    return "".join(out)


def _interactive_regions(field: str, selected: set[str], prefix: str) -> str:
    regions = PAIN_REGIONS if field == "pain_regions" else NUMB_REGIONS
    parts = []
    for code, shapes in regions.items():
        label = escape(_label(field, code, staff=False))
        on = code in selected
        parts.append(
            _group(
                shapes,
                f'class="map-region{" is-on" if on else ""}" data-field="{field}" '
                f'data-code="{code}" role="checkbox" tabindex="0" '
                f'aria-checked="{"true" if on else "false"}" aria-label="{label}" '
                f'id="{prefix}-{code}"',
            )
        )
    return "".join(parts)


def _staff_root_labels(selected: set[str]) -> str:
    spots = {
        "shin_and_top_of_foot": (FRONT_X + 40, 395),
        "inner_shin": (FRONT_X + 100, 352),
        "outer_foot_and_sole": (SOLES_X + 22, 470),
    }
    parts = []
    for code, (x, y) in spots.items():
        if code in selected:
            parts.append(
                f'<text class="root-label" x="{x}" y="{y + TOP}" font-size="11" '
                f'font-weight="700" text-anchor="middle" fill="{NUMB_STROKE}">'
                f"{NUMB_LABELS_STAFF[code]}</text>"
            )
    return "".join(parts)


def _legend(*, staff: bool, radiating: bool, prefix: str) -> str:
    y = 530
    items = [
        f'<rect class="legend-pain" x="10" y="{y - 10}" width="14" height="12" '
        f'fill="{PAIN_FILL}" fill-opacity="{PAIN_OPACITY}"/>'
        f'<text x="30" y="{y}" font-size="12" fill="currentColor">Pain</text>',
        f'<rect class="legend-numb" x="90" y="{y - 10}" width="14" height="12" '
        f'fill="url(#{prefix}-numb)" stroke="{NUMB_STROKE}"/>'
        f'<text x="110" y="{y}" font-size="12" fill="currentColor">'
        f"Numbness{' (L4, L5, S1 zones labelled)' if staff else ''}</text>",
    ]
    if radiating:
        items.append(
            f'<line class="legend-radiating" x1="370" y1="{y - 4}" x2="400" y2="{y - 4}" '
            f'stroke="{RADIATING_STROKE}" stroke-width="4" stroke-dasharray="8 5"/>'
            f'<text x="406" y="{y}" font-size="12" fill="currentColor">'
            "Pain travelling below the knee</text>"
        )
    return f'<g class="legend">{"".join(items)}</g>'


def body_map_svg(intake: Any, *, staff: bool) -> str:
    """The map of one stored intake, marked safe: every dynamic part above is escaped."""
    from django.utils.safestring import mark_safe

    answers = intake.answers
    data = BodyMapInput(
        answers.get("pain_regions") or (),
        answers.get("numbness_areas") or (),
        answers.get("pain_below_knee_side") or "none",
    )
    return mark_safe(render(data, staff=staff, id_prefix=f"map-{intake.reference}"))  # noqa: S308
