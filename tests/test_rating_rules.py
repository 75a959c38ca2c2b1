"""The report's rating criteria applied to KPIs, in Decimal, and the suggestion in the API.

The rating follows the ratio as displayed, to 0.01 % (4 decimal places, rounded half up);
``test_suggestion_rule`` holds the SQL of the same rule to it."""

from decimal import Decimal

import pytest

from evaluations.models import KPIActual, Rating
from evaluations.rating_rules import (
    ROADMAP_SCORES,
    KPIAssessment,
    assess_kpi,
    rating_for_ratio,
    suggest_rating,
)
from initiatives.models import KPIDirection, KPITarget
from tests.conftest import evaluation

D = Decimal


@pytest.mark.parametrize(
    ("ratio", "rating"),
    [
        ("1.0001", Rating.A),
        ("1.00005", Rating.A),  # displayed as 100.01 %
        ("1.00004999999", Rating.B),  # displayed as 100.00 %
        ("1.00000000001", Rating.B),
        ("1", Rating.B),
        ("1.0000", Rating.B),
        ("0.9999", Rating.B),
        ("0.8", Rating.B),
        ("0.8000", Rating.B),
        ("0.79999999999", Rating.B),  # displayed as 80.00 %
        ("0.79995", Rating.B),
        ("0.79994999999", Rating.C),  # displayed as 79.99 %
        ("0.7999", Rating.C),
        ("0", Rating.C),
        ("-0.00005", Rating.C),
        ("2.5", Rating.A),
    ],
)
def test_rating_for_ratio_boundaries(ratio: str, rating: Rating) -> None:
    assert rating_for_ratio(D(ratio)) == rating


@pytest.mark.parametrize(
    ("actual", "target", "ratio", "rating"),
    [
        ("100", "100", "1", Rating.B),  # exactly the target is B, not A
        ("100.01", "100", "1.0001", Rating.A),
        ("80", "100", "0.8", Rating.B),  # exactly 80% is B
        ("79.99", "100", "0.7999", Rating.C),
        ("4", "5", "0.8", Rating.B),
        ("2.4", "3", "0.8", Rating.B),  # 0.7999999… in floating point
        ("2", "3", "0.6667", Rating.C),
        # The rating follows the ratio as displayed, rounded half up to 0.01 %.
        ("79.996", "100", "0.8", Rating.B),
        ("79.995", "100", "0.8", Rating.B),
        ("79.994", "100", "0.7999", Rating.C),
        ("100.004", "100", "1", Rating.B),
        ("100.005", "100", "1.0001", Rating.A),
        ("15999", "20000", "0.8", Rating.B),
    ],
)
def test_assess_kpi_higher_is_better(actual, target, ratio, rating) -> None:
    assessment = assess_kpi(actual=D(actual), target=D(target))
    assert assessment.rating == rating
    assert assessment.ratio_display == D(ratio).quantize(D("0.0001"))
    assert assessment.reason == ""


def test_assess_kpi_ratio_is_the_displayed_decimal() -> None:
    assessment = assess_kpi(actual=D("80"), target=D("100"))
    assert isinstance(assessment.ratio, Decimal)
    assert assessment.ratio == D("0.8")
    assert assess_kpi(actual=D("2"), target=D("3")).ratio == D("0.6667")
    assert assess_kpi(actual=D("-1"), target=D("20000")).ratio == D("-0.0001")  # away from 0


@pytest.mark.parametrize(
    ("actual", "target", "ratio", "rating"),
    [
        ("40", "40", "1", Rating.B),
        ("39", "40", "1.0256", Rating.A),  # below the ceiling is better
        ("50", "40", "0.8", Rating.B),
        ("50.01", "40", "0.7998", Rating.C),
        ("20000", "15999", "0.8", Rating.B),  # 79.995 %
        ("20000", "20001", "1.0001", Rating.A),  # 100.005 %
    ],
)
def test_assess_kpi_lower_is_better_inverts_the_ratio(actual, target, ratio, rating) -> None:
    assessment = assess_kpi(actual=D(actual), target=D(target), direction=KPIDirection.LOWER)
    assert assessment.rating == rating
    assert assessment.ratio_display == D(ratio).quantize(D("0.0001"))


