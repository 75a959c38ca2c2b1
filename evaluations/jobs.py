"""Jobs of the progress exchange: a large sheet import, or an export to a file, run after
the request that asked for it (``dxapi.jobs``) and recorded as a ``Job``.

A job acts for whoever asked (user or API key) with that actor's rights when it runs: the
actor is resolved again and the rules (``policy``) asked again by the same importer and
exporter as the synchronous doors, so that a job's result is what the request would have
answered: the import's result body, or its error body for a refused file (the job then
fails). A job runs once: it is claimed (queued → running) before it starts, and a second
delivery of the same job finds it claimed, unless the broker redelivers it because the worker
that had it died (``task_acks_late``): an import writes in one transaction, so that a run cut
short wrote nothing. Progress is kept in the cache while the job runs (the import writes in a
transaction that other processes do not see until it ends) and in the job when it ends.
"""

import datetime
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from operator import length_hint
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import connection
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from dxapi.errors import error_body, validation_body
from dxapi.jobs import RETRYABLE, JobTask, enqueue, request_context
from dxapi.middleware import current_request_id
from dxapi.versions import StaleVersion
from evaluations.exchange import exporter, importer
from evaluations.exchange.sheets import CSV_MIME, SheetError, read_sheet
from evaluations.models import Job, JobKind, JobState, OpinionAnalysis
from evaluations.policy import plans_visible_to
from initiatives.access import Actor, actor_for_api_key, actor_for_user
from initiatives.models import ApiKey, Plan

logger = logging.getLogger(__name__)

PROGRESS_KEY = "dxapi:jobs:progress:{job_id}"
STAGES = {"validated": "validating", "written": "writing"}  # the importer's → the job's


# --- Starting jobs -------------------------------------------------------------------------


def _new_job(kind: str, *, actor: Actor, plan: Plan, params: dict[str, Any]) -> Job:
    return Job(
        kind=kind,
        plan=plan,
        requested_by=actor.user if actor.api_key is None else None,
        api_key=actor.api_key,
        request_id=current_request_id() if current_request_id() != "-" else "",
        language=translation.get_language() or settings.LANGUAGE_CODE,
        params=params,
        expires_at=timezone.now() + datetime.timedelta(days=settings.JOB_RESULT_DAYS),
    )


def _submit(job: Job) -> Job:
    from evaluations.tasks import run_job

    enqueue(run_job, job.pk, on_error=partial(_not_queued, job.pk))
    return job


def start_import(
    *, actor: Actor, plan: Plan, data: bytes, filename: str, options: dict[str, Any]
) -> Job:
    """A job importing the sheet ``data`` (kept in the file storage until the job ends) with
    the importer's ``options`` (fiscal_year, dry_run, report_rows, on_conflict)."""
    job = _new_job(JobKind.PROGRESS_IMPORT, actor=actor, plan=plan, params=options)
    job.input_file.save(filename, ContentFile(data), save=False)
    job.save()
    return _submit(job)


def start_export(*, actor: Actor, plan: Plan, table: str | None) -> Job:
    """A job exporting one table of the plan as CSV, or (``table=None``) the plan document."""
    if table is None:
        job = _new_job(JobKind.DOCUMENT_EXPORT, actor=actor, plan=plan, params={})
    else:
        job = _new_job(JobKind.TABLE_EXPORT, actor=actor, plan=plan, params={"table": table})
    job.save()
    return _submit(job)


def start_opinion_analysis(*, actor: Actor, analysis: OpinionAnalysis) -> Job:
    """A job running a recorded analysis of the plan's opinions (``listening.runs``)."""
    job = _new_job(
        JobKind.OPINION_ANALYSIS, actor=actor, plan=analysis.plan, params={"analysis": analysis.pk}
    )
    job.save()
    return _submit(job)


def start_opinion_import(*, actor: Actor, plan: Plan, data: bytes, filename: str) -> Job:
    """A job importing a CSV file of opinions (each masked): ``listening.opinion_csv``."""
    job = _new_job(JobKind.OPINION_IMPORT, actor=actor, plan=plan, params={"filename": filename})
    job.input_file.save(filename, ContentFile(data), save=False)
    job.save()
    return _submit(job)


def _not_queued(job_id: int, error: Exception) -> None:
    _finish(
        job_id,
        JobState.FAILED,
        error=error_body(
            "not_queued", _("The job could not be queued: try again later."), type_="server_error"
        ),
    )


