"""API keys with a role within their plan (secretariat, editor, viewer, reader): each may do
through the API what a user of that role may, and nothing of another plan; the
``create_api_key`` command, the model's rules and the admin's key form."""

import io
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from evaluations.exchange.columns import COLUMNS
from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round, RoundStatus
from initiatives.access import actor_for_api_key
from initiatives.models import ApiKey, ApiKeyRole, Department, Initiative, Plan
from tests.conftest import PLAN_CODE, initiative
from tests.helpers import R7, if_match, key_client, open_r7, progress_csv, sheet_row, url

TEMPLATE_URL = "/api/v1/templates/progress/"
IMPORT_URL = "/api/v1/imports/progress/"


def kikaku(plan: Plan) -> Department:
    return plan.departments.get(code="kikaku-shinko")


def new_key(plan: Plan, role: str, department: Department | None = None, **fields) -> str:
    _, key = ApiKey.objects.create_key(
        name=f"test-{role}", plan=plan, role=role, department=department, **fields
    )
    return key


def client_of(plan: Plan, role: str, department: Department | None = None) -> APIClient:
    return key_client(new_key(plan, role, department))


def r7_numbers(client: APIClient) -> set[int]:
    response = client.get(reverse("evaluation-list"), {"fiscal_year": "R7", "page_size": 200})
    assert response.status_code == 200, response.json()
    return {item["initiative"]["number"] for item in response.json()["results"]}


def r7_evaluation(number: int) -> Evaluation:
    return Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=R7, initiative__number=number
    )


def csv_sheet(rows: list[dict[str, object]]) -> io.BytesIO:
    return progress_csv([sheet_row(**row) for row in rows])


def upload(client: APIClient, handle: io.BytesIO):
    data = {"file": handle, "plan": PLAN_CODE, "fiscal_year": "R7"}
    return client.post(IMPORT_URL, data, format="multipart")


def submitted(evaluation: Evaluation) -> Evaluation:
    Evaluation.objects.filter(pk=evaluation.pk).update(
        rating="B", status=EvaluationStatus.SUBMITTED
    )
    evaluation.refresh_from_db()
    return evaluation


def structure_writes(plan: Plan) -> list[tuple[str, str, dict | None]]:
    no_89 = initiative(89)
    return [
        ("patch", reverse("initiative-detail", args=[no_89.pk]), {"title": "x"}),
        ("patch", reverse("plan-detail", args=[plan.pk]), {"name": "x"}),
        ("post", reverse("department-list"), {"plan": plan.pk, "code": "x", "name": "x"}),
    ]


# --- how each role resolves ----------------------------------------------------------------


def test_each_role_resolves_to_the_actor_of_a_user_of_that_role(plan):
    departments = frozenset(plan.departments.values_list("id", flat=True))
    own = frozenset({kikaku(plan).pk})

    def actor(role, department=None):
        return actor_for_api_key(
            ApiKey.objects.create_key(name=role, plan=plan, role=role, department=department)[0]
        )

    secretariat = actor(ApiKeyRole.SECRETARIAT)
    assert secretariat.secretariat_plan_ids == {plan.pk}
    assert not secretariat.is_superuser
    assert not secretariat.readable_department_ids
    assert actor(ApiKeyRole.EDITOR, kikaku(plan)).editor_department_ids == own
    assert actor(ApiKeyRole.EDITOR).editor_department_ids == departments
    viewer = actor(ApiKeyRole.VIEWER, kikaku(plan))
    assert (viewer.viewer_department_ids, viewer.editor_department_ids) == (own, frozenset())
    assert actor(ApiKeyRole.VIEWER).viewer_department_ids == departments
    reader = actor(ApiKeyRole.READER)
    assert not (reader.secretariat_plan_ids or reader.readable_department_ids)
    for resolved in (secretariat, viewer, reader):
        assert resolved.plan_limit == plan.pk


# --- secretariat ---------------------------------------------------------------------------