def test_direction_matters() -> None:
    higher = assess_kpi(actual=D("50"), target=D("40"))
    lower = assess_kpi(actual=D("50"), target=D("40"), direction=KPIDirection.LOWER)
    assert (higher.rating, lower.rating) == (Rating.A, Rating.B)


def test_missing_actual_has_no_rating_and_says_why() -> None:
    assessment = assess_kpi(actual=None, target=D("10"))
    assert (assessment.ratio, assessment.rating) == (None, None)
    assert assessment.ratio_display is None
    assert assessment.reason


def test_qualitative_target_has_no_rating_and_says_why() -> None:
    assessment = assess_kpi(actual=D("1512"), target=None)
    assert (assessment.ratio, assessment.rating) == (None, None)
    assert assessment.reason
    assert assessment.reason != assess_kpi(actual=None, target=D("10")).reason


@pytest.mark.parametrize(
    ("actual", "target", "direction"),
    [
        ("5", "0", KPIDirection.HIGHER),
        ("0", "5", KPIDirection.LOWER),
        ("5", "-1", KPIDirection.HIGHER),
    ],
)
def test_zero_or_negative_denominator_has_no_rating(actual, target, direction) -> None:
    assessment = assess_kpi(actual=D(actual), target=D(target), direction=direction)
    assert (assessment.ratio, assessment.rating) == (None, None)
    assert assessment.reason


def test_zero_actual_against_a_positive_target_is_c() -> None:
    assert assess_kpi(actual=D("0"), target=D("5")).rating == Rating.C


def test_suggestion_without_numeric_kpis() -> None:
    for assessments in ([], [assess_kpi(actual=D("1"), target=None)]):
        suggestion = suggest_rating(assessments)
        assert (suggestion.ratio, suggestion.rating) == (None, None)
        assert suggestion.reason


def test_suggestion_is_the_mean_ratio_of_the_numeric_kpis() -> None:
    suggestion = suggest_rating(
        [
            KPIAssessment(D("0.7"), Rating.C),
            KPIAssessment(D("0.9"), Rating.B),
            KPIAssessment(None, None, "数値目標がありません"),
        ]
    )
    assert suggestion.ratio == D("0.8")
    assert suggestion.rating == Rating.B


def test_suggestion_is_the_mean_of_the_displayed_ratios_rounded_again() -> None:
    # 0.79985 and 0.79995 are shown as 79.99 % and 80.00 %: their mean is shown as 80.00 %
    # (B), though the mean of the exact ratios, 79.99 %, would be C.
    assessments = [
        assess_kpi(actual=D("15997"), target=D("20000")),
        assess_kpi(actual=D("15999"), target=D("20000")),
    ]
    assert [a.ratio for a in assessments] == [D("0.7999"), D("0.8000")]
    suggestion = suggest_rating(assessments)
    assert (suggestion.ratio, suggestion.rating) == (D("0.8000"), Rating.B)
    # Ratios given unrounded are rounded first.
    suggestion = suggest_rating(
        [KPIAssessment(D("0.79985"), Rating.C), KPIAssessment(D("0.79994"), Rating.C)]
    )
    assert (suggestion.ratio, suggestion.rating) == (D("0.7999"), Rating.C)


@pytest.mark.parametrize(
    ("ratios", "mean", "rating"),
    [
        (["1", "1.0001"], "1.0001", Rating.A),  # 1.00005
        (["1", "1", "1.0001"], "1", Rating.B),  # 1.0000333…
        (["0.6667", "0.9333"], "0.8", Rating.B),  # 2/3 and 14/15
        (["0.7998", "0.8"], "0.7999", Rating.C),
    ],
)
def test_suggestion_means_at_the_thresholds(ratios, mean, rating) -> None:
    suggestion = suggest_rating([KPIAssessment(D(r), rating_for_ratio(D(r))) for r in ratios])
    assert (suggestion.ratio, suggestion.rating) == (D(mean), rating)


# --- the report's cases ----------------------------------------------------------------------


