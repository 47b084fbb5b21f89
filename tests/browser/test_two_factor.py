"""Two-factor sign-in with a recovery code, and a new set of codes, in a real browser: no CSP
errors (the page fixture fails on any console error), nothing inaccessible."""

import re

import pytest
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from referrals.recovery_codes import RECOVERY_CODE_COUNT, recovery_codes_replace
from referrals.twofactor import RECOVERY_URL_NAME
from tests.browser.conftest import describe, run_axe, screenshot
from tests.clinic_fixtures import make_staff
from tests.referrals.test_staff_login import code_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "correct horse battery staple"
CODE_FIELD = "Authenticator code or recovery code (if you set one up)"


def sign_in(page: Page, username: str, code: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label(CODE_FIELD).fill(code)
    page.get_by_role("button", name="Log in").click()


def test_a_lead_signs_in_with_a_recovery_code_and_makes_a_new_set(page: Page, settings):
    """Signed in with a recovery code the lead may not make a new set (a leaked code would
    make one of its own); with the authenticator they may."""
    settings.STAFF_2FA_REQUIRED = "lead"
    user = make_staff("lead_lin", "Triage lead")
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    old = recovery_codes_replace(user=user)

    sign_in(page, "lead_lin", "wrongcode")
    expect(page.get_by_text("Invalid token")).to_be_visible()
    # Read out with the box a screen reader starts at (focused as the page loads).
    username = page.get_by_label("Username")
    expect(username).to_be_focused()
    expect(username).to_have_accessible_description(re.compile(r"^Invalid token\."))
    assert run_axe(page) == [], describe(run_axe(page))

    # django-otp holds the codes back for a second after one failure (a person takes longer).
    page.wait_for_timeout(1100)
    sign_in(page, "lead_lin", old[0].upper())
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()

    page.get_by_role("link", name="Two-factor sign-in").click()
    expect(
        page.get_by_text(f"You have {RECOVERY_CODE_COUNT - 1} unused recovery codes")
    ).to_be_visible()
    page.get_by_role("link", name="Recovery codes: make a new set").click()
    assert run_axe(page) == [], describe(run_axe(page))
    page.get_by_role("button", name="Make a new set of recovery codes").click()
    expect(page.get_by_text("sign in with your authenticator app")).to_be_visible()
    assert run_axe(page) == [], describe(run_axe(page))

    page.context.clear_cookies()
    sign_in(page, "lead_lin", code_for(device))
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()
    page.goto(reverse(RECOVERY_URL_NAME))
    page.get_by_role("button", name="Make a new set of recovery codes").click()

    codes = page.get_by_role("list", name=f"Your {RECOVERY_CODE_COUNT} recovery codes")
    expect(codes.get_by_role("listitem")).to_have_count(RECOVERY_CODE_COUNT)
    expect(page.get_by_text("they are shown only this once")).to_be_visible()
    shown = set(codes.get_by_role("listitem").all_inner_texts())
    held = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert shown == held
    assert not shown & set(old)
    screenshot(page, "admin/recovery-codes-1280")
    assert run_axe(page) == [], describe(run_axe(page))

    page.reload()
    expect(page.get_by_role("button", name="Make a new set of recovery codes")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=next(iter(shown)))).to_have_count(0)
