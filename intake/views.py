"""The patient form's pages: start, one page per step, resume link, confirmation, refusal."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from contextlib import suppress
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from clinic.middleware import client_address, stamp_session_refresh
from intake.drafts import (
    IDENTITY_STEP,
    SESSION_KEY,
    STEP_CODES,
    DraftNotFound,
    DraftSubmitted,
    draft_answers,
    draft_for_token,
    draft_record_interrupt,
    draft_resume,
    draft_save_step,
    draft_start,
    draft_submit,
    draft_values,
    hash_token,
    interrupt_due,
    step_reachable,
    submitted_intake,
)
from intake.forms import HONEYPOT, STEP_FORMS, UNREADABLE, IdentityForm, StepForm
from intake.identity import format_reference
from intake.messages import interrupt_message, patient_disclaimer, under_16_refusal
from intake.models import IntakeDraft
from intake.questionnaire import INTERRUPT_FIELDS
from intake.ratelimit import rate_limit_hit
from intake.rejected import rejected_forget, rejected_keep, rejected_typed
from intake.services import SubmissionInvalid

DONE_KEY = "intake_submitted"
CLOSED_KEY = "intake_closed"
LAST_STEP = STEP_CODES[-1]
# Each step carries the form it was shown for in the name of a hidden field (step.html), as the
# closed mark does: a name, not a value, so the browser never puts an older page's into it.
SHOWN_FOR = "form-"
NEW_FORM = "new"
# What the result page names as its form when it closes itself (``close``).
RESULT_PAGE = "sent"


def _token(request: HttpRequest) -> str | None:
    token = request.session.get(SESSION_KEY)
    return token if isinstance(token, str) else None


def _closes(*, closed_url: str, form_mark: str) -> dict[str, Any]:
    """What a page holding a patient's answers, private link or result needs to close itself
    when the form's session does (a shared computer: intake-form.js, or a refresh without it).
    Its request to end the form's hold names the form it was shown for (``close``)."""
    return {
        "close_seconds": settings.SESSION_COOKIE_AGE,
        "idle_minutes": settings.SESSION_COOKIE_AGE // 60,
        "refresh_seconds": settings.SESSION_REFRESH_SECONDS,
        "close_url": f"{reverse('form-close')}?form={form_mark}",
        "closed_url": closed_url,
    }


def _mark_closed(request: HttpRequest) -> None:
    """This browser's form was closed or put aside (a shared computer). Back brought the last
    person's first step back with their name, birth date and contact details in its boxes, put
    back by the browser from its own store over the empty page sent. The first step shown from
    now on with no form in progress carries a new mark (step.html): the browser puts nothing
    back into a page shown before it (intake-form.js), and the patient's own page after it
    keeps what they typed."""
    request.session[CLOSED_KEY] = secrets.token_hex(8)


def _closed_mark(request: HttpRequest) -> str:
    """The mark of a first step shown with no form in progress (step.html). Without one in the
    session (nothing was closed in this browser, or its session has ended since), it turns over
    every SESSION_COOKIE_AGE: a first step typed before a session could have ended is another
    form to the browser when Back brings it back after the session has, while the patient's own
    Back within that time keeps what they typed. Nothing is written for it: a browser that
    holds nothing gets no session."""
    mark = request.session.get(CLOSED_KEY)
    if isinstance(mark, str):
        return mark
    return f"{int(time.time()) // settings.SESSION_COOKIE_AGE:x}"


def _form_mark(draft: IntakeDraft | None) -> str:
    """What a step shown for ``draft`` says it belongs to: NEW_FORM with no form in progress.
    Nothing of the token: derived from its hash, which alone opens nothing."""
    if draft is None:
        return NEW_FORM
    return _mark_of(draft.token_hash)


def _mark_of(token_hash: str) -> str:
    return hashlib.sha256(f"intake-form:{token_hash}".encode()).hexdigest()[:16]


def _of_another_form(request: HttpRequest, shown_for: str | None) -> bool:
    """Whether a page shown for ``shown_for`` (a page's ``?form=``; None from a page shown before
    pages named their form) is of another form than the one this browser holds now."""
    token = _token(request)
    return shown_for is not None and token is not None and shown_for != _mark_of(hash_token(token))


def _shown_for(request: HttpRequest) -> str | None:
    """The form the page sent was shown for, or None from a page sent before steps said so."""
    return next(
        (name.removeprefix(SHOWN_FOR) for name in request.POST if name.startswith(SHOWN_FOR)),
        None,
    )


