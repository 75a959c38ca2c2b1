"""``import_progress PATH --plan CODE --fiscal-year R7 [--user USERNAME] [--dry-run]``."""

import sys
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.exchange.importer import ImportValidationError, progress_import
from evaluations.exchange.sheets import SheetError, read_sheet
from evaluations.management.actors import command_actor
from initiatives.fiscal_years import parse_fiscal_year
from initiatives.models import Plan


class Command(BaseCommand):
    help = (
        "Import a filled-in progress sheet (XLSX, or CSV in UTF-8/CP932) into a round: every "
        "row is validated first and nothing is written if any row has an error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--plan", required=True, help="Plan code, e.g. akita-dx.")
        parser.add_argument("--fiscal-year", required=True, help="2025, R7 or 令和7年度.")
        parser.add_argument("--user", help="Import as this user (with their permissions).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count only.")
        parser.add_argument("--rows", action="store_true", help="Print every row's outcome.")
        parser.add_argument(
            "--on-conflict",
            choices=["skip", "overwrite"],
            default="skip",
            help="Rows changed since the sheet was made: skip them (default) or overwrite.",
        )

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        shown = f"{done}/{total}" if total else str(done)
        self.stderr.write(f"\r{stage} {shown}", ending="")
        self.stderr.flush()

    def handle(self, *args, path: Path, plan: str, fiscal_year: str, **options) -> None:
        try:
            year = parse_fiscal_year(fiscal_year)
            plan_obj = Plan.objects.get(code=plan)
            sheet = read_sheet(path.read_bytes(), path.name)
        except Plan.DoesNotExist as error:
            raise CommandError(f"No plan '{plan}'.") from error
        except (OSError, ValueError, SheetError) as error:
            raise CommandError(str(error)) from error
        actor = command_actor(options["user"])
        progress = self._progress if sys.stderr.isatty() else None
        try:
            result = progress_import(
                actor=actor,
                plan=plan_obj,
                fiscal_year=year,
                sheet=sheet,
                dry_run=options["dry_run"],
                report_rows=options["rows"],
                on_conflict=options["on_conflict"],
                progress=progress,
            )
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        except ImportValidationError as error:
            for item in error.errors:
                where = f"{item.sheet} row {item.row}" if item.row else item.sheet
                column = f" [{item.column}]" if item.column else ""
                self.stderr.write(f"{where}{column}: {item.code}: {item.detail}")
            raise CommandError(f"{len(error.errors)} error(s); nothing was written.") from error
        if progress:
            self.stderr.write("")
        listed = result.row_results if result.row_results is not None else result.attention
        for row in listed:
            kpi = f" KPI {row.kpi_order}" if row.kpi_order else ""
            self.stdout.write(f"row {row.row}: {row.initiative_number}{kpi} {row.outcome}")
            for change in row.changes:
                shown = change.as_dict()
                self.stdout.write(f"  {shown['column']}: {shown['old']} -> {shown['new']}")
            for notice in row.notices:
                self.stdout.write(f"  {notice}")
        self.stdout.write(result.as_text())
        message = "dry run: nothing written" if result.dry_run else "imported"
        self.stdout.write(self.style.SUCCESS(message))
