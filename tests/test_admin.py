"""The Django admin over the shipped plan: every page renders, in Japanese, without N+1
queries; members get in and work from their memberships; the workflow, the suggestion, the
rounds, the structure, the memberships and the sheet import through the admin's pages (the
permission matrix is ``test_admin_doors.py``)."""

import csv
import io
from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.messages import get_messages
from django.core import checks
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from evaluations import services
from evaluations.models import (
    EmailNotification,
    Evaluation,
    Event,
    Job,
    KPIActual,
    NotificationPreference,
    Opinion,
    OpinionAnalysis,
    Round,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from initiatives.access import actor_for_user
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    DepartmentMembership,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    SecretariatMembership,
)
from tests.admin_fixtures import (
    evaluation_post,
    form_data,
    logged_in,
    other_plan,
    other_secretariat_user,
)
from tests.helpers import ACCESS_MODELS, PLAN_MODELS, finished_export_job

__all__ = ["other_plan", "other_secretariat_user"]

ADMIN_MODELS: list[type[Model]] = [
    *(model for model in PLAN_MODELS if model is not InitiativeDepartment),
    *ACCESS_MODELS,
    Job,
    EmailNotification,
    NotificationPreference,
    Event,
    WebhookSubscription,
    WebhookDelivery,
    WebhookAttempt,
    Opinion,
    OpinionAnalysis,
]
# Made by the service (events, deliveries and their attempts) or sent by citizens (opinions),
# never by hand.
NO_ADD_PAGE = (Job, EmailNotification, Event, WebhookDelivery, WebhookAttempt, Opinion)
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
    finished_export_job(plan, requested_by=member)
    NotificationPreference.objects.create(user=member, kind="digest", enabled=False)
    EmailNotification.objects.create(
        kind="digest",
        key="plan:1:day:2026-04-01",
        recipient=member,
        address="m@example.jp",
        subject="件名",
        body="本文",
        plan=plan,
    )
    round_ = Round.objects.get(plan=plan, fiscal_year=2024)
    event = Event.objects.create(kind="round.published", plan=plan, round=round_)
    webhook = WebhookSubscription.objects.create(
        plan=plan, url="https://93.184.215.14/hook", secret_salt="admin"
    )
    delivery = WebhookDelivery.objects.create(subscription=webhook, event=event, webhook_id="m1")
    WebhookAttempt.objects.create(delivery=delivery, status_code=200, response_excerpt="ok")
    Opinion.objects.create(
        plan=plan, body="意見です。", original_body="意見です。", body_digest="admin"
    )
    OpinionAnalysis.objects.create(plan=plan, title="分析", state="succeeded")


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
    # Jobs are made by imports and exports, never by hand.
    assert admin_client.get(admin_url(model, "add")).status_code == (
        403 if model in NO_ADD_PAGE else 200
    )


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


# --- Members, from their membership alone --------------------------------------------------


def test_role_backend_gives_each_role_its_model_permissions(
    viewer_user, editor_user, secretariat_user, django_user_model
) -> None:
    outsider = django_user_model.objects.create_user(username="outsider", password="unused")

    assert viewer_user.has_perm("evaluations.view_evaluation")
    assert not viewer_user.has_perm("evaluations.change_evaluation")
    assert viewer_user.has_module_perms("initiatives")
    assert editor_user.has_perm("evaluations.change_evaluation")
    assert editor_user.has_perm("evaluations.add_kpiactual")
    assert not editor_user.has_perm("initiatives.change_initiative")
    assert not editor_user.has_perm("evaluations.add_round")
    assert secretariat_user.has_perm("initiatives.change_initiative")
    assert secretariat_user.has_perm("evaluations.add_round")
    assert secretariat_user.has_perm("initiatives.add_departmentmembership")
    assert not secretariat_user.has_perm("initiatives.add_plan")
    assert not secretariat_user.has_perm("initiatives.delete_plan")
    assert not secretariat_user.has_perm("evaluations.delete_evaluation")
    assert not outsider.has_perm("evaluations.view_evaluation")
    assert not outsider.has_module_perms("evaluations")
    editor_user.is_active = False
    editor_user.save()
    inactive = django_user_model.objects.get(pk=editor_user.pk)
    assert not inactive.has_perm("evaluations.view_evaluation")


