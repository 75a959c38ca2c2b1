"""``analyse_opinions --plan CODE [--seed N] [--title TEXT] [--user USERNAME] [--publish]``."""

import sys

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.listening import runs
from evaluations.management.actors import command_actor
from initiatives.models import Plan


class Command(BaseCommand):
    help = (
        "Analyse a plan's opinions on this machine (no network): two levels of clusters, "
        "their labels and representative opinions, and each opinion's likeliest initiatives. "
        "Runs in this process and prints a summary; the same seed gives the same result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plan", required=True, help="Plan code, e.g. akita-dx.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        parser.add_argument("--title", default="", help="The analysis's title.")
        parser.add_argument("--user", help="Run as this user (with their permissions).")
        parser.add_argument("--publish", action="store_true", help="Publish it once done.")

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        shown = f"{done}/{total}" if total else str(done)
        self.stderr.write(f"\r{stage} {shown}    ", ending="")
        self.stderr.flush()

    def handle(self, *args, plan: str, seed: int, title: str, **options) -> None:
        if not 0 <= seed < 2**31:
            raise CommandError("--seed must be between 0 and 2147483647.")
        plan_obj = Plan.objects.filter(code=plan).first()
        if plan_obj is None:
            raise CommandError(f"No plan '{plan}'.")
        actor = command_actor(options["user"])
        progress = self._progress if sys.stderr.isatty() else None
        try:
            analysis = runs.analysis_request(
                actor=actor, plan=plan_obj, title=title, seed=seed, queue=False
            )
            analysis = runs.analysis_run(actor=actor, analysis_id=analysis.pk, progress=progress)
            if options["publish"]:
                analysis = runs.analysis_publish(actor=actor, analysis=analysis)
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        if progress:
            self.stderr.write("")
        summary = runs.run_summary(analysis)
        self.stdout.write(
            f"Analysis {analysis.pk} ({analysis.title}): {summary['opinions']} opinions, "
            f"{summary['clusters']} clusters, seed {analysis.seed}"
            + (", published" if analysis.is_published else "")
            + "."
        )
        for cluster in analysis.clusters.filter(level=1).order_by("-size", "key"):
            self.stdout.write(f"  {cluster.key} ({cluster.size}) {cluster.label}")