def test_no_45_three_kpis_suggest_a() -> None:
    assessments = [
        assess_kpi(actual=D(92), target=D(75)),
        assess_kpi(actual=D(300), target=D(174)),
        assess_kpi(actual=D(2999), target=D(3700)),
    ]
    assert [a.ratio_display for a in assessments] == [D("1.2267"), D("1.7241"), D("0.8105")]
    assert [a.rating for a in assessments] == [Rating.A, Rating.A, Rating.B]
    suggestion = suggest_rating(assessments)
    assert suggestion.rating == Rating.A
    assert suggestion.ratio_display == D("1.2538")


def test_no_60_two_kpis_suggest_a() -> None:
    assessments = [assess_kpi(actual=D(20), target=D(22)), assess_kpi(actual=D(9), target=D(8))]
    assert [a.ratio_display for a in assessments] == [D("0.9091"), D("1.1250")]
    assert [a.rating for a in assessments] == [Rating.B, Rating.A]
    suggestion = suggest_rating(assessments)
    assert suggestion.rating == Rating.A
    # The mean of 90.91 % and 112.50 % as shown: 101.705 %, rounded half up.
    assert suggestion.ratio_display == D("1.0171")


@pytest.mark.parametrize(
    ("number", "actual", "target", "ratio", "rating"),
    [
        (89, 1032, 1800, "0.5733", Rating.C),
        (50, 51, 60, "0.8500", Rating.B),
        (22, 241, 175, "1.3771", Rating.A),
    ],
)
def test_single_kpi_cases(number, actual, target, ratio, rating) -> None:
    suggestion = suggest_rating([assess_kpi(actual=D(actual), target=D(target))])
    assert suggestion.rating == rating
    assert suggestion.ratio_display == D(ratio)


# --- the same through the API ---------------------------------------------------------------


def evaluation_detail(api, number: int) -> dict:
    response = api.get(f"/api/v1/evaluations/{evaluation(number, 2024).pk}/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    ("number", "ratio", "rating"),
    [
        (45, "1.2538", "A"),
        (60, "1.0171", "A"),
        (89, "0.5733", "C"),
        (50, "0.8500", "B"),
        (22, "1.3771", "A"),
    ],
)
def test_api_suggestion_matches_the_report(api, number: int, ratio: str, rating: str) -> None:
    body = evaluation_detail(api, number)
    assert body["rating"] == rating
    assert body["suggestion"] == {"ratio": ratio, "rating": rating, "reason": ""}
    assert body["differs_from_suggestion"] is False


def test_api_assesses_each_kpi_of_no_45(api) -> None:
    body = evaluation_detail(api, 45)
    assessments = [
        (actual["value"], actual["target_value"], actual["assessment"])
        for actual in body["kpi_actuals"]
    ]
    assert assessments == [
        ("92", "75", {"ratio": "1.2267", "rating": "A", "reason": ""}),
        ("300", "174", {"ratio": "1.7241", "rating": "A", "reason": ""}),
        ("2999", "3700", {"ratio": "0.8105", "rating": "B", "reason": ""}),
    ]


def test_api_qualitative_target_gives_no_suggestion(api) -> None:
    body = evaluation_detail(api, 13)
    assert body["suggestion"]["rating"] is None
    assert body["suggestion"]["ratio"] is None
    assert body["suggestion"]["reason"]
    assert body["differs_from_suggestion"] is None
    (actual,) = body["kpi_actuals"]
    assert actual["target_value"] is None
    assert actual["target_text"] == "希望する職員"
    assert actual["assessment"]["rating"] is None
    assert actual["assessment"]["reason"]


def test_api_without_kpis_gives_no_suggestion(api) -> None:
    body = evaluation_detail(api, 7)  # judged against the roadmap
    assert body["kpi_actuals"] == []
    assert body["suggestion"]["rating"] is None
    assert body["differs_from_suggestion"] is None


def test_api_flags_a_rating_that_differs_from_the_suggestion(api) -> None:
    row = evaluation(89, 2024)
    row.rating = Rating.A
    row.save()

    body = evaluation_detail(api, 89)
    assert body["suggestion"]["rating"] == "C"
    assert body["differs_from_suggestion"] is True


def test_api_list_carries_the_suggestion(api) -> None:
    response = api.get("/api/v1/evaluations/", {"fiscal_year": "R6", "initiative_number": 45})
    (row,) = response.json()["results"]
    assert row["suggestion"]["rating"] == "A"
    assert row["differs_from_suggestion"] is False


