"""Writes of the yearly cycle: editing evaluations and KPI actuals, the review workflow and
rounds. Every door (API, admin, sheet import, commands) writes through these functions. Each
asks ``policy`` whether the actor may do it now, runs in one transaction, claims the record's
next version, records the reason in the change history, and raises ``PermissionDenied``
(403), ``WorkflowConflict`` (409), ``StaleVersion``/``VersionRequired`` (412/428) or Django's
``ValidationError`` (400).

Locks are always taken in one order, the round first and then its evaluations, so that no
interleaving of publish, reopen, return, approve or submit can leave a published round with
an evaluation that is not approved."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from dxapi.versions import (
    ANY_VERSION,
    Precondition,
    StaleVersion,
    VersionRequired,
    claim_version,
)
from evaluations import events, policy
from evaluations.models import (
    EVALUATION_EDITABLE_FIELDS,
    RATED,
    Evaluation,
    EvaluationStatus,
    EventKind,
    KPIActual,
    RoadmapStatus,
    Round,
    RoundStatus,
)
from evaluations.policy import Action, WorkflowConflict
from evaluations.selectors import suggestion_for
from initiatives.access import Actor
from initiatives.fiscal_years import fiscal_year_bounds, short_label
from initiatives.models import KPI, Initiative, KPITarget, Plan

__all__ = [
    "ANY_VERSION",
    "Precondition",
    "StaleVersion",
    "VersionRequired",
    "WorkflowConflict",
]

# An actual may be "as of" a date inside its fiscal year or up to six months after it.
AS_OF_GRACE = timedelta(days=183)
NON_NEGATIVE_UNITS = {
    "%",
    "件",
    "人",
    "社",
    "事業者",
    "事業所",
    "PV",
    "万PV",
    "千人泊",
    "回",
    "か所",
}


def _locked_round(round_id: int) -> Round:
    return Round.objects.select_for_update().get(pk=round_id)


def _locked(evaluation: Evaluation) -> Evaluation:
    """Re-read the evaluation under row locks, its round's first: every transition takes
    them in this order, so concurrent actions on a round and its evaluations serialize."""
    round_ = _locked_round(evaluation.round_id)
    locked = (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("initiative")
        .prefetch_related("initiative__responsibilities")
        .get(pk=evaluation.pk)
    )
    locked.round = round_
    return locked


def _save(
    evaluation: Evaluation,
    fields: list[str],
    reason: str = "update",
    *,
    expected_version: Precondition | int | None,
) -> Evaluation:
    """Save as the next version; ``reason`` (the transition and its comment) goes into the
    change history."""
    evaluation.full_clean(validate_unique=False)
    claim_version(evaluation, expected_version)
    evaluation._change_reason = reason
    evaluation.save(update_fields=[*fields, "version", "updated_at"])
    return evaluation


def evaluation_changes_validate(data: dict[str, Any]) -> None:
    """What an editor may change, and each value by the model's own rules (choices, length):
    the one check of every door (API, admin, sheet import)."""
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if name not in EVALUATION_EDITABLE_FIELDS:
            errors[name] = [_("This field cannot be changed here.")]
            continue
        field = Evaluation._meta.get_field(name)
        try:
            field.clean(value, None)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def evaluation_update(
    *,
    actor: Actor,
    evaluation: Evaluation,
    data: dict[str, Any],
    expected_version: Precondition | int | None = None,
    reason: str = "update",
) -> Evaluation:
    evaluation = _locked(evaluation)
    policy.require(actor, Action.EDIT, evaluation)
    evaluation_changes_validate(data)
    for name, value in data.items():
        setattr(evaluation, name, value)
    evaluation = _save(evaluation, list(data), reason, expected_version=expected_version)
    events.record(EventKind.EVALUATION_UPDATED, evaluation, actor=actor)
    return evaluation


@transaction.atomic
def evaluation_submit(
    *,
    actor: Actor,
    evaluation: Evaluation,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    policy.require(actor, Action.SUBMIT, evaluation)
    if evaluation.rating is None:
        raise ValidationError({"rating": _("Give a rating (A, B, C or -) before submitting.")})
    suggested = suggestion_for(evaluation).rating
    differs = (
        evaluation.rating in RATED and suggested is not None and evaluation.rating != suggested
    )
    if differs and not evaluation.rating_reason.strip():
        message = _(
            "The rating %(rating)s differs from the KPI-based suggestion %(suggested)s: "
            "give the reason."
        )
        raise ValidationError(
            {"rating_reason": message % {"rating": evaluation.rating, "suggested": suggested}}
        )
    evaluation.status = EvaluationStatus.SUBMITTED
    evaluation.submitted_by = actor.user
    evaluation.submitted_at = timezone.now()
    evaluation = _save(
        evaluation,
        ["status", "submitted_by", "submitted_at"],
        "submit",
        expected_version=expected_version,
    )
    events.record(EventKind.EVALUATION_SUBMITTED, evaluation, actor=actor)
    return evaluation


def _required_text(name: str, text: str, message: str) -> None:
    if not text.strip():
        raise ValidationError({name: message})


@transaction.atomic
def evaluation_return(
    *,
    actor: Actor,
    evaluation: Evaluation,
    comment: str,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    policy.require(actor, Action.RETURN, evaluation)
    _required_text("comment", comment, _("Say why the evaluation is returned."))
    evaluation.status = EvaluationStatus.RETURNED
    evaluation.review_comment = comment
    evaluation = _save(
        evaluation,
        ["status", "review_comment"],
        f"return: {comment}",
        expected_version=expected_version,
    )
    events.record(EventKind.EVALUATION_RETURNED, evaluation, actor=actor, comment=comment)
    return evaluation


@transaction.atomic
def evaluation_approve(
    *,
    actor: Actor,
    evaluation: Evaluation,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    policy.require(actor, Action.APPROVE, evaluation)
    evaluation.status = EvaluationStatus.APPROVED
    evaluation.approved_by = actor.user
    evaluation.approved_at = timezone.now()
    evaluation = _save(
        evaluation,
        ["status", "approved_by", "approved_at"],
        "approve",
        expected_version=expected_version,
    )
    events.record(EventKind.EVALUATION_APPROVED, evaluation, actor=actor)
    return evaluation


@transaction.atomic
def evaluation_reopen(
    *,
    actor: Actor,
    evaluation: Evaluation,
    reason: str,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    policy.require(actor, Action.REOPEN, evaluation)
    _required_text("reason", reason, _("Say why the evaluation is reopened."))
    evaluation.status = EvaluationStatus.RETURNED
    evaluation.review_comment = reason
    evaluation.approved_by = None
    evaluation.approved_at = None
    evaluation = _save(
        evaluation,
        ["status", "review_comment", "approved_by", "approved_at"],
        f"reopen: {reason}",
        expected_version=expected_version,
    )
    events.record(EventKind.EVALUATION_REOPENED, evaluation, actor=actor, comment=reason)
    return evaluation


def kpi_actual_validate(
    kpi: KPI,
    evaluation: Evaluation,
    value: Decimal | None,
    as_of: date | None,
    note: str = "",
    roadmap_status: str | None = None,
):
    """The one check of a KPI actual at every door. An actual may have no value yet (being
    tallied) when its note says so, or when it records a roadmap KPI's status."""
    errors = {}
    if kpi.initiative_id != evaluation.initiative_id:
        errors["kpi"] = _("The KPI does not belong to the evaluation's initiative.")
    if roadmap_status is not None:
        roadmap_error = _roadmap_status_error(kpi, evaluation.round.fiscal_year, roadmap_status)
        if roadmap_error:
            errors["roadmap_status"] = roadmap_error
    if value is None:
        if not note.strip() and roadmap_status is None:
            errors["value"] = _(
                "Give the value, or leave it empty and say why in the note (e.g. 集計中)."
            )
    elif not value.is_finite():
        errors["value"] = _("Must be a finite number.")
    elif value < 0 and kpi.unit in NON_NEGATIVE_UNITS:
        errors["value"] = _("Cannot be negative for a KPI counted in %(unit)s.") % {
            "unit": kpi.unit
        }
    if as_of is not None:
        start, end = fiscal_year_bounds(evaluation.round.fiscal_year)
        if not start <= as_of <= end + AS_OF_GRACE:
            errors["as_of"] = _(
                "Must be inside fiscal year %(year)s (%(start)s to %(end)s) or up to six "
                "months after it."
            ) % {"year": short_label(evaluation.round.fiscal_year), "start": start, "end": end}
    if errors:
        raise ValidationError(errors)


