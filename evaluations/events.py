"""The outbox of the yearly cycle: each change that others may act on (a round opened,
closed, reopened or published; an evaluation updated, submitted, returned, approved or
reopened; a KPI actual changed) is recorded as an ``Event`` in the transaction of the change,
so that an event exists if and only if its change committed.

The services record one event per call (``record``), the sheet import one per changed row
(``record_many``, one bulk insert). The event feed (``GET /api/v1/events/``) reads them and
the webhooks (``evaluations.webhooks``) deliver them: once the transaction commits, the
dispatcher is queued (``dxapi.jobs.enqueue``) when some webhook of the plan wants the kind.

What an event carries (``payload``) is what a subscriber needs to act without asking again:
ids, codes, the fiscal year, the states, the rating, the comment of a return or a reopening,
and the kind of actor (user, API key or system) — never who the actor is."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from dxapi.jobs import enqueue
from dxapi.numbers import plain_decimal
from evaluations.models import (
    Evaluation,
    Event,
    EventKind,
    KPIActual,
    Round,
    WebhookSubscription,
)
from initiatives.access import Actor
from initiatives.models import KPI

# Payload keys withheld from feed readers who may not see who reviewed an evaluation
# (``models.REVIEWER_FIELDS_WITHHELD``): the review comment.
PRIVATE_KEYS = ("comment",)


def actor_kind(actor: Actor | None) -> str:
    if actor is None:
        return "system"
    return "api_key" if actor.api_key is not None else "user"


def _round_part(round_: Round) -> dict[str, Any]:
    return {
        "plan": {"id": round_.plan_id, "code": round_.plan.code},
        "round": {"id": round_.pk, "fiscal_year": round_.fiscal_year, "status": round_.status},
    }


def _evaluation_part(evaluation: Evaluation, initiative_number: int | None = None) -> dict:
    number = initiative_number
    if number is None:
        number = evaluation.initiative.number
    return {
        "evaluation": {
            "id": evaluation.pk,
            "initiative_number": number,
            "status": evaluation.status,
            "rating": evaluation.rating,
            "version": evaluation.version,
        }
    }


def _kpi_actual_part(kpi: KPI, actual: KPIActual, deleted: bool) -> dict[str, Any]:
    return {
        "kpi": {"id": kpi.pk, "order": kpi.order},
        "kpi_actual": {
            "id": None if deleted else actual.pk,
            "value": None if actual.value is None else plain_decimal(actual.value),
            "as_of": actual.as_of.isoformat() if actual.as_of else None,
            "note": actual.note,
            "roadmap_status": getattr(actual, "roadmap_status", None),
            "version": actual.version,
            "deleted": deleted,
        },
    }


def build(
    kind: EventKind,
    subject: Round | Evaluation,
    *,
    actor: Actor | None,
    actual: KPIActual | None = None,
    deleted: KPIActual | None = None,
    comment: str | None = None,
    initiative_number: int | None = None,
) -> Event:
    """The event (not saved) of a change to ``subject``: a round, or an evaluation with, for
    a KPI actual's change, the ``actual`` saved or the one ``deleted``."""
    evaluation = subject if isinstance(subject, Evaluation) else None
    round_ = evaluation.round if evaluation is not None else subject
    payload: dict[str, Any] = {"kind": str(kind), **_round_part(round_)}
    if evaluation is not None:
        payload |= _evaluation_part(evaluation, initiative_number)
    actual = actual or deleted
    if actual is not None:
        payload |= _kpi_actual_part(actual.kpi, actual, deleted is not None)
    if comment is not None:
        payload["comment"] = comment
    payload["actor"] = {"kind": actor_kind(actor)}
    return Event(
        kind=kind,
        plan_id=round_.plan_id,
        round_id=round_.pk,
        evaluation_id=evaluation.pk if evaluation is not None else None,
        kpi_id=actual.kpi_id if actual is not None else None,
        payload=payload,
    )


def _wanted_by_webhooks(plan_id: int, kinds: set[str]) -> bool:
    """Whether an active webhook of the plan subscribes to one of ``kinds``."""
    subscribed = WebhookSubscription.objects.filter(plan_id=plan_id, is_active=True)
    wanted = subscribed.values_list("kinds", flat=True)
    return any(not listed or kinds & set(listed) for listed in wanted)


def _dispatch_on_commit() -> None:
    from evaluations.tasks import dispatch_webhook_events

    enqueue(dispatch_webhook_events)


def record(
    kind: EventKind, subject: Round | Evaluation, *, actor: Actor | None, **details: Any
) -> Event:
    """Record the event of a change to ``subject`` (see ``build``) in the caller's
    transaction (the services')."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("An event is recorded in the transaction of its change.")
    event = build(kind, subject, actor=actor, **details)
    event.dispatched = not _wanted_by_webhooks(event.plan_id, {str(kind)})
    event.save()
    if not event.dispatched:
        _dispatch_on_commit()
    return event


def record_many(events: Iterable[Event]) -> list[Event]:
    """Insert events made by ``build`` at once (the sheet import: one per changed row)."""
    events = list(events)
    if not events:
        return events
    by_plan: dict[int, set[str]] = {}
    for event in events:
        by_plan.setdefault(event.plan_id, set()).add(str(event.kind))
    wanted = {plan for plan, kinds in by_plan.items() if _wanted_by_webhooks(plan, kinds)}
    now = timezone.now()  # the feed's delay counts from the insert (EVENT_FEED_DELAY_SECONDS)
    for event in events:
        event.dispatched = event.plan_id not in wanted
        event.created_at = now
    created = Event.objects.bulk_create(events, batch_size=2000)
    if wanted:
        _dispatch_on_commit()
    return created


def record_import(*, actor: Actor, changes: Any, validator: Any) -> list[Event]:
    """The events of a sheet import (``exchange.importer``), in its transaction: one per
    changed evaluation row and per created or changed KPI actual, inserted at once."""
    numbers = {pk: number for number, pk in validator.initiatives.items()}
    evaluations = {evaluation.pk: evaluation for evaluation in validator.evaluations.values()}
    kpis = {kpi.pk: kpi for kpi in validator.kpis.values()}
    built = [
        build(
            EventKind.EVALUATION_UPDATED,
            evaluation,
            actor=actor,
            initiative_number=numbers.get(evaluation.initiative_id),
        )
        for evaluation in changes.evaluations
    ]
    for actual in [*changes.created, *changes.updated]:
        evaluation = evaluations[actual.evaluation_id]
        actual.kpi = kpis[actual.kpi_id]  # loaded already: no query per row
        built.append(
            build(
                EventKind.KPI_ACTUAL_CHANGED,
                evaluation,
                actor=actor,
                actual=actual,
                initiative_number=numbers.get(evaluation.initiative_id),
            )
        )
    return record_many(built)


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without what only the people who work on the record may read."""
    return {key: value for key, value in payload.items() if key not in PRIVATE_KEYS}
