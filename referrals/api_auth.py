"""The API's plumbing: bearer tokens, scopes, per-token throttling, body size and error shape.

Every error the API returns has one shape, ``{"errors": {"<field or non_field_errors>":
["message", ...]}}``; dotted names point into nested objects (``answers.pain_regions``).
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Mapping
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.fields import SkipField, empty
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from intake.ratelimit import rate_limit_hit
from intake.validation import NON_FIELD_ERRORS
from referrals.access import VIEW_CASES, VIEW_REFERRALS, has_all
from referrals.errors import PreconditionFailed, QueueNotAllowed, ReasonRequired, ReferralError
from referrals.models import Scope
from referrals.negotiation import LenientNegotiation
from referrals.tokens import api_token_authenticate, token_of
from referrals.twofactor import needs_second_factor

# What a staff member signed in to the staff site may do through the API, and the model
# permissions each needs, as the staff site asks them: read what their groups allow and move
# referrals (with the CSRF token). Submitting intakes is for integrations. A read needs the
# view permission of each model whose data it answers with (referrals.access): a referral
# carries its submission's reference and flags, a case (and a move's, a clearance's answer,
# as on the case page) the patient too. A preview reads nothing stored.
SESSION_SCOPE_PERMISSIONS: Final = {
    Scope.INTAKE_READ: VIEW_CASES,
    Scope.REFERRALS_READ: VIEW_REFERRALS,
    Scope.REFERRALS_WRITE: (*VIEW_CASES, "referrals.change_referral"),
    Scope.TRIAGE_PREVIEW: ("referrals.view_referral",),
}
BEARER: Final = "Bearer"


# --- error shape ----------------------------------------------------------------------------


ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages by field name; `non_field_errors` for the request as a whole.",
        ),
        "refusal": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="Only for a patient under 16: the refusal text to show instead of the form.",
        ),
    },
)


ERROR_DESCRIPTIONS: Final = {
    400: "The request is not valid: malformed JSON, a missing or wrong field, or an answer the "
    "questionnaire does not accept.",
    401: "No valid credentials: send `Authorization: Bearer <token>`.",
    403: "The token (or staff member) lacks the scope this operation needs.",
    404: "No such resource, or not in a queue the token may see.",
    409: "The move is not allowed from the referral's current state, or the idempotency key "
    "was used with a different body.",
    413: "The request body is larger than the API accepts.",
    415: "The body is not sent as `Content-Type: application/json`, or is sent compressed "
    "(a `Content-Encoding`).",
    429: "Too many requests for this token; retry after `Retry-After` seconds.",
}
# Statuses any operation may answer, whatever it is: every operation's schema lists them
# (docs/API.md says every error status is in the schema; these two were in the guide only).
ANY_OPERATION_ERRORS: Final = {
    406: "`Accept` refuses every type the operation answers in (`q=0`).",
    503: "The clinic's database is unreachable: retry after `Retry-After` seconds (a "
    "submission under the same `Idempotency-Key`).",
}


def error_responses(*codes: int) -> dict[Any, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, all with the one error shape (JSON)."""
    return {
        (code, "application/json"): OpenApiResponse(ErrorSerializer, ERROR_DESCRIPTIONS[code])
        for code in codes
    }


def errors_body(errors: Mapping[str, list[str]], **extra: Any) -> dict[str, Any]:
    return {"errors": dict(errors), **extra}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"dotted.name": ["message", ...]}``."""
    out: dict[str, list[str]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                name = NON_FIELD_ERRORS if key in ("non_field_errors", "detail") else str(key)
                walk(item, f"{path}.{name}" if path and name != NON_FIELD_ERRORS else name)
        elif (
            isinstance(value, list)
            and value
            and all(not isinstance(v, Mapping | list) for v in value)
        ):
            out.setdefault(path or NON_FIELD_ERRORS, []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}" if path else str(index))
        else:
            out.setdefault(path or NON_FIELD_ERRORS, []).append(str(value))

    walk(detail, prefix)
    return out


class StrictCharField(serializers.CharField):
    """Text sent as a JSON string only. DRF's CharField writes a number as text: a phone sent
    as a number (its leading 0 already lost) was stored as a wrong number, a reason ``5`` as
    "5"; the schema says string, and anything else is a 400 like a boolean already was."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# What a body that is not an object was, in JSON's words.
JSON_TYPE_NAMES: Final[dict[type, str]] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