def _disclaimer() -> str:
    return patient_disclaimer(emergency_number=settings.CLINIC_EMERGENCY_NUMBER, translate=gettext)


def _over_limit(request: HttpRequest) -> HttpResponse | None:
    """Starting or sending a form counts against the client address's limit."""
    verdict = rate_limit_hit(
        scope="intake-form",
        ident=client_address(request),
        limit=settings.FORM_RATE_LIMIT,
        window_seconds=settings.FORM_RATE_WINDOW_SECONDS,
    )
    if verdict.allowed:
        return None
    response = render(request, "intake/rate_limited.html", status=429)
    response["Retry-After"] = str(verdict.retry_after)
    return response


def _refuse(request: HttpRequest) -> HttpResponse:
    """The refusal of §0.7 answers a POST with 303 to its own page: reload and Back show it
    again without asking to send the date of birth a second time."""
    return _see_other(reverse("form-under-16"))


def _draft_missing(request: HttpRequest) -> HttpResponse:
    return render(request, "intake/draft_missing.html", status=404)


def _step_url(step: str, *, check: bool = False) -> str:
    url = reverse("form-step", args=[step])
    return f"{url}?check=1" if check else url


def _see_other(url: str) -> HttpResponse:
    """303: the browser fetches ``url`` with GET, and its history holds no POST to send again."""
    return HttpResponseRedirect(url, status=303)


def _saved_mark(draft: IntakeDraft, step: str) -> str:
    """A mark of what ``draft`` holds for ``step``: kept input refused over other saved values
    is not shown (intake.rejected)."""
    values = json.dumps(draft_values(draft, step), sort_keys=True, default=str)
    return hashlib.sha256(values.encode()).hexdigest()


def _typed(request: HttpRequest, form: StepForm) -> dict[str, list[str]]:
    """Exactly what was sent for the step's own fields (no CSRF token, no honeypot), and the
    number boxes the browser could not read (UNREADABLE), refused again with them."""
    names = [*(name for name in form.fields if name != HONEYPOT), UNREADABLE]
    return {name: request.POST.getlist(name) for name in names if name in request.POST}


@never_cache  # it differs by session (a form in progress, its token), as the steps do
@require_safe
def start(request: HttpRequest) -> HttpResponse:
    draft = draft_for_token(_token(request))
    context = {
        "disclaimer": _disclaimer(),
        "step_total": len(STEP_CODES),
        "continue_step": draft.current_step if draft else None,
        "first_step": IDENTITY_STEP,
    }
    return render(request, "intake/start.html", context)


@require_POST
def start_new(request: HttpRequest) -> HttpResponse:
    """A new, empty form in this browser: a shared one (a family computer, the clinic's kiosk)
    otherwise offered the next person only the form someone else left half-way, with their
    answers. That form is not deleted: it stays saved and its private link still opens it.
    The rest of the session (a member of staff signed in on the same browser) is kept."""
    if not request.session.is_empty():  # no session is made for a browser that had none
        _close_form(request)
    return redirect(_step_url(IDENTITY_STEP))


@never_cache
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, step: str) -> HttpResponse:
    if step not in STEP_FORMS:
        raise Http404
    draft = draft_for_token(_token(request))
    if draft is None:
        # Input kept for a draft that has gone (sent or expired, in another browser) goes too.
        rejected_forget(request.session)
    if step != IDENTITY_STEP and draft is None:
        if submitted_intake(request.session.get(DONE_KEY)) is not None:
            # Sent from this browser: a second "Send", or Back from the result page.
            return redirect("form-done")
        if request.method == "POST" or _token(request):
            # Someone filling the form whose session ended (idle, or the browser closed), or
            # whose draft has gone: say so and how to continue, where an empty first step
            # looked like everything typed was lost (a review found it).
            context = {"days": settings.DRAFT_TTL_DAYS}
            return render(request, "intake/not_found_here.html", context)
        return redirect(_step_url(IDENTITY_STEP))
    if request.method == "POST" and draft is not None:
        shown_for = _shown_for(request)
        if shown_for == NEW_FORM and step == IDENTITY_STEP:
            # A first step shown with no form in progress starts one, even if this browser has
            # opened another since (a private link in another tab): saved into that one, it put
            # this person's name over the other's answers.
            draft = None
        elif shown_for not in (None, _form_mark(draft)):
            # A page of another form than the one this browser holds now: saved here, it went
            # into that form, and the next page showed that form, with its private link.
            context = {"days": settings.DRAFT_TTL_DAYS}
            return render(request, "intake/other_form.html", context)
    if draft is not None and step != IDENTITY_STEP and not step_reachable(draft, step):
        return redirect(_step_url(draft.current_step))
    if request.method == "POST":
        form = STEP_FORMS[step](request.POST, answers=draft_answers(draft))
        return _post_step(request, form, draft)
    return _render_step(request, _shown_form(request, step, draft), draft)