# --- Progress ------------------------------------------------------------------------------


def progress_of(job: Job) -> dict[str, Any]:
    """Where the job is: from the cache while it runs, from the job once it ended."""
    if job.state == JobState.RUNNING:
        live = cache.get(PROGRESS_KEY.format(job_id=job.pk))
        if live:
            return live
    return {"stage": job.stage or None, "done": job.done, "total": job.total}


@dataclass
class _Progress:
    job: Job
    stage: str = ""
    done: int = 0
    total: int | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        stage = STAGES.get(stage, stage)
        if total is None and stage == self.stage:
            total = self.total  # the rows counted before validation began
        self.stage, self.done, self.total = stage, done, total
        value = {"stage": self.stage, "done": done, "total": total}
        cache.set(PROGRESS_KEY.format(job_id=self.job.pk), value, timeout=24 * 60 * 60)


# --- Running jobs --------------------------------------------------------------------------


def _claim(task: JobTask, job_id: int) -> Job | None:
    """The job, now running; ``None`` when another delivery has it or it ended (or expired)."""
    now = timezone.now()
    started = {"started_at": now, "attempts": F("attempts") + 1}
    claimed = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING, **started
    )
    if not claimed and (task.request.delivery_info or {}).get("redelivered"):
        # Its worker died while running it: run it again.
        claimed = Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(**started)
    if not claimed:
        return None
    return Job.objects.select_related("plan", "api_key", "requested_by").get(pk=job_id)


def _actor(job: Job) -> Actor:
    """Whoever asked, with its rights now."""
    if job.api_key_id is not None:
        key = ApiKey.objects.filter(pk=job.api_key_id).first()
        if key is None or key.revoked or key.has_expired:
            raise PermissionDenied(_("The API key that started this job is no longer valid."))
        return actor_for_api_key(key)
    user = job.requested_by
    if user is None or not user.is_active:
        raise PermissionDenied(_("The account that started this job is no longer active."))
    return actor_for_user(user)


Outcome = tuple[dict[str, Any], tuple[str, Iterator[bytes]] | None]


def _import(job: Job, actor: Actor, progress: _Progress) -> Outcome:
    params = job.params
    with job.input_file.open("rb") as handle:
        data = handle.read()
    name = params.get("filename") or job.input_file.name.rsplit("/", 1)[-1]
    try:
        sheet = read_sheet(data, name)
    except SheetError as error:
        raise importer.ImportValidationError(
            [importer.RowError("invalid", str(error), "file", sheet=name)]
        ) from error
    progress("validated", 0, length_hint(sheet.rows) or None)
    result = importer.progress_import(
        actor=actor,
        plan=job.plan,
        fiscal_year=params["fiscal_year"],
        sheet=sheet,
        dry_run=params.get("dry_run", False),
        report_rows=params.get("report_rows", False),
        on_conflict=params.get("on_conflict", importer.SKIP),
        progress=progress,
    )
    return result.as_dict(), None


def _export(job: Job, actor: Actor, progress: _Progress) -> Outcome:
    plan = job.plan
    if not plans_visible_to(actor).filter(pk=plan.pk).exists():
        raise PermissionDenied(_("This API key is limited to another plan."))
    if job.kind == JobKind.DOCUMENT_EXPORT:
        chunks = exporter.plan_document_chunks(actor=actor, plan=plan)
        encoded = (chunk.encode() for chunk in chunks)
        name, content_type = f"{plan.code}.json", "application/json; charset=utf-8"
        return {"filename": name, "content_type": content_type}, (name, encoded)
    table = job.params["table"]
    name = f"{plan.code}-{table}.csv"
    chunks = exporter.table_chunks(actor=actor, plan=plan, table=table)
    return {"filename": name, "content_type": CSV_MIME, "table": table}, (name, chunks)


def _opinion_analysis(job: Job, actor: Actor, progress: _Progress) -> Outcome:
    from evaluations.listening import runs

    analysis = runs.analysis_run(actor=actor, analysis_id=job.params["analysis"], progress=progress)
    return runs.run_summary(analysis), None


def _opinion_import(job: Job, actor: Actor, progress: _Progress) -> Outcome:
    from evaluations.listening import opinion_csv

    with job.input_file.open("rb") as handle:
        data = handle.read()
    progress("validating", 0, None)
    opinions, ignored = opinion_csv.import_file(actor=actor, plan=job.plan, data=data)
    return opinion_csv.import_summary(opinions, ignored), None


