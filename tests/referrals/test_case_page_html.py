"""The case page's HTML is the same whether its forms' fields (referrals/case_forms.py) and
its nav sidebar (referrals/admin_queue_page.py) come from their memos or are drawn anew, and is
the page case.html drew with the fields written inline and Django's own sidebar block."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.template import Context, Template, engines
from django.urls import reverse
from django.utils import translation

from clinic.memo import BoundedMemo
from intake.models import Urgency
from referrals import admin_queue_page, case_forms
from referrals.case_forms import form_fields_html
from referrals.forms import MoveForm, StaffNoteForm
from referrals.models import Queue, Referral, Status
from referrals.services import (
    referral_add_note,
    referral_claim,
    referral_override_urgency,
    referral_transition,
)
from tests.clinic_fixtures import details, submit

pytestmark = pytest.mark.django_db

CASE_TEMPLATE = "admin/referrals/case.html"

# The move form's fields and the note box as case.html drew them before case_forms.py (the
# loop's own line breaks and indents included: the page keeps them around each field).
INLINE_MOVE_LOOP = (
    "{% for field in move_form %}\n"
    '        <label for="{{ field.id_for_label }}">{{ field.label }}</label>{{ field }}'
    '{% if field.help_text %}<div class="help" id="{{ field.auto_id }}_helptext">'
    "{{ field.help_text }}</div>{% endif %}{{ field.errors }}\n"
    "      {% endfor %}"
)
INLINE_NOTE = (
    '<label for="{{ note_form.text.id_for_label }}">{{ note_form.text.label }}</label>'
    "{{ note_form.text }}{{ note_form.text.errors }}"
)
INLINE_MOVE_FIELDS = Template(INLINE_MOVE_LOOP)
INLINE_NOTE_FIELD = Template(INLINE_NOTE)
# What case.html writes in their place, and its sidebar from the memo (without it, base.html's
# block draws the sidebar).
PAGE_MOVE_LOOP = "{% for field in move_fields %}\n        {{ field }}\n      {% endfor %}"
PAGE_NOTE = "{% for field in note_fields %}{{ field }}{% endfor %}"
PAGE_SIDEBAR = "{% block nav-sidebar %}{{ nav_sidebar }}{% endblock %}\n"


def drawn_inline(response) -> str:
    """The page the response shows, drawn again from the same context by case.html with the
    fields' loops written inline, as before case_forms.py, and Django's sidebar block."""
    source = (Path(apps.get_app_config("referrals").path) / "templates" / CASE_TEMPLATE).read_text()
    assert source.count(PAGE_MOVE_LOOP) == 1
    assert source.count(PAGE_NOTE) == 1
    assert source.count(PAGE_SIDEBAR) == 1
    source = source.replace(PAGE_MOVE_LOOP, INLINE_MOVE_LOOP).replace(PAGE_NOTE, INLINE_NOTE)
    source = source.replace(PAGE_SIDEBAR, "")
    template = engines["django"].from_string(source)
    return template.render(response.context_data, request=response.wsgi_request)


def move_fields_as_the_page_writes_them(form: MoveForm) -> str:
    return "".join(f"\n        {field}\n      " for field in form_fields_html(form))


def normalised(html: str) -> str:
    """A page without what differs on every request: the CSP nonce and the CSRF token."""
    return re.sub(r'(nonce="|name="csrfmiddlewaretoken" value=")[^"]+', r"\1-", html)


def case_url(referral: Referral, name: str = "change") -> str:
    return reverse(f"admin:referrals_referral_{name}", args=[referral.public_id])


@pytest.fixture
def worked(chiropractor, medical_reviewer, triage_lead):
    """A red-flag review three submissions joined, with notes and a changed urgency, and a
    chiropractic case claimed, noted and contacted (names and notes that need escaping)."""
    patient = details(family_name="O'Brien<b>", phone="07700 913579")
    (review,) = submit("V09", patient=patient).referrals
    submit("V09", patient=patient)
    submit("V01", patient=patient)
    referral_claim(referral=review, actor=medical_reviewer)
    referral_add_note(referral=review, actor=medical_reviewer, text="Rang twice.\n<No answer>")
    referral_override_urgency(
        referral=review, actor=triage_lead, urgency=Urgency.URGENT, reason="Worse & worse"
    )
    (chiro,) = submit("V01", patient=details(family_name="Hughes", phone="07700 900001")).referrals
    referral_claim(referral=chiro, actor=chiropractor)
    referral_add_note(referral=chiro, actor=chiropractor, text='Letter "sent" & filed')
    referral_transition(referral=chiro, action="contact", actor=chiropractor)
    review.refresh_from_db()
    chiro.refresh_from_db()
    return {"review": review, "chiro": chiro}


def pages(client, referral: Referral) -> list[str]:
    """The case page, and the page sent back by each form refused; each is also the page
    case.html draws with the fields written inline."""
    sent = [
        client.get(case_url(referral)),
        client.post(case_url(referral, "move"), {"move-action": "", "move-reason": "a <b>"}),
        client.post(case_url(referral, "move"), {"move-action": "reroute", "move-reason": ""}),
        client.post(case_url(referral, "note"), {"note-text": ""}),
        client.post(case_url(referral, "clear"), {"clear-reason": ""}),
    ]
    assert sent[0].status_code == 200
    assert all(response.status_code in (400, 409) for response in sent[1:])
    shown = [normalised(response.content.decode()) for response in sent]
    assert shown == [normalised(drawn_inline(response)) for response in sent]
    return shown


@pytest.mark.parametrize(
    ("persona", "case"),
    [
        ("medical_reviewer", "review"),
        ("triage_lead", "review"),
        ("triage_lead", "chiro"),
        ("chiropractor", "chiro"),
    ],
)
def test_the_case_page_is_the_same_with_the_forms_memo_and_without(
    client, worked, request, monkeypatch, persona, case
):
    client.force_login(request.getfixturevalue(persona))
    referral = worked[case]
    case_forms.FIELDS.clear()
    admin_queue_page.FRAGMENTS.clear()
    cold = pages(client, referral)
    warm = pages(client, referral)
    assert len(case_forms.FIELDS) > 0
    assert len(admin_queue_page.FRAGMENTS) > 0
    # Every field and the sidebar drawn anew.
    monkeypatch.setattr(case_forms, "FIELDS", BoundedMemo(0))
    monkeypatch.setattr(admin_queue_page, "FRAGMENTS", BoundedMemo(0))
    drawn = pages(client, referral)
    assert cold == warm == drawn
    page = warm[0]
    assert 'name="move-action"' in page
    assert {
        "review": "Rang twice.<br>&lt;No answer&gt;",
        "chiro": "Letter &quot;sent&quot; &amp; filed",
    }[case] in page
    assert 'id="id_move-reason_helptext"' in page
    assert 'name="note-text"' in page


def test_a_page_drawn_after_another_referrals_does_not_show_its_offer(client, worked, triage_lead):
    """The memo is keyed by what the form offers: the chiropractic case's reroute and urgency
    choices are not those of the review, which is offered no reroute. The sidebar the queue
    page and the other case drew is the one this case draws alone."""
    client.force_login(triage_lead)
    case_forms.FIELDS.clear()
    admin_queue_page.FRAGMENTS.clear()
    review, chiro = worked["review"], worked["chiro"]
    client.get(reverse("admin:referrals_referral_changelist"))
    first = pages(client, chiro)[0]
    after = pages(client, review)[0]
    case_forms.FIELDS.clear()
    admin_queue_page.FRAGMENTS.clear()
    alone = pages(client, review)[0]
    assert after == alone
    assert 'name="move-queue"' in first
    assert 'name="move-queue"' not in after


def test_each_moves_fields_are_what_the_page_drew_inline():
    """Every offer the move form makes (each status, queue, urgency and red flag), unbound and
    memoised, and sent back with errors, is the markup the page's own loop drew; the note box
    likewise."""
    case_forms.FIELDS.clear()
    combinations = itertools.product(Status.values, Queue.values, Urgency.values, (0, 1))
    for status, queue, urgency, red_flags in combinations:
        referral = Referral(status=status, queue=queue, urgency=urgency, red_flag_count=red_flags)
        for _ in range(2):  # drawn, then from the memo
            form = MoveForm(prefix="move").offer_for(referral)
            inline = INLINE_MOVE_FIELDS.render(Context({"move_form": form}))
            assert move_fields_as_the_page_writes_them(form) == inline
        sent = MoveForm({"move-action": "reroute", "move-reason": "x" * 2001}, prefix="move")
        sent.is_valid()
        sent.add_error("queue", "Choose a queue.")
        sent.offer_for(referral)
        inline = INLINE_MOVE_FIELDS.render(Context({"move_form": sent}))
        assert move_fields_as_the_page_writes_them(sent) == inline
        assert "errorlist" in inline
    for language in ("en-gb", "fr"):
        with translation.override(language):
            for note in (
                StaffNoteForm(prefix="note"),
                StaffNoteForm(prefix="note"),
                StaffNoteForm({"note-text": ""}, prefix="note"),
            ):
                (field,) = form_fields_html(note)
                assert field == INLINE_NOTE_FIELD.render(Context({"note_form": note}))