def _post_step(request: HttpRequest, form: StepForm, draft: IntakeDraft | None) -> HttpResponse:
    if form.honeypot_filled():
        return render(request, "intake/not_accepted.html", status=400)
    if form.is_valid():
        # What was typed now replaces what was refused before, whatever happens next.
        rejected_forget(request.session, step=form.step)
        return _save(request, form, draft)
    # Before there is a draft (the first step), and over the size kept, answered as before.
    if draft is None or not rejected_keep(
        request.session,
        draft=draft.token_hash,
        step=form.step,
        typed=_typed(request, form),
        saved=_saved_mark(draft, form.step),
    ):
        return _render_step(request, form, draft)
    return _see_other(_step_url(form.step))


def _shown_form(request: HttpRequest, step: str, draft: IntakeDraft | None) -> StepForm:
    form_class, answers = STEP_FORMS[step], draft_answers(draft)
    # Refused input is kept until the step is sent again, not just until shown once: a refresh,
    # Back from the page after, or coming back to the step shows what was typed and why it was
    # refused, every time, where showing it once would put the older saved answers in its place
    # and lose what was typed.
    typed = (
        rejected_typed(
            request.session, draft=draft.token_hash, step=step, saved=_saved_mark(draft, step)
        )
        if draft
        else None
    )
    if typed is not None:
        form = form_class(MultiValueDict(typed), answers=answers)
        form.is_valid()
    elif request.GET.get("check") and draft:
        # Sent back here by a failed submission: show what the validator found.
        form = form_class(draft_values(draft, step), answers=answers)
        form.is_valid()
    else:
        form = form_class(initial=draft_values(draft, step), answers=answers)
    return form


def _save(request: HttpRequest, form: StepForm, draft: IntakeDraft | None) -> HttpResponse:
    if isinstance(form, IdentityForm) and form.under_16:
        return _refuse(request)
    token = _token(request)
    patient = form.patient() if isinstance(form, IdentityForm) else None
    try:
        if draft is None or token is None:
            # Only the first step gets here without a draft (the others redirect).
            if limited := _over_limit(request):
                return limited
            draft, token = draft_start(
                values=form.values(),
                patient=form.patient() if isinstance(form, IdentityForm) else {},
                resume_url=lambda t: request.build_absolute_uri(reverse("form-resume", args=[t])),
            )
            # A new key for the session that holds a draft from now on: one set in the browser
            # beforehand (session fixation) would hold it too.
            rejected_forget(request.session)  # kept for a form this browser held before
            request.session.cycle_key()
            request.session[SESSION_KEY] = token
            # The result page of a form sent before in this browser is someone else's, at a
            # shared computer: it stayed open from /form/done/ to whoever started the next one.
            request.session.pop(DONE_KEY, None)
        elif form.step == LAST_STEP:
            return _submit(request, form, token)
        else:
            draft_save_step(
                token=token,
                step=form.step,
                values=form.values(),
                answers=form.answers(),
                patient=patient,
            )
    except DraftSubmitted as sent:
        # A second "Send" while the first was being stored: the same result page.
        return _show_done(request, sent.intake)
    except DraftNotFound:
        return _draft_missing(request)
    return redirect(_step_url(STEP_CODES[STEP_CODES.index(form.step) + 1]))


def _submit(request: HttpRequest, form: StepForm, token: str) -> HttpResponse:
    if limited := _over_limit(request):
        return limited
    try:
        submission = draft_submit(
            token=token, step=form.step, values=form.values(), answers=form.answers()
        )
    except SubmissionInvalid as error:
        if error.under_16:
            return _refuse(request)
        draft = draft_for_token(token)
        return _see_other(_step_url(draft.current_step if draft else IDENTITY_STEP, check=True))
    return _show_done(request, str(submission.intake.public_id))


