import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.operator import add_operator_argument, operator_of
from intake.privacy import PatientNotFound, patient_export


class Command(BaseCommand):
    help = (
        "Print everything held about one patient (subject access request) as JSON, or as a "
        "FHIR R4 Bundle per intake. The export is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("public_id", help="The patient's public id (a UUID).")
        parser.add_argument("--format", choices=["json", "fhir"], default="json")
        add_operator_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = patient_export(
                public_id=options["public_id"],
                actor=None,
                fmt=options["format"],
                operator=operator_of(options),
            )
        except PatientNotFound:
            raise CommandError(f"No patient with id {options['public_id']}.") from None
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
