"""``import_opinions PATH --plan CODE [--user USERNAME]``."""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.listening import opinion_csv
from evaluations.management.actors import command_actor
from initiatives.models import Plan


class Command(BaseCommand):
    help = (
        "Import citizens' opinions from a CSV file (UTF-8 or CP932; headings 意見, 取組番号, "
        "年代, 市町村, 公開への同意, 受付日時): each text masked of personal data; every row "
        "is checked first and nothing is written if any row has an error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--plan", required=True, help="Plan code, e.g. akita-dx.")
        parser.add_argument("--user", help="Import as this user (with their permissions).")

    def handle(self, *args, path: Path, plan: str, **options) -> None:
        plan_obj = Plan.objects.filter(code=plan).first()
        if plan_obj is None:
            raise CommandError(f"No plan '{plan}'.")
        try:
            data = path.read_bytes()
            opinions, ignored = opinion_csv.import_file(
                actor=command_actor(options["user"]), plan=plan_obj, data=data
            )
        except OSError as error:
            raise CommandError(str(error)) from error
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        except ValidationError as error:
            lines = [
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            ]
            raise CommandError("Nothing imported:\n" + "\n".join(lines)) from error
        summary = opinion_csv.import_summary(opinions, ignored)
        self.stdout.write(
            f"Imported {summary['imported']} opinions ({summary['masked']} with personal data "
            f"masked)." + (f" Ignored columns: {', '.join(ignored)}." if ignored else "")
        )
