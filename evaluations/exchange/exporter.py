"""Export of a whole plan, streamed with constant memory.

- ``plan_document_chunks``: the plan as a ``dxapi-plan/1`` document, the format
  ``evaluations.plan_loader.plan_document_load`` reads (every field it reads, plus each
  evaluation's ``status`` and ``rating_reason``). Export → load into an empty database →
  export gives the same document.
- ``table_chunks``: one table as CSV (UTF-8 with BOM), rows keyed by natural keys.

What is exported is what the actor may see: the structure is public; rounds, evaluations and
KPI actuals go through ``selectors.rounds_visible_to`` / ``evaluations_visible_to``, so the
plan's secretariat gets everything and the public the published rounds only.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db.models import Prefetch, QuerySet

from evaluations.exchange.sheets import csv_lines
from evaluations.exchange.templates import decimal_text
from evaluations.models import EVALUATION_EDITABLE_FIELDS, Evaluation, KPIActual, Round
from evaluations.plan_loader import FORMAT
from evaluations.policy import evaluations_visible_to, kpi_actuals_visible_to, rounds_visible_to
from initiatives.access import Actor
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
)

CHUNK_SIZE = 1000


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _rounds(actor: Actor, plan: Plan) -> QuerySet[Round]:
    return rounds_visible_to(actor).filter(plan=plan).order_by("fiscal_year")


def _evaluations(actor: Actor, plan: Plan) -> QuerySet[Evaluation]:
    return evaluations_visible_to(actor).filter(round__in=_rounds(actor, plan))


def _actuals(actor: Actor, plan: Plan) -> QuerySet[KPIActual]:
    return kpi_actuals_visible_to(actor).filter(evaluation__round__in=_rounds(actor, plan))


def _initiatives(actor: Actor, plan: Plan, area: PolicyArea) -> QuerySet[Initiative]:
    kpis = KPI.objects.order_by("order").prefetch_related(
        Prefetch("targets", queryset=KPITarget.objects.order_by("fiscal_year")),
        Prefetch(
            "actuals",
            queryset=_actuals(actor, plan)
            .select_related("evaluation__round")
            .order_by("evaluation__round__fiscal_year"),
        ),
    )
    return (
        Initiative.objects.filter(policy_area=area)
        .order_by("number")
        .prefetch_related(
            Prefetch(
                "responsibilities",
                queryset=InitiativeDepartment.objects.select_related("department").order_by(
                    "-is_lead", "department__order", "department__code"
                ),
            ),
            Prefetch("kpis", queryset=kpis),
            Prefetch(
                "evaluations",
                queryset=_evaluations(actor, plan)
                .select_related("round")
                .order_by("round__fiscal_year"),
            ),
        )
    )


def _initiative_document(initiative: Initiative) -> dict[str, Any]:
    return {
        "number": initiative.number,
        "title": initiative.title,
        "major": initiative.is_major,
        "departments": [
            {"code": item.department.code, "lead": item.is_lead}
            for item in initiative.responsibilities.all()
        ],
        "kpis": [
            {
                "name": kpi.name,
                "unit": kpi.unit,
                "cumulative": kpi.is_cumulative,
                "direction": kpi.direction,
                "targets": [
                    {
                        "fiscal_year": target.fiscal_year,
                        "value": None if target.value is None else decimal_text(target.value),
                        "text": target.text,
                    }
                    for target in kpi.targets.all()
                ],
                "actuals": [
                    {
                        "fiscal_year": actual.evaluation.round.fiscal_year,
                        "value": decimal_text(actual.value),
                        "as_of": actual.as_of.isoformat() if actual.as_of else None,
                        "note": actual.note,
                    }
                    for actual in kpi.actuals.all()
                ],
            }
            for kpi in initiative.kpis.all()
        ],
        "evaluations": [
            {
                "fiscal_year": evaluation.round.fiscal_year,
                **{name: getattr(evaluation, name) for name in EVALUATION_EDITABLE_FIELDS},
                "note": evaluation.note,
                "status": evaluation.status,
            }
            for evaluation in initiative.evaluations.all()
        ],
    }


def _joined(items: Iterable[str]) -> Iterator[str]:
    for index, item in enumerate(items):
        yield item if index == 0 else "," + item


def plan_document_chunks(*, actor: Actor, plan: Plan) -> Iterator[str]:
    """The plan as a ``dxapi-plan/1`` JSON document, in chunks of about one initiative."""
    head = {
        "format": FORMAT,
        "plan": {
            "code": plan.code,
            "organisation": plan.organisation,
            "name": plan.name,
            "start_year": plan.start_year,
            "end_year": plan.end_year,
            "description": plan.description,
        },
        "departments": [
            {"code": d.code, "name": d.name, "order": d.order}
            for d in Department.objects.filter(plan=plan).order_by("order", "code")
        ],
        "rounds": [
            {"fiscal_year": r.fiscal_year, "status": r.status} for r in _rounds(actor, plan)
        ],
    }
    yield _json(head)[:-1] + ',"pillars":['
    for pillar_index, pillar in enumerate(Pillar.objects.filter(plan=plan).order_by("order")):
        pillar_head = {"order": pillar.order, "name": pillar.name, "theme": pillar.theme}
        yield ("," if pillar_index else "") + _json(pillar_head)[:-1] + ',"policy_areas":['
        areas = PolicyArea.objects.filter(pillar=pillar).order_by("number")
        for area_index, area in enumerate(areas):
            area_head = {"number": area.number, "name": area.name}
            yield ("," if area_index else "") + _json(area_head)[:-1] + ',"initiatives":['
            initiatives = _initiatives(actor, plan, area).iterator(chunk_size=CHUNK_SIZE)
            yield from _joined(_json(_initiative_document(i)) for i in initiatives)
            yield "]}"
        yield "]}"
    yield "]}\n"


def plan_document(*, actor: Actor, plan: Plan) -> dict[str, Any]:
    """The whole document in memory (for tests and small plans)."""
    return json.loads("".join(plan_document_chunks(actor=actor, plan=plan)))


# --- CSV tables -------------------------------------------------------------------------

Row = list[Any]
TableSpec = tuple[list[str], Callable[[Actor, Plan], Iterator[Row]]]


def _rows(queryset: QuerySet, fields: list[str]) -> Iterator[tuple]:
    return queryset.values_list(*fields).iterator(chunk_size=CHUNK_SIZE)


def _departments(actor: Actor, plan: Plan) -> Iterator[Row]:
    yield from map(
        list,
        _rows(
            Department.objects.filter(plan=plan).order_by("order", "code"),
            ["code", "name", "order"],
        ),
    )


def _pillars(actor: Actor, plan: Plan) -> Iterator[Row]:
    yield from map(
        list, _rows(Pillar.objects.filter(plan=plan).order_by("order"), ["order", "name", "theme"])
    )


def _policy_areas(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = PolicyArea.objects.filter(pillar__plan=plan).order_by("pillar__order", "number")
    yield from map(list, _rows(queryset, ["pillar__order", "number", "name"]))


def _initiative_rows(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = Initiative.objects.filter(plan=plan).order_by("number")
    fields = [
        "number",
        "policy_area__pillar__order",
        "policy_area__number",
        "title",
        "is_major",
        "relists__number",
    ]
    yield from map(list, _rows(queryset, fields))


def _responsibilities(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = InitiativeDepartment.objects.filter(initiative__plan=plan).order_by(
        "initiative__number", "-is_lead", "department__order"
    )
    yield from map(list, _rows(queryset, ["initiative__number", "department__code", "is_lead"]))


def _kpis(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = KPI.objects.filter(initiative__plan=plan).order_by("initiative__number", "order")
    fields = ["initiative__number", "order", "name", "unit", "is_cumulative", "direction"]
    yield from map(list, _rows(queryset, fields))


def _targets(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = KPITarget.objects.filter(kpi__initiative__plan=plan).order_by(
        "kpi__initiative__number", "kpi__order", "fiscal_year"
    )
    fields = ["kpi__initiative__number", "kpi__order", "fiscal_year", "value", "text"]
    for number, order, year, value, text in _rows(queryset, fields):
        yield [number, order, year, decimal_text(value), text]


def _round_rows(actor: Actor, plan: Plan) -> Iterator[Row]:
    yield from map(list, _rows(_rounds(actor, plan), ["fiscal_year", "status", "published_at"]))


def _evaluation_rows(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = _evaluations(actor, plan).order_by("round__fiscal_year", "initiative__number")
    fields = [
        "round__fiscal_year",
        "initiative__number",
        *EVALUATION_EDITABLE_FIELDS,
        "note",
        "status",
        "version",
    ]
    yield from map(list, _rows(queryset, fields))


def _actual_rows(actor: Actor, plan: Plan) -> Iterator[Row]:
    queryset = _actuals(actor, plan).order_by(
        "evaluation__round__fiscal_year", "kpi__initiative__number", "kpi__order"
    )
    fields = [
        "evaluation__round__fiscal_year",
        "kpi__initiative__number",
        "kpi__order",
        "value",
        "as_of",
        "note",
        "version",
    ]
    for year, number, order, value, as_of, note, version in _rows(queryset, fields):
        yield [year, number, order, decimal_text(value), as_of, note, version]


TABLES: dict[str, TableSpec] = {
    "departments": (["code", "name", "order"], _departments),
    "pillars": (["order", "name", "theme"], _pillars),
    "policy_areas": (["pillar_order", "number", "name"], _policy_areas),
    "initiatives": (
        ["number", "pillar_order", "policy_area_number", "title", "major", "relists"],
        _initiative_rows,
    ),
    "initiative_departments": (["initiative_number", "department_code", "lead"], _responsibilities),
    "kpis": (
        ["initiative_number", "order", "name", "unit", "cumulative", "direction"],
        _kpis,
    ),
    "kpi_targets": (
        ["initiative_number", "kpi_order", "fiscal_year", "value", "text"],
        _targets,
    ),
    "rounds": (["fiscal_year", "status", "published_at"], _round_rows),
    "evaluations": (
        [
            "fiscal_year",
            "initiative_number",
            *EVALUATION_EDITABLE_FIELDS,
            "note",
            "status",
            "version",
        ],
        _evaluation_rows,
    ),
    "kpi_actuals": (
        ["fiscal_year", "initiative_number", "kpi_order", "value", "as_of", "note", "version"],
        _actual_rows,
    ),
}


def table_chunks(*, actor: Actor, plan: Plan, table: str) -> Iterator[bytes]:
    """One table of the plan as CSV (UTF-8 with BOM), a chunk per row."""
    header, rows = TABLES[table]

    def all_rows() -> Iterator[Row]:
        yield header
        yield from rows(actor, plan)

    return csv_lines(all_rows())
