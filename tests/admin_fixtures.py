"""Fixtures and helpers of the admin's tests: a logged-in client per role, No. 89's
evaluation in each state of the cycle, and the POST data of an admin change form.

Members work from their membership alone: none of the role users is staff or has a Django
permission granted by hand (``RoleBackend`` gives them what their role needs).
"""

from typing import Any

import pytest
from django import forms
from django.test import Client
from django.urls import reverse

from evaluations import services
from evaluations.models import Evaluation, KPIActual
from initiatives.access import actor_for_user
from initiatives.models import KPI, Plan, SecretariatMembership
from tests.conftest import evaluation, initiative

ROLES = (
    "viewer",
    "editor",
    "other_editor",
    "secretariat",
    "other_secretariat",
    "superuser",
)
STATES = ("draft", "submitted", "approved", "published")


def admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def other_plan(plan) -> Plan:
    """Another prefecture's plan, with no rounds."""
    return Plan.objects.create(
        code="other-dx", organisation="他県", name="他県DX推進計画", start_year=2023, end_year=2025
    )


@pytest.fixture
def other_secretariat_user(other_plan, django_user_model):
    """The secretariat of another plan: a member, but of nothing in the shipped plan."""
    user = django_user_model.objects.create_user(username="other-jimukyoku", password="unused")
    SecretariatMembership.objects.create(user=user, plan=other_plan)
    return user


@pytest.fixture
def role_users(
    viewer_user,
    editor_user,
    other_editor_user,
    secretariat_user,
    other_secretariat_user,
    staff_user,
) -> dict[str, Any]:
    return {
        "viewer": viewer_user,
        "editor": editor_user,
        "other_editor": other_editor_user,
        "secretariat": secretariat_user,
        "other_secretariat": other_secretariat_user,
        "superuser": staff_user,
    }


def in_state(state: str, draft: Evaluation, secretariat_user) -> Evaluation:
    """No. 89's evaluation in ``state``: R7 (open) draft rated B, submitted or approved; or
    the published R6 one."""
    if state == "published":
        return evaluation(89, 2024)
    actor = actor_for_user(secretariat_user)
    services.evaluation_update(
        actor=actor, evaluation=draft, data={"rating": "B", "progress_text": "作成中"}
    )
    if state in ("submitted", "approved"):
        services.evaluation_submit(actor=actor, evaluation=draft)
    if state == "approved":
        services.evaluation_approve(actor=actor, evaluation=draft)
    return Evaluation.objects.select_related("round", "initiative").get(pk=draft.pk)


@pytest.fixture
def other_draft(r7) -> Evaluation:
    """The R7 draft of No. 50 (建設部), with a KPI actual."""
    draft = Evaluation.objects.get(round=r7, initiative__number=50)
    KPIActual.objects.create(
        evaluation=draft, kpi=KPI.objects.get(initiative=initiative(50)), value=12
    )
    return draft


def snapshot(record: Evaluation) -> dict[str, Any]:
    """What a refused POST must leave as it was."""
    fresh = Evaluation.objects.get(pk=record.pk)
    return {
        "version": fresh.version,
        "rating": fresh.rating,
        "progress_text": fresh.progress_text,
        "status": fresh.status,
        "review_comment": fresh.review_comment,
        "history": fresh.history.count(),
        "actuals": sorted(fresh.kpi_actuals.values_list("kpi_id", "value", "version")),
    }


def _encode(bound: forms.BoundField) -> dict[str, Any]:
    """The POST data a browser sends for an unchanged field."""
    widget, value = bound.field.widget, bound.value()
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, list) else widget.decompress(value)
        return {
            f"{bound.html_name}_{index}": sub.format_value(part) or ""
            for index, (sub, part) in enumerate(zip(widget.widgets, parts, strict=True))
        }
    if isinstance(widget, forms.CheckboxInput):
        return {bound.html_name: "on"} if value else {}
    if value is None:
        return {bound.html_name: ""}
    if isinstance(value, list | tuple):
        return {bound.html_name: list(value)}
    return {bound.html_name: widget.format_value(value) or value}


def form_data(response) -> dict[str, Any]:
    """The POST data of an admin change page as it was shown (main form and inlines)."""
    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name in form.fields:
        data.update(_encode(form[name]))
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        for name in formset.management_form.fields:
            data.update(_encode(formset.management_form[name]))
        for each in formset.forms:
            for name in each.fields:
                data.update(_encode(each[name]))
    return data


def evaluation_post(record: Evaluation, **changes: Any) -> dict[str, Any]:
    """The POST of an editor's evaluation form (the fields an editor has) with ``changes``."""
    data = {
        "rating": record.rating or "",
        "rating_reason": record.rating_reason,
        "plan_text": record.plan_text,
        "progress_text": record.progress_text,
        "next_actions": record.next_actions,
        "loaded_version": record.version,
        "kpi_actuals-TOTAL_FORMS": "0",
        "kpi_actuals-INITIAL_FORMS": "0",
        "kpi_actuals-MIN_NUM_FORMS": "0",
        "kpi_actuals-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
