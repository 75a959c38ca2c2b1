from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.plan_loader import (
    SHIPPED_DOCUMENT,
    plan_document_load,
    read_document,
)


class Command(BaseCommand):
    help = (
        "Load a plan document (JSON) idempotently and in one transaction. Without a path, "
        "loads the shipped FY2024 (令和6年度) progress report of 秋田県DX推進計画."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", type=Path, default=SHIPPED_DOCUMENT)

    def handle(self, *args, path: Path, **options) -> None:
        try:
            summary = plan_document_load(document=read_document(path))
        except (OSError, ValueError) as error:  # PlanDocumentError is a ValueError
            raise CommandError(str(error)) from error
        self.stdout.write(summary.as_text())
        self.stdout.write(self.style.SUCCESS("changed" if summary.changed else "no changes"))
