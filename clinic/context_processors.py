from django.conf import settings
from django.http import HttpRequest


def clinic(request: HttpRequest) -> dict[str, str]:
    """The clinic's name and safety numbers, shown on every page."""
    return {
        "clinic_name": settings.CLINIC_NAME,
        "emergency_number": settings.CLINIC_EMERGENCY_NUMBER,
        "urgent_care_number": settings.CLINIC_URGENT_CARE_NUMBER,
    }
