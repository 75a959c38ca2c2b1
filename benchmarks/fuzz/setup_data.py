"""Fixture data for the schemathesis run: widen the shipped plan, open R7, create a principal
per role, and write their credentials as JSON (for the fuzz driver, never committed).

Run after ``migrate`` and ``load_plan`` against the throwaway fuzz database:

    .venv/bin/python benchmarks/fuzz/setup_data.py OUT.json
"""

import json
import os
import secrets
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dxapi.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402

from evaluations import services  # noqa: E402
from evaluations.models import Evaluation, KPIActual, Round  # noqa: E402
from initiatives.access import actor_for_user  # noqa: E402
from initiatives.models import (  # noqa: E402
    ApiKey,
    ApiKeyRole,
    Department,
    DepartmentMembership,
    DepartmentRole,
    Plan,
    SecretariatMembership,
)

PLAN_CODE = "akita-dx"
DEPARTMENT_CODE = "kikaku-shinko"  # has initiatives (and so R7 evaluations) of its own
R7 = 2025
# Texts seeded into unpublished evaluations: the public must never see either, a department
# member never the other departments' one.
MARKERS = {"own": "FUZZ-R7-OWN-DEPARTMENT", "other": "FUZZ-R7-OTHER-DEPARTMENT"}


def seed_r7(actor, evaluations: list[Evaluation], marker: str) -> None:
    """Give some R7 evaluations each state of the review, a rating and KPI actuals, with
    ``marker`` in their texts, so that a leak of unpublished data shows, and the workflow
    actions have something to act on."""
    states = ["submitted", "approved", "returned", "draft"]
    for index, evaluation in enumerate(evaluations):
        state = states[index % len(states)]
        evaluation = services.evaluation_update(
            actor=actor,
            evaluation=evaluation,
            data={"rating": "BAC-"[index % 4], "rating_reason": marker},
        )
        for kpi in evaluation.initiative.kpis.all()[:1]:
            services.kpi_actual_save(
                actor=actor,
                evaluation=evaluation,
                kpi=kpi,
                value=Decimal("12.5"),
                as_of=date(R7 + 1, 3, 31),
                note=marker,
            )
        if state == "draft":
            continue
        evaluation = services.evaluation_submit(actor=actor, evaluation=evaluation)
        if state == "approved":
            services.evaluation_approve(actor=actor, evaluation=evaluation)
        elif state == "returned":
            services.evaluation_return(actor=actor, evaluation=evaluation, comment=marker)


@transaction.atomic
def main(out: Path) -> None:
    plan = Plan.objects.get(code=PLAN_CODE)
    plan.end_year = max(plan.end_year, R7 + 1)
    plan.save(update_fields=["end_year"])
    department = Department.objects.get(plan=plan, code=DEPARTMENT_CODE)

    users = get_user_model().objects
    password = secrets.token_urlsafe(24)

    def user(name: str):
        # is_staff: they sign in through the admin's login page, as the README says.
        return users.create_user(username=name, password=password, is_staff=True)

    secretariat = user("fuzz-secretariat")
    SecretariatMembership.objects.create(user=secretariat, plan=plan)
    editor = user("fuzz-editor")
    DepartmentMembership.objects.create(
        user=editor, department=department, role=DepartmentRole.EDITOR
    )
    viewer = user("fuzz-viewer")
    DepartmentMembership.objects.create(
        user=viewer, department=department, role=DepartmentRole.VIEWER
    )

    if not Round.objects.filter(plan=plan, fiscal_year=R7).exists():
        services.round_open(actor=actor_for_user(secretariat), plan=plan, fiscal_year=R7)

    _, read_key = ApiKey.objects.create_key(name="fuzz-read", plan=plan, role=ApiKeyRole.READER)
    _, rw_key = ApiKey.objects.create_key(name="fuzz-read-write", plan=plan, role=ApiKeyRole.EDITOR)
    _, bound_key = ApiKey.objects.create_key(
        name="fuzz-department", plan=plan, department=department, role=ApiKeyRole.EDITOR
    )

    r7_evaluations = Evaluation.objects.filter(round__plan=plan, round__fiscal_year=R7)
    own = r7_evaluations.filter(initiative__departments=department).order_by("pk")
    others = (
        r7_evaluations.exclude(initiative__departments=department)
        .filter(initiative__departments__isnull=False)
        .distinct()
        .order_by("pk")
    )
    seeder = actor_for_user(secretariat)
    seed_r7(seeder, list(own[:4]), MARKERS["own"])
    seed_r7(seeder, list(others[:4]), MARKERS["other"])
    r7_actuals = KPIActual.objects.filter(evaluation__in=r7_evaluations).order_by("pk")
    own_ids = set(own.values_list("pk", flat=True))
    pairs = [
        {"evaluation": evaluation_id, "kpi": kpi_id, "own": evaluation_id in own_ids}
        for evaluation_id, kpi_id in r7_evaluations.filter(initiative__kpis__isnull=False)
        .values_list("pk", "initiative__kpis")
        .order_by("pk", "initiative__kpis")
    ]
    credentials = {
        "plan": {"id": plan.pk, "code": plan.code},
        "department": {"id": department.pk, "code": department.code},
        "r7_round": Round.objects.get(plan=plan, fiscal_year=R7).pk,
        "markers": MARKERS,
        "unpublished_years": [R7, R7 + 1],
        "r7_evaluations": list(r7_evaluations.order_by("pk").values_list("pk", flat=True)),
        "own_r7_evaluations": list(own.values_list("pk", flat=True)),
        # Targets the fuzzer's writes are steered to half of the time (hooks.py).
        "r7_kpi_actuals": list(r7_actuals.values_list("pk", flat=True)),
        "r7_kpi_pairs": pairs,
        "password": password,
        "users": {
            "secretariat": secretariat.username,
            "editor": editor.username,
            "viewer": viewer.username,
        },
        "keys": {"read_key": read_key, "rw_key": rw_key, "bound_key": bound_key},
    }
    out.write_text(json.dumps(credentials, indent=2))
    out.chmod(0o600)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