HANDLERS: dict[str, Callable[[Job, Actor, _Progress], Outcome]] = {
    JobKind.PROGRESS_IMPORT: _import,
    JobKind.TABLE_EXPORT: _export,
    JobKind.DOCUMENT_EXPORT: _export,
    JobKind.OPINION_ANALYSIS: _opinion_analysis,
    JobKind.OPINION_IMPORT: _opinion_import,
}


def _save_file(job: Job, name: str, chunks: Iterator[bytes], progress: _Progress) -> int:
    """Write the chunks to the job's result file; its size."""
    size = count = 0
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
            size += len(chunk)
            count += 1
            if count % 1000 == 0:
                progress("exporting", count, None)
        progress("exporting", count, None)
        spool.seek(0)
        job.result_file.save(name, File(spool), save=False)
    return size


def run(task: JobTask, job_id: int) -> None:
    """Run the job ``job_id`` (the body of ``tasks.run_job``)."""
    try:
        job = _claim(task, job_id)
    except RETRYABLE as error:  # the database was briefly unreachable or locked: again later
        if task.is_last_attempt():
            raise
        raise task.retry_later(error) from error
    if job is None:
        return
    progress = _Progress(job)
    key_prefix = job.api_key.prefix if job.api_key else ""
    language = job.language or settings.LANGUAGE_CODE
    with request_context(job.request_id, key_prefix), translation.override(language):
        try:
            actor = _actor(job)
            result, output = HANDLERS[job.kind](job, actor, progress)
            if output is not None:
                name, chunks = output
                result["size"] = _save_file(job, name, chunks, progress)
        except (*RETRYABLE, StaleVersion) as error:  # a record changed meanwhile: again
            if not connection.in_atomic_block:  # a broken connection is opened anew
                connection.close_if_unusable_or_obsolete()
            if task.is_last_attempt():
                _fail(job, progress, _unexpected())
                return
            logger.warning("job %s: %s; retried", job_id, error)
            _finish(job.pk, JobState.QUEUED)
            raise task.retry_later(error) from error
        except importer.ImportValidationError as error:
            _fail(job, progress, error.as_body())
        except ValidationError as error:  # the opinion import's rows, as the API answers them
            _fail(job, progress, validation_body(error))
        except PermissionDenied as error:
            _fail(job, progress, error_body("permission_denied", str(error)))
        except SoftTimeLimitExceeded:
            detail = _("The job took longer than %(seconds)s seconds and was stopped.") % {
                "seconds": settings.CELERY_TASK_SOFT_TIME_LIMIT
            }
            _fail(job, progress, error_body("time_limit", detail, type_="server_error"))
        except Exception:
            logger.exception("job %s failed", job_id)
            _fail(job, progress, _unexpected())
        else:
            _finish(
                job.pk,
                JobState.SUCCEEDED,
                progress,
                result=result,
                result_file=job.result_file.name or "",
            )
            _discard_input(job)


def _unexpected() -> dict[str, Any]:
    return error_body(
        "job_failed", _("The job failed on an unexpected error."), type_="server_error"
    )


def _fail(job: Job, progress: _Progress, body: dict[str, Any]) -> None:
    if job.result_file:
        job.result_file.delete(save=False)
    _finish(job.pk, JobState.FAILED, progress, error=body)
    _discard_input(job)


def _finish(job_id: int, state: str, progress: _Progress | None = None, **fields: Any) -> None:
    if state != JobState.QUEUED:
        fields["finished_at"] = timezone.now()
    if progress is not None:
        fields.update(stage=progress.stage, done=progress.done, total=progress.total)
    Job.objects.filter(pk=job_id).update(state=state, **fields)
    cache.delete(PROGRESS_KEY.format(job_id=job_id))


def _discard_input(job: Job) -> None:
    if job.input_file:
        job.input_file.delete(save=False)
        Job.objects.filter(pk=job.pk).update(input_file="")


# --- Expiry --------------------------------------------------------------------------------


def delete_expired(now: datetime.datetime | None = None) -> int:
    """Delete the jobs past their expiry, with their files; how many."""
    expired = Job.objects.filter(expires_at__lte=now or timezone.now())
    count = 0
    for job in expired.iterator():
        for stored in (job.input_file, job.result_file):
            if stored:
                stored.delete(save=False)
        count += Job.objects.filter(pk=job.pk).delete()[0]
    return count