# The docstring is each request body's description in the published schema (a subclass's
# own docstring replaces it). Unknown fields are refused because a misspelt "e_mail" was
# dropped and the case saved without the address (a review).
class StrictSerializer(serializers.Serializer[Any]):
    """A field not listed here is refused with a 400 under its own name, beside the body's
    other errors."""

    UNKNOWN: Final = "This field is not part of this operation."

    def run_validation(self, data: Any = empty) -> Any:
        # DRF said "Invalid data. Expected a dictionary, but got list." (or "No data provided"
        # for null): Python's names for JSON's types (an API QA round).
        if data is not empty and not isinstance(data, Mapping):
            sent = JSON_TYPE_NAMES.get(type(data), "something else")
            raise serializers.ValidationError(
                {NON_FIELD_ERRORS: [f"Send a JSON object as the body, not {sent}."]}
            )
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            {str(key): [self.UNKNOWN] for key in data if key not in self.fields}
            if isinstance(data, Mapping)
            else {}
        )
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value

    def accepted(self) -> dict[str, Any] | None:
        """After ``is_valid()`` refused the body: the value of each field that passed its own
        checks, by name (a field sent with a wrong type, or missing without a default, is not
        there), for the checks that read only those (one 400 names every error). None when the
        body is not an object: its one error is all there is to say.

        Runs each such field's checks again: on a refused body only, so a valid one pays
        nothing for it."""
        data = self.initial_data
        if not isinstance(data, Mapping):
            return None
        errors = self.errors
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name in errors or field.read_only:
                continue
            try:
                out[name] = field.run_validation(field.get_value(data))
            except (serializers.ValidationError, DjangoValidationError, SkipField):
                continue
        return out


