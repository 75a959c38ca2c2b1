"""Change history (``dxapi/history.py``, ``dxapi/history_api.py``): who changed what, when, in
which request and why, for the tracked models, and the ``history`` endpoints."""

import pytest
from django.urls import reverse

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    DepartmentMembership,
    DepartmentRole,
    Initiative,
    KPITarget,
    SecretariatMembership,
)
from tests.conftest import PLAN_CODE, initiative
from tests.helpers import if_match, key_client, url

REQUEST_ID = "history-test-0001"


def latest(model, **lookup):
    return model.history.filter(**lookup).order_by("-history_date", "-history_id").first()


def require_reason(record, expected: str) -> None:
    assert record.history_change_reason == expected


def test_round_open_records_91_round_opened_creations(r7, secretariat_user):
    records = Evaluation.history.filter(round_id=r7.pk)
    assert records.count() == 91
    assert set(records.values_list("history_type", flat=True)) == {"+"}
    assert set(records.values_list("history_change_reason", flat=True)) == {"round opened"}
    assert set(records.values_list("history_user", flat=True)) == {secretariat_user.pk}
    round_record = latest(Round, id=r7.pk)
    assert round_record.history_type == "+"
    assert round_record.history_user == secretariat_user


def test_round_close_is_recorded(r7, secretariat, secretariat_user):
    response = secretariat.post(reverse("round-close", args=[r7.pk]), HTTP_X_REQUEST_ID=REQUEST_ID)
    assert response.status_code == 200
    record = latest(Round, id=r7.pk)
    assert (record.history_type, record.status) == ("~", "closed")
    assert record.history_user == secretariat_user
    assert record.request_id == REQUEST_ID


