"""Two-factor sign-in for staff: optional TOTP, required for whom STAFF_2FA_REQUIRED names."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import secrets
import smtplib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from referrals.access import is_triage_lead
from referrals.recovery_codes import (
    RECOVERY_CODE_COUNT,
    AccountGone,
    account_locked,
    recovery_codes_held,
    recovery_codes_left,
    recovery_codes_replace,
)
from referrals.staff_session import KEEP_ALIVE_URL_NAME

SETUP_URL_NAME = "staff-two-factor"
RECOVERY_URL_NAME = "staff-recovery-codes"
# The set just made, shown by the next page of this session and then forgotten.
NEW_CODES_KEY = "two_factor_new_codes"

log = logging.getLogger(__name__)


def two_factor_required(user: Any) -> bool:
    rule = settings.STAFF_2FA_REQUIRED
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return False
    return rule == "all" or (rule == "lead" and is_triage_lead(user))


def needs_second_factor(user: Any) -> bool:
    """A staff session that must use two-factor sign-in and has not signed in with it: the
    admin sends it to the set-up page (StaffTwoFactorMiddleware), the API grants it nothing."""
    verified = getattr(user, "is_verified", None)
    return two_factor_required(user) and not (callable(verified) and verified())


def has_authenticator(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def has_device(user: Any) -> bool:
    """The sign-in asks for a code: an authenticator, or a recovery code left. A spent set of
    codes asks for nothing it could take."""
    return has_authenticator(user) or recovery_codes_held(user).exists()


def authenticator_code(text: str) -> str:
    """An authenticator's code as apps show it ("123 456") or copied with a hyphen, as digits:
    with the space it went to the recovery codes, and counted against them."""
    return "".join(text.split()).replace("-", "")


def recovery_code_normalised(text: str) -> str:
    """As the codes are made (lower case, no separators), however they were copied out."""
    return authenticator_code(text).lower()


class StaffLoginForm(AdminAuthenticationForm, OTPAuthenticationFormMixin):
    """Password, then a TOTP code for staff who have set one up."""

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code or recovery code (if you set one up)",
        # No numeric keypad: a recovery code has letters.
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    otp_device = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_challenge = forms.CharField(required=False, widget=forms.HiddenInput)

    def _chosen_device(self, user: Any) -> Any:
        # The form asks for no device choice. Digits alone are the authenticator's code (staff
        # have one: the set-up page makes it); anything else is a recovery code, checked by the
        # user's static device that holds it (django-otp's throttle then falls on the codes,
        # not on the authenticator), or the authenticator where no code is left.
        chosen = super()._chosen_device(user)
        # The form's hidden otp_device may name any device of the account to django-otp, one
        # still being set up too (its secret shown before any code confirmed it): only a
        # confirmed one signs in.
        if chosen is not None and chosen.confirmed:
            return chosen
        token = (self.cleaned_data.get("otp_token") or "").strip()
        authenticator = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
        if authenticator is not None and authenticator_code(token).isdigit():
            return authenticator
        codes = StaticDevice.objects.filter(user=user, confirmed=True).order_by("id")
        holder = codes.filter(token_set__token=recovery_code_normalised(token)).first()
        holder = holder or codes.filter(token_set__isnull=False).first()
        if holder is None:
            return authenticator
        # Locked (clean_otp runs in a transaction): two sign-ins with one code at once both
        # found it, and both were let in; the second now waits, and finds it used. A device
        # removed meanwhile (by an administrator) is not found under the lock: no code is left.
        locked = StaticDevice.objects.select_for_update().filter(pk=holder.pk).first()
        if locked is not None:
            return locked
        # The authenticator read again: the account may have been deleted with its devices
        # while this waited, and a refused code is counted on the device that checked it (a
        # deleted one, saved, was inserted again and failed on the account gone: a 500).
        return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()

    def _verify_token(self, user: Any, token: str, device: Any = None) -> Any:
        if device is not None:
            _refuse_while_held_back(device)
        if isinstance(device, StaticDevice):
            token = recovery_code_normalised(token)
        elif isinstance(device, TOTPDevice):
            token = authenticator_code(token)
        verified = super()._verify_token(user, token, device)
        if isinstance(verified, StaticDevice):
            transaction.on_commit(lambda: _recovery_code_used(user))
        return verified

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and has_device(user):
            try:
                self.clean_otp(user)
            except forms.ValidationError:
                if (self.cleaned_data.get("otp_token") or "").strip():
                    # A code given and refused (wrong, or while django-otp holds the device
                    # back after failures) is a failed sign-in like any: it counts towards
                    # the lockout, where guesses at codes were not counted (a review).
                    user_login_failed.send(
                        sender=__name__,
                        credentials={"username": user.get_username()},
                        request=self.request,
                    )
                raise
        return cleaned


def _refuse_while_held_back(device: Any) -> None:
    """django-otp checks no code for a while after wrong ones (1, 2, 4, 8 ... seconds): say how
    long, and that a code typed sooner is refused and counted (StaffLoginForm.clean). Its own
    message said "please try again soon", and a correct code typed at once counted towards the
    lockout with no word of it."""
    allowed, held_back = device.verify_is_allowed()
    if allowed or not isinstance(held_back, dict) or "locked_until" not in held_back:
        return  # allowed, or held back for a reason django-otp words itself
    wait = max(1, math.ceil((held_back["locked_until"] - timezone.now()).total_seconds()))
    raise forms.ValidationError(
        ngettext(
            "After a wrong code, the next is checked only after a short wait: wait %(wait)d "
            "second, then type your code again. A code typed sooner is refused and counts "
            "as a failed sign-in.",
            "After wrong codes, the next is checked only after a short wait: wait %(wait)d "
            "seconds, then type your code again. A code typed sooner is refused and counts "
            "as a failed sign-in.",
            wait,
        )
        % {"wait": wait},
        code="otp_held_back",
    )


class StaffTwoFactorMiddleware:
    """Sends staff who must use two-factor, and have not, to the set-up page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            request.path.startswith("/admin/")
            and not request.path.startswith(("/admin/login", "/admin/logout", "/admin/jsi18n"))
            and request.path != reverse(SETUP_URL_NAME)
            # The set-up page's own script keeps its session open: a redirect is no answer.
            and request.path != reverse(KEEP_ALIVE_URL_NAME)
            and needs_second_factor(user)
        ):
            return HttpResponseRedirect(reverse(SETUP_URL_NAME))
        return self.get_response(request)


class ConfirmDeviceForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


# Setting up an authenticator needs more than the password: a link sent to the staff member's
# own email address. Without it, whoever learnt a password first could add their own
# authenticator (trust on first use) and keep the account, its owner locked out.
ENROL_SALT = "referrals.twofactor.enrol"
ENROL_LINK_MAX_AGE = dt.timedelta(minutes=30)
ENROL_LINK_MINUTES = int(ENROL_LINK_MAX_AGE.total_seconds() // 60)
MAILBOX_PROVEN_KEY = "two_factor_mailbox"
# The link's one-time value, kept by the session that asked for it: the link works once, and
# only there (a review found one link, used, set up a second authenticator from another session
# of the account within its 30 minutes).
LINK_NONCE_KEY = "two_factor_link"


def _account_stamp(user: Any) -> str:
    """Changes with the password and with each authenticator confirmed: a new password, or an
    authenticator set up meanwhile, ends the links sent before."""
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).count()
    return hashlib.sha256(f"{user.pk}:{user.password}:{confirmed}".encode()).hexdigest()[:24]


def enrol_link_token(user: Any, nonce: str) -> str:
    return signing.TimestampSigner(salt=ENROL_SALT).sign(
        f"{user.pk}:{_account_stamp(user)}:{nonce}"
    )


def enrol_link_valid(user: Any, token: str, nonce: str | None) -> bool:
    if not nonce:
        return False
    try:
        value = signing.TimestampSigner(salt=ENROL_SALT).unsign(token, max_age=ENROL_LINK_MAX_AGE)
    except signing.BadSignature:  # tampered, another site's, or older than the limit
        return False
    return constant_time_compare(value, f"{user.pk}:{_account_stamp(user)}:{nonce}")


def _mailbox_proven(request: HttpRequest, user: Any) -> bool:
    """The link was opened in this session by this account, within the link's own lifetime
    (a proof kept for ever let a session left open finish a set-up days later)."""
    proven = request.session.get(MAILBOX_PROVEN_KEY)
    if not isinstance(proven, list) or len(proven) != 2 or proven[0] != user.pk:
        return False
    return 0 <= time.time() - proven[1] <= ENROL_LINK_MAX_AGE.total_seconds()


