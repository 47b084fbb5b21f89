"""Every staff change list with filters offers a keyboard a link past them, to its search box
or, where it has none, to its rows (templates/admin/change_list.html); tests/browser/
test_staff_admin.py follows the links with a keyboard."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.clinic_fixtures import details, submit

pytestmark = pytest.mark.django_db


def skip_link(href: str, text: str) -> str:
    return f'<a class="skip-to-content-link" href="{href}">{text}</a>'


@pytest.mark.parametrize(
    ("model", "link"),
    [
        (
            "referrals_referral",
            skip_link("#searchbar", "Skip the filters to the search and the referrals"),
        ),
        (
            "intake_intake",
            skip_link("#searchbar", "Skip the filters to the search and the intakes"),
        ),
        (
            "referrals_auditentry",
            skip_link("#searchbar", "Skip the filters to the search and the audit entries"),
        ),
        (
            "referrals_apitoken",
            skip_link("#searchbar", "Skip the filters to the search and the API tokens"),
        ),
        (
            "referrals_webhookdelivery",
            skip_link("#searchbar", "Skip the filters to the search and the webhook deliveries"),
        ),
        (
            "referrals_webhookendpoint",
            skip_link("#changelist-form", "Skip the filters to the webhook endpoints"),
        ),
        ("auth_user", skip_link("#searchbar", "Skip the filters to the search and the users")),
        (
            "axes_accessattempt",
            skip_link("#searchbar", "Skip the filters to the search and the access attempts"),
        ),
    ],
)
def test_each_list_with_filters_links_past_them_once(client, model, link):
    client.force_login(User.objects.create_superuser("admin_ada", "ada@clinic.test", "x" * 16))
    submit("V01", patient=details(family_name="Hughes", phone="07700 900001"))
    html = client.get(reverse(f"admin:{model}_changelist")).content.decode()
    assert html.count("skip-to-content-link") == 2  # Django's "Skip to main content", and this
    assert html.count(link) == 1
    assert html.index(link) < html.index('id="changelist-filter"')


def test_a_list_without_filters_has_no_link_past_them(client):
    client.force_login(User.objects.create_superuser("admin_ada", "ada@clinic.test", "x" * 16))
    html = client.get(reverse("admin:auth_group_changelist")).content.decode()
    assert 'id="changelist-filter"' not in html
    assert html.count("skip-to-content-link") == 1