def test_secretariat_key_runs_a_round_from_opening_to_publication(plan):
    client = client_of(plan, ApiKeyRole.SECRETARIAT)
    round_ = open_r7(client, plan)
    # It reads the drafts of every department.
    assert len(r7_numbers(client)) == Evaluation.objects.filter(round=round_).count() == 91

    # 企画振興部's system submits No. 89; the secretariat's returns it, then approves it.
    department = client_of(plan, ApiKeyRole.EDITOR, kikaku(plan))
    draft = r7_evaluation(89)
    response = department.patch(url(draft), {"rating": "C"}, format="json", **if_match(draft))
    assert response.status_code == 200, response.json()
    assert department.post(url(draft, "submit"), **if_match(draft)).status_code == 200
    response = client.post(
        url(draft, "return"), {"comment": "根拠を追記"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == EvaluationStatus.RETURNED
    assert department.post(url(draft, "submit"), **if_match(draft)).status_code == 200
    response = client.post(url(draft, "approve"), **if_match(draft))
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == EvaluationStatus.APPROVED

    response = client.post(reverse("round-close", args=[round_.pk]))
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == RoundStatus.CLOSED
    Evaluation.objects.filter(round=round_).update(rating="B", status=EvaluationStatus.APPROVED)
    response = client.post(reverse("round-publish", args=[round_.pk]))
    assert response.status_code == 200, response.json()
    round_.refresh_from_db()
    assert round_.status == RoundStatus.PUBLISHED


def test_secretariat_key_downloads_the_plans_template(plan, r7):
    client = client_of(plan, ApiKeyRole.SECRETARIAT)
    query = {"plan": PLAN_CODE, "fiscal_year": "R7", "file_format": "csv"}
    response = client.get(TEMPLATE_URL, query)
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == [column.header for column in COLUMNS]


def test_secretariat_key_changes_its_plans_structure_but_creates_or_deletes_no_plan(plan):
    client = client_of(plan, ApiKeyRole.SECRETARIAT)
    no_89 = initiative(89)
    response = client.patch(
        reverse("initiative-detail", args=[no_89.pk]), {"title": "新しい取組名"}, format="json"
    )
    assert response.status_code == 200, response.json()
    no_89.refresh_from_db()
    assert no_89.title == "新しい取組名"
    response = client.post(
        reverse("plan-list"),
        {"code": "new", "organisation": "x", "name": "x", "start_year": 2024, "end_year": 2026},
        format="json",
    )
    assert response.status_code == 403
    assert not Plan.objects.filter(code="new").exists()
    assert client.delete(reverse("plan-detail", args=[plan.pk])).status_code == 403
    assert Plan.objects.filter(pk=plan.pk).exists()


# --- editor --------------------------------------------------------------------------------


def test_bound_editor_key_edits_and_submits_its_departments_draft(plan, draft):
    client = client_of(plan, ApiKeyRole.EDITOR, kikaku(plan))
    response = client.patch(
        url(draft), {"rating": "B", "progress_text": "by key"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    response = client.post(url(draft, "submit"), **if_match(draft))
    assert response.status_code == 200, response.json()
    draft.refresh_from_db()
    assert (draft.status, draft.progress_text) == (EvaluationStatus.SUBMITTED, "by key")


def test_bound_editor_key_touches_no_other_department_and_reviews_nothing(plan, draft):
    client = client_of(plan, ApiKeyRole.EDITOR, kikaku(plan))
    other = r7_evaluation(50)  # 建設部
    assert 50 not in r7_numbers(client) and 89 in r7_numbers(client)
    assert client.get(url(other)).status_code == 404
    response = client.patch(url(other), {"rating": "A"}, format="json", **if_match(other))
    assert response.status_code in (403, 404)
    other.refresh_from_db()
    assert other.rating is None

    draft = submitted(draft)
    assert client.post(url(draft, "approve"), **if_match(draft)).status_code == 403
    response = client.post(url(draft, "return"), {"comment": "x"}, format="json", **if_match(draft))
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.status == EvaluationStatus.SUBMITTED
    assert client.post(reverse("round-close", args=[draft.round_id])).status_code == 403
    assert client.post(reverse("round-publish", args=[draft.round_id])).status_code == 403
    for method, path, body in structure_writes(plan):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 403, (method, path)
    assert initiative(89).title != "x"


def test_unbound_editor_key_edits_every_departments_drafts(plan, draft):
    client = client_of(plan, ApiKeyRole.EDITOR)
    other = r7_evaluation(50)
    response = client.patch(url(other), {"rating": "A"}, format="json", **if_match(other))
    assert response.status_code == 200, response.json()
    assert client.post(reverse("round-close", args=[draft.round_id])).status_code == 403


def test_bound_editor_key_downloads_its_departments_template(plan, r7):
    client = client_of(plan, ApiKeyRole.EDITOR, kikaku(plan))
    query = {"plan": PLAN_CODE, "fiscal_year": "R7", "file_format": "csv"}
    response = client.get(TEMPLATE_URL, {**query, "department": "kikaku-shinko"})
    assert response.status_code == 200
    assert client.get(TEMPLATE_URL, {**query, "department": "kensetsu"}).status_code == 403


def test_bound_editor_key_imports_a_sheet_of_its_department(plan, draft):
    client = client_of(plan, ApiKeyRole.EDITOR, kikaku(plan))
    kpi = draft.initiative.kpis.get()
    sheet = csv_sheet(
        [
            {"initiative_number": 89, "rating": "C", "progress_text": "取込"},
            {"initiative_number": 89, "kpi_order": kpi.order, "value": "12"},
        ]
    )
    response = upload(client, sheet)
    assert response.status_code == 200, response.json()
    draft.refresh_from_db()
    assert (draft.rating, draft.progress_text) == ("C", "取込")
    assert KPIActual.objects.get(evaluation=draft).value == 12


def test_bound_editor_key_imports_nothing_of_another_department(plan, r7):
    client = client_of(plan, ApiKeyRole.EDITOR, kikaku(plan))
    response = upload(client, csv_sheet([{"initiative_number": 50, "rating": "C"}]))
    assert response.status_code in (400, 403, 404)
    assert r7_evaluation(50).rating is None


# --- viewer --------------------------------------------------------------------------------


def test_viewer_key_reads_its_departments_drafts_and_writes_nothing(plan, draft):
    client = client_of(plan, ApiKeyRole.VIEWER, kikaku(plan))
    assert client.get(url(draft)).status_code == 200
    numbers = r7_numbers(client)
    assert 89 in numbers and 50 not in numbers
    before = Evaluation.objects.filter(pk=draft.pk).values().get()
    response = client.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft))
    assert response.status_code == 403
    assert client.post(url(draft, "submit"), **if_match(draft)).status_code == 403
    assert client.post(url(draft, "approve"), **if_match(draft)).status_code == 403
    assert upload(client, csv_sheet([{"initiative_number": 89}])).status_code == 403
    assert client.post(reverse("round-close", args=[draft.round_id])).status_code == 403
    for method, path, body in structure_writes(plan):
        assert getattr(client, method)(path, body, format="json").status_code == 403
    assert Evaluation.objects.filter(pk=draft.pk).values().get() == before


def test_unbound_viewer_key_reads_every_departments_drafts(plan, draft):
    client = client_of(plan, ApiKeyRole.VIEWER)
    # Every initiative some department is responsible for (the shipped plan names the
    # departments of 24 of its 91 initiatives), as for a viewer of every department.
    with_departments = set(
        Initiative.objects.filter(plan=plan, departments__isnull=False).values_list(
            "number", flat=True
        )
    )
    assert {50, 89} <= r7_numbers(client) == with_departments
    response = client.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft))
    assert response.status_code == 403