def _roadmap_status_error(kpi: KPI, fiscal_year: int, status: str) -> str:
    """Why ``status`` may not be recorded for the KPI in that year ("" if it may): only a KPI
    whose target of the year is qualitative (the year's roadmap milestone) has one."""
    if status not in RoadmapStatus.values:
        return _("Not a roadmap status: use ahead, on_track or behind.")
    target = KPITarget.objects.filter(kpi=kpi, fiscal_year=fiscal_year).values("value").first()
    if target is None or target["value"] is not None:
        return _(
            "Only a KPI whose %(year)s target is qualitative (a roadmap milestone) takes a "
            "roadmap status."
        ) % {"year": short_label(fiscal_year)}
    return ""


@transaction.atomic
def kpi_actual_save(
    *,
    actor: Actor,
    evaluation: Evaluation,
    kpi: KPI,
    value: Decimal | None,
    as_of: date | None = None,
    note: str = "",
    roadmap_status: str | None = None,
    actual: KPIActual | None = None,
    expected_version: Precondition | int | None = None,
) -> KPIActual:
    """Create or update (``actual`` given, at ``expected_version``) a KPI actual of an
    evaluation that the actor may edit; ``roadmap_status`` as given (None clears it)."""
    evaluation = _locked(evaluation)
    policy.require(actor, Action.EDIT, evaluation)
    kpi_actual_validate(kpi, evaluation, value, as_of, note, roadmap_status)
    if actual is None:
        if KPIActual.objects.filter(evaluation=evaluation, kpi=kpi).exists():
            raise ValidationError({"kpi": _("This KPI already has an actual in this evaluation.")})
        actual = KPIActual(evaluation=evaluation, kpi=kpi)
    actual.value, actual.as_of, actual.note = value, as_of, note
    actual.roadmap_status = roadmap_status
    actual.full_clean(validate_unique=False)
    if actual.pk is not None:
        claim_version(actual, expected_version)
    actual._change_reason = "update" if actual.pk else "create"
    actual.save()
    events.record(EventKind.KPI_ACTUAL_CHANGED, evaluation, actor=actor, actual=actual)
    return actual


