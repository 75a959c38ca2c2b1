"""The KPI-based suggested rating in the workflow and the list: a submitted A/B/C that differs
from the suggestion needs a reason (``services.evaluation_submit``), and the evaluation list
filters by ``differs_from_suggestion`` (``selectors.differing_from_suggestion``)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from evaluations.models import Evaluation, EvaluationStatus, KPIActual
from initiatives.models import KPI, KPIDirection, KPITarget
from tests.conftest import error_attrs, evaluation
from tests.helpers import R7, if_match, url


def with_actual(draft_, kpi, *, target: str, value: str) -> None:
    """Give ``kpi`` an R7 target and ``draft_`` an actual for it."""
    KPITarget.objects.update_or_create(
        kpi=kpi, fiscal_year=R7, defaults={"value": Decimal(target), "text": ""}
    )
    KPIActual.objects.create(evaluation=draft_, kpi=kpi, value=Decimal(value))


def rate(draft_, rating: str, reason: str = "") -> None:
    Evaluation.objects.filter(pk=draft_.pk).update(rating=rating, rating_reason=reason)


def submit(client, draft_):
    return client.post(url(draft_, "submit"), **if_match(draft_))


def status_of(draft_) -> str:
    return Evaluation.objects.values_list("status", flat=True).get(pk=draft_.pk)


# Suggested A (120 of 100).


@pytest.mark.parametrize("rating", ["B", "C"])
@pytest.mark.parametrize("reason", ["", "   "])
def test_differing_rating_without_reason_is_refused(draft, kpi89, editor, rating, reason):
    with_actual(draft, kpi89, target="100", value="120")
    rate(draft, rating, reason)
    response = submit(editor, draft)
    assert response.status_code == 400, response.content[:300]
    assert error_attrs(response) == ["rating_reason"]
    assert "A" in response.json()["errors"][0]["detail"]
    assert status_of(draft) == EvaluationStatus.DRAFT


def test_differing_rating_with_reason_is_submitted(draft, kpi89, editor):
    with_actual(draft, kpi89, target="100", value="120")
    response = editor.patch(
        url(draft),
        {"rating": "B", "rating_reason": "指標外の遅れがある"},
        format="json",
        **if_match(draft),
    )
    assert response.status_code == 200
    response = submit(editor, draft)
    assert response.status_code == 200, response.content[:300]
    assert status_of(draft) == EvaluationStatus.SUBMITTED


def test_rating_as_suggested_needs_no_reason(draft, kpi89, editor):
    with_actual(draft, kpi89, target="100", value="120")
    rate(draft, "A")
    assert submit(editor, draft).status_code == 200
    assert status_of(draft) == EvaluationStatus.SUBMITTED


@pytest.mark.parametrize(
    ("value", "rating"),
    [
        ("90", "B"),
        ("50", "C"),
        ("100", "B"),
        # The suggestion follows the ratio as displayed, to 0.01 %, rounded half up.
        ("79.996", "B"),
        ("79.995", "B"),
        ("79.994", "C"),
        ("100.004", "B"),
        ("100.005", "A"),
    ],
)
def test_each_suggested_rating_needs_no_reason(draft, kpi89, editor, value, rating):
    with_actual(draft, kpi89, target="100", value=value)
    rate(draft, rating)
    assert submit(editor, draft).status_code == 200, rating


def test_not_evaluated_needs_no_reason(draft, kpi89, editor):
    with_actual(draft, kpi89, target="100", value="120")
    rate(draft, "-")
    assert submit(editor, draft).status_code == 200


def test_no_kpi_actual_needs_no_reason(draft, editor):
    assert not draft.kpi_actuals.exists()
    rate(draft, "C")
    assert submit(editor, draft).status_code == 200


def test_initiative_without_kpis_needs_no_reason(r7, editor, secretariat):
    without = Evaluation.objects.filter(round=r7, initiative__kpis__isnull=True).first()
    if without is None:
        pytest.skip("every shipped initiative has a KPI")
    rate(without, "C")
    assert submit(secretariat, without).status_code == 200


def test_actual_without_target_gives_no_suggestion(draft, kpi89, editor):
    KPITarget.objects.filter(kpi=kpi89, fiscal_year=R7).delete()
    KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=Decimal("5"))
    rate(draft, "C")
    assert submit(editor, draft).status_code == 200


def test_lower_is_better_kpi(draft, kpi89, editor):
    KPI.objects.filter(pk=kpi89.pk).update(direction=KPIDirection.LOWER)
    # 80 against a ceiling of 100: ratio 1.25, suggested A.
    with_actual(draft, kpi89, target="100", value="80")
    rate(draft, "C")
    response = submit(editor, draft)
    assert response.status_code == 400
    assert error_attrs(response) == ["rating_reason"]
    rate(draft, "A")
    assert submit(editor, draft).status_code == 200


# The list filter


def differing(client, fiscal_year: str, value: str) -> tuple[int, list[int]]:
    response = client.get(
        reverse("evaluation-list"),
        {"fiscal_year": fiscal_year, "differs_from_suggestion": value, "page_size": 200},
    )
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    return body["count"], [item["initiative"]["number"] for item in body["results"]]


def test_filter_on_the_shipped_report(api):
    assert differing(api, "R6", "true") == (0, [])
    count, numbers = differing(api, "R6", "false")
    assert count == 91
    assert numbers == list(range(1, 92))


def test_filter_after_changing_a_rating(api):
    no_89 = evaluation(89, 2024)
    assert no_89.rating != "A"
    Evaluation.objects.filter(pk=no_89.pk).update(rating="A")
    assert differing(api, "R6", "true") == (1, [89])
    assert differing(api, "R6", "false")[0] == 90


def test_filter_with_lower_is_better_kpi(draft, kpi89, secretariat):
    KPI.objects.filter(pk=kpi89.pk).update(direction=KPIDirection.LOWER)
    with_actual(draft, kpi89, target="100", value="80")
    rate(draft, "C")
    assert differing(secretariat, "R7", "true") == (1, [89])
    rate(draft, "A")
    assert differing(secretariat, "R7", "true") == (0, [])
    assert 89 in differing(secretariat, "R7", "false")[1]


@pytest.mark.parametrize(
    ("target", "value"),
    [("3", "2.4"), ("60", "48"), ("3.375", "2.7"), ("20000", "15999"), ("2", "1.5999")],
)
def test_filter_and_submit_agree_at_80_percent(draft, kpi89, editor, secretariat, target, value):
    """Exactly 80 % (2.4 / 3 is 0.7999… in floating point) or 79.995 % is B for the list's
    filter (SQL) as for the detail and the submission (Decimal)."""
    with_actual(draft, kpi89, target=target, value=value)
    rate(draft, "C")
    assert differing(secretariat, "R7", "true") == (1, [89])
    rate(draft, "B")
    assert differing(secretariat, "R7", "true") == (0, [])
    assert secretariat.get(url(draft)).json()["differs_from_suggestion"] is False
    assert submit(editor, draft).status_code == 200