def test_a_huge_ratio_is_shown_not_a_server_error(api) -> None:
    actual = KPIActual.objects.get(
        evaluation__initiative__number=89, evaluation__round__fiscal_year=2024
    )
    KPITarget.objects.filter(kpi=actual.kpi, fiscal_year=2024).update(value=Decimal("0.0001"))
    KPIActual.objects.filter(pk=actual.pk).update(value=Decimal("100000000"))

    body = evaluation_detail(api, 89)

    assert body["suggestion"] == {"ratio": "1000000000000.0000", "rating": "A", "reason": ""}


# --- roadmap KPIs: a qualitative target of the year is its milestone -----------------------------


def roadmap(status: str | None) -> KPIAssessment:
    return assess_kpi(actual=None, target=None, target_text="全庁展開", roadmap_status=status)


@pytest.mark.parametrize(
    ("status", "rating", "score"),
    [("ahead", Rating.A, 1), ("on_track", Rating.B, 0), ("behind", Rating.C, -1)],
)
def test_a_roadmap_kpi_is_rated_by_its_status(status: str, rating: Rating, score: int) -> None:
    assessment = roadmap(status)
    assert (assessment.ratio, assessment.rating, assessment.roadmap_score) == (None, rating, score)
    assert assessment.reason
    assert ROADMAP_SCORES[status] == score


def test_a_roadmap_status_counts_only_against_a_qualitative_target() -> None:
    numeric = assess_kpi(actual=D("5"), target=D("4"), roadmap_status="behind")
    assert (numeric.rating, numeric.roadmap_score) == (Rating.A, None)
    no_actual = assess_kpi(actual=None, target=D("4"), roadmap_status="ahead")
    assert (no_actual.rating, no_actual.roadmap_score) == (None, None)
    no_target = assess_kpi(actual=None, target=None, roadmap_status="ahead")
    assert (no_target.rating, no_target.roadmap_score) == (None, None)
    assert roadmap(None).rating is None


@pytest.mark.parametrize(
    ("statuses", "rating"),
    [
        (["ahead"], Rating.A),
        (["on_track"], Rating.B),
        (["behind"], Rating.C),
        (["ahead", "behind"], Rating.B),
        (["ahead", "ahead", "behind"], Rating.A),
        (["on_track", "behind"], Rating.C),
        (["on_track", "on_track", "ahead"], Rating.A),
    ],
)
def test_roadmap_kpis_suggest_by_the_sum_of_their_scores(statuses, rating) -> None:
    suggestion = suggest_rating(roadmap(status) for status in statuses)
    assert (suggestion.ratio, suggestion.rating) == (None, rating)
    assert suggestion.reason


def test_numbers_come_before_the_roadmap() -> None:
    suggestion = suggest_rating([assess_kpi(actual=D("48"), target=D("60")), roadmap("behind")])
    assert (suggestion.ratio, suggestion.rating, suggestion.roadmap_score) == (
        D("0.8"),
        Rating.B,
        None,
    )
    # A KPI without a ratio and a roadmap KPI: the roadmap decides.
    no_value = assess_kpi(actual=None, target=D("60"))
    assert suggest_rating([no_value, roadmap("ahead")]).rating == Rating.A


def test_api_roadmap_status_gives_the_suggestion(api) -> None:
    """No. 13's R6 target is qualitative (希望する職員): its status decides the suggestion."""
    actual = KPIActual.objects.get(evaluation=evaluation(13, 2024))
    actual.roadmap_status = "behind"
    actual.save()

    body = evaluation_detail(api, 13)

    assert body["suggestion"]["rating"] == "C" and body["suggestion"]["ratio"] is None
    (row,) = body["kpi_actuals"]
    assert row["roadmap_status"] == "behind"
    assert row["assessment"]["rating"] == "C"
    assert body["differs_from_suggestion"] is (body["rating"] in ("A", "B"))
    listed = api.get("/api/v1/evaluations/", {"fiscal_year": "R6", "initiative_number": 13})
    assert listed.json()["results"][0]["suggestion"] == body["suggestion"]