@transaction.atomic
def kpi_actual_delete(
    *, actor: Actor, actual: KPIActual, expected_version: Precondition | int | None = None
) -> None:
    evaluation = _locked(actual.evaluation)
    policy.require(actor, Action.EDIT, evaluation)
    claim_version(actual, expected_version)
    actual._change_reason = "delete"
    actual.delete()
    events.record(EventKind.KPI_ACTUAL_CHANGED, evaluation, actor=actor, deleted=actual)


ROUND_DATE_FIELDS = ("department_due_date", "review_due_date")


def round_dates_validate(department_due_date: date | None, review_due_date: date | None) -> None:
    """The review is not due before the departments' submissions (the same day is allowed)."""
    if department_due_date and review_due_date and review_due_date < department_due_date:
        message = _("The review due date cannot be before the department due date (%(date)s).") % {
            "date": department_due_date.isoformat()
        }
        raise ValidationError({"review_due_date": message})


@transaction.atomic
def round_open(
    *,
    actor: Actor,
    plan: Plan,
    fiscal_year: int,
    department_due_date: date | None = None,
    review_due_date: date | None = None,
) -> Round:
    """Open a fiscal year's round, with its due dates if given, and give every initiative of
    the plan a draft evaluation. Targets for the year are not required: the round's
    dashboard shows the KPIs that have none."""
    policy.require_secretariat(actor, plan.pk)
    round_dates_validate(department_due_date, review_due_date)
    Plan.objects.select_for_update().filter(pk=plan.pk).first()  # the period stays put
    if not plan.covers(fiscal_year):
        message = _(
            "Outside the plan's period %(period)s: widen the plan's period (end_year) first."
        )
        raise ValidationError({"fiscal_year": message % {"period": plan.period_label}})
    existing = Round.objects.filter(plan=plan, fiscal_year=fiscal_year).first()
    if existing is not None:
        raise WorkflowConflict(
            _("The %(year)s round exists already.") % {"year": short_label(fiscal_year)},
            current_state=existing.status,
            state_label=existing.get_status_display(),
        )
    round_ = Round(
        plan=plan,
        fiscal_year=fiscal_year,
        status=RoundStatus.OPEN,
        opened_at=timezone.now(),
        department_due_date=department_due_date,
        review_due_date=review_due_date,
    )
    round_._change_reason = "open"
    round_.save()
    bulk_create_with_history(
        [
            Evaluation(round=round_, initiative=initiative)
            for initiative in Initiative.objects.filter(plan=plan).only("pk")
        ],
        Evaluation,
        default_user=actor.user,
        default_change_reason="round opened",
    )
    events.record(EventKind.ROUND_OPENED, round_, actor=actor)
    return round_


