"""Load a plan document (the JSON format of ``evaluations/data/``) into the database.

Idempotent: records are matched by their natural keys (plan code, department code, pillar
order, policy-area number, initiative number, KPI order, fiscal year) and written only when a
value differs, so a second run of the same document changes nothing. Transactional: a
document that fails anywhere leaves the database as it was.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from dxapi.versions import ANY_VERSION, claim_version
from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round, RoundStatus
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

SHIPPED_DOCUMENT = Path(__file__).resolve().parent / "data" / "akita-dx-progress-r6.json"
FORMAT = "dxapi-plan/1"


class PlanDocumentError(ValueError):
    """The document is not a plan document this loader understands."""


@dataclass
class LoadSummary:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)

    def record(self, model: type[models.Model], outcome: str) -> None:
        getattr(self, outcome)[model._meta.verbose_name_plural] += 1

    @property
    def changed(self) -> bool:
        return bool(sum(self.created.values()) or sum(self.updated.values()))

    def as_text(self) -> str:
        lines = []
        for outcome in ("created", "updated", "unchanged"):
            counts = getattr(self, outcome)
            if counts:
                parts = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
                lines.append(f"{outcome}: {parts}")
        return "\n".join(lines) or "nothing to load"


def read_document(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8-sig") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PlanDocumentError(f"{path} is not a '{FORMAT}' document.")
    return document


def _decimal(value: str | int | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


HISTORY_REASON = "load_plan"


class _Upserter:
    def __init__(self, summary: LoadSummary) -> None:
        self.summary = summary

    def __call__(self, model: type[models.Model], lookup: dict, values: dict) -> models.Model:
        instance = model.objects.filter(**lookup).first()
        if instance is None:
            instance = model(**lookup, **values)
            instance.full_clean(validate_unique=False, validate_constraints=False)
            instance._change_reason = HISTORY_REASON
            instance.save()
            self.summary.record(model, "created")
            return instance
        changed = [name for name, value in values.items() if getattr(instance, name) != value]
        if changed:
            for name in changed:
                setattr(instance, name, values[name])
            instance.full_clean(validate_unique=False, validate_constraints=False)
            if hasattr(instance, "version"):  # API clients' ETags of it are stale now
                claim_version(instance, ANY_VERSION)
            instance._change_reason = HISTORY_REASON
            instance.save()
            self.summary.record(model, "updated")
        else:
            self.summary.record(model, "unchanged")
        return instance


@transaction.atomic
def plan_document_load(*, document: dict[str, Any]) -> LoadSummary:
    """Load a plan document; ``PlanDocumentError`` names what is wrong, and nothing is
    written then."""
    try:
        return _load(document)
    except KeyError as error:
        raise PlanDocumentError(f"The document refers to an unknown or missing {error}.") from None
    except ValidationError as error:
        raise PlanDocumentError(f"Invalid value: {error.message_dict}") from None


def _load(document: dict[str, Any]) -> LoadSummary:
    summary = LoadSummary()
    upsert = _Upserter(summary)
    plan_data = document["plan"]
    plan = upsert(
        Plan,
        {"code": plan_data["code"]},
        {
            "organisation": plan_data["organisation"],
            "name": plan_data["name"],
            "start_year": plan_data["start_year"],
            "end_year": plan_data["end_year"],
            "description": plan_data.get("description", ""),
        },
    )
    departments = {
        item["code"]: upsert(
            Department,
            {"plan": plan, "code": item["code"]},
            {"name": item["name"], "order": item["order"]},
        )
        for item in document["departments"]
    }
    rounds = {}
    for item in document["rounds"]:
        existing = Round.objects.filter(plan=plan, fiscal_year=item["fiscal_year"]).first()
        published_at = existing.published_at if existing else None
        if item["status"] == RoundStatus.PUBLISHED and published_at is None:
            published_at = timezone.now()
        rounds[item["fiscal_year"]] = upsert(
            Round,
            {"plan": plan, "fiscal_year": item["fiscal_year"]},
            {"status": item["status"], "published_at": published_at},
        )
    for pillar_data in document["pillars"]:
        pillar = upsert(
            Pillar,
            {"plan": plan, "order": pillar_data["order"]},
            {"name": pillar_data["name"], "theme": pillar_data.get("theme", "")},
        )
        for area_data in pillar_data["policy_areas"]:
            area = upsert(
                PolicyArea,
                {"pillar": pillar, "number": area_data["number"]},
                {"name": area_data["name"]},
            )
            for initiative_data in area_data["initiatives"]:
                _load_initiative(upsert, plan, area, departments, rounds, initiative_data)
    return summary


def _load_responsibilities(upsert, initiative, departments, items: list[dict]) -> None:
    """Make the initiative's responsible departments exactly those of the document."""
    wanted = {(departments[item["code"]].pk, item.get("lead", False)) for item in items}
    current = set(initiative.responsibilities.values_list("department_id", "is_lead"))
    if wanted == current:
        for _ in wanted:
            upsert.summary.record(InitiativeDepartment, "unchanged")
        return
    initiative.responsibilities.all().delete()
    for department_id, is_lead in sorted(wanted, key=lambda pair: not pair[1]):
        responsibility = InitiativeDepartment(
            initiative=initiative, department_id=department_id, is_lead=is_lead
        )
        responsibility._change_reason = HISTORY_REASON
        responsibility.save()
        upsert.summary.record(InitiativeDepartment, "created")