def test_evaluation_update_records_user_request_id_and_changes(draft, editor):
    response = editor.patch(
        url(draft), {"rating": "B"}, format="json", HTTP_X_REQUEST_ID=REQUEST_ID, **if_match(draft)
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == REQUEST_ID
    record = latest(Evaluation, id=draft.pk)
    assert record.history_type == "~"
    assert record.history_user.username == "kikaku-editor"
    assert record.request_id == REQUEST_ID
    assert record.api_key == ""
    assert (record.rating, record.version) == ("B", draft.version + 1)


def test_malformed_request_id_is_replaced(draft, editor):
    response = editor.patch(
        url(draft), {"rating": "B"}, format="json", HTTP_X_REQUEST_ID="bad id!", **if_match(draft)
    )
    assert response.status_code == 200
    record = latest(Evaluation, id=draft.pk)
    assert record.request_id == response["X-Request-ID"] != "bad id!"


def test_api_key_prefix_is_recorded(plan, draft):
    key_obj, key = ApiKey.objects.create_key(name="rw", plan=plan, role="editor")
    client = key_client(key)
    response = client.patch(
        url(draft), {"progress_text": "by key"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    record = latest(Evaluation, id=draft.pk)
    assert record.api_key == key_obj.prefix != ""
    assert record.history_user is None
    assert record.progress_text == "by key"


def test_workflow_reasons_are_recorded_with_the_comment(draft, editor, secretariat):
    Evaluation.objects.filter(pk=draft.pk).update(rating="B")
    assert editor.post(url(draft, "submit"), **if_match(draft)).status_code == 200
    submitted = latest(Evaluation, id=draft.pk)
    response = secretariat.post(
        url(draft, "return"), {"comment": "根拠を追記"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200
    returned = latest(Evaluation, id=draft.pk)
    assert editor.post(url(draft, "submit"), **if_match(draft)).status_code == 200
    assert secretariat.post(url(draft, "approve"), **if_match(draft)).status_code == 200
    approved = latest(Evaluation, id=draft.pk)
    response = secretariat.post(
        url(draft, "reopen"), {"reason": "数値訂正"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200
    reopened = latest(Evaluation, id=draft.pk)
    assert [r.status for r in (submitted, returned, approved, reopened)] == [
        EvaluationStatus.SUBMITTED,
        EvaluationStatus.RETURNED,
        EvaluationStatus.APPROVED,
        EvaluationStatus.RETURNED,
    ]
    require_reason(submitted, "submit")
    require_reason(returned, "return: 根拠を追記")
    require_reason(approved, "approve")
    require_reason(reopened, "reopen: 数値訂正")


def test_kpi_actual_create_update_delete(draft, editor):
    kpi = KPI.objects.get(initiative=initiative(89))
    response = editor.post(
        reverse("kpi-actual-list"),
        {"evaluation": draft.pk, "kpi": kpi.pk, "value": "10"},
        format="json",
        HTTP_X_REQUEST_ID=REQUEST_ID,
    )
    assert response.status_code == 201
    actual = KPIActual.objects.get(pk=response.json()["id"])
    detail = reverse("kpi-actual-detail", args=[actual.pk])
    assert (
        editor.patch(detail, {"value": "20"}, format="json", **if_match(actual)).status_code == 200
    )
    assert editor.delete(detail, **if_match(actual)).status_code == 204
    records = list(KPIActual.history.filter(id=actual.pk).order_by("history_date", "history_id"))
    assert [r.history_type for r in records] == ["+", "~", "-"]
    assert [r.value for r in records] == [10, 20, 20]
    assert records[0].request_id == REQUEST_ID
    assert {r.history_user.username for r in records} == {"kikaku-editor"}


def test_kpi_target_history_through_the_structure_api(plan, secretariat, secretariat_user):
    kpi = KPI.objects.get(initiative=initiative(89))
    response = secretariat.post(
        reverse("kpi-target-list"),
        {"kpi": kpi.pk, "fiscal_year": 2025, "value": "2000"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    target = KPITarget.objects.get(pk=response.json()["id"])
    detail = reverse("kpi-target-detail", args=[target.pk])
    assert secretariat.patch(detail, {"value": "2100"}, format="json").status_code == 200
    assert secretariat.delete(detail).status_code == 204
    records = list(KPITarget.history.filter(id=target.pk).order_by("history_date", "history_id"))
    assert [r.history_type for r in records] == ["+", "~", "-"]
    assert [int(r.value) for r in records] == [2000, 2100, 2100]
    assert {r.history_user for r in records} == {secretariat_user}


def test_initiative_history_through_the_structure_api(plan, secretariat, secretariat_user):
    no_89 = initiative(89)
    kikaku = Department.objects.get(plan=plan, code="kikaku-shinko")
    response = secretariat.post(
        reverse("initiative-list"),
        {
            "plan": plan.pk,
            "policy_area": no_89.policy_area_id,
            "number": 999,
            "title": "新取組",
            "is_major": False,
            "departments": [{"department": kikaku.pk, "is_lead": True}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    detail = reverse("initiative-detail", args=[pk])
    assert secretariat.patch(detail, {"title": "改称"}, format="json").status_code == 200
    response = secretariat.get(reverse("initiative-history", args=[pk]))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [e["change_type"] for e in results] == ["changed", "created"]
    assert {"field": "title", "old": "新取組", "new": "改称"} in results[0]["changes"]
    assert results[0]["user"] == "jimukyoku"
    assert secretariat.delete(detail).status_code == 204
    records = Initiative.history.filter(id=pk).order_by("history_date", "history_id")
    assert [r.history_type for r in records] == ["+", "~", "-"]
    assert records.last().history_user == secretariat_user


def test_department_and_memberships_via_orm(plan, django_user_model):
    department = Department.objects.create(plan=plan, code="hist", name="履歴部", order=97)
    department.name = "履歴局"
    department.save()
    user = django_user_model.objects.create_user(username="someone", password="unused")
    membership = DepartmentMembership.objects.create(
        user=user, department=department, role=DepartmentRole.VIEWER
    )
    membership.role = DepartmentRole.EDITOR
    membership.save()
    membership_pk = membership.pk
    membership.delete()
    secretariat = SecretariatMembership.objects.create(user=user, plan=plan)
    secretariat_pk = secretariat.pk
    secretariat.delete()
    department_pk = department.pk
    department.delete()

    def types(model, pk):
        records = model.history.filter(id=pk).order_by("history_date", "history_id")
        return [r.history_type for r in records]

    assert types(Department, department_pk) == ["+", "~", "-"]
    assert types(DepartmentMembership, membership_pk) == ["+", "~", "-"]
    assert types(SecretariatMembership, secretariat_pk) == ["+", "-"]
    record = latest(Department, id=department_pk)
    # Outside a request: no user, no key, the placeholder request id.
    assert (record.history_user, record.api_key, record.request_id) == (None, "", "-")
    assert [
        r.role
        for r in DepartmentMembership.history.filter(id=membership_pk).order_by(
            "history_date", "history_id"
        )
    ] == [DepartmentRole.VIEWER, DepartmentRole.EDITOR, DepartmentRole.EDITOR]


# The endpoint


def test_history_endpoint_visibility(draft, editor, other_editor, api, plan):
    history_url = reverse("evaluation-history", args=[draft.pk])
    assert api.get(history_url).status_code == 404
    assert other_editor.get(history_url).status_code == 404
    assert editor.get(history_url).status_code == 200
    # A published round's evaluation: anyone.
    r6 = Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=2024, initiative__number=89
    )
    assert api.get(reverse("evaluation-history", args=[r6.pk])).status_code == 200
    assert api.get(reverse("initiative-history", args=[initiative(89).pk])).status_code == 200


def test_history_endpoint_shape(draft, editor):
    for rating in ("B", "C"):
        response = editor.patch(
            url(draft),
            {"rating": rating},
            format="json",
            HTTP_X_REQUEST_ID=REQUEST_ID,
            **if_match(draft),
        )
        assert response.status_code == 200
    response = editor.get(reverse("evaluation-history", args=[draft.pk]))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    newest, middle, created = body["results"]
    assert set(newest) == {
        "history_id",
        "changed_at",
        "change_type",
        "user",
        "api_key",
        "request_id",
        "reason",
        "changes",
    }
    assert [e["change_type"] for e in body["results"]] == ["changed", "changed", "created"]
    assert newest["history_id"] > middle["history_id"] > created["history_id"]
    assert newest["changed_at"] >= middle["changed_at"] >= created["changed_at"]
    assert {"field": "rating", "old": "B", "new": "C"} in newest["changes"]
    assert {"field": "rating", "old": None, "new": "B"} in middle["changes"]
    assert {"field": "version", "old": 2, "new": 3} in newest["changes"]
    assert not any(c["field"] in ("updated_at", "created_at") for c in newest["changes"])
    assert (newest["user"], newest["request_id"], newest["api_key"]) == (
        "kikaku-editor",
        REQUEST_ID,
        "",
    )
    assert created["changes"] == []
    assert created["reason"] == "round opened"
    assert created["user"] == "jimukyoku"


# Who made a change: for the people who work on the record, not for the public


@pytest.fixture
def reviewed_r6(plan, secretariat_user) -> Evaluation:
    """No. 89's published R6 evaluation (企画振興部), re-reviewed by the secretariat."""
    evaluation = Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=2024, initiative__number=89
    )
    evaluation.approved_by = secretariat_user
    evaluation.review_comment = "指標の根拠を追記"
    evaluation.note = "再確認済み"
    evaluation._history_user = secretariat_user
    evaluation._change_reason = "approve: 指標の根拠を追記"
    evaluation.save()
    return evaluation


def test_the_public_reads_history_without_who_made_the_changes(api, other_editor, reviewed_r6):
    for client in (api, other_editor):
        latest = client.get(reverse("evaluation-history", args=[reviewed_r6.pk])).json()
        newest = latest["results"][0]
        assert (newest["user"], newest["api_key"], newest["request_id"], newest["reason"]) == (
            None,
            None,
            None,
            None,
        )
        assert newest["changes"] == [{"field": "note", "old": "", "new": "再確認済み"}]

        detail = client.get(url(reviewed_r6)).json()
        assert (detail["approved_by"], detail["review_comment"]) == (None, "")


def test_the_plan_and_the_department_read_who_made_the_changes(
    secretariat, editor, api_keys, reviewed_r6
):
    bound = key_client(api_keys["bound_key"])  # bound to 企画振興部
    for client in (secretariat, editor, bound):
        newest = client.get(reverse("evaluation-history", args=[reviewed_r6.pk])).json()
        newest = newest["results"][0]
        assert newest["user"] == "jimukyoku"
        assert newest["reason"] == "approve: 指標の根拠を追記"
        assert {change["field"] for change in newest["changes"]} == {
            "note",
            "approved_by",
            "review_comment",
        }
        detail = client.get(url(reviewed_r6)).json()
        assert (detail["approved_by"], detail["review_comment"]) == (
            "jimukyoku",
            "指標の根拠を追記",
        )


def test_initiative_history_hides_who_changed_it_from_the_public(api, secretariat, plan):
    no_1 = initiative(1)
    assert (
        secretariat.patch(
            reverse("initiative-detail", args=[no_1.pk]), {"is_major": False}, format="json"
        ).status_code
        == 200
    )

    public = api.get(reverse("initiative-history", args=[no_1.pk])).json()["results"][0]
    inside = secretariat.get(reverse("initiative-history", args=[no_1.pk])).json()["results"][0]

    assert public["user"] is None
    assert inside["user"] == "jimukyoku"
    assert (
        public["changes"] == inside["changes"] == [{"field": "is_major", "old": True, "new": False}]
    )