# --- reader --------------------------------------------------------------------------------


def test_reader_key_sees_only_published_data_and_writes_nothing(plan, draft):
    client = client_of(plan, ApiKeyRole.READER)
    assert r7_numbers(client) == set()
    assert client.get(url(draft)).status_code == 404
    assert client.get(reverse("round-detail", args=[draft.round_id])).status_code == 404
    response = client.get(reverse("evaluation-list"), {"fiscal_year": "R6"})
    assert response.json()["count"] == 91
    before = Evaluation.objects.filter(pk=draft.pk).values().get()
    response = client.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft))
    assert response.status_code in (403, 404)
    assert client.post(url(draft, "submit"), **if_match(draft)).status_code in (403, 404)
    assert upload(client, csv_sheet([{"initiative_number": 89}])).status_code == 403
    response = client.post(
        reverse("round-list"), {"plan": plan.pk, "fiscal_year": "R8"}, format="json"
    )
    assert response.status_code == 403
    for method, path, body in structure_writes(plan):
        assert getattr(client, method)(path, body, format="json").status_code == 403
    assert Evaluation.objects.filter(pk=draft.pk).values().get() == before


# --- other plans, expired and revoked keys -------------------------------------------------


@pytest.fixture
def other_plan(db) -> Plan:
    other = Plan.objects.create(
        code="other", organisation="x", name="x", start_year=2023, end_year=2026
    )
    Department.objects.create(plan=other, code="kikaku-shinko", name="企画振興部")
    return other


@pytest.mark.parametrize("role", ApiKeyRole.values)
def test_a_key_of_another_plan_sees_nothing_of_this_plans_drafts(other_plan, draft, role):
    department = other_plan.departments.get() if role == ApiKeyRole.EDITOR else None
    client = client_of(other_plan, role, department)
    assert r7_numbers(client) == set()
    assert client.get(reverse("evaluation-list")).json()["count"] == 0
    assert client.get(url(draft)).status_code == 404
    response = client.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft))
    assert response.status_code in (403, 404)
    assert client.post(reverse("round-close", args=[draft.round_id])).status_code in (403, 404)
    response = client.patch(
        reverse("initiative-detail", args=[initiative(89).pk]), {"title": "x"}, format="json"
    )
    assert response.status_code == 403
    draft.refresh_from_db()
    assert (draft.rating, draft.round.status) == (None, RoundStatus.OPEN)