def _leave_draft(request: HttpRequest) -> None:
    """This browser no longer holds its draft, nor anything kept of its refused steps."""
    request.session.pop(SESSION_KEY, None)
    rejected_forget(request.session)


def _close_form(request: HttpRequest) -> None:
    """This browser holds no form and no result page any more, as when its session ends; the
    first step shown next carries a new mark (_mark_closed). The draft is not deleted: its
    private link still opens it. The rest of the session (a member of staff signed in on the
    same browser) is kept under a new key: the session's HttpOnly cookie changes, which keeps
    the pages shown before out of chromium's back/forward cache."""
    _leave_draft(request)
    request.session.pop(DONE_KEY, None)
    _mark_closed(request)
    request.session.cycle_key()


def _show_done(request: HttpRequest, intake: str) -> HttpResponse:
    _leave_draft(request)
    request.session[DONE_KEY] = intake
    return redirect("form-done")


def _interrupt_shown(form: StepForm, answers: dict[str, Any]) -> bool:
    """Shown from the server when a Yes is on record or in the step just sent (no JavaScript)."""
    sent = form.is_bound and any(
        form[code].value() == "yes" for code in INTERRUPT_FIELDS if code in form.fields
    )
    return sent or interrupt_due(answers)


def _render_step(request: HttpRequest, form: StepForm, draft: IntakeDraft | None) -> HttpResponse:
    index, token = STEP_CODES.index(form.step), _token(request)
    interrupt_visible = _interrupt_shown(form, draft_answers(draft))
    if interrupt_visible and form.is_bound and draft and token:
        with suppress(DraftNotFound):
            draft_record_interrupt(token=token)
    context = {
        "form": form,
        # Sent back by a submission that failed validation: the form is not sent yet.
        "not_sent": bool(request.GET.get("check")) and draft is not None,
        "step_number": index + 1,
        "step_total": len(STEP_CODES),
        "previous_url": _step_url(STEP_CODES[index - 1]) if index else reverse("start"),
        "last": form.step == LAST_STEP,
        "draft": draft,
        "resume_url": (
            request.build_absolute_uri(reverse("form-resume", args=[token]))
            if draft and token
            else None
        ),
        # The session closes after this long without a request (a shared computer); the
        # page's script keeps it open while the patient types, warns before it closes, and
        # takes the answers and the private link off the screen when it has.
        **_closes(closed_url=reverse("form-closed"), form_mark=_form_mark(draft)),
        "idle_seconds": settings.SESSION_COOKIE_AGE if draft and token else None,
        "closed_mark": _closed_mark(request) if draft is None else None,
        "form_mark": _form_mark(draft),
        "asks_interrupt": any(code in form.fields for code in INTERRUPT_FIELDS),
        "interrupt_visible": interrupt_visible,
        "interrupt": interrupt_message(
            emergency_number=settings.CLINIC_EMERGENCY_NUMBER, translate=gettext
        ),
    }
    return render(request, "intake/step.html", context)


@require_POST
def keep_open(request: HttpRequest) -> HttpResponse:
    """The page's script keeps the form's session open while the patient is at it: typing, or
    "Keep my form open" on the warning shown before the idle limit (WCAG 2.2.1). What was typed
    on a page and not yet sent was lost when the session ended under it (a review). A browser
    holding no form gets no session. The answer says whether the form is still open here: a
    page told it is not closes itself (its session ended while the phone was locked, say)."""
    held = draft_for_token(_token(request)) is not None
    if held:
        stamp_session_refresh(sender=None, request=request)
    return JsonResponse({"open": held})


@require_POST
def close(request: HttpRequest) -> HttpResponse:
    """A page closing itself (intake-form.js) ends the form's hold in this browser before it
    goes to the closed page. It counts from the earliest its session may have been kept open,
    so it closes up to SESSION_REFRESH_SECONDS before the session does; in that minute Back
    showed the first step filled in from the form still held, with the patient's private link,
    or the result page again (a review). A browser holding nothing gets the mark alone.

    The page names the form it was shown for (``?form=``, as a step's field does; a first step
    with no form in progress and the result page name none of a draft's). A page of another
    form than the one this browser holds now leaves the hold alone: with Lucía's private link
    opened in another tab, Ada's page left idle (or shown again after the limit) ended Lucía's
    form under her, and her next "Save and continue" found it closed. A page naming no form (one
    shown before pages did) closes whatever is held, as before."""
    if _of_another_form(request, request.GET.get("form")):
        return HttpResponse(status=204)
    _close_form(request)
    return HttpResponse(status=204)