def masked_email(address: str) -> str:
    """``c***@clinic.test``: enough for its owner to know which mailbox to look in."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _send_enrol_link(request: HttpRequest, user: Any) -> bool:
    nonce = secrets.token_urlsafe(16)
    request.session[LINK_NONCE_KEY] = nonce  # a new link ends the one sent before
    url = request.build_absolute_uri(reverse(SETUP_URL_NAME))
    link = f"{url}?{urlencode({'proof': enrol_link_token(user, nonce)})}"
    body = (
        f"Someone signed in to your clinic staff account {user.get_username()} and asked to set "
        f"up two-factor sign-in. To continue, open this link in the same browser within "
        f"{ENROL_LINK_MINUTES} minutes:\n\n{link}\n\nIf this was not you, do not open it: tell "
        "your administrator and change your password."
    )
    return _mail(user, "Set up two-factor sign-in", body)


def _mail(user: Any, subject: str, body: str) -> bool:
    """Send ``body`` to the staff member's own address; False (logged) when it cannot go."""
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except (OSError, smtplib.SMTPException):
        log.exception("two-factor email %r not sent to user %s", subject, user.pk)
        return False
    return True


def _send_enrolled_notice(user: Any) -> None:
    when = timezone.localtime().strftime("%d %B %Y at %H:%M")
    body = (
        f"An authenticator app was set up for two-factor sign-in to your clinic staff account "
        f"{user.get_username()} on {when}. If this was not you, tell your administrator now."
    )
    _mail(user, "Two-factor sign-in was set up", body)


def _recovery_code_used(user: Any) -> None:
    left = recovery_codes_left(user)
    log.warning("two-factor: user %s signed in with a recovery code, %d left", user.pk, left)
    when = timezone.localtime().strftime("%d %B %Y at %H:%M")
    body = (
        f"A recovery code was used instead of the authenticator app to sign in to your clinic "
        f"staff account {user.get_username()} on {when}. Each code works once: you have {left} "
        "left, and can make a new set under Two-factor sign-in in the admin. If this was not "
        "you, tell your administrator now and change your password."
    )
    _mail(user, "A recovery code was used to sign in", body)


def _send_new_codes_notice(user: Any) -> None:
    when = timezone.localtime().strftime("%d %B %Y at %H:%M")
    body = (
        f"A new set of recovery codes was made for your clinic staff account "
        f"{user.get_username()} on {when}; the codes made before no longer work. If this was "
        "not you, tell your administrator now."
    )
    _mail(user, "New two-factor recovery codes", body)


def _admin_page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    # In the admin's frame: its header, sidebar and user links (without them the pages said
    # "Django administration" and had no user links).
    return render(request, template, {**admin.site.each_context(request), **context})


def _mailbox_step(request: HttpRequest, user: Any) -> HttpResponse:
    """Before the QR code: send the set-up link to the account's own address."""
    if request.method == "POST" and user.email:
        if _send_enrol_link(request, user):
            messages.success(
                request,
                f"We sent a set-up link to {masked_email(user.email)}. Open it in this browser "
                f"within {ENROL_LINK_MINUTES} minutes.",
            )
        else:
            messages.error(
                request, "The email could not be sent just now. Please try again in a minute."
            )
        return HttpResponseRedirect(reverse(SETUP_URL_NAME))
    context = {
        "title": "Set up two-factor sign-in",
        "mailbox": True,
        "email": masked_email(user.email) if user.email else "",
        "minutes": ENROL_LINK_MINUTES,
        "required": two_factor_required(user),
    }
    return _admin_page(request, "admin/two_factor.html", context)