@pytest.mark.parametrize("role", ApiKeyRole.values)
def test_expired_and_revoked_keys_are_refused_with_401(plan, draft, role):
    department = kikaku(plan) if role == ApiKeyRole.EDITOR else None
    expired = new_key(plan, role, department, expiry_date=timezone.now() - timedelta(seconds=1))
    revoked_obj, revoked = ApiKey.objects.create_key(
        name="revoked", plan=plan, role=role, department=department
    )
    revoked_obj.revoked = True
    revoked_obj.save()
    for key in (expired, revoked):
        client = key_client(key)
        assert client.get(reverse("evaluation-list")).status_code == 401
        response = client.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft))
        assert response.status_code == 401
        assert client.post(reverse("round-close", args=[draft.round_id])).status_code == 401
    draft.refresh_from_db()
    assert draft.rating is None


# --- the model's rules ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [ApiKeyRole.SECRETARIAT, ApiKeyRole.READER])
def test_only_editor_and_viewer_keys_are_bound_to_a_department(plan, role):
    key = ApiKey(name="x", plan=plan, role=role, department=kikaku(plan))
    with pytest.raises(ValidationError) as error:
        key.clean()
    assert "department" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create_key(name="x", plan=plan, role=role, department=kikaku(plan))


def test_a_key_is_bound_to_a_department_of_its_plan(plan, other_plan):
    key = ApiKey(
        name="x", plan=plan, role=ApiKeyRole.EDITOR, department=other_plan.departments.get()
    )
    with pytest.raises(ValidationError) as error:
        key.clean()
    assert "department" in error.value.message_dict
    ApiKey(name="x", plan=plan, role=ApiKeyRole.VIEWER, department=kikaku(plan)).clean()


def test_the_database_refuses_an_unknown_role(plan):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create_key(name="x", plan=plan, role="owner")


# --- create_api_key ------------------------------------------------------------------------


def create_api_key(*args: str, language: str = "en") -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with translation.override(language):
        call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_an_editor_key_that_edits_for_its_department(plan, draft):
    out, err = create_api_key(
        "--plan", PLAN_CODE, "--role", "editor", "--department", "kikaku-shinko"
    )
    raw = out.splitlines()[-1]
    assert out == raw + "\n"  # only the key, on stdout
    key = ApiKey.objects.get_from_key(raw)
    assert (key.plan, key.role, key.department) == (plan, ApiKeyRole.EDITOR, kikaku(plan))
    assert key.expiry_date is None
    assert key.name == f"editor-kikaku-shinko-{timezone.localdate().isoformat()}"
    assert key.prefix in err and "kikaku-shinko" in err
    assert raw not in err
    client = key_client(raw)
    response = client.patch(url(draft), {"progress_text": "cmd"}, format="json", **if_match(draft))
    assert response.status_code == 200, response.json()
    other = r7_evaluation(50)
    assert client.patch(url(other), {}, format="json", **if_match(other)).status_code == 404


def test_command_prints_a_secretariat_key_that_opens_a_round(plan):
    last_day = timezone.localdate() + timedelta(days=30)
    out, _ = create_api_key(
        "--plan", PLAN_CODE, "--role", "secretariat", "--name", "基幹系", "--expires", str(last_day)
    )
    raw = out.splitlines()[-1]
    key = ApiKey.objects.get_from_key(raw)
    assert (key.name, key.role, key.department) == ("基幹系", ApiKeyRole.SECRETARIAT, None)
    # It works through its last day.
    assert timezone.localtime(key.expiry_date).date() == last_day + timedelta(days=1)
    assert open_r7(key_client(raw), plan).plan == plan
    assert Round.objects.filter(plan=plan, fiscal_year=R7).exists()


