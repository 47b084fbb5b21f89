"""Routes of the integration API under /api/v1/ (docs/API.md)."""

import uuid

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, path, re_path, register_converter, resolve
from django.views.decorators.csrf import csrf_exempt

from clinic.middleware import api_error
from intake import api as intake_api
from referrals import api as referrals_api

app_name = "api"


class PublicIdConverter:
    """A UUID in either case, as RFC 9562 reads it. Django's ``uuid`` converter takes lower case
    only: an id a partner's system keeps in capitals was a 404 for a case that exists."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(value).lower()


register_converter(PublicIdConverter, "public_id")


@csrf_exempt  # no state changes; the API's own views check CSRF for sessions
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Anything else under /api/v1/ (an id that is not a UUID, a typo) is a JSON 404. One that
    names an operation but for a trailing slash says so: clients used to DRF's default routes
    add one, and a bare "Not found." read as "no such operation"."""
    if rest.endswith("/"):
        try:
            named = resolve(request.path_info[:-1]).url_name is not None  # the catch-all has none
        except Resolver404:
            named = False
        if named:
            return api_error(
                f"Not found. Paths here have no trailing slash: {request.path[:-1]}", 404
            )
    return api_error("Not found.", 404)


urlpatterns = [
    path("intakes", intake_api.IntakeSubmitView.as_view(), name="intake-submit"),
    path(
        "intakes/<public_id:public_id>", intake_api.IntakeDetailView.as_view(), name="intake-detail"
    ),
    path(
        "intakes/<public_id:public_id>/fhir",
        intake_api.IntakeFhirView.as_view(),
        name="intake-fhir",
    ),
    path(
        "intakes/<public_id:public_id>/body-map.svg",
        intake_api.IntakeBodyMapView.as_view(),
        name="intake-body-map",
    ),
    path(
        "intakes/<public_id:public_id>/clear-red-flag",
        intake_api.IntakeClearRedFlagView.as_view(),
        name="intake-clear-red-flag",
    ),
    path("triage/preview", intake_api.TriagePreviewView.as_view(), name="triage-preview"),
    path("questionnaire", intake_api.QuestionnaireView.as_view(), name="questionnaire"),
    path(
        "questionnaire/fhir", intake_api.QuestionnaireFhirView.as_view(), name="questionnaire-fhir"
    ),
    path("referrals", referrals_api.ReferralListView.as_view(), name="referral-list"),
    path(
        "referrals/<public_id:public_id>",
        referrals_api.ReferralDetailView.as_view(),
        name="referral-detail",
    ),
    *(
        path(f"referrals/<public_id:public_id>/{slug}", view.as_view(), name=f"referral-{slug}")
        for slug, view in referrals_api.MOVE_VIEWS.items()
    ),
    re_path(r"^(?P<rest>[\s\S]*)\Z", not_found),
]