def _round_save(round_: Round, fields: list[str], reason: str) -> Round:
    round_._change_reason = reason
    round_.save(update_fields=fields)
    return round_


@transaction.atomic
def round_update(*, actor: Actor, round_: Round, data: dict[str, Any]) -> Round:
    """Set, change or clear (None) a round's due dates, in any state: the plan's secretariat
    only. Each change is kept in the round's history, its reason naming the new dates; a
    change to nothing writes nothing."""
    round_ = _locked_round(round_.pk)
    policy.require_may_change_round(actor, round_)
    unknown = sorted(set(data) - set(ROUND_DATE_FIELDS))
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in unknown})
    after = {name: data.get(name, getattr(round_, name)) for name in ROUND_DATE_FIELDS}
    round_dates_validate(**after)
    changed = [name for name in ROUND_DATE_FIELDS if after[name] != getattr(round_, name)]
    if not changed:
        return round_
    for name in changed:
        setattr(round_, name, after[name])
    shown = ", ".join(f"{name} {after[name] or '-'}" for name in changed)
    return _round_save(round_, changed, f"due dates: {shown}")


@transaction.atomic
def round_close(*, actor: Actor, round_: Round) -> Round:
    """Stop data entry; review (return, approve, reopen) goes on."""
    round_ = _locked_round(round_.pk)
    policy.require(actor, Action.CLOSE, round_)
    round_.status, round_.closed_at = RoundStatus.CLOSED, timezone.now()
    events.record(EventKind.ROUND_CLOSED, round_, actor=actor)
    return _round_save(round_, ["status", "closed_at"], "close")


@transaction.atomic
def round_reopen(*, actor: Actor, round_: Round, reason: str = "") -> Round:
    """Open a closed round again, or a published one with a reason (recorded in the history):
    departments can enter data again and the public no longer sees the round until it is
    published again."""
    round_ = _locked_round(round_.pk)
    policy.require(actor, Action.REOPEN, round_)
    policy.require_reason_to_reopen(round_, reason)
    round_.status, round_.published_at = RoundStatus.OPEN, None
    events.record(EventKind.ROUND_REOPENED, round_, actor=actor)
    return _round_save(
        round_, ["status", "published_at"], f"reopen: {reason}" if reason.strip() else "reopen"
    )


@transaction.atomic
def round_publish(*, actor: Actor, round_: Round) -> Round:
    """Publish a closed round whose evaluations are all approved; else say which are not."""
    round_ = _locked_round(round_.pk)
    policy.require(actor, Action.PUBLISH, round_)
    evaluations = round_.evaluations.select_for_update(of=("self",))
    pending = sorted(
        number
        for number, status in evaluations.values_list("initiative__number", "status")
        if status != EvaluationStatus.APPROVED
    )
    if pending:
        raise WorkflowConflict(
            _("Not every evaluation is approved; initiatives not approved: %(numbers)s")
            % {"numbers": ", ".join(str(number) for number in pending)},
            current_state=round_.status,
            state_label=round_.get_status_display(),
        )
    round_.status, round_.published_at = RoundStatus.PUBLISHED, timezone.now()
    events.record(EventKind.ROUND_PUBLISHED, round_, actor=actor)
    return _round_save(round_, ["status", "published_at"], "publish")