def test_command_key_expiring_today_works_today(plan):
    out, _ = create_api_key(
        "--plan", PLAN_CODE, "--role", "reader", "--expires", timezone.localdate().isoformat()
    )
    key = ApiKey.objects.get_from_key(out.splitlines()[-1])
    assert key.role == ApiKeyRole.READER and not key.has_expired
    assert key_client(out.splitlines()[-1]).get(reverse("plan-list")).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "nope", "--role", "reader"], "nope"),
        (["--plan", PLAN_CODE, "--role", "editor", "--department", "nope"], "nope"),
        (
            ["--plan", PLAN_CODE, "--role", "secretariat", "--department", "kikaku-shinko"],
            "--department",
        ),
        (
            ["--plan", PLAN_CODE, "--role", "reader", "--department", "kikaku-shinko"],
            "--department",
        ),
        (["--plan", PLAN_CODE, "--role", "editor", "--department", "only-other"], "other"),
        (["--plan", PLAN_CODE, "--role", "reader", "--expires", "2020-01-01"], "past"),
        (["--plan", PLAN_CODE, "--role", "reader", "--expires", "2030-02-30"], "2030-02-30"),
        (["--plan", PLAN_CODE, "--role", "reader", "--expires", "R8.3.31"], "R8.3.31"),
        (["--plan", PLAN_CODE, "--role", "reader", "--name", "x" * 51], "--name"),
        (["--plan", PLAN_CODE, "--role", "owner"], "owner"),
    ],
)
def test_command_refuses_bad_input(plan, other_plan, args, message):
    Department.objects.create(plan=other_plan, code="only-other", name="他計画の部局")
    before = ApiKey.objects.count()
    with pytest.raises(CommandError, match=message):
        create_api_key(*args)
    assert ApiKey.objects.count() == before


def test_command_speaks_japanese(plan):
    with pytest.raises(CommandError, match="--expires の 2020-01-01 は過去の日付です。"):
        create_api_key(
            "--plan", PLAN_CODE, "--role", "reader", "--expires", "2020-01-01", language="ja"
        )
    _, err = create_api_key("--plan", PLAN_CODE, "--role", "reader", language="ja")
    assert "APIキー「reader-akita-dx-" in err and "有効期限なし" in err


# --- the admin -----------------------------------------------------------------------------


def test_admin_adds_a_key_with_a_role_checked_by_the_model(plan, staff_user, other_plan):
    client = Client()
    client.force_login(staff_user)
    add_url = reverse("admin:initiatives_apikey_add")
    form = {"name": "admin-key", "plan": plan.pk, "role": ApiKeyRole.SECRETARIAT}
    response = client.post(add_url, {**form, "department": kikaku(plan).pk})
    assert response.status_code == 200  # the form again, with the error
    assert "部局を指定できるのは編集者・閲覧者のキーだけです。" in response.content.decode()
    response = client.post(
        add_url, {**form, "role": "editor", "department": other_plan.departments.get().pk}
    )
    assert response.status_code == 200
    assert "別の計画の部局です。" in response.content.decode()
    assert not ApiKey.objects.filter(name="admin-key").exists()
    response = client.post(add_url, {**form, "department": ""})
    assert response.status_code == 302
    key = ApiKey.objects.get(name="admin-key")
    assert (key.role, key.department) == (ApiKeyRole.SECRETARIAT, None)
    ApiKey.objects.create_key(name="reader-key", plan=plan, role=ApiKeyRole.READER)
    response = client.get(reverse("admin:initiatives_apikey_changelist"), {"role": "secretariat"})
    assert response.status_code == 200
    assert [key.name for key in response.context["cl"].result_list] == ["admin-key"]
    # A key's change form offers its own plan's departments only.
    response = client.get(reverse("admin:initiatives_apikey_change", args=[key.pk]))
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields["department"].queryset
    assert set(choices.values_list("plan_id", flat=True)) == {plan.pk}


def test_admin_of_a_secretariat_member_manages_its_plans_keys_only(
    plan, other_plan, secretariat_user
):
    secretariat_user.is_staff = True
    secretariat_user.save()
    secretariat_user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="initiatives",
            codename__in=["add_apikey", "change_apikey", "view_apikey"],
        )
    )
    ApiKey.objects.create_key(name="ours", plan=plan)
    theirs, _ = ApiKey.objects.create_key(name="theirs", plan=other_plan)
    client = Client()
    client.force_login(secretariat_user)
    response = client.get(reverse("admin:initiatives_apikey_changelist"))
    assert response.status_code == 200
    assert [key.name for key in response.context["cl"].result_list] == ["ours"]
    response = client.get(reverse("admin:initiatives_apikey_change", args=[theirs.pk]))
    assert response.status_code in (302, 404)  # the admin redirects when it finds no object
    add_url = reverse("admin:initiatives_apikey_add")
    form = {"name": "minted", "role": ApiKeyRole.SECRETARIAT, "department": ""}
    response = client.post(add_url, {**form, "plan": other_plan.pk})
    assert response.status_code == 200
    assert not ApiKey.objects.filter(name="minted").exists()
    response = client.post(add_url, {**form, "plan": plan.pk})
    assert response.status_code == 302
    assert ApiKey.objects.get(name="minted").plan == plan
