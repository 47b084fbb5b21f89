"""Referral API: list (filtered, keyset-paginated), detail with history, and every move.

Every move calls the same service as the staff admin; illegal moves come back as 409 with the
service's reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import django_filters
import orjson
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api_filters import FilterBackend
from intake.models import Urgency
from referrals import selectors, services
from referrals.access import VIEW_HISTORY
from referrals.api_auth import (
    ApiView,
    StrictCharField,
    StrictSerializer,
    error_responses,
    scopes_needed,
)
from referrals.audit import audit_record
from referrals.errors import PreconditionFailed
from referrals.etags import MalformedTags, Tags, parse_tags, strong_match, tag_of, weak_match
from referrals.links import KINDS, link_summary, stored_link_summary
from referrals.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    Action,
    EventKind,
    Queue,
    Referral,
    ReferralIntake,
    Scope,
    Status,
    status_is,
)
from referrals.pagination import KeysetPagination
from referrals.renderers import PlainJSONRenderer
from referrals.services import ASSIGNEE_ONLY, Precondition

# --- serializers ---------------------------------------------------------------------------------


# Issue 9. The docstring is the object's description in the published schema.
class LinkSummaryOut(serializers.Serializer[Any]):
    """Whether the foot problem may come from the back, or the back pain from the feet: a
    prompt for clinical reasoning, not a diagnosis."""

    kind = serializers.ChoiceField(choices=list(KINDS))
    label = serializers.CharField()  # type: ignore[assignment]
    sentence = serializers.CharField(help_text="Staff wording: a prompt, not a diagnosis.")
    contributing_factors = serializers.ListField(
        child=serializers.ChoiceField(choices=["FOOTWEAR_RELATED", "FOOT_STRUCTURE"]),
        help_text="Flags that may contribute to the back pain (weak evidence of a cause).",
    )
    contributing_sentence = serializers.CharField(allow_blank=True)


def link_summary_of(intake: Any) -> dict[str, Any]:
    return link_summary(intake.flag_codes, intake.answers).as_dict()


# Since 1973 every IANA zone's offset is whole minutes (Liberia's -0:44:30 ended in 1972):
# the only offsets orjson writes as isoformat does (it leaves out an offset's seconds).
_WHOLE_MINUTE_OFFSETS_SINCE: Final = dt.datetime(1973, 1, 1, tzinfo=dt.UTC)


def _iso(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """What serializers.DateTimeField writes: in the current time zone, UTC as 'Z'.

    A page carries 250 of them; ``isoformat`` formats each field through C's sprintf (about
    12,600 instructions a value), orjson writes the same text for about a third of that.
    """
    if not value:
        return None
    local = value.astimezone(tz)
    if value >= _WHOLE_MINUTE_OFFSETS_SINCE and (tz is dt.UTC or type(tz) is ZoneInfo):
        return orjson.dumps(local, option=orjson.OPT_UTC_Z)[1:-1].decode()
    text = local.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class ReferralSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    intake = serializers.UUIDField(
        source="intake.public_id", help_text="The intake that opened it."
    )
    reference = serializers.CharField(source="intake.reference")
    queue = serializers.ChoiceField(choices=Queue.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    priority = serializers.IntegerField(help_text="Higher first: urgency, then red flags.")
    due_at = serializers.DateTimeField()
    overdue = serializers.SerializerMethodField()
    assigned_to = serializers.CharField(
        source="assigned_to.get_username", allow_null=True, default=None
    )
    claimed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    rerouted_from = serializers.UUIDField(
        source="rerouted_from.public_id", allow_null=True, default=None
    )
    note = serializers.CharField(help_text="The specialty note for the receiving clinician.")
    link_summary = serializers.SerializerMethodField(help_text="Of the intake that opened it.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_overdue(self, referral: Referral) -> bool:
        return referral.status in OPEN_STATUSES and referral.due_at < timezone.now()

    @extend_schema_field(LinkSummaryOut)
    def get_link_summary(self, referral: Referral) -> dict[str, Any]:
        return link_summary_of(referral.intake)


# The list's columns, read with values(): no model instances and only the intake's two small
# columns the row needs (its answers and triage result are the bulk of an intake row).
LIST_COLUMNS: tuple[str, ...] = (
    "id",
    "public_id",
    "intake__public_id",
    "intake__reference",
    "queue",
    "status",
    "urgency",
    "priority",
    "due_at",
    f"assigned_to__{get_user_model().USERNAME_FIELD}",
    "claimed_at",
    "closed_at",
    "rerouted_from__public_id",
    "note",
    "intake__link_kind",
    "intake__flag_codes",
    "created_at",
    "updated_at",
)


def referral_list_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ReferralSerializer's output for ``values(*LIST_COLUMNS)`` rows, field for field.

    The list answers up to 200 referrals a request; DRF's per-field machinery cost more than
    the query (tests/api/test_referrals_api.py holds the two to the same output).
    """
    now = timezone.now()
    tz = timezone.get_current_timezone()
    assignee = LIST_COLUMNS[9]
    return [
        {
            "id": str(row["public_id"]),
            "intake": str(row["intake__public_id"]),
            "reference": row["intake__reference"],
            "queue": row["queue"],
            "status": row["status"],
            "urgency": row["urgency"],
            "priority": row["priority"],
            "due_at": _iso(row["due_at"], tz),
            "overdue": row["status"] in OPEN_STATUSES and row["due_at"] < now,
            "assigned_to": row[assignee],
            "claimed_at": _iso(row["claimed_at"], tz),
            "closed_at": _iso(row["closed_at"], tz),
            "rerouted_from": (
                str(row["rerouted_from__public_id"]) if row["rerouted_from__public_id"] else None
            ),
            "note": row["note"],
            "link_summary": stored_link_summary(
                row["intake__link_kind"], row["intake__flag_codes"]
            ).as_dict(),
            "created_at": _iso(row["created_at"], tz),
            "updated_at": _iso(row["updated_at"], tz),
        }
        for row in rows
    ]