def test_a_member_logs_in_without_being_staff(editor_user, django_user_model) -> None:
    editor_user.set_password("kikaku-Progress-2025!")
    editor_user.save()
    outsider = django_user_model.objects.create_user(
        username="outsider", password="outsider-Progress-2025!"
    )
    client = Client()

    response = client.post(
        reverse("admin:login"),
        {"username": "kikaku-editor", "password": "kikaku-Progress-2025!", "next": "/admin/"},
    )
    assert response.status_code == 302
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    apps_shown = {app["app_label"] for app in index.context["app_list"]}
    assert apps_shown == {"initiatives", "evaluations"}
    models_shown = {m["object_name"] for app in index.context["app_list"] for m in app["models"]}
    assert "DepartmentMembership" not in models_shown
    assert "ApiKey" not in models_shown

    refused = Client().post(
        reverse("admin:login"),
        {"username": "outsider", "password": "outsider-Progress-2025!", "next": "/admin/"},
    )
    assert refused.status_code == 200  # the login form again
    assert refused.context["form"].errors
    assert not outsider.is_staff


def test_the_suggestion_is_shown_beside_the_rating(editor_user, draft, kpi89) -> None:
    KPITarget.objects.create(kpi=kpi89, fiscal_year=2025, value=1800)
    KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=1032)

    content = logged_in(editor_user).get(admin_url(Evaluation, "change", draft.pk))
    text = content.content.decode()

    assert "目安: C" in text
    assert "57.3%" in text
    assert "1800" in text and "1032" in text


def test_submitting_a_rating_against_the_suggestion_needs_a_reason(
    editor_user, draft, kpi89
) -> None:
    KPITarget.objects.create(kpi=kpi89, fiscal_year=2025, value=1800)
    KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=1032)
    client = logged_in(editor_user)
    client.post(admin_url(Evaluation, "change", draft.pk), evaluation_post(draft, rating="A"))
    draft.refresh_from_db()

    response = client.post(
        admin_url(Evaluation, "workflow", draft.pk, "submit"), {"version": draft.version}
    )

    shown = [str(message) for message in get_messages(response.wsgi_request)]
    # The service's reason (in Japanese), naming the suggestion it differs from.
    assert shown[-1].startswith("提出できませんでした: ")
    assert " C" in shown[-1]
    assert Evaluation.objects.get(pk=draft.pk).status == "draft"


def test_changelist_actions_report_each_evaluation(secretariat_user, r7) -> None:
    evaluations = list(Evaluation.objects.filter(round=r7, initiative__number__in=[1, 2]))
    actor = actor_for_user(secretariat_user)
    services.evaluation_update(actor=actor, evaluation=evaluations[0], data={"rating": "B"})
    services.evaluation_submit(actor=actor, evaluation=evaluations[0])

    response = logged_in(secretariat_user).post(
        admin_url(Evaluation, "changelist"),
        {
            "action": "approve_selected",
            "_selected_action": [e.pk for e in evaluations],
            "index": 0,
        },
    )

    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert "評価が「作成中」のため、承認できません。" in shown[0]
    assert shown[1].startswith("1件を承認しました")
    assert Evaluation.objects.get(pk=evaluations[0].pk).status == "approved"


# --- Rounds -------------------------------------------------------------------------------


def test_the_secretariat_opens_a_round_from_the_add_page(
    secretariat_user, other_secretariat_user, editor_user, plan
) -> None:
    plan.end_year = 2025
    plan.save()
    client = logged_in(secretariat_user)
    page = client.get(admin_url(Round, "add"))
    assert page.status_code == 200
    assert "年度ラウンドの開始" in page.content.decode()
    assert set(page.context["adminform"].form.fields["plan"].queryset) == {plan}

    response = client.post(admin_url(Round, "add"), {"plan": plan.pk, "fiscal_year": "R7"})

    assert response.status_code == 302
    opened = Round.objects.get(plan=plan, fiscal_year=2025)
    assert opened.status == "open"
    assert opened.evaluations.count() == 91
    again = client.post(admin_url(Round, "add"), {"plan": plan.pk, "fiscal_year": "2025"})
    assert again.status_code == 200 and again.context["adminform"].form.errors
    outside = client.post(admin_url(Round, "add"), {"plan": plan.pk, "fiscal_year": "R9"})
    assert "fiscal_year" in outside.context["adminform"].form.errors  # outside the period
    assert not Round.objects.filter(plan=plan, fiscal_year=2027).exists()
    other = logged_in(other_secretariat_user).post(
        admin_url(Round, "add"), {"plan": plan.pk, "fiscal_year": "R8"}
    )
    assert "plan" in other.context["adminform"].form.errors
    assert logged_in(editor_user).get(admin_url(Round, "add")).status_code == 403


