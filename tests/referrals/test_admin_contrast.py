"""Every colour referrals/admin.css sets keeps WCAG AA contrast (4.5:1 for text, 3:1 for the
graphics needed to read the dashboard's bars and the body map, WCAG 1.4.11) in the admin's light
and dark themes, however the theme was chosen: the toggle (``html[data-theme]``: light, dark or
auto) and the browser's preference (``prefers-color-scheme``), with or without script.

No browser: the three style sheets are read as the admin loads them (Django's base.css, then
dark_mode.css, then ours), the custom properties on the root are cascaded for each way of choosing
a theme, and each of our rules' colours is measured against the backgrounds its text sits on."""

import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import pytest
from django.contrib import admin

from intake import bodymap
from referrals.dashboard import URGENCY_COLOURS

ROOT = Path(__file__).resolve().parents[2]
ADMIN_CSS = ROOT / "referrals" / "static" / "referrals" / "admin.css"
DJANGO_CSS = Path(admin.__file__).parent / "static" / "admin" / "css"

AA_TEXT = 4.5
NON_TEXT = 3.0
# Where text with a colour but no background of its own is drawn in the admin: the page, the
# alternate table rows, and a changelist row ticked for an action.
SURFACES = ("var(--body-bg)", "var(--darkened-bg)", "var(--selected-row)")
# (data-theme on <html>, or None before/without theme.js; the browser prefers dark)
SCENARIOS = list(product(("light", "dark", "auto", None), (False, True)))
DARK_QUERY = "(prefers-color-scheme: dark)"


@dataclass(frozen=True)
class Rule:
    media: str | None
    selectors: tuple[str, ...]
    declarations: tuple[tuple[str, str], ...]


def parse(css: str) -> list[Rule]:
    """The rules of a flat style sheet, each with the @media or @container query it sits in
    (one level deep)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    rules: list[Rule] = []
    media: str | None = None
    pos = 0
    for match in re.finditer(r"([^{}]*)\{|\}", css):
        if match.start() < pos:
            continue
        if match.group(0) == "}":
            media = None
            continue
        prelude = match.group(1).strip()
        if prelude.startswith(("@media", "@container")):
            media = prelude.removeprefix("@media").removeprefix("@container").strip()
            continue
        end = css.index("}", match.end())
        body = css[match.end() : end]
        pos = end + 1
        declarations = tuple(
            (name.strip().lower(), value.strip())
            for name, _, value in (d.partition(":") for d in body.split(";") if d.strip())
        )
        selectors = tuple(s.strip() for s in prelude.split(","))
        rules.append(Rule(media, selectors, declarations))
    return rules


THEMED = re.compile(r'^html\[data-theme="(\w+)"\]')


def media_applies(media: str | None, prefers_dark: bool) -> bool:
    if media is None:
        return True
    if "prefers-color-scheme" in media:
        return (media == DARK_QUERY) == prefers_dark
    return True  # width queries: colours don't depend on them here


def root_specificity(selector: str, theme: str | None) -> int | None:
    """How strongly ``selector`` matches <html> (None: it doesn't)."""
    if selector == ":root":
        return 10
    themed = THEMED.fullmatch(selector)
    if themed:
        return 11 if themed.group(1) == theme else None
    return 1 if selector == "html" else None


def root_variables(sheets: list[list[Rule]], theme: str | None, prefers_dark: bool) -> dict:
    won: dict[str, tuple[int, int, str]] = {}
    order = 0
    for rules in sheets:
        for rule in rules:
            order += 1
            if not media_applies(rule.media, prefers_dark):
                continue
            matches = [root_specificity(s, theme) for s in rule.selectors]
            specificity = max((m for m in matches if m is not None), default=None)
            if specificity is None:
                continue
            for name, value in rule.declarations:
                if name.startswith("--") and (specificity, order) >= won.get(name, (0, 0, ""))[:2]:
                    won[name] = (specificity, order, value)
    return {name: value for name, (_, _, value) in won.items()}


def element_colours(rules: list[Rule], theme: str | None, prefers_dark: bool) -> dict:
    """Our selectors (a theme prefix taken off) -> their winning colour and background."""
    found: dict[str, dict[str, tuple[int, int, str]]] = {}
    for order, rule in enumerate(rules):
        if not media_applies(rule.media, prefers_dark):
            continue
        for selector in rule.selectors:
            themed = THEMED.match(selector)
            if root_specificity(selector, theme) is not None or THEMED.fullmatch(selector):
                continue  # the root itself: custom properties
            if themed and themed.group(1) != theme:
                continue
            base = THEMED.sub("", selector).strip()
            weight = 1 if themed else 0
            for name, value in rule.declarations:
                prop = {"background-color": "background"}.get(name, name)
                if prop in {"color", "background"}:
                    slot = found.setdefault(base, {})
                    if (weight, order) >= slot.get(prop, (0, -1, ""))[:2]:
                        slot[prop] = (weight, order, value)
    return {sel: {p: v for p, (_, _, v) in props.items()} for sel, props in found.items()}


def resolve(value: str, variables: dict[str, str], depth: int = 0) -> str:
    assert depth < 10, f"custom properties refer to each other in a loop at {value}"
    match = re.search(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*))?\)", value)
    if not match:
        return value
    name, fallback = match.groups()
    replacement = variables.get(name, fallback)
    assert replacement is not None, f"{name} is defined nowhere and has no fallback"
    value = value[: match.start()] + replacement + value[match.end() :]
    return resolve(value, variables, depth + 1)


