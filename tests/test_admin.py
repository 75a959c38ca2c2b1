"""The Django admin over the shipped plan: every page renders, in Japanese, without N+1 queries."""

from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.core import checks
from django.core.management import call_command
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from evaluations.models import Evaluation, KPIActual, Round
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    DepartmentMembership,
    Initiative,
    InitiativeDepartment,
    Pillar,
    Plan,
    SecretariatMembership,
)
from tests.helpers import ACCESS_MODELS, PLAN_MODELS

ADMIN_MODELS: list[type[Model]] = [
    *(model for model in PLAN_MODELS if model is not InitiativeDepartment),
    *ACCESS_MODELS,
]
LAST_INITIATIVE_TITLE = "学術研究機関等との連携によるヒューマンインタフェースの研究開発の推進"

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_data(django_user_model) -> None:
    """The shipped report, plus one record of each access model."""
    call_command("load_plan", stdout=StringIO())
    member = django_user_model.objects.create_user(username="member", password="unused")
    plan = Plan.objects.get(code="akita-dx")
    DepartmentMembership.objects.create(
        user=member, department=plan.departments.get(code="kikaku-shinko"), role="editor"
    )
    SecretariatMembership.objects.create(user=member, plan=plan)
    ApiKey.objects.create_key(name="system", plan=plan)


def admin_url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_admin_checks_pass() -> None:
    assert checks.run_checks(tags=[checks.Tags.admin]) == []


def test_every_model_but_the_inline_link_is_registered() -> None:
    models = [
        model
        for app_label in ("initiatives", "evaluations")
        for model in apps.get_app_config(app_label).get_models()
    ]
    assert {model for model in models if admin.site.is_registered(model)} == set(ADMIN_MODELS)
    assert not admin.site.is_registered(InitiativeDepartment)


def test_initiative_changelist_lists_all_91_on_one_page(admin_client: Client, plan_data) -> None:
    response = admin_client.get(admin_url(Initiative, "changelist"))

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == 91
    assert len(changelist.result_list) == 91
    assert not changelist.multi_page
    assert [initiative.number for initiative in changelist.result_list] == list(range(1, 92))
    content = response.content.decode()
    assert LAST_INITIATIVE_TITLE in content
    assert "主担当部局" in content  # the computed column's Japanese header
    assert "企画振興部" in content  # the lead department of No. 1


def test_initiative_changelist_query_count_is_bounded(
    admin_client: Client, plan_data, django_assert_max_num_queries
) -> None:
    url = admin_url(Initiative, "changelist")
    # Session, user, counts, the page, the lead-department prefetch and the filters' choices:
    # a fixed number, far below one query per initiative.
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    assert response.context["cl"].result_count == 91


def test_evaluation_changelist_query_count_is_bounded(
    admin_client: Client, plan_data, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(12):
        response = admin_client.get(admin_url(Evaluation, "changelist"))
    assert response.context["cl"].result_count == Evaluation.objects.count()


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda model: model.__name__)
def test_changelist_renders(admin_client: Client, plan_data, model: type[Model]) -> None:
    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == model.objects.count() > 0


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda model: model.__name__)
def test_change_and_add_pages_render(admin_client: Client, plan_data, model: type[Model]) -> None:
    obj = model.objects.order_by("pk").last()

    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(admin_url(model, "add")).status_code == 200


def test_initiative_search_by_number_and_title(admin_client: Client, plan_data) -> None:
    url = admin_url(Initiative, "changelist")

    by_number = admin_client.get(url, {"q": "91"}).context["cl"]
    assert [initiative.title for initiative in by_number.result_list] == [LAST_INITIATIVE_TITLE]
    by_title = admin_client.get(url, {"q": "ヒューマンインタフェース"}).context["cl"]
    assert [initiative.number for initiative in by_title.result_list] == [91]


def test_initiative_filters(admin_client: Client, plan_data) -> None:
    url = admin_url(Initiative, "changelist")
    lead = InitiativeDepartment.objects.filter(is_lead=True).select_related("department").first()
    pillar = Pillar.objects.order_by("order").first()

    by_department = admin_client.get(url, {"departments__id__exact": lead.department_id})
    assert by_department.context["cl"].result_count == (
        Initiative.objects.filter(departments=lead.department).count()
    )
    by_pillar = admin_client.get(url, {"policy_area__pillar__id__exact": pillar.pk})
    assert by_pillar.context["cl"].result_count == (
        Initiative.objects.filter(policy_area__pillar=pillar).count()
    )
    major = admin_client.get(url, {"is_major__exact": "1"})
    assert major.context["cl"].result_count == Initiative.objects.filter(is_major=True).count()


def test_evaluation_filters_and_search(admin_client: Client, plan_data) -> None:
    url = admin_url(Evaluation, "changelist")

    response = admin_client.get(url)
    assert "令和6年度" in response.content.decode()  # fiscal-year filter and column labels
    by_year = admin_client.get(url, {"round__fiscal_year": "2024"}).context["cl"]
    assert by_year.result_count == 91
    rated_b = admin_client.get(url, {"rating__exact": "B"}).context["cl"]
    assert rated_b.result_count == Evaluation.objects.filter(rating="B").count() > 0
    by_number = admin_client.get(url, {"q": "91"}).context["cl"]
    assert {evaluation.initiative.number for evaluation in by_number.result_list} == {91}
    department = Department.objects.filter(initiatives__isnull=False).first()
    by_department = admin_client.get(url, {"initiative__departments__id__exact": department.pk})
    assert by_department.context["cl"].result_count == (
        Evaluation.objects.filter(initiative__departments=department).count()
    )


def test_autocomplete_finds_initiatives_by_number(admin_client: Client, plan_data) -> None:
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "evaluations",
            "model_name": "evaluation",
            "field_name": "initiative",
            "term": "91",
        },
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == [
        f"91 {LAST_INITIATIVE_TITLE}"
    ]


def test_round_changelist_shows_japanese_fiscal_years(admin_client: Client, plan_data) -> None:
    response = admin_client.get(admin_url(Round, "changelist"))

    content = response.content.decode()
    assert "令和5年度" in content
    assert "令和6年度" in content


def test_evaluation_change_page_offers_only_its_initiatives_kpis(
    admin_client: Client, plan_data
) -> None:
    actual = KPIActual.objects.select_related("evaluation").first()
    evaluation = actual.evaluation

    response = admin_client.get(admin_url(Evaluation, "change", evaluation.pk))

    formset = response.context["inline_admin_formsets"][0].formset
    offered = set(formset.form.base_fields["kpi"].queryset)
    assert offered == set(KPI.objects.filter(initiative_id=evaluation.initiative_id))
    assert "提出者" in response.content.decode()  # a read-only field's Japanese label
