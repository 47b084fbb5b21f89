"""The public pages render in a real browser: no console (CSP) errors, no serious axe findings."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import describe, run_axe, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PAGES = [
    ("start", "/", "Tell us about your foot or back pain"),
    ("admin-login", "/admin/login/", "Log in"),
]


@pytest.mark.parametrize(("name", "path", "heading"), PAGES)
def test_page_renders_accessibly_on_desktop_and_phone(page: Page, name, path, heading):
    page.goto(path)
    expect(page.get_by_text(heading).first).to_be_visible()
    assert run_axe(page) == [], describe(run_axe(page))
    screenshot(page, f"{name}-1280")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(path)
    screenshot(page, f"{name}-375")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert run_axe(page) == [], describe(run_axe(page))


def test_api_docs_render_the_schema_under_the_csp(page: Page):
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Clinic intake and referral API"
    )
    screenshot(page, "api-docs-1280")
    assert run_axe(page) == [], describe(run_axe(page))
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    screenshot(page, "api-docs-375")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert run_axe(page) == [], describe(run_axe(page))


def test_skip_link_moves_focus_to_the_main_content(page: Page):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
