from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.operator import add_operator_argument, operator_of
from intake.privacy import AlreadyErased, PatientNotFound, patient_erase


class Command(BaseCommand):
    help = (
        "Anonymise one patient (erasure request): names, contact details and free text go; the "
        "clinical record, referrals and audit trail stay. Not reversible. Procedure: "
        "docs/SECURITY.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("public_id", help="The patient's public id (a UUID).")
        parser.add_argument("--reason", required=True, help="Why, e.g. the request's reference.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        add_operator_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        public_id = options["public_id"]
        if not options["yes"]:
            try:
                answer = input(f"Erase patient {public_id}? This cannot be undone. Type 'erase': ")
            except EOFError:  # no terminal to answer on (a script, cron): not confirmed
                answer = ""
            if answer.strip() != "erase":
                raise CommandError("Not erased.")
        try:
            patient = patient_erase(
                public_id=public_id,
                actor=None,
                reason=options["reason"],
                operator=operator_of(options),
            )
        except PatientNotFound:
            raise CommandError(f"No patient with id {public_id}.") from None
        except AlreadyErased:
            raise CommandError(f"Patient {public_id} was erased already.") from None
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Erased patient {patient.public_id} at {patient.anonymised_at:%c}.")
