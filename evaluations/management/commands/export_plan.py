"""``export_plan CODE [--output PATH] [--table NAME] [--user USERNAME]``."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.exchange import exporter
from evaluations.management.actors import command_actor
from initiatives.models import Plan


class Command(BaseCommand):
    help = (
        "Export a plan as a dxapi-plan/1 JSON document (what load_plan reads), or one table "
        "as CSV with --table. Streams to --output or to standard output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="Plan code, e.g. akita-dx.")
        parser.add_argument("--output", type=Path, help="File to write (default: stdout).")
        parser.add_argument("--table", choices=list(exporter.TABLES), help="One CSV table.")
        parser.add_argument("--user", help="Export what this user may see (default: all).")

    def handle(self, *args, code: str, output: Path | None, table: str | None, **options):
        plan = Plan.objects.filter(code=code).first()
        if plan is None:
            raise CommandError(f"No plan '{code}'.")
        actor = command_actor(options["user"])
        if table:
            chunks = exporter.table_chunks(actor=actor, plan=plan, table=table)
        else:
            chunks = (c.encode() for c in exporter.plan_document_chunks(actor=actor, plan=plan))
        if output is None:
            if self.stdout._out is sys.stdout:
                for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            else:
                for chunk in chunks:
                    self.stdout.write(chunk.decode("utf-8"), ending="")
            return
        with output.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        self.stderr.write(f"wrote {output}")