# Published in v1 as "Referral" (and its page as "PaginatedReferralList") before it gained
# red_flag_elsewhere: a client generated from the schema keeps its type names; the field is an
# addition. ReferralSerializer itself is in no answer, so the name is free.
@extend_schema_serializer(component_name="Referral")
class ReferralListItemSerializer(ReferralSerializer):
    """A referral as the list gives it, and as the answers that carry a case's referrals give
    it: `POST /intakes`, `GET /intakes/{id}` and `POST /intakes/{id}/clear-red-flag`."""

    # The annotation of the statement that reads them (selectors.with_red_flag_elsewhere):
    # required, so that a queryset without it is an error rather than a silent false.
    red_flag_elsewhere = serializers.BooleanField(
        help_text=(
            "True for an open referral of chiropractic, podiatry or orthotic fitting while "
            "another case of the patient has a red flag that no medical reviewer has cleared "
            "yet: these queues are not for a patient with a red flag, so check with urgent "
            "medical review before any treatment. The referral's detail names those cases "
            "(`red_flags_elsewhere`). False otherwise."
        )
    )


# The list item's columns: the referral's, and its red_flag_elsewhere annotation.
LIST_ITEM_COLUMNS: Final = (*LIST_COLUMNS, "red_flag_elsewhere")


def referral_list_items(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ReferralListItemSerializer's output for ``values(*LIST_ITEM_COLUMNS)`` rows."""
    rows = list(rows)
    items = referral_list_rows(rows)
    for item, row in zip(items, rows, strict=True):
        item["red_flag_elsewhere"] = bool(row["red_flag_elsewhere"])
    return items


class EventSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    actor = serializers.CharField(source="actor.get_username", allow_null=True, default=None)
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    from_urgency = serializers.CharField()
    to_urgency = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReferralCaseSerializer(serializers.Serializer[Any]):
    """One case that fed a referral (its link), as much as the referral's reader may know: the
    whole case is `GET /intakes/{id}` (intake:read)."""

    id = serializers.UUIDField(source="intake.public_id")
    reference = serializers.CharField(source="intake.reference")
    submitted_at = serializers.DateTimeField(source="intake.submitted_at")
    urgency = serializers.ChoiceField(source="intake.urgency", choices=Urgency.choices)
    flags = serializers.ListField(
        source="intake.flag_codes", child=serializers.CharField(), help_text="Its flag codes."
    )
    red_flag_cleared_at = serializers.DateTimeField(
        source="intake.red_flag_cleared_at", allow_null=True
    )
    linked_at = serializers.DateTimeField(source="created_at")


class ReferralDetailSerializer(ReferralSerializer):
    referred_again_from = serializers.UUIDField(
        source="referred_again_from.public_id",
        allow_null=True,
        default=None,
        help_text="The closed referral this one was made again from (`refer-again`), if any.",
    )
    rerouted_into = serializers.UUIDField(
        source="rerouted_into.public_id",
        allow_null=True,
        default=None,
        help_text=(
            "A rerouted referral's: the referral the case went on in, new or the patient's "
            "open referral of that queue that it joined (whose `rerouted_from` may name "
            "another that came in first)."
        ),
    )
    rerouted_in = serializers.SerializerMethodField(
        help_text=(
            "Every referral rerouted into this one, the first first (`rerouted_from` names "
            "only the first: a case rerouted later into the patient's open referral of this "
            "queue joins it). Empty for a referral no reroute came into."
        )
    )
    red_flags_elsewhere = serializers.SerializerMethodField(
        help_text=(
            "For an open referral of chiropractic, podiatry or orthotic fitting: the references "
            "of the patient's cases whose red flag no medical reviewer has cleared yet (oldest "
            "first, at most 10). These queues are not for a patient with a red flag: check "
            "with urgent medical review before any treatment. Empty otherwise."
        )
    )
    cases = ReferralCaseSerializer(
        many=True,
        source="referralintake_set",
        help_text=(
            "Every case that fed it, oldest first: the one that opened it, then a patient's "
            "later submissions that joined it (each may have raised its urgency)."
        ),
    )
    events = EventSerializer(many=True, help_text="The history, oldest first.")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_red_flags_elsewhere(self, referral: Referral) -> list[str]:
        standing = selectors.red_flags_elsewhere(referral)  # read whatever the status
        return standing if referral.is_open else []

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_rerouted_in(self, referral: Referral) -> list[str]:
        # A referral rerouted into has its rerouted_from set (the first): others ask nothing.
        if referral.rerouted_from_id is None:
            return []
        came = selectors.rerouted_in(referral).values_list("public_id", flat=True)
        return [str(public_id) for public_id in came]


class ReasonIn(StrictSerializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class RequiredReasonIn(StrictSerializer):
    reason = StrictCharField(max_length=2000)


class RerouteIn(RequiredReasonIn):
    queue = serializers.ChoiceField(choices=Queue.choices)


class OverrideUrgencyIn(RequiredReasonIn):
    urgency = serializers.ChoiceField(choices=Urgency.choices)


# --- list and detail -----------------------------------------------------------------------------


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time with its offset (any Python reads, up to ±24 h; none is a 400), as UTC.

    PostgreSQL takes offsets up to ±15:59 only: ``updated_since=1375-08-15T10:53:59+21:41``
    was a 500 there (found by tests/api/test_schema_fuzz.py). The same instant in UTC is fine
    on both databases; one that has no UTC time within years 1-9999 is a 400.
    """

    default_error_messages = {
        "out_of_range": "Enter a time between the years 1 and 9999 in UTC.",
        "no_time_zone": "Give the time zone: Z for UTC or an offset such as +01:00.",
        "plus_unescaped": "A + in a query string reads as a space: send the offset's + as "
        "%(plus)s (+01:00 as %(plus)s01:00), or give the time in UTC with Z.",
    }

    def to_python(self, value: Any) -> dt.datetime | None:
        if isinstance(value, str):
            # RFC 3339 lets the T and the Z be lower case; "…z" read as no time zone at all.
            value = value.strip().upper()
        # Without an offset the time was read in the clinic's TIME_ZONE: a poller sending its
        # own local or UTC time was off by the difference and missed changes (docs/API.md:
        # times carry a time zone).
        if isinstance(value, str) and _UNESCAPED_PLUS_OFFSET.search(value):
            # "…T09:00:00+01:00" pasted into a URL arrives as "…T09:00:00 01:00", refused with
            # Django's "Enter a valid date/time." that did not say why.
            raise ValidationError(
                self.error_messages["plus_unescaped"], code="plus_unescaped", params={"plus": "%2B"}
            )
        try:
            naive = isinstance(value, str) and _parsed_without_zone(value.strip())
        except ValueError:
            naive = False  # not a time at all: the parent's error
        if naive:
            raise ValidationError(self.error_messages["no_time_zone"], code="no_time_zone")
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range") from exc


_UNESCAPED_PLUS_OFFSET: Final = re.compile(r"\d:\d\d(?::\d\d(?:[.,]\d+)?)? \d\d(?::?\d\d)?\Z")


def _parsed_without_zone(text: str) -> bool:
    parsed = parse_datetime(text)
    return parsed is not None and parsed.tzinfo is None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictBooleanField(forms.Field):
    """true or false (or 1 or 0), and an error for anything else, where Django's
    NullBooleanField reads an unknown value as "not given" and the filter was silently left
    out (a review found ``?overdue=maybe`` listing everything)."""

    VALUES: Final = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise ValidationError("Use true or false.", code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class ReferralFilter(django_filters.FilterSet):
    queue = django_filters.ChoiceFilter(choices=Queue.choices)
    status = django_filters.ChoiceFilter(choices=Status.choices, method="filter_status")
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices)
    overdue = StrictBooleanFilter(method="filter_overdue", label="Open and past its due time.")
    updated_since = UtcIsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        label="Changed at or after this time (with its time zone: Z or an offset).",
    )

    class Meta:
        model = Referral
        fields = ["queue", "status", "urgency", "overdue", "updated_since"]

    def filter_status(
        self, queryset: QuerySet[Referral], name: str, value: str
    ) -> QuerySet[Referral]:
        return queryset.filter(status_is(value))

    def filter_overdue(
        self, queryset: QuerySet[Referral], name: str, value: bool
    ) -> QuerySet[Referral]:
        late = {"status__in_constants": OPEN_STATUSES, "due_at__lt": timezone.now()}
        return queryset.filter(**late) if value else queryset.exclude(**late)


class ReferralListView(generics.GenericAPIView[Referral], ApiView):
    required_scope = Scope.REFERRALS_READ
    serializer_class = ReferralListItemSerializer
    filterset_class = ReferralFilter
    filter_backends = [FilterBackend]
    pagination_class = KeysetPagination
    # The rows referral_list_rows makes are plain JSON values without floats.
    renderer_classes = [PlainJSONRenderer]
    list_columns = LIST_ITEM_COLUMNS  # the page's rows, read after the keyset's id ranges
    # red_flag_elsewhere, a column of the page's statement (not a statement more), added only
    # when the statement is compiled (KeysetPagination).
    list_annotate = staticmethod(selectors.with_red_flag_elsewhere)
    statement_key: tuple[Any, ...] | None = None

    def get_queryset(self) -> QuerySet[Referral]:
        return selectors.referral_list(user=self.request.user)

    @extend_schema(
        operation_id="referral_list",
        summary="Referrals in the token's queues, most urgent first",
        responses={
            (200, "application/json"): ReferralListItemSerializer(many=True),
            **error_responses(400, 401, 403, 429),
        },
    )
    def get(self, request: Request) -> Response:
        queryset = self.get_queryset()
        filtered = self.filter_queryset(queryset)
        # With no filter asked for (the filter backend gives the queryset back as it was), the
        # page's statement is compiled once per what referral_list depends on.
        self.statement_key = (
            selectors.referral_list_key(user=request.user) if filtered is queryset else None
        )
        page = self.paginate_queryset(filtered)
        # KeysetPagination reads values(*list_columns) rows here, not instances.
        rows = cast("list[dict[str, Any]]", page or [])
        return self.get_paginated_response(referral_list_items(rows))


# A case's columns the detail's ``cases`` shows (not its answers and triage result, the bulk
# of an intake row).
CASE_COLUMNS: Final = (
    "created_at",
    "referral_id",
    "intake__public_id",
    "intake__reference",
    "intake__submitted_at",
    "intake__urgency",
    "intake__flag_codes",
    "intake__red_flag_cleared_at",
)


def _detail(referral: Referral, user: Any) -> dict[str, Any]:
    cases = (
        ReferralIntake.objects.select_related("intake")
        .only(*CASE_COLUMNS)
        .order_by("created_at", "id")
    )
    fresh = (
        selectors.referral_list(user=user)
        .select_related("rerouted_from", "referred_again_from", "rerouted_into")
        .prefetch_related("events__actor", Prefetch("referralintake_set", queryset=cases))
        .get(pk=referral.pk)
    )
    return dict(ReferralDetailSerializer(fresh).data)


# --- versions (ETag, If-Match, If-None-Match; docs/API.md §5) -------------------------------------

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "The `ETag` of the referral as you last read it (one or more, comma-separated, or "
        "`*` for any): the move is made only if the referral is still that version, else "
        "`412` and nothing is saved. Without it the move acts on the referral as it is now."
    ),
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "The `ETag` of the copy you hold: `304` with no body while the referral is still "
        "that version."
    ),
)
NOT_MODIFIED = OpenApiResponse(
    description="Unchanged since the version `If-None-Match` names: keep your copy."
)
PRECONDITION_FAILED = OpenApiResponse(
    inline_serializer(
        name="PreconditionFailed",
        fields={
            "errors": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text="`non_field_errors`: what the referral is now, and its last change.",
            ),
            "etag": serializers.CharField(help_text="The referral's version now (`ETag`)."),
        },
    ),
    "The referral changed since the version `If-Match` names: nothing was saved. Read it "
    "again (`GET`), check, and send the move with its new `ETag` if it still applies.",
)


def _conditional(request: Request, name: str) -> Tags | None:
    """The tags of an If-Match or If-None-Match header; None when it is not sent."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return parse_tags(value)
    except MalformedTags:
        raise exceptions.ValidationError(
            {name: ['Send "*" or entity tags as the ETag header gave them, quotes included.']}
        ) from None


def _versioned(body: dict[str, Any]) -> Response:
    return Response(body, headers={"ETag": tag_of(body)})


class ReferralDetailView(ApiView):
    required_scope = Scope.REFERRALS_READ
    session_permissions = (VIEW_HISTORY,)  # the answer carries the history

    @extend_schema(
        operation_id="referral_get",
        summary="One referral with its history",
        parameters=[IF_NONE_MATCH],
        responses={
            (200, "application/json"): ReferralDetailSerializer,
            304: NOT_MODIFIED,
            **error_responses(400, 401, 403, 404, 429),
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        referral = selectors.referral_get(user=request.user, public_id=public_id)
        unless = _conditional(request, "If-None-Match")
        # The case's note, its links and its history with staff reasons: a look at patient
        # data, audited as reading the case is (a review found it unrecorded). A 304 too: it
        # tells the reader that what it holds is still the case.
        audit_record(actor=request.user, action="api_view", obj=referral, request=request)
        body = _detail(referral, request.user)
        etag = tag_of(body)
        if unless is not None and weak_match(unless, etag):
            return Response(status=304, headers={"ETag": etag})
        return Response(body, headers={"ETag": etag})


# --- moves ---------------------------------------------------------------------------------------


# POST a move; the answer is the referral after it (for a reroute, the new one), so a move needs
# referrals:read as well: the answer is what reading the referral shows (patient included), and
# a token with referrals:write alone got it back without being allowed to read it.
class MoveView(ApiView):
    required_scope = Scope.REFERRALS_WRITE
    also_required_scopes = (Scope.REFERRALS_READ,)
    session_permissions = (VIEW_HISTORY,)  # the answer carries the history
    action: str = ""
    input_serializer: type[serializers.Serializer[Any]] = ReasonIn

    def post(self, request: Request, public_id: str) -> Response:
        referral = selectors.referral_get(user=request.user, public_id=public_id)
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        wanted = _conditional(request, "If-Match")
        # "*" passes any referral that exists, and this one does (a 404 otherwise).
        check = None if wanted is None or wanted == "*" else _still(wanted, request.user)
        result = self.perform(referral, request.user, values, check)
        audit_record(
            actor=request.user,
            action=self.action,
            obj=referral,
            request=request,
            detail={k: v for k, v in values.items() if v and k != "reason"},
        )
        visible = selectors.referral_list(user=request.user).filter(pk=result.pk).exists()
        # Its ETag is that of the referral it answers with: for a reroute or a referral made
        # again, the new one.
        return _versioned(_detail(result if visible else referral, request.user))

    def perform(
        self, referral: Referral, actor: Any, values: dict[str, Any], check: Precondition | None
    ) -> Referral:
        return services.referral_transition(
            referral=referral,
            action=self.action,
            actor=actor,
            reason=values.get("reason", ""),
            precondition=check,
        )


def _still(wanted: Tags, user: Any) -> Precondition:
    """If-Match, checked by the service on the referral under its lock: compared before the
    lock, a colleague's move in between went through unseen."""

    def check(locked: Referral) -> None:
        current = _detail(locked, user)
        etag = tag_of(current)
        if strong_match(wanted, etag):
            return
        if weak_match(wanted, etag):
            # The version named is the current one, but marked weak (W/): "the referral changed
            # since" was not so, and sent the client to read again a copy it already held.
            raise PreconditionFailed(WEAK_TAG, etag=etag)
        raise PreconditionFailed(_changed(current, user), etag=etag)

    return check


WEAK_TAG: Final = (
    "Nothing was saved: If-Match compares strong tags only, and the tag that names the "
    "referral's current version is sent weak (W/). Send the ETag as the answer gave it, "
    "without W/."
)


def _changed(current: dict[str, Any], user: Any) -> str:
    """What the referral is now and its last change, for a move refused by If-Match."""
    now = str(Status(current["status"]).label)
    if current["assigned_to"]:
        now += f", assigned to {current['assigned_to']}"
    now += f", {str(Urgency(current['urgency']).label).lower()}"
    last = current["events"][-1]
    # Who made the last change, "you" for the sender: a move sent again after its answer was
    # lost finds its own first send there, named. Not more: the version also changes with what
    # records no change (the due time passing, the note), so "yours" alone does not say that a
    # first send went through (it said so, where nothing had: a review found it).
    actor = last["actor"] or "the clinic"
    if last["actor"] and last["actor"] == user.get_username():
        actor = "you"
    what = last["kind"].replace("_", " ")
    if last["kind"] == EventKind.TRANSITION:
        what = f"moved to {Status(last['to_status']).label.lower()}"
    return (
        "Nothing was saved: the referral changed since the version your If-Match names. It is "
        f"now {now}; its last change: {what} by {actor} at {last['created_at']}. Read "
        "it again, check, and send the move with its new ETag if it still applies."
    )


MOVE_RESPONSES: Final[dict[Any, Any]] = {
    (200, "application/json"): ReferralDetailSerializer,
    **error_responses(400, 401, 403, 404, 409, 413, 415, 429),
    (412, "application/json"): PRECONDITION_FAILED,
}


def _statuses(statuses: Iterable[str]) -> str:
    named = [f"`{status}`" for status in Status.values if status in statuses]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]


def move_rule(action: str) -> str:
    """The statuses a move takes a referral from and to, and whose move it is, from the status
    machine itself (referrals.models.TRANSITIONS): the schema said neither, so an integrator
    learnt each from a 409 (an API QA round)."""
    move = TRANSITIONS[action]
    rule = f"From {_statuses(move.sources)} to `{move.target}`."
    if action in ASSIGNEE_ONLY:
        rule += (
            " Only by whoever claimed the referral: a token acts as its own user, so a "
            "referral claimed by another token or by a member of staff is a `409`."
        )
    return rule


def _described(text: str) -> str:
    """A move's own description with the scopes it needs (ScopedAutoSchema adds them to an
    operation's docstring, not to a description given to extend_schema)."""
    return f"{text}\n\n{scopes_needed(MoveView)}"


def _move_view(action: str, input_serializer: Any, summary: str) -> type[MoveView]:
    slug = action.replace("_", "-")
    name = "".join(part.title() for part in action.split("_")) + "View"

    @extend_schema(
        operation_id=f"referral_{action}",
        summary=summary,
        description=_described(move_rule(action)),
        request=input_serializer,
        parameters=[IF_MATCH],
        responses=MOVE_RESPONSES,
    )
    def post(self: MoveView, request: Request, public_id: str) -> Response:
        return MoveView.post(self, request, public_id)

    view = type(
        name,
        (MoveView,),
        {"action": action, "input_serializer": input_serializer, "post": post, "slug": slug},
    )
    return view


ClaimView = _move_view(Action.CLAIM, ReasonIn, "Claim (confirms the referral)")
ReleaseView = _move_view(Action.RELEASE, ReasonIn, "Release back to the queue")
ContactView = _move_view(Action.CONTACT, ReasonIn, "Record that the patient was contacted")
ScheduleView = _move_view(Action.SCHEDULE, ReasonIn, "Record that an appointment was scheduled")
CompleteView = _move_view(Action.COMPLETE, ReasonIn, "Complete")
DeclineView = _move_view(Action.DECLINE, RequiredReasonIn, "Decline, with a reason")
CancelView = _move_view(Action.CANCEL, RequiredReasonIn, "Cancel, with a reason")
EnteredInErrorView = _move_view(
    Action.ENTERED_IN_ERROR, RequiredReasonIn, "Mark entered in error, with a reason"
)


class _Reroute(MoveView):
    action = Action.REROUTE
    input_serializer = RerouteIn

    def perform(
        self, referral: Referral, actor: Any, values: dict[str, Any], check: Precondition | None
    ) -> Referral:
        return services.referral_reroute(
            referral=referral,
            actor=actor,
            queue=values["queue"],
            reason=values["reason"],
            precondition=check,
        )


class _ReferAgain(MoveView):
    action = "refer_again"
    input_serializer = RequiredReasonIn

    def perform(
        self, referral: Referral, actor: Any, values: dict[str, Any], check: Precondition | None
    ) -> Referral:
        return services.referral_refer_again(
            referral=referral, actor=actor, reason=values["reason"], precondition=check
        )


class _OverrideUrgency(MoveView):
    action = "override_urgency"
    input_serializer = OverrideUrgencyIn

    def perform(
        self, referral: Referral, actor: Any, values: dict[str, Any], check: Precondition | None
    ) -> Referral:
        return services.referral_override_urgency(
            referral=referral,
            actor=actor,
            urgency=values["urgency"],
            reason=values["reason"],
            precondition=check,
        )


class RerouteView(_Reroute):
    @extend_schema(
        operation_id="referral_reroute",
        summary="Reroute to another queue, with a reason; answers with the new referral",
        description=_described(
            move_rule(Action.REROUTE) + " The case goes on in the new queue: a new referral, or "
            "the patient's open referral there, which it joins."
        ),
        request=RerouteIn,
        parameters=[IF_MATCH],
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, public_id: str) -> Response:
        return super().post(request, public_id)


class ReferAgainView(_ReferAgain):
    @extend_schema(
        operation_id="referral_refer_again",
        summary="Refer a referral closed by mistake again; answers with the new referral",
        description=(
            "From a completed, declined or cancelled referral: a new referral for the same case "
            "in the same queue, linked to it (`referred_again_from`), with its urgency, due "
            "time and note; the closed one is unchanged but for a history event. `409` while "
            "the patient has an open referral in that queue (named), once it was referred "
            "again, from a rerouted or entered-in-error referral, for a specialty queue "
            "while a red flag of the patient stands, and from a review whose red flags were "
            "cleared since. Needs the `referrals:write` and `referrals:read` scopes."
        ),
        request=RequiredReasonIn,
        parameters=[IF_MATCH],
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, public_id: str) -> Response:
        return super().post(request, public_id)


class OverrideUrgencyView(_OverrideUrgency):
    @extend_schema(
        operation_id="referral_override_urgency",
        summary="Change the urgency, with a reason",
        description=_described(f"From {_statuses(OPEN_STATUSES)}; the status stays as it is."),
        request=OverrideUrgencyIn,
        parameters=[IF_MATCH],
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, public_id: str) -> Response:
        return super().post(request, public_id)


MOVE_VIEWS: dict[str, type[MoveView]] = {
    "claim": ClaimView,
    "release": ReleaseView,
    "contact": ContactView,
    "schedule": ScheduleView,
    "complete": CompleteView,
    "reroute": RerouteView,
    "decline": DeclineView,
    "cancel": CancelView,
    "entered-in-error": EnteredInErrorView,
    "override-urgency": OverrideUrgencyView,
    "refer-again": ReferAgainView,
}
