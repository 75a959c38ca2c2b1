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

from evaluations.exchange.columns import header_of
from evaluations.exchange.sheets import csv_lines
from evaluations.exchange.templates import decimal_text, normalized
from evaluations.models import (
    EVALUATION_EDITABLE_FIELDS,
    REVIEWER_FIELDS_WITHHELD,
    Evaluation,
    KPIActual,
    Round,
)
from evaluations.plan_loader import FORMAT
from evaluations.policy import evaluations_visible_to, kpi_actuals_visible_to, rounds_visible_to
from initiatives.access import Actor, may_see_who_changed
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
                .select_related("round", "submitted_by", "approved_by")
                .order_by("round__fiscal_year"),
            ),
        )
    )


def _username(user) -> str | None:
    return None if user is None else user.get_username()


def _review(evaluation: Evaluation, show_who: bool) -> dict[str, Any]:
    """The workflow record of an evaluation; who reviewed it and what they wrote only for
    those who may see who worked on it (``access.may_see_who_changed``)."""
    review = {
        "submitted_at": evaluation.submitted_at and evaluation.submitted_at.isoformat(),
        "approved_at": evaluation.approved_at and evaluation.approved_at.isoformat(),
        "submitted_by": _username(evaluation.submitted_by),
        "approved_by": _username(evaluation.approved_by),
        "review_comment": evaluation.review_comment,
        "version": evaluation.version,
    }
    return review if show_who else review | REVIEWER_FIELDS_WITHHELD


def _initiative_document(initiative: Initiative, actor: Actor) -> dict[str, Any]:
    responsibilities = initiative.responsibilities.all()
    show_who = may_see_who_changed(
        actor,
        plan_id=initiative.plan_id,
        department_ids=[item.department_id for item in responsibilities],
    )
    return {
        "number": initiative.number,
        "title": initiative.title,
        "major": initiative.is_major,
        "departments": [
            {"code": item.department.code, "lead": item.is_lead} for item in responsibilities
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
                **_review(evaluation, show_who),
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
            yield from _joined(_json(_initiative_document(i, actor)) for i in initiatives)
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
        yield [number, order, year, normalized(value), text]


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
        yield [year, number, order, normalized(value), as_of, note, version]


# Headings in the progress sheet's Japanese vocabulary (``columns``), so that the
# evaluations and KPI actuals tables can be imported back as they are.
_YEAR, _NUMBER, _KPI = header_of("fiscal_year"), header_of("initiative_number"), "指標番号"
TABLES: dict[str, TableSpec] = {
    "departments": (["コード", "部局名", "表示順"], _departments),
    "pillars": (["表示順", "分類", "テーマ"], _pillars),
    "policy_areas": (["分類の表示順", "施策番号", "施策"], _policy_areas),
    "initiatives": (
        [_NUMBER, "分類の表示順", "施策番号", "取組事項", "主な取組", "再掲元"],
        _initiative_rows,
    ),
    "initiative_departments": ([_NUMBER, "部局コード", "主担当"], _responsibilities),
    "kpis": ([_NUMBER, _KPI, "指標名", "単位", "累計", "方向"], _kpis),
    "kpi_targets": ([_NUMBER, _KPI, _YEAR, "目標値", "目標（定性）"], _targets),
    "rounds": ([_YEAR, "状態", "公表日時"], _round_rows),
    "evaluations": (
        [
            _YEAR,
            _NUMBER,
            *(header_of(name) for name in EVALUATION_EDITABLE_FIELDS),
            "備考",
            "状態",
            header_of("version"),
        ],
        _evaluation_rows,
    ),
    "kpi_actuals": (
        [_YEAR, _NUMBER, _KPI, *(header_of(key) for key in ("value", "as_of", "note", "version"))],
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