@never_cache  # it shows the authenticator's secret: no cache may keep a copy
@login_required(login_url="admin:login")
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Set up (or confirm) a TOTP authenticator for the signed-in staff member, once a link
    sent to their email address has proved the mailbox is theirs too."""
    user = request.user
    if not user.is_staff:
        return HttpResponseRedirect("/")
    if has_authenticator(user) and user.is_verified():  # type: ignore[attr-defined]
        context = {"done": True, "title": "Two-factor sign-in", "left": recovery_codes_left(user)}
        return _admin_page(request, "admin/two_factor.html", context)
    proof = request.GET.get("proof")
    if proof is not None:
        if enrol_link_valid(user, proof, request.session.pop(LINK_NONCE_KEY, None)):
            request.session[MAILBOX_PROVEN_KEY] = [user.pk, int(time.time())]
            # A set-up begun before (its secret shown then, perhaps to someone else) is not
            # offered again: the owner scans a new secret (a review found the old one reused).
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        else:
            messages.error(
                request,
                "That set-up link has expired, was used already, was sent to another browser "
                "or account, or was replaced by a newer one or a new password. Send yourself a "
                "new one from this page and open it in this browser.",
            )
        return HttpResponseRedirect(reverse(SETUP_URL_NAME))  # the link out of the address bar
    if not _mailbox_proven(request, user):
        return _mailbox_step(request, user)
    with transaction.atomic():
        # The account's row orders two set-up pages opened at once: each found no
        # authenticator in the making and made one, and every later visit failed on
        # get_or_create's two rows (a 500; a review found it).
        if not account_locked(user.pk):
            # An authenticator made for an account deleted meanwhile failed on it (a 500).
            return _account_gone(request)
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, confirmed=False, defaults={"name": "Authenticator app"}
        )
    form = ConfirmDeviceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # Under the account's row again: an administrator's deletion of the account
            # between the lock above and this save took the authenticator with it, and the
            # save found no row (a 500; a review found it). The deletion now waits for this.
            if not account_locked(user.pk):
                return _account_gone(request)
            codes = None
            if device.verify_token(form.cleaned_data["token"].strip()):
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                # A new authenticator comes with a new set of codes: a set made with the one
                # lost (and perhaps seen by someone else since) stops working.
                codes = recovery_codes_replace(user=user)
        if codes is not None:
            otp_login(request, device)
            request.session.pop(MAILBOX_PROVEN_KEY, None)
            _send_enrolled_notice(user)
            request.session[NEW_CODES_KEY] = [user.pk, codes]
            messages.success(request, "Two-factor sign-in is set up.")
            return HttpResponseRedirect(reverse(RECOVERY_URL_NAME))
        form.add_error("token", "That code did not match. Check the time on your phone.")
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, title="Set-up QR code")
    context = {
        "title": "Set up two-factor sign-in",
        "form": form,
        "qr": mark_safe(qr),  # noqa: S308 - segno's own SVG of our own URL
        "secret": device.config_url.split("secret=")[1].split("&")[0],
        "required": two_factor_required(user),
    }
    return _admin_page(request, "admin/two_factor.html", context)


def _account_gone(request: HttpRequest) -> HttpResponse:
    """An administrator deleted the account while a page waited for its row: the session ends
    and goes to sign in."""
    logout(request)
    return HttpResponseRedirect(reverse("admin:login"))


@never_cache  # it shows the codes: no cache may keep a copy
@login_required(login_url="admin:login")
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    """A new set of recovery codes shown once, or how many are left and a button for a new set.
    Only a session signed in with its second factor: the codes stand in for it."""
    user = request.user
    if not user.is_staff:
        return HttpResponseRedirect("/")
    if not (has_authenticator(user) and user.is_verified()):  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse(SETUP_URL_NAME))
    if request.method == "POST":
        if not isinstance(getattr(user, "otp_device", None), TOTPDevice):
            # Signed in with a recovery code: one leaked code would otherwise make a set of ten
            # of its own and end the owner's (a review). A lost authenticator is replaced on the
            # set-up page, which proves the mailbox first and comes with a new set.
            messages.error(
                request,
                "To make a new set of recovery codes, sign in with your authenticator app. "
                "If you have lost it, set up a new one: it comes with a new set.",
            )
            return HttpResponseRedirect(reverse(RECOVERY_URL_NAME))
        try:
            request.session[NEW_CODES_KEY] = [user.pk, recovery_codes_replace(user=user)]
        except AccountGone:
            return _account_gone(request)
        _send_new_codes_notice(user)
        return HttpResponseRedirect(reverse(RECOVERY_URL_NAME))  # a reload makes no third set
    new = request.session.pop(NEW_CODES_KEY, None)
    codes = new[1] if isinstance(new, list) and len(new) == 2 and new[0] == user.pk else []
    context = {
        "title": "Recovery codes",
        "codes": codes,
        "left": recovery_codes_left(user),
        "count": RECOVERY_CODE_COUNT,
    }
    return _admin_page(request, "admin/two_factor_recovery.html", context)