def _user(username: str | None):
    """The user of that name, if this service has one (a document may come from another)."""
    if not username:
        return None
    return get_user_model().objects.filter(username=username).first()


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _review(item: dict[str, Any]) -> dict[str, Any]:
    """The workflow record an exported document carries (review comment, who and when);
    what a document leaves out is left as it is."""
    readers = {
        "review_comment": lambda value: value or "",
        "submitted_at": _datetime,
        "approved_at": _datetime,
        "submitted_by": _user,
        "approved_by": _user,
    }
    return {name: read(item[name]) for name, read in readers.items() if name in item}


def _load_initiative(upsert, plan, area, departments, rounds, data: dict[str, Any]) -> None:
    initiative = upsert(
        Initiative,
        {"plan": plan, "number": data["number"]},
        {"policy_area": area, "title": data["title"], "is_major": data.get("major", False)},
    )
    _load_responsibilities(upsert, initiative, departments, data.get("departments", []))
    kpis = []
    for order, kpi_data in enumerate(data.get("kpis", []), start=1):
        kpi = upsert(
            KPI,
            {"initiative": initiative, "order": order},
            {
                "name": kpi_data["name"],
                "unit": kpi_data.get("unit", ""),
                "is_cumulative": kpi_data.get("cumulative", False),
                "direction": kpi_data.get("direction", "higher"),
            },
        )
        kpis.append((kpi, kpi_data))
        for target in kpi_data.get("targets", []):
            upsert(
                KPITarget,
                {"kpi": kpi, "fiscal_year": target["fiscal_year"]},
                {"value": _decimal(target.get("value")), "text": target.get("text", "")},
            )
    evaluations = {}
    for item in data.get("evaluations", []):
        round_ = rounds[item["fiscal_year"]]
        published = round_.status == RoundStatus.PUBLISHED
        evaluations[item["fiscal_year"]] = upsert(
            Evaluation,
            {"initiative": initiative, "round": round_},
            {
                "rating": item.get("rating") or None,
                "rating_reason": item.get("rating_reason", ""),
                "plan_text": item.get("plan_text", ""),
                "progress_text": item.get("progress_text", ""),
                "next_actions": item.get("next_actions", ""),
                "note": item.get("note", ""),
                "status": item.get(
                    "status", EvaluationStatus.APPROVED if published else EvaluationStatus.DRAFT
                ),
                **_review(item),
            },
        )
    for kpi, kpi_data in kpis:
        for actual in kpi_data.get("actuals", []):
            upsert(
                KPIActual,
                {"evaluation": evaluations[actual["fiscal_year"]], "kpi": kpi},
                {
                    "value": _decimal(actual["value"]),
                    "as_of": _date(actual.get("as_of")),
                    "note": actual.get("note", ""),
                },
            )