def colour(value: str) -> tuple[int, int, int]:
    hexes = re.findall(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", value)
    named = {"white": "ffffff", "black": "000000"}.get(value.strip().lower())
    assert len(hexes) == 1 or named, f"can't read one colour in {value!r}: teach this test"
    digits = named or hexes[0]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    light, dark = sorted((luminance(colour(fg)), luminance(colour(bg))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def over(fg: str, opacity: float, bg: str) -> str:
    """``fg`` drawn at ``opacity`` on ``bg``, as "#rrggbb"."""
    mixed = (
        round(opacity * f + (1 - opacity) * b) for f, b in zip(colour(fg), colour(bg), strict=True)
    )
    return "#" + "".join(f"{c:02x}" for c in mixed)


def sheets() -> tuple[list[Rule], list[list[Rule]]]:
    ours = parse(ADMIN_CSS.read_text(encoding="utf-8"))
    django = [
        parse((DJANGO_CSS / n).read_text(encoding="utf-8")) for n in ("base.css", "dark_mode.css")
    ]
    return ours, [*django, ours]


def pairs(theme: str | None, prefers_dark: bool) -> list[tuple[str, str, str, str, float]]:
    """(selector, text, background, resolved text, ratio) for every text colour we set."""
    ours, cascade = sheets()
    variables = root_variables(cascade, theme, prefers_dark)
    out = []
    for selector, props in element_colours(ours, theme, prefers_dark).items():
        text = props.get("color", "var(--body-fg)")
        backgrounds = [props["background"]] if "background" in props else list(SURFACES)
        for background in backgrounds:
            fg, bg = resolve(text, variables), resolve(background, variables)
            out.append((selector, text, background, fg, contrast(fg, bg)))
    return out


def test_the_contrast_formula_matches_wcag():
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#fff", "#fff") == pytest.approx(1)
    # The flagged answer rows before this test: #222 on the dark theme's #121212.
    assert contrast("#222", "#121212") == pytest.approx(1.18, abs=0.01)


def test_the_themes_are_read_from_django():
    _, cascade = sheets()
    light = root_variables(cascade, "light", prefers_dark=True)
    dark = root_variables(cascade, "dark", prefers_dark=False)
    auto_dark = root_variables(cascade, "auto", prefers_dark=True)
    assert (light["--body-bg"], dark["--body-bg"], auto_dark["--body-bg"]) == (
        "#fff",
        "#121212",
        "#121212",
    )
    assert root_variables(cascade, None, prefers_dark=False)["--body-bg"] == "#fff"


def test_every_colour_rule_is_checked():
    checked = {selector for selector, *_ in pairs("dark", prefers_dark=True)}
    assert {
        "code.red",
        ".red-flag-elsewhere",
        ".overdue",
        ".errorlist",
        ".case-table tr.answer-flagged",
        ".disclaimer",
        ".urgency-emergency",
        ".urgency-urgent",
        ".urgency-routine",
    } <= checked


@pytest.mark.parametrize(("theme", "prefers_dark"), SCENARIOS)
def test_admin_css_text_keeps_aa_contrast(theme: str | None, prefers_dark: bool):
    failures = [
        f"{selector}: {text} ({fg}) on {background}: {ratio:.2f}:1"
        for selector, text, background, fg, ratio in pairs(theme, prefers_dark)
        if ratio < AA_TEXT
    ]
    assert failures == []


PAGE = "var(--body-bg)"
SKIN = "var(--clinic-map-skin)"
# (what, its colour, its opacity, the colours it is drawn beside, the ratio it needs). A bar's
# parts stand apart with the page between them (referrals.dashboard.BAR_GAP), so each meets the
# page only. The map's pain regions lie on the figure and, at its edges, on the page; its lines
# that cross other marks run on a halo of skin colour (intake.bodymap.HALO_WIDTH), so they meet
# skin whatever lies under them, and their legend puts them on the page.
GRAPHICS = (
    ("emergency bar", "var(--clinic-bar-emergency)", 1.0, (PAGE,), NON_TEXT),
    ("urgent bar", "var(--clinic-bar-urgent)", 1.0, (PAGE,), NON_TEXT),
    ("routine bar", "var(--clinic-bar-routine)", 1.0, (PAGE,), NON_TEXT),
    ("figure's outline", "var(--clinic-map-outline)", 1.0, (PAGE, SKIN), NON_TEXT),
    ("pain region", "var(--clinic-map-pain)", bodymap.PAIN_OPACITY, (SKIN, PAGE), NON_TEXT),
    ("pain region's edge", "var(--clinic-map-pain)", 1.0, (SKIN, PAGE), NON_TEXT),
    ("numbness hatching and edge", "var(--clinic-map-numb)", 1.0, (SKIN, PAGE), NON_TEXT),
    ("radiating pain line", "var(--clinic-map-radiating)", 1.0, (SKIN, PAGE), NON_TEXT),
    ("nerve-root label (text)", "var(--clinic-map-numb)", 1.0, (SKIN, PAGE), AA_TEXT),
)
# What the server draws without a style sheet (the API's standalone map): the light theme's.
SVG_OWN_COLOURS = {
    "--clinic-bar-emergency": URGENCY_COLOURS["emergency"],
    "--clinic-bar-urgent": URGENCY_COLOURS["urgent"],
    "--clinic-bar-routine": URGENCY_COLOURS["routine"],
    "--clinic-map-skin": bodymap.SKIN,
    "--clinic-map-outline": bodymap.OUTLINE,
    "--clinic-map-pain": bodymap.PAIN_FILL,
    "--clinic-map-numb": bodymap.NUMB_STROKE,
    "--clinic-map-radiating": bodymap.RADIATING_STROKE,
}
LIGHT_SCENARIOS = [(t, d) for t, d in SCENARIOS if t == "light" or (t != "dark" and not d)]


def graphic_contrasts(theme: str | None, prefers_dark: bool) -> list[tuple[str, str, float]]:
    """(what, beside what, ratio) for every graphic of the bars and the map."""
    _, cascade = sheets()
    variables = root_variables(cascade, theme, prefers_dark)
    out = []
    for what, fg, opacity, besides, _ in GRAPHICS:
        for beside in besides:
            bg = resolve(beside, variables)
            drawn = over(resolve(fg, variables), opacity, bg)
            out.append((what, beside, contrast(drawn, bg)))
    return out


def test_opacity_is_mixed_into_the_colour_drawn():
    assert over("#c62828", 1.0, "#fff") == "#c62828"
    assert over("#000000", 0.5, "#ffffff") == "#808080"
    # The pain legend before this test: #c62828 at 75% on the dark page.
    assert contrast(over("#c62828", 0.75, "#121212"), "#121212") == pytest.approx(2.33, abs=0.01)


@pytest.mark.parametrize(("theme", "prefers_dark"), SCENARIOS)
def test_the_bars_and_the_body_map_keep_non_text_contrast(theme: str | None, prefers_dark: bool):
    needs = {what: ratio for what, *_, ratio in GRAPHICS}
    failures = [
        f"{what} beside {beside}: {ratio:.2f}:1"
        for what, beside, ratio in graphic_contrasts(theme, prefers_dark)
        if ratio < needs[what]
    ]
    assert failures == []


# Emergency and urgent differ in hue (red, amber), which a reader with red-green colour
# blindness does not see: they differ in lightness too (1.5:1 light, 1.24:1 dark before).
BARS_APART = 2.0


@pytest.mark.parametrize(("theme", "prefers_dark"), SCENARIOS)
def test_the_emergency_and_urgent_bars_differ_in_lightness_too(
    theme: str | None, prefers_dark: bool
):
    _, cascade = sheets()
    variables = root_variables(cascade, theme, prefers_dark)
    emergency, urgent = (
        resolve(f"var(--clinic-bar-{urgency})", variables) for urgency in ("emergency", "urgent")
    )
    assert contrast(emergency, urgent) >= BARS_APART, (emergency, urgent)


@pytest.mark.parametrize(("theme", "prefers_dark"), LIGHT_SCENARIOS)
def test_the_light_theme_is_the_drawings_own_colours(theme: str | None, prefers_dark: bool):
    _, cascade = sheets()
    variables = root_variables(cascade, theme, prefers_dark)
    drawn = {name: colour(resolve(variables[name], variables)) for name in SVG_OWN_COLOURS}
    assert drawn == {name: colour(value) for name, value in SVG_OWN_COLOURS.items()}


def test_every_colour_of_the_bars_and_the_map_is_checked():
    _, cascade = sheets()
    ours = {
        name
        for theme, prefers_dark in SCENARIOS
        for name in root_variables(cascade, theme, prefers_dark)
        if name.startswith(("--clinic-bar-", "--clinic-map-"))
    }
    checked = {
        re.sub(r"var\((--[\w-]+)\)", r"\1", value)
        for _, fg, _, besides, _ in GRAPHICS
        for value in (fg, *besides)
    }
    assert ours == set(SVG_OWN_COLOURS) == checked - {"--body-bg"}
