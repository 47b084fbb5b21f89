"""Routes of the integration API under /api/v1/ (docs/API.md)."""

from django.urls import path

from intake import api as intake_api
from referrals import api as referrals_api

app_name = "api"

urlpatterns = [
    path("intakes", intake_api.IntakeSubmitView.as_view(), name="intake-submit"),
    path("intakes/<uuid:public_id>", intake_api.IntakeDetailView.as_view(), name="intake-detail"),
    path("intakes/<uuid:public_id>/fhir", intake_api.IntakeFhirView.as_view(), name="intake-fhir"),
    path(
        "intakes/<uuid:public_id>/clear-red-flag",
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
        "referrals/<uuid:public_id>",
        referrals_api.ReferralDetailView.as_view(),
        name="referral-detail",
    ),
    *(
        path(f"referrals/<uuid:public_id>/{slug}", view.as_view(), name=f"referral-{slug}")
        for slug, view in referrals_api.MOVE_VIEWS.items()
    ),
]