@never_cache  # its "Start a new form" carries the session's CSRF token
@require_safe
def closed(request: HttpRequest) -> HttpResponse:
    """Where a form's page goes when its session has closed: left on the screen of a shared
    computer, it showed the patient's answers, and its private link opened the whole form, to
    whoever sat down next (a review). It holds nothing of the patient's, and changes nothing:
    a GET that closed the form would close it for a link checker or a browser fetching the
    page ahead (the page's script POSTs to /form/close/ first)."""
    finished = request.GET.get("finished") == "1"  # by the patient, from the result page
    context = {
        "saved": request.GET.get("saved") == "1",  # by the patient, from a step
        "days": settings.DRAFT_TTL_DAYS,
        "idle_minutes": settings.SESSION_COOKIE_AGE // 60,
        "sent": finished or request.GET.get("sent") == "1",
        "finished": finished,
    }
    return render(request, "intake/closed.html", context)


@require_POST
def interrupt_shown(request: HttpRequest) -> HttpResponse:
    """The page's script reports that it has just shown the emergency advice.

    The page names the form it was shown for (``?form=``, as a step's field does): a report from
    a page of another form than the one this browser holds now (a private link opened in
    another tab since) is not recorded, or that form would say the advice was shown to its
    patient. A report without it (a page shown before pages named their form) is recorded.
    """
    token = _token(request)
    if _of_another_form(request, request.GET.get("form")):
        return HttpResponse(status=204)
    if token:
        with suppress(DraftNotFound):
            draft_record_interrupt(token=token)
    return HttpResponse(status=204)


@never_cache
@require_safe
def resume(request: HttpRequest, token: str) -> HttpResponse:
    try:
        draft = draft_resume(token=token)
    except DraftNotFound:
        return _draft_missing(request)
    if _token(request) != token:
        rejected_forget(request.session)  # typed for another draft (or before there was one)
        request.session.cycle_key()  # as when a draft is started: no session fixed beforehand
    request.session[SESSION_KEY] = token
    request.session.pop(DONE_KEY, None)  # as when a draft is started
    return redirect(_step_url(draft.current_step))


@require_safe
def under_16(request: HttpRequest) -> HttpResponse:
    """The refusal screen (spec §0.7): the same for everyone, so it holds nothing of the
    person's and may be opened directly."""
    lines = under_16_refusal(emergency_number=settings.CLINIC_EMERGENCY_NUMBER, translate=gettext)
    return render(request, "intake/under_16.html", {"lines": lines})


@never_cache
@require_safe
def done(request: HttpRequest) -> HttpResponse:
    intake = submitted_intake(request.session.get(DONE_KEY))
    if intake is None:
        return redirect("start")
    stored = intake.patient_messages
    context = {
        "reference": format_reference(intake.reference),
        "emergency": intake.urgency == "emergency",
        "urgency_message": stored.get("urgency_message", ""),
        "safety_nets": [
            stored[key] for key in ("safety_net", "diabetic_safety_net") if stored.get(key)
        ],
        "disclaimer": _disclaimer(),
        **_closes(closed_url=f"{reverse('form-closed')}?sent=1", form_mark=RESULT_PAGE),
    }
    return render(request, "intake/done.html", context)


@require_POST
def put_aside(request: HttpRequest) -> HttpResponse:
    """A step's "Stop here and clear this screen". At a shared computer a patient who had to
    stop could only walk away from the form: their name, answers and private link stayed on
    the screen until the page closed itself, 30 minutes later. The form is let go of in this
    browser as Finish does; the draft is kept, and its private link carries on from the last
    step saved."""
    _close_form(request)
    return _see_other(f"{reverse('form-closed')}?saved=1")


@require_POST
def finish(request: HttpRequest) -> HttpResponse:
    """The result page's "Finish and clear this screen". At a shared computer the patient
    could only walk away from it: the reference, urgency and advice stayed on the screen, and
    open from /form/done/, until the session closed (a review). It is forgotten in this browser
    now, and the page goes to the closed page, as when it closes by itself."""
    _close_form(request)
    return _see_other(f"{reverse('form-closed')}?finished=1")