def test_round_buttons_close_publish_and_reopen(secretariat_user, editor_user, r7) -> None:
    client = logged_in(secretariat_user)
    r6 = Round.objects.get(plan=r7.plan, fiscal_year=2024)

    def step(round_: Round, action: str, **data) -> str:
        """The message the step leaves (this client's earlier ones were shown already)."""
        response = client.post(admin_url(Round, "workflow", round_.pk, action), data)
        assert response.status_code == 302
        return [str(message) for message in get_messages(response.wsgi_request)][-1]

    page = client.get(admin_url(Round, "change", r7.pk))
    assert page.context["has_change_permission"] is False  # fields change by the workflow
    assert [s["label"] for s in page.context["workflow_steps"]] == ["締切"]
    assert step(r7, "publish") == "令和7年度のラウンドが「受付中」のため、公表できません。"
    assert step(r7, "close").endswith("を締切しました。")
    not_approved = step(r7, "publish")  # the service's reason, naming the initiatives
    assert not_approved.startswith("公表できませんでした: ") and "1, 2," in not_approved
    assert step(r6, "reopen").startswith("再開できませんでした: ")  # a reason is needed
    assert Round.objects.get(pk=r6.pk).status == "published"
    assert step(r6, "reopen", comment="誤りの訂正").endswith("を再開しました。")
    assert Round.objects.get(pk=r6.pk).status == "open"
    assert Round.objects.get(pk=r6.pk).history.latest().history_change_reason == (
        "reopen: 誤りの訂正"
    )
    editor = logged_in(editor_user).post(admin_url(Round, "workflow", r7.pk, "reopen"))
    refused = [str(m) for m in get_messages(editor.wsgi_request)]
    assert refused[-1].startswith("再開できませんでした: ")
    assert Round.objects.get(pk=r7.pk).status == "closed"


# --- Structure and memberships ------------------------------------------------------------------


def test_the_secretariat_changes_its_plans_structure(
    secretariat_user, editor_user, other_secretariat_user, plan
) -> None:
    no89 = Initiative.objects.get(plan=plan, number=89)
    url = admin_url(Initiative, "change", no89.pk)
    client = logged_in(secretariat_user)
    data = form_data(client.get(url))
    data["title"] = "スマートフォン教室の開催"
    kensetsu = Department.objects.get(plan=plan, code="kensetsu")
    total = int(data["responsibilities-TOTAL_FORMS"])
    data.update(
        {
            "responsibilities-TOTAL_FORMS": str(total + 1),
            f"responsibilities-{total}-department": kensetsu.pk,
        }
    )

    assert client.post(url, data).status_code == 302
    no89.refresh_from_db()
    assert no89.title == "スマートフォン教室の開催"
    assert no89.history.latest().history_user == secretariat_user
    assert set(no89.departments.values_list("code", flat=True)) == {"kikaku-shinko", "kensetsu"}

    editor = logged_in(editor_user)
    assert editor.get(url).context["has_change_permission"] is False
    assert editor.post(url, data | {"title": "編集者の題"}).status_code == 403
    other = logged_in(other_secretariat_user)
    assert other.get(url).status_code == 404
    assert other.get(admin_url(Initiative, "changelist")).context["cl"].result_count == 0
    assert Initiative.objects.get(pk=no89.pk).title == "スマートフォン教室の開催"


def test_two_lead_departments_are_refused_on_the_form(secretariat_user, plan) -> None:
    no89 = Initiative.objects.get(plan=plan, number=89)
    url = admin_url(Initiative, "change", no89.pk)
    client = logged_in(secretariat_user)
    data = form_data(client.get(url))
    total = int(data["responsibilities-TOTAL_FORMS"])
    data.update(
        {
            "responsibilities-TOTAL_FORMS": str(total + 1),
            f"responsibilities-{total}-department": Department.objects.get(
                plan=plan, code="kensetsu"
            ).pk,
            f"responsibilities-{total}-is_lead": "on",
        }
    )

    response = client.post(url, data)

    assert response.status_code == 200  # the form again, with the reason
    assert response.context["errors"]
    assert list(no89.departments.values_list("code", flat=True)) == ["kikaku-shinko"]


