"""The yearly review workflow through the API: editing, submitting, returning, approving,
reopening, closing and publishing a round, and entering KPI actuals."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round, RoundStatus
from initiatives.models import (
    KPI,
)
from tests.conftest import PLAN_CODE, error_attrs, initiative
from tests.helpers import detail, if_match, url


def test_opening_a_round_gives_every_initiative_a_draft(r7, plan):
    evaluations = Evaluation.objects.filter(round=r7)
    assert evaluations.count() == plan.initiatives.count() == 91
    assert set(evaluations.values_list("status", flat=True)) == {EvaluationStatus.DRAFT}
    assert set(evaluations.values_list("rating", flat=True)) == {None}


def test_full_review_cycle(draft, editor, secretariat, editor_user):
    response = editor.patch(
        url(draft), {"rating": "B", "progress_text": "進捗あり"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    assert response.json()["rating"] == "B"
    assert response.json()["progress_text"] == "進捗あり"
    assert response.json()["status"] == EvaluationStatus.DRAFT

    response = editor.post(url(draft, "submit"), **if_match(draft))
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == EvaluationStatus.SUBMITTED
    assert response.json()["submitted_by"] == str(editor_user)
    assert response.json()["submitted_at"] is not None

    # The editor cannot review its own work.
    assert editor.post(url(draft, "approve"), **if_match(draft)).status_code == 403
    assert (
        editor.post(
            url(draft, "return"), {"comment": "x"}, format="json", **if_match(draft)
        ).status_code
        == 403
    )
    draft.refresh_from_db()
    assert draft.status == EvaluationStatus.SUBMITTED

    # A submitted evaluation is no longer editable.
    response = editor.patch(url(draft), {"progress_text": "late"}, format="json", **if_match(draft))
    assert response.status_code == 409
    assert "現在の状態" in detail(response)

    response = secretariat.post(
        url(draft, "return"), {"comment": ""}, format="json", **if_match(draft)
    )
    assert response.status_code == 400
    assert "comment" in error_attrs(response)
    response = secretariat.post(
        url(draft, "return"), {"comment": "   "}, format="json", **if_match(draft)
    )
    assert response.status_code == 400
    assert "comment" in error_attrs(response)
    response = secretariat.post(url(draft, "return"), {}, format="json", **if_match(draft))
    assert response.status_code == 400
    assert "comment" in error_attrs(response)

    response = secretariat.post(
        url(draft, "return"), {"comment": "根拠を追記"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == EvaluationStatus.RETURNED
    assert response.json()["review_comment"] == "根拠を追記"

    # Returned: approve is refused, editing is allowed again.
    response = secretariat.post(url(draft, "approve"), **if_match(draft))
    assert response.status_code == 409
    assert "現在の状態" in detail(response)
    response = editor.patch(
        url(draft), {"rating_reason": "追記しました"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    assert editor.post(url(draft, "submit"), **if_match(draft)).status_code == 200

    response = secretariat.post(url(draft, "approve"), **if_match(draft))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == EvaluationStatus.APPROVED
    assert body["approved_by"] == "jimukyoku"
    assert body["approved_at"] is not None
    assert body["submitted_by"] == str(editor_user)
    draft.refresh_from_db()
    assert draft.approved_by.username == "jimukyoku"
    assert draft.submitted_by == editor_user

    for attempt in (
        editor.patch(url(draft), {"progress_text": "again"}, format="json", **if_match(draft)),
        editor.post(url(draft, "submit"), **if_match(draft)),
        secretariat.patch(url(draft), {"progress_text": "again"}, format="json", **if_match(draft)),
        secretariat.post(url(draft, "approve"), **if_match(draft)),
        secretariat.post(url(draft, "return"), {"comment": "x"}, format="json", **if_match(draft)),
    ):
        assert attempt.status_code == 409
        assert "現在の状態" in detail(attempt)
    draft.refresh_from_db()
    assert draft.progress_text == "進捗あり"

    # Reopen: only the secretariat, only with a reason.
    assert (
        editor.post(
            url(draft, "reopen"), {"reason": "x"}, format="json", **if_match(draft)
        ).status_code
        == 403
    )
    response = secretariat.post(
        url(draft, "reopen"), {"reason": ""}, format="json", **if_match(draft)
    )
    assert response.status_code == 400
    assert "reason" in error_attrs(response)
    response = secretariat.post(
        url(draft, "reopen"), {"reason": "数値訂正"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == EvaluationStatus.RETURNED
    assert response.json()["review_comment"] == "数値訂正"
    assert response.json()["approved_by"] is None
    assert response.json()["approved_at"] is None
    assert (
        editor.patch(
            url(draft), {"progress_text": "訂正"}, format="json", **if_match(draft)
        ).status_code
        == 200
    )


def test_reopen_of_a_draft_is_a_conflict(draft, secretariat):
    response = secretariat.post(
        url(draft, "reopen"), {"reason": "x"}, format="json", **if_match(draft)
    )
    assert response.status_code == 409
    assert "現在の状態" in detail(response)


def test_submit_without_rating_is_refused(draft, editor):
    response = editor.post(url(draft, "submit"), **if_match(draft))
    assert response.status_code == 400
    assert error_attrs(response) == ["rating"]
    draft.refresh_from_db()
    assert draft.status == EvaluationStatus.DRAFT


def test_invalid_rating_is_refused_and_nothing_saved(draft, editor):
    version = draft.version
    response = editor.patch(
        url(draft),
        {"rating": "Z", "progress_text": "保存されない"},
        format="json",
        **if_match(draft),
    )
    assert response.status_code == 400
    assert "rating" in error_attrs(response)
    draft.refresh_from_db()
    assert draft.rating is None
    assert draft.progress_text == ""
    assert draft.version == version


@pytest.mark.parametrize("field", ["progress_text", "rating_reason", "plan_text", "next_actions"])
def test_text_over_the_limit_is_refused(draft, editor, field):
    response = editor.patch(url(draft), {field: "あ" * 5001}, format="json", **if_match(draft))
    assert response.status_code == 400
    assert field in error_attrs(response)
    draft.refresh_from_db()
    assert getattr(draft, field) == ""
    response = editor.patch(url(draft), {field: "あ" * 5000}, format="json", **if_match(draft))
    assert response.status_code == 200, response.json()


def test_fields_outside_the_editable_set_are_refused(draft, editor):
    response = editor.patch(
        url(draft),
        {"status": "approved", "review_comment": "self-approved"},
        format="json",
        **if_match(draft),
    )
    assert response.status_code == 400
    errors = {(error["attr"], error["code"]) for error in response.json()["errors"]}
    assert errors == {("review_comment", "unknown_field"), ("status", "unknown_field")}
    draft.refresh_from_db()
    assert draft.status == EvaluationStatus.DRAFT
    assert draft.review_comment == ""


def test_close_and_publish(draft, r7, editor, secretariat, api):
    assert (
        editor.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft)).status_code
        == 200
    )
    assert editor.post(url(draft, "submit"), **if_match(draft)).status_code == 200

    round_url = reverse("round-detail", args=[r7.pk])
    assert editor.post(round_url + "close/").status_code == 403
    response = secretariat.post(reverse("round-close", args=[r7.pk]))
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == RoundStatus.CLOSED
    assert response.json()["closed_at"] is not None

    other = Evaluation.objects.get(round=r7, initiative__number=50)
    for response in (
        editor.patch(url(draft), {"progress_text": "closed"}, format="json", **if_match(draft)),
        secretariat.patch(url(other), {"rating": "B"}, format="json", **if_match(other)),
        secretariat.post(url(other, "submit"), **if_match(other)),
    ):
        assert response.status_code == 409
        assert "現在の状態" in detail(response)
    response = secretariat.post(reverse("round-close", args=[r7.pk]))
    assert response.status_code == 409

    publish = reverse("round-publish", args=[r7.pk])
    assert editor.post(publish).status_code == 403
    response = secretariat.post(publish)
    assert response.status_code == 409
    assert "1, 2, 3" in detail(response)
    assert "89" in detail(response)

    # Everything else approved directly; No. 89 is still only submitted.
    Evaluation.objects.filter(round=r7).exclude(pk=draft.pk).update(
        status=EvaluationStatus.APPROVED, rating="B", approved_at=timezone.now()
    )
    response = secretariat.post(publish)
    assert response.status_code == 409
    assert detail(response).startswith(
        "承認されていない評価があるため、公表できません（取組番号: 89）。（現在の状態: 締切）"
    )
    r7.refresh_from_db()
    assert r7.status == RoundStatus.CLOSED

    # Not yet public.
    assert api.get(reverse("round-detail", args=[r7.pk])).status_code == 404
    assert api.get(reverse("evaluation-list"), {"fiscal_year": "R7"}).json()["count"] == 0

    # Review goes on after the round is closed.
    assert secretariat.post(url(draft, "approve"), **if_match(draft)).status_code == 200
    response = secretariat.post(publish)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == RoundStatus.PUBLISHED
    assert response.json()["published_at"] is not None

    response = api.get(reverse("evaluation-list"), {"fiscal_year": "R7", "page_size": 200})
    assert response.status_code == 200
    assert response.json()["count"] == 91
    assert api.get(url(draft)).json()["rating"] == "A"
    response = api.get(reverse("aggregate-ratings"), {"plan": PLAN_CODE, "fiscal_year": "R7"})
    assert response.status_code == 200
    overall = response.json()["overall"]
    assert overall["total"] == 91
    assert overall["a"] == 1
    assert overall["b"] == 90

    # Published: no reopening, no publishing again, no editing.
    response = secretariat.post(
        url(draft, "reopen"), {"reason": "x"}, format="json", **if_match(draft)
    )
    assert response.status_code == 409
    assert secretariat.post(publish).status_code == 409
    assert (
        secretariat.patch(url(draft), {"rating": "C"}, format="json", **if_match(draft)).status_code
        == 409
    )


def test_publishing_needs_a_closed_round(r7, secretariat):
    response = secretariat.post(reverse("round-publish", args=[r7.pk]))
    assert response.status_code == 409
    assert "現在の状態: 受付中" in detail(response)
    r7.refresh_from_db()
    assert r7.status == RoundStatus.OPEN


def test_publishing_a_closed_round_lists_every_initiative_not_approved(r7, secretariat):
    assert secretariat.post(reverse("round-close", args=[r7.pk])).status_code == 200
    response = secretariat.post(reverse("round-publish", args=[r7.pk]))
    assert response.status_code == 409
    numbers = detail(response).split("取組番号: ")[1].split("）")[0]
    assert [int(n) for n in numbers.split(", ")] == list(range(1, 92))


@pytest.mark.parametrize("fiscal_year", ["R4", "2022", "R8", "2030"])
def test_opening_a_round_outside_the_plan_period(r7, plan, secretariat, fiscal_year):
    response = secretariat.post(
        reverse("round-list"), {"plan": plan.pk, "fiscal_year": fiscal_year}, format="json"
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["fiscal_year"]
    assert not Round.objects.filter(plan=plan, fiscal_year__in=[2022, 2026, 2030]).exists()


def test_opening_a_round_with_a_malformed_year(r7, plan, secretariat):
    response = secretariat.post(
        reverse("round-list"), {"plan": plan.pk, "fiscal_year": "next year"}, format="json"
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["fiscal_year"]


@pytest.mark.parametrize("fiscal_year", ["R7", "R6", "2023"])
def test_opening_an_existing_round_is_a_conflict(r7, plan, secretariat, fiscal_year):
    before = Evaluation.objects.count()
    response = secretariat.post(
        reverse("round-list"), {"plan": plan.pk, "fiscal_year": fiscal_year}, format="json"
    )
    assert response.status_code == 409
    assert "現在の状態" in detail(response)
    assert Evaluation.objects.count() == before


# KPI actuals


def actual_body(evaluation_: Evaluation, kpi_: KPI, **changes) -> dict:
    return {
        "evaluation": evaluation_.pk,
        "kpi": kpi_.pk,
        "value": "120",
        "as_of": "2026-03-31",
    } | changes


def test_kpi_actual_lifecycle(draft, kpi89, editor, secretariat):
    actuals = reverse("kpi-actual-list")
    response = editor.post(actuals, actual_body(draft, kpi89, note="速報値"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["value"] == "120"
    assert body["as_of"] == "2026-03-31"
    assert body["kpi"]["id"] == kpi89.pk
    actual = KPIActual.objects.get(pk=body["id"])
    assert actual.evaluation == draft

    # A second actual for the same KPI and evaluation.
    response = editor.post(actuals, actual_body(draft, kpi89, value="5"), format="json")
    assert response.status_code == 400
    assert error_attrs(response) == ["kpi"]
    assert KPIActual.objects.filter(evaluation=draft).count() == 1

    response = editor.patch(
        reverse("kpi-actual-detail", args=[actual.pk]),
        {"value": "150"},
        format="json",
        **if_match(actual),
    )
    assert response.status_code == 200, response.json()
    assert response.json()["value"] == "150"
    actual.refresh_from_db()
    assert actual.value == Decimal("150")
    assert actual.note == "速報値"

    response = editor.put(
        reverse("kpi-actual-detail", args=[actual.pk]),
        {"value": "-1", "as_of": "2026-03-31"},
        format="json",
        **if_match(actual),
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["value"]

    response = editor.get(url(draft))
    assert [item["id"] for item in response.json()["kpi_actuals"]] == [actual.pk]

    # Once submitted, the actuals are frozen.
    assert (
        editor.patch(url(draft), {"rating": "B"}, format="json", **if_match(draft)).status_code
        == 200
    )
    assert editor.post(url(draft, "submit"), **if_match(draft)).status_code == 200
    detail_url = reverse("kpi-actual-detail", args=[actual.pk])
    for response in (
        editor.patch(detail_url, {"value": "1"}, format="json", **if_match(actual)),
        editor.delete(detail_url, **if_match(actual)),
        secretariat.delete(detail_url, **if_match(actual)),
    ):
        assert response.status_code == 409
        assert "現在の状態" in detail(response)
    actual.refresh_from_db()
    assert actual.value == Decimal("150")

    # Returned: editable again, and deletable.
    assert (
        secretariat.post(
            url(draft, "return"), {"comment": "x"}, format="json", **if_match(draft)
        ).status_code
        == 200
    )
    assert editor.delete(detail_url, **if_match(actual)).status_code == 204
    assert not KPIActual.objects.filter(pk=actual.pk).exists()


def test_kpi_actual_delete_while_draft(draft, kpi89, editor):
    response = editor.post(reverse("kpi-actual-list"), actual_body(draft, kpi89), format="json")
    assert response.status_code == 201
    actual_id = response.json()["id"]
    actual = KPIActual.objects.get(pk=actual_id)
    response = editor.delete(reverse("kpi-actual-detail", args=[actual_id]), **if_match(actual))
    assert response.status_code == 204
    assert not KPIActual.objects.filter(pk=actual_id).exists()


def test_kpi_actual_refused_once_submitted(draft, kpi89, editor):
    assert (
        editor.patch(url(draft), {"rating": "C"}, format="json", **if_match(draft)).status_code
        == 200
    )
    assert editor.post(url(draft, "submit"), **if_match(draft)).status_code == 200
    response = editor.post(reverse("kpi-actual-list"), actual_body(draft, kpi89), format="json")
    assert response.status_code == 409
    assert "現在の状態" in detail(response)
    assert not KPIActual.objects.filter(evaluation=draft).exists()


@pytest.mark.parametrize(
    ("changes", "attr"),
    [
        ({"value": "-1"}, "value"),
        ({"value": "-0.5"}, "value"),
        ({"as_of": "2025-03-31"}, "as_of"),
        ({"as_of": "2026-10-01"}, "as_of"),
        ({"as_of": "2024-06-30"}, "as_of"),
        ({"value": "abc"}, "value"),
        ({"as_of": "not-a-date"}, "as_of"),
    ],
)
def test_kpi_actual_validation(draft, kpi89, editor, changes, attr):
    response = editor.post(
        reverse("kpi-actual-list"), actual_body(draft, kpi89, **changes), format="json"
    )
    assert response.status_code == 400
    assert error_attrs(response) == [attr]
    assert not KPIActual.objects.filter(evaluation=draft).exists()


@pytest.mark.parametrize("as_of", ["2025-04-01", "2026-03-31", "2026-09-30", None])
def test_kpi_actual_as_of_inside_the_year_or_grace(draft, kpi89, editor, as_of):
    response = editor.post(
        reverse("kpi-actual-list"), actual_body(draft, kpi89, as_of=as_of), format="json"
    )
    assert response.status_code == 201, response.json()


def test_kpi_actual_of_another_initiatives_kpi(draft, editor):
    kpi50 = KPI.objects.get(initiative=initiative(50))
    response = editor.post(reverse("kpi-actual-list"), actual_body(draft, kpi50), format="json")
    assert response.status_code == 400
    assert error_attrs(response) == ["kpi"]
    assert not KPIActual.objects.filter(evaluation=draft).exists()


def test_kpi_actual_of_an_unknown_kpi_or_evaluation(draft, kpi89, editor):
    actuals = reverse("kpi-actual-list")
    response = editor.post(actuals, actual_body(draft, kpi89, kpi=999999), format="json")
    assert response.status_code == 404
    response = editor.post(actuals, actual_body(draft, kpi89, evaluation=999999), format="json")
    assert response.status_code == 404