def strict_request_bodies(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the request bodies read by a StrictSerializer say
    ``additionalProperties: false`` in the schema, as the API refuses the fields they lack."""
    strict, todo = set(), [StrictSerializer]
    while todo:
        cls = todo.pop()
        strict.add(cls.__name__.removesuffix("Serializer"))
        todo.extend(cls.__subclasses__())
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name in strict and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


# Response headers docs/API.md promises, stated in the schema too (clients generated from it
# read none of them otherwise).
RESPONSE_HEADERS: Final = {
    "401": {
        "WWW-Authenticate": {
            "description": 'The scheme to use: `Bearer realm="api"`.',
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds to wait before the next request.",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}
REPLAYED_HEADER: Final = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key and body; absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

# On one referral's answers: its read, and every move's (referrals.api).
ETAG_HEADER: Final = {
    "ETag": {
        "description": "The referral's version (a strong entity tag): send it back in "
        "`If-Match` to move the referral only if it has not changed since, or in "
        "`If-None-Match` to read it only if it has.",
        "schema": {"type": "string"},
    }
}
VERSIONED_ANSWERS: Final = ("200", "304", "412")


# The body map is SVG whatever Accept says (intake.api.IntakeBodyMapView): never a 406.
ANSWERS_WHATEVER_ACCEPT_SAYS: Final = frozenset({"intake_body_map"})


def any_operation_errors(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: ANY_OPERATION_ERRORS on every operation, in the
    one error shape (its component is the one error_responses names)."""
    shape = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in ANY_OPERATION_ERRORS.items():
                if code == 406 and operation.get("operationId") in ANSWERS_WHATEVER_ACCEPT_SAYS:
                    continue
                operation["responses"].setdefault(
                    str(code),
                    {
                        "content": {"application/json": {"schema": dict(shape)}},
                        "description": description,
                    },
                )
    return result


def documented_headers(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the response headers of RESPONSE_HEADERS on every
    operation's answers with those statuses, Idempotent-Replayed on a submission's 201, and
    ETag on a referral's read and moves (not the list's)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for code, headers in RESPONSE_HEADERS.items():
                if code in responses:
                    responses[code].setdefault("headers", {}).update(headers)
            if operation.get("operationId") == "intake_submit" and "201" in responses:
                responses["201"].setdefault("headers", {}).update(REPLAYED_HEADER)
            if operation.get("operationId", "").startswith("referral_") and (
                operation["operationId"] != "referral_list"
            ):
                for code in VERSIONED_ANSWERS:
                    if code in responses:
                        responses[code].setdefault("headers", {}).update(ETAG_HEADER)
    return result


def view_scopes(view: Any) -> tuple[str, ...]:
    """The scopes an API view asks for: its ``required_scope`` (if it names one) and each of its
    ``also_required_scopes`` (HasScope checks them; the schema says them)."""
    required = getattr(view, "required_scope", None)
    return (required, *getattr(view, "also_required_scopes", ())) if required else ()


def scopes_needed(view: Any) -> str:
    """The scopes an API view needs, as its schema operation says them (docs/API.md §1)."""
    scopes = view_scopes(view)
    if not scopes:
        return "Needs a valid token (any scope)."
    names = " and ".join(f"`{scope}`" for scope in scopes)
    return f"Needs the {names} scope{'s' if len(scopes) > 1 else ''}."


class ScopedAutoSchema(AutoSchema):
    """Each operation's description says which scopes it needs, from the view itself: written
    by hand on a few operations only, a client generated from the schema learnt the rest from
    a 403."""

    def get_description(self) -> str:  # type: ignore[override]
        own = super().get_description()
        needed = scopes_needed(self.view)
        return f"{own}\n\n{needed}" if own else needed


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def api_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """Every error as ``{"errors": {...}}``; domain errors from the services as 400/404/409,
    and 412 (If-Match) with the referral's version now."""
    if isinstance(exc, ReasonRequired):
        return Response(errors_body({"reason": [exc.message]}), status=400)
    if isinstance(exc, PreconditionFailed):
        # The version now, in the body and as the ETag header a read would give.
        body = errors_body({NON_FIELD_ERRORS: [exc.message]}, etag=exc.etag)
        return Response(body, status=exc.status, headers={"ETag": exc.etag})
    if isinstance(exc, QueueNotAllowed):
        # Out-of-queue looks exactly like not-there: the caller learns nothing.
        exc = Http404()
    elif isinstance(exc, ReferralError):
        return Response(errors_body({NON_FIELD_ERRORS: [exc.message]}), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        # DRF's words, 'Unsupported media type "text/plain" in request.', did not say which
        # to send (an API QA round): every operation with a body reads JSON alone.
        exc = exceptions.UnsupportedMediaType(
            "", detail=f"{exc.detail} Send the body as JSON, with Content-Type: application/json."
        )
    response = drf_exception_handler(exc, dict(context))
    if response is None:
        return None
    if isinstance(exc, exceptions.ParseError):
        response.data = errors_body({NON_FIELD_ERRORS: [_parse_message(exc)]})
    elif isinstance(exc, exceptions.ValidationError):
        response.data = errors_body(flatten_errors(exc.detail))
    else:
        response.data = errors_body(flatten_errors(response.data))
    return response


def _parse_message(exc: exceptions.ParseError) -> str:
    text = str(exc.detail)
    return text if text.startswith("JSON parse error") else f"Malformed request body: {text}"


# --- credentials ---------------------------------------------------------------------------


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer clk_<prefix>_<secret>``; acts as the token's service user."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != BEARER.lower():
            return None
        raw = raw.strip()
        token = api_token_authenticate(raw) if raw and raw.isascii() else None
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid or has been revoked.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{BEARER} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "referrals.api_auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created by a clinic administrator.",
        }


def scopes_of(request: Request) -> frozenset[str]:
    token = token_of(request.user)
    if token is not None:
        return frozenset(token.scopes)
    user = request.user
    if getattr(user, "is_authenticated", False) and user.is_active and user.is_staff:
        # Grants nothing until the second factor (a review found the password alone reading
        # and changing every case through the API), and no more than the staff member's model
        # permissions give on the staff site (a group without "change referral" claimed
        # through the API: a review found it).
        if needs_second_factor(user):
            return frozenset()
        return frozenset(
            scope
            for scope, permissions in SESSION_SCOPE_PERMISSIONS.items()
            if has_all(user, permissions)
        )
    return frozenset()


SESSION_REFUSED: Final = "Your staff groups' permissions do not allow this operation."
SESSION_CANNOT_SUBMIT: Final = "Submitting intakes is for integrations, with an API token."


class HasScope(BasePermission):
    """Authenticated, and holding the view's ``required_scope`` (if it names one) and each of
    its ``also_required_scopes``."""

    message = "This token does not have the scope this operation needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False
        if token_of(request.user) is None and needs_second_factor(request.user):
            self.message = "Sign in with your second factor (set it up in the admin) first."
            return False
        needed = view_scopes(view)
        granted = scopes_of(request)
        if token_of(request.user) is None:
            # A staff session has no token: "This token does not have the scope..." told a
            # member of staff of something they do not hold (an API QA round).
            submits = Scope.INTAKE_SUBMIT in needed
            self.message = SESSION_CANNOT_SUBMIT if submits else SESSION_REFUSED
            if needed and not has_all(request.user, getattr(view, "session_permissions", ())):
                return False
        if not needed:
            return bool(granted)
        return granted.issuperset(needed)


class TokenRateThrottle(BaseThrottle):
    """Fixed-window request limit per token (or staff member), counted in the database."""

    def __init__(self) -> None:
        self.retry_after = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        token = token_of(request.user)
        ident = f"token:{token.prefix}" if token else f"user:{request.user.pk}"
        verdict = rate_limit_hit(
            scope="api",
            ident=ident,
            limit=settings.API_RATE_LIMIT,
            window_seconds=settings.API_RATE_WINDOW_SECONDS,
        )
        self.retry_after = verdict.retry_after
        return verdict.allowed

    def wait(self) -> float:
        return float(self.retry_after)


class CompressedBody(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_content_encoding"

    def __init__(self, encoding: str) -> None:
        super().__init__(
            f'The body is sent with Content-Encoding "{encoding}": send it uncompressed.'
        )


class SizeLimitedJSONParser(JSONParser):
    """JSON with a body limit, for bodies sent without a Content-Length (chunked)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip() if request else ""
        if encoding and encoding.lower() != "identity":
            # Read as it came, a compressed body was "JSON parse error - the body is not
            # UTF-8.", which sent an integrator looking for a character set problem.
            raise CompressedBody(encoding)
        limit = settings.API_MAX_REQUEST_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge()
        if body and not body.strip():
            # JSON's own words were "Expecting value: line 1 column 2 (char 1)", where an empty
            # body reads as {} (an API QA round): a blank one is told what to send.
            raise exceptions.ParseError(f"JSON parse error - {BLANK_BODY}")
        if body.startswith(codecs.BOM_UTF8):
            # Python's own words end "(decode using utf-8-sig)", advice to our code's author;
            # some clients' UTF-8 writers put one by default (RFC 8259: JSON is sent without).
            raise exceptions.ParseError(f"JSON parse error - {BYTE_ORDER_MARK}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError("JSON parse error - the body is not UTF-8.") from exc
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise exceptions.ParseError(f"JSON parse error - {TOO_DEEP}") from exc
        except ValueError as exc:
            # Python's own words for a number past its digit limit end "use
            # sys.set_int_max_str_digits() to increase the limit": advice to our code's author.
            reason = TOO_MANY_DIGITS if "integer string conversion" in str(exc) else exc
            raise exceptions.ParseError(f"JSON parse error - {reason}") from exc
        if _ESCAPED_UNSTORABLE.search(text):
            where = _unstorable_at(data)
            if where is not None:
                path, message = where
                raise exceptions.ValidationError({path or NON_FIELD_ERRORS: [message]})
        return data


BLANK_BODY: Final = "the body is only white space: send a JSON object."
BYTE_ORDER_MARK: Final = "the body starts with a byte order mark (BOM): send UTF-8 without one."
TOO_DEEP: Final = "arrays and objects are nested too deeply."
TOO_MANY_DIGITS: Final = f"a number has more than {sys.get_int_max_str_digits()} digits."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


UNSTORABLE_VALUE = (
    "Text may not hold a NUL character (\\u0000) or an unpaired surrogate (\\ud800-\\udfff)."
)
UNSTORABLE_KEY = (
    "A name in this object holds a NUL character (\\u0000) or an unpaired surrogate "
    "(\\ud800-\\udfff)."
)
# JSON writes both only as escapes (raw control characters are refused, and the body is UTF-8):
# a body without such an escape is not looked through. Neither can be stored (PostgreSQL refuses
# NUL in text and jsonb) nor written back as UTF-8, and an error body may repeat a key or value:
# a 400 naming where it is, before any field's own checks.
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")  # a pair the decoder joined into one character encodes
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_at(data: Any) -> tuple[str, str] | None:
    """Where in ``data`` a string (or an object's key) holds NUL or a lone surrogate: its
    dotted path and the message, or None. Iterative: the decoder's nesting may be deep."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _unstorable(item):
                return path, UNSTORABLE_VALUE
        elif isinstance(item, dict):
            if any(_unstorable(key) for key in item):
                return path, UNSTORABLE_KEY
            stack.extend((f"{path}.{key}" if path else key, value) for key, value in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}.{n}" if path else str(n), value) for n, value in enumerate(item))
    return None


# The base of every API operation: the auth, scope, throttle, parser and error handling above.
class ApiView(APIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [SizeLimitedJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class: type[BaseContentNegotiation] = LenientNegotiation
    required_scope: str | None = None
    # Further scopes the operation needs: one that answers with what another scope guards.
    also_required_scopes: tuple[str, ...] = ()
    # Model permissions a staff session needs besides its scopes' (docs/SECURITY.md): an answer
    # that shows what the case page shows only to holders of its own permission.
    session_permissions: tuple[str, ...] = ()

    # A declared oversized body is refused by clinic.middleware.RequestSizeLimitMiddleware;
    # SizeLimitedJSONParser caps bodies sent without a Content-Length.

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # Errors are JSON even where the success body is FHIR JSON.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response