def test_memberships_are_managed_by_the_plans_secretariat(
    secretariat_user, other_secretariat_user, editor_user, viewer_user, django_user_model, plan
) -> None:
    client = logged_in(secretariat_user)
    listed = client.get(admin_url(DepartmentMembership, "changelist")).context["cl"]
    assert {m.user for m in listed.queryset} == {editor_user, viewer_user}
    newcomer = django_user_model.objects.create_user(username="newcomer", password="unused")
    kensetsu = Department.objects.get(plan=plan, code="kensetsu")

    response = client.post(
        admin_url(DepartmentMembership, "add"),
        {"user": newcomer.pk, "department": kensetsu.pk, "role": "viewer"},
    )

    assert response.status_code == 302
    assert DepartmentMembership.objects.filter(user=newcomer, department=kensetsu).exists()
    other = logged_in(other_secretariat_user)
    assert other.get(admin_url(DepartmentMembership, "changelist")).context["cl"].result_count == 0
    refused = other.post(
        admin_url(DepartmentMembership, "add"),
        {"user": newcomer.pk, "department": kensetsu.pk, "role": "editor"},
    )
    assert "department" in refused.context["adminform"].form.errors
    assert (
        logged_in(editor_user).get(admin_url(DepartmentMembership, "changelist")).status_code == 403
    )


# --- The sheet import ---------------------------------------------------------------------------


def _template_csv(client: Client, plan, department_id="") -> str:
    response = client.get(
        admin_url(Evaluation, "template"),
        {"plan": plan.pk, "fiscal_year": "R7", "department": department_id, "file_format": "csv"},
    )
    assert response.status_code == 200, (
        response.context and response.context["template_form"].errors
    )
    return response.content.decode("utf-8-sig")


def _with_progress(sheet: str, number: int, text: str) -> bytes:
    rows = list(csv.reader(io.StringIO(sheet)))
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("取組番号")] == str(number) and not row[header.index("指標番号")]:
            row[header.index("進捗")] = text
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def test_import_dry_run_then_confirm(editor_user, draft, plan) -> None:
    client = logged_in(editor_user)
    assert "シートの取込" in client.get(admin_url(Evaluation, "changelist")).content.decode()
    kikaku = Department.objects.get(plan=plan, code="kikaku-shinko")
    sheet = _with_progress(_template_csv(client, plan, kikaku.pk), 89, "シートからの進捗")

    dry = client.post(
        admin_url(Evaluation, "import"),
        {
            "plan": plan.pk,
            "fiscal_year": "R7",
            "file": SimpleUploadedFile("kikaku.csv", sheet, "text/csv"),
            "_dry_run": "1",
        },
    )

    assert dry.status_code == 200
    changed = [row for row in dry.context["rows"] if row["changed"]]
    assert [(r["initiative_number"], r["outcome"], r["fields"]) for r in changed] == [
        (89, "更新", "進捗")
    ]
    assert "この内容で取込を確定" in dry.content.decode()
    assert Evaluation.objects.get(pk=draft.pk).progress_text == ""
    confirmed = client.post(
        admin_url(Evaluation, "import"),
        {"plan": plan.pk, "fiscal_year": "2025", "stored": dry.context["stored"], "_confirm": "1"},
    )
    assert confirmed.status_code == 302
    saved = Evaluation.objects.get(pk=draft.pk)
    assert (saved.progress_text, saved.version) == ("シートからの進捗", 2)
    assert "dxapi_admin_import" not in client.session


def test_import_errors_are_listed_and_nothing_is_written(editor_user, draft, plan) -> None:
    client = logged_in(editor_user)
    sheet = "取組番号,指標番号,評価\n89,,Z\n50,,A\n".encode()

    response = client.post(
        admin_url(Evaluation, "import"),
        {
            "plan": plan.pk,
            "fiscal_year": "R7",
            "file": SimpleUploadedFile("bad.csv", sheet, "text/csv"),
            "_confirm": "1",
        },
    )

    assert response.status_code == 200
    assert {error.row for error in response.context["errors"]} == {2, 3}
    assert "エラー（2件）" in response.content.decode()
    assert Evaluation.objects.get(pk=draft.pk).version == draft.version


def test_import_and_template_access(viewer_user, editor_user, secretariat_user, r7, plan) -> None:
    viewer = logged_in(viewer_user)
    page = viewer.get(admin_url(Evaluation, "import"))
    assert page.status_code == 200
    assert page.context["form"] is None  # a viewer imports nothing
    assert viewer.post(admin_url(Evaluation, "import"), {"plan": plan.pk}).status_code == 403
    kikaku = Department.objects.get(plan=plan, code="kikaku-shinko")
    assert "89" in _template_csv(viewer, plan, kikaku.pk)
    kensetsu = Department.objects.get(plan=plan, code="kensetsu")
    response = logged_in(editor_user).get(
        admin_url(Evaluation, "template"),
        {"plan": plan.pk, "fiscal_year": "R7", "department": kensetsu.pk, "file_format": "csv"},
    )
    assert set(response.context["template_form"].errors) == {"department"}  # not offered
    whole = _template_csv(logged_in(secretariat_user), plan)
    assert len(whole.splitlines()) > 91
