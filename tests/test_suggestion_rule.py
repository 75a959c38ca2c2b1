"""One suggested-rating rule: the Decimal rule (``selectors.suggestion_for``) and its SQL
(``selectors.with_suggestion`` and ``differing_from_suggestion``, behind the list's
``?differs_from_suggestion=``) give the same ratio and rating for every evaluation.

The evaluations are made in a plan of their own: ratios exactly at 80 % and 100 % (including
the quotients that floating point misses, like 2.4 / 3), ties in the 5th decimal place, just
under and over both thresholds, lower-is-better KPIs, zero and negative denominators, missing
and qualitative targets, several KPIs whose mean lands on a threshold or a tie, roadmap KPIs (a
status against a qualitative target: alone, several, beside numbers, on a numeric or missing
target), and a seeded random batch of realistic values. Each case is evaluated in three rounds,
rated A, B and C, so that ``differing_from_suggestion`` is checked on both sides of every edge.
"""

import random
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from django.db.models import QuerySet

from evaluations.models import (
    RATED,
    Evaluation,
    KPIActual,
    Rating,
    RoadmapStatus,
    Round,
    RoundStatus,
)
from evaluations.selectors import differing_from_suggestion, suggestion_for, with_suggestion
from initiatives.models import (
    KPI,
    Initiative,
    KPIDirection,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
)

H, L = KPIDirection.HIGHER, KPIDirection.LOWER
A, B, C = Rating.A, Rating.B, Rating.C
NO_RATIO = None
MISSING = "missing"  # no target row for the round's year (only a decoy for another year)
FIRST_YEAR = 2024
DECOY_YEAR = 2023  # a target in a year without a round: the SQL must not pick it up
ROUND_RATINGS = (Rating.A, Rating.B, Rating.C)

# A KPI of a case: (actual, target, direction), and optionally its roadmap status. An actual of
# None is a KPI with no actual reported (unless it has a status); a target of None a
# qualitative target (text only, the year's milestone); MISSING no target for the year.
KPIValues = tuple[str | None, str | None, str] | tuple[str | None, str | None, str, str]
AHEAD, ON_TRACK, BEHIND = RoadmapStatus.AHEAD, RoadmapStatus.ON_TRACK, RoadmapStatus.BEHIND

# (KPIs, the rating the rule suggests)
EDGE_CASES: list[tuple[list[KPIValues], Rating | None]] = [
    # Exactly 80 %: in floating point several of these come out just under 0.8.
    ([("48", "60", H)], B),
    ([("2.4", "3", H)], B),
    ([("0.8", "1", H)], B),
    ([("4", "5", H)], B),
    ([("2.7", "3.375", H)], B),
    ([("0.56", "0.7", H)], B),
    ([("1.2", "1.5", H)], B),
    ([("2.1", "2.625", H)], B),
    ([("0.0008", "0.001", H)], B),
    ([("1440", "1800", H)], B),
    # Exactly 100 %: B, not A.
    ([("60", "60", H)], B),
    ([("3", "3", H)], B),
    ([("3.375", "3.375", H)], B),
    ([("0.3", "0.3", H)], B),
    ([("0.0001", "0.0001", H)], B),
    # Ties in the 5th decimal place round half up: 79.995 % shows as 80.00 %, 100.005 % as
    # 100.01 %. 1.5999 / 2 is a tie that floating point puts just under 0.79995.
    ([("15999", "20000", H)], B),
    ([("1.5999", "2", H)], B),
    ([("3.1998", "4", H)], B),
    ([("7999.5", "10000", H)], B),
    ([("20001", "20000", H)], A),
    ([("2.0001", "2", H)], A),
    ([("4.0002", "4", H)], A),
    ([("10000.5", "10000", H)], A),
    # Just under and over the thresholds, as displayed.
    ([("79.996", "100", H)], B),  # 80.00 %
    ([("79.994", "100", H)], C),  # 79.99 %
    ([("7999.4999", "10000", H)], C),
    ([("0.7999", "1", H)], C),
    ([("100.004", "100", H)], B),  # 100.00 %
    ([("100.005", "100", H)], A),  # 100.01 %
    ([("10000.4999", "10000", H)], B),
    ([("1.0001", "1", H)], A),
    ([("2", "3", H)], C),
    ([("1032", "1800", H)], C),
    ([("241", "175", H)], A),
    # Lower is better: target / actual.
    ([("50", "40", L)], B),
    ([("3", "2.4", L)], B),
    ([("37.5", "30", L)], B),
    ([("40", "40", L)], B),
    ([("50.01", "40", L)], C),
    ([("39", "40", L)], A),
    ([("20000", "15999", L)], B),  # a tie at 79.995 %
    ([("20000", "20001", L)], A),  # a tie at 100.005 %
    ([("2", "1.5999", L)], B),
    ([("100", "79.994", L)], C),
    # No ratio: zero or negative denominators, no numeric target, no actual.
    ([("5", "0", H)], NO_RATIO),
    ([("5", "-1", H)], NO_RATIO),
    ([("0", "5", L)], NO_RATIO),
    ([("-1", "5", L)], NO_RATIO),
    ([("5", None, H)], NO_RATIO),
    ([("5", MISSING, H)], NO_RATIO),
    ([("5", MISSING, L)], NO_RATIO),
    ([(None, "5", H)], NO_RATIO),
    ([], NO_RATIO),
    # Zero and negative ratios are C; a negative tie rounds away from zero.
    ([("0", "5", H)], C),
    ([("-3", "5", H)], C),
    ([("5", "-2", L)], C),
    ([("-1", "20000", H)], C),
    # KPIs without a ratio leave the mean alone.
    ([("5", None, H), ("48", "60", H)], B),
    ([("5", "0", H), ("60", "60", H), (None, "3", H)], B),
    ([("5", MISSING, H), ("1.0001", "1", H)], A),
    # Several KPIs whose mean is exactly 80 % or 100 %.
    ([("0.7", "1", H), ("0.9", "1", H)], B),
    ([("2", "3", H), ("14", "15", H)], B),  # 0.6667 and 0.9333
    ([("1", "1.5", H), ("2.8", "3", H)], B),
    ([("0.9", "1", H), ("0.7", "1", H), ("0.8", "1", H)], B),
    ([("1.2", "1", H), ("0.8", "1", H)], B),
    ([("50", "40", L), ("0.8", "1", H)], B),
    ([("2", "3", H), ("2", "3", H), ("16", "15", H)], B),  # 0.80003 as displayed
    # Means at a tie: the mean of the displayed ratios, rounded half up.
    ([("0.7999", "1", H), ("0.8", "1", H)], B),  # 0.79995
    ([("15997", "20000", H), ("15999", "20000", H)], B),  # 0.7999 and 0.8000
    ([("1", "1", H), ("1.0001", "1", H)], A),  # 1.00005
    ([("1", "1", H), ("1", "1", H), ("1.0001", "1", H)], B),  # 1.0000333
    ([("0.7998", "1", H), ("0.8", "1", H)], C),  # 0.7999
    ([("-1", "20000", H), ("1.5999", "1", H)], C),  # -0.0001 and 1.5999: 0.7999
    ([("-1", "20000", H), ("1.6001", "1", H)], B),  # -0.0001 and 1.6001: 0.8000
    ([("7", "10", H), ("9", "10", L)], B),  # 0.7 and 1.1111
    # Roadmap KPIs: a status against a qualitative target.
    ([(None, None, H, AHEAD)], A),
    ([(None, None, H, ON_TRACK)], B),
    ([(None, None, H, BEHIND)], C),
    ([("3", None, L, BEHIND)], C),
    ([(None, None, H, AHEAD), (None, None, H, BEHIND)], B),
    ([(None, None, H, AHEAD), (None, None, H, AHEAD), (None, None, H, BEHIND)], A),
    ([(None, None, H, ON_TRACK), (None, None, H, BEHIND)], C),
    ([(None, None, H, ON_TRACK), (None, None, H, ON_TRACK)], B),
    ([(None, None, H, ON_TRACK), (None, None, H)], B),  # no status: counts for nothing
    # Numbers come first; a KPI without a ratio leaves the roadmap to decide.
    ([("48", "60", H), (None, None, H, BEHIND)], B),
    ([("2", "3", H), (None, None, H, AHEAD)], C),
    ([(None, "5", H), (None, None, H, AHEAD)], A),
    ([("5", "0", H), (None, None, H, BEHIND)], C),
    # A status on a numeric or a missing target counts for nothing.
    ([("5", "5", H, BEHIND)], B),
    ([(None, "5", H, AHEAD)], NO_RATIO),
    ([(None, MISSING, H, AHEAD)], NO_RATIO),
    ([("5", MISSING, H, AHEAD), (None, None, H, BEHIND)], C),
]


def make_plan(code: str) -> tuple[Plan, PolicyArea]:
    plan = Plan.objects.create(
        code=code, organisation="検証県", name="提案評価の検証", start_year=2020, end_year=2030
    )
    pillar = Pillar.objects.create(plan=plan, order=1, name="検証")
    return plan, PolicyArea.objects.create(pillar=pillar, number=1, name="検証")


def build(
    cases: Sequence[Sequence[KPIValues]],
    *,
    years: int,
    rating: Callable[[int, int], str | None],
    code: str = "suggestion-rule",
    status: str = RoundStatus.OPEN,
) -> dict[int, int]:
    """One initiative per case, with its KPIs, targets and an evaluation in each of ``years``
    rounds rated ``rating(case index, year index)``: ``{evaluation id: case index}``."""
    plan, area = make_plan(code)
    initiatives = Initiative.objects.bulk_create(
        Initiative(plan=plan, policy_area=area, number=index + 1, title=f"事例{index + 1}")
        for index in range(len(cases))
    )
    kpis = KPI.objects.bulk_create(
        KPI(initiative=initiative, order=order, name=f"指標{order}", direction=values[2])
        for initiative, kpi_values in zip(initiatives, cases, strict=True)
        for order, values in enumerate(kpi_values, start=1)
    )
    kpi_rows = list(zip(kpis, [values for case in cases for values in case], strict=True))
    fiscal_years = [FIRST_YEAR + index for index in range(years)]
    targets = [KPITarget(kpi=kpi, fiscal_year=DECOY_YEAR, value=Decimal(7)) for kpi, _ in kpi_rows]
    for kpi, (_, target, *_) in kpi_rows:
        if target == MISSING:
            continue
        for fiscal_year in fiscal_years:
            if target is None:
                targets.append(KPITarget(kpi=kpi, fiscal_year=fiscal_year, text="定性的な目標"))
            else:
                targets.append(KPITarget(kpi=kpi, fiscal_year=fiscal_year, value=Decimal(target)))
    KPITarget.objects.bulk_create(targets)
    rounds = [
        Round.objects.create(plan=plan, fiscal_year=fiscal_year, status=status)
        for fiscal_year in fiscal_years
    ]
    evaluations = Evaluation.objects.bulk_create(
        Evaluation(round=round_, initiative=initiative, rating=rating(index, year_index))
        for index, initiative in enumerate(initiatives)
        for year_index, round_ in enumerate(rounds)
    )
    by_initiative = {}
    for evaluation in evaluations:
        by_initiative.setdefault(evaluation.initiative_id, []).append(evaluation)
    KPIActual.objects.bulk_create(
        KPIActual(
            evaluation=evaluation,
            kpi=kpi,
            value=None if actual is None else Decimal(actual),
            roadmap_status=status[0] if status else None,
        )
        for kpi, (actual, _, _, *status) in kpi_rows
        if actual is not None or status
        for evaluation in by_initiative[kpi.initiative_id]
    )
    case_of = {initiative.pk: index for index, initiative in enumerate(initiatives)}
    return {evaluation.pk: case_of[evaluation.initiative_id] for evaluation in evaluations}


def in_plan(code: str) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(round__plan__code=code)


def mismatches(evaluations: QuerySet[Evaluation], describe: Callable[[Evaluation], str]):
    """Where the Decimal rule and the SQL disagree, on the ratio, the rating, or whether the
    rating differs from the suggestion; and the Decimal rule's ratings by evaluation id."""
    sql = {
        row["pk"]: (row["suggestion_ratio"], row["suggested_rating"])
        for row in with_suggestion(evaluations).values("pk", "suggestion_ratio", "suggested_rating")
    }
    differing = set(differing_from_suggestion(evaluations, True).values_list("pk", flat=True))
    agreeing = set(differing_from_suggestion(evaluations, False).values_list("pk", flat=True))
    found, ratings = [], {}
    for evaluation in evaluations.select_related("round", "initiative"):
        suggestion = suggestion_for(evaluation)
        ratings[evaluation.pk] = suggestion.rating
        differs = (
            evaluation.rating in RATED
            and suggestion.rating is not None
            and evaluation.rating != suggestion.rating
        )
        sql_ratio, sql_rating = sql[evaluation.pk]
        if (
            sql_rating != suggestion.rating
            or sql_ratio != suggestion.ratio
            or (evaluation.pk in differing) != differs
            or (evaluation.pk in agreeing) == differs
        ):
            found.append(
                f"{describe(evaluation)} rated {evaluation.rating}: Decimal "
                f"{suggestion.ratio} {suggestion.rating} differs={differs}; SQL {sql_ratio} "
                f"{sql_rating} differing={evaluation.pk in differing} "
                f"agreeing={evaluation.pk in agreeing}"
            )
    assert len(sql) == len(ratings)
    return found, ratings


@pytest.mark.django_db
def test_edges_follow_the_rule_in_decimal_and_in_sql():
    case_of = build(
        [kpis for kpis, _ in EDGE_CASES],
        years=len(ROUND_RATINGS),
        rating=lambda case, year: ROUND_RATINGS[year],
    )

    found, ratings = mismatches(
        in_plan("suggestion-rule"), lambda e: str(EDGE_CASES[case_of[e.pk]][0])
    )

    assert found == []
    wrong = [
        (EDGE_CASES[case_of[pk]][0], rating, EDGE_CASES[case_of[pk]][1])
        for pk, rating in ratings.items()
        if rating != EDGE_CASES[case_of[pk]][1]
    ]
    assert wrong == []
    assert len(ratings) == len(EDGE_CASES) * len(ROUND_RATINGS)


# --- a seeded random batch ------------------------------------------------------------------


def value(rng: random.Random) -> Decimal:
    """A realistic positive KPI value: a count, an amount, a percentage or a small decimal."""
    kind = rng.randrange(4)
    if kind == 0:
        return Decimal(rng.randint(1, 120))
    if kind == 1:
        return Decimal(rng.randint(100, 5_000_000))
    if kind == 2:
        return Decimal(rng.randint(1, 10_000)) / 100  # a percentage, 0.01 – 100.00
    return Decimal(rng.randint(1, 99_999_999)) / 10**4  # up to 4 decimal places


def factor(rng: random.Random) -> Decimal:
    """Achievement: mostly close to 80 % or 100 %, sometimes anywhere from 0 to 200 %."""
    kind = rng.randrange(4)
    if kind == 0:
        return Decimal(rng.randint(0, 20_000)) / 10**4
    centre = rng.choice((Decimal("0.8"), Decimal("1")))
    return centre + Decimal(rng.randint(-300, 300)) / 10**6


def places(rng: random.Random, number: Decimal) -> Decimal:
    return number.quantize(Decimal(1).scaleb(-rng.randint(0, 4)))


def random_kpi(rng: random.Random) -> KPIValues:
    direction = L if rng.random() < 0.25 else H
    kind = rng.random()
    base = value(rng)
    if kind < 0.04:
        return (str(base), rng.choice((None, MISSING)), direction)
    if kind < 0.06:
        return (None, str(base), direction)
    if kind < 0.08:
        other = rng.choice((Decimal(0), -base))
    elif kind < 0.16:
        # A tie in the 5th decimal place: an even whole base times 0.79995 or 1.00005.
        base = Decimal(2 * rng.randint(1, 50_000))
        other = base * rng.choice((Decimal("0.79995"), Decimal("1.00005")))
    elif kind < 0.24:
        other = base * rng.choice((Decimal("0.8"), Decimal("1")))  # exact when it fits
        other = places(rng, other) if other.as_tuple().exponent < -4 else other
    else:
        other = places(rng, base * factor(rng))
    # The ratio is other / base: actual / target, or target / actual when lower is better.
    actual, target = (base, other) if direction == L else (other, base)
    return (str(actual), str(target), direction)


def mean_case(rng: random.Random) -> list[KPIValues]:
    """Two KPIs whose ratios add up to 1.6 or 2 (a mean of 80 % or 100 %), or to a tie."""
    total = rng.choice((Decimal("1.6"), Decimal("2"), Decimal("1.5999"), Decimal("2.0001")))
    first = Decimal(rng.randint(1, int(total * 10**4) - 1)) / 10**4
    scale = Decimal(10) ** rng.randint(0, 3)
    return [(str(first * scale), str(scale), H), (str(total - first), "1", H)]


def with_roadmap(cases: list[list[KPIValues]], seed: int) -> list[list[KPIValues]]:
    """The cases with a roadmap status on most qualitative targets, and on a few others."""
    rng = random.Random(seed)
    statuses = (AHEAD, ON_TRACK, BEHIND)
    return [
        [
            (*kpi[:3], rng.choice(statuses))
            if rng.random() < (0.8 if kpi[1] is None else 0.05)
            else kpi
            for kpi in case
        ]
        for case in cases
    ]


def random_cases(seed: int, count: int) -> list[list[KPIValues]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        if rng.random() < 0.15:
            cases.append(mean_case(rng))
        else:
            cases.append([random_kpi(rng) for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))])
    return cases


def test_random_cases_reach_the_edges():
    """The batch below is not all far from the thresholds: it has exact ratios and ties."""
    kpis = [kpi for case in random_cases(seed=2024, count=300) for kpi in case]
    ratios = [
        Decimal(a) / Decimal(t) if d == H else Decimal(t) / Decimal(a)
        for a, t, d in kpis
        if a and t not in (None, MISSING) and Decimal(t if d == H else a) > 0
    ]
    assert sum(r in (Decimal("0.8"), Decimal(1)) for r in ratios) >= 10
    assert sum(r in (Decimal("0.79995"), Decimal("1.00005")) for r in ratios) >= 10


@pytest.mark.django_db
def test_a_seeded_random_batch_gets_the_same_suggestion_in_decimal_and_in_sql():
    cases = with_roadmap(random_cases(seed=2024, count=300), seed=6)
    assert sum(len(kpi) == 4 and kpi[1] is None for case in cases for kpi in case) >= 5
    ratings = (Rating.A, Rating.B, Rating.C, Rating.NOT_EVALUATED, None)
    rng = random.Random(7)
    chosen = [rng.choice(ratings) for _ in cases]
    case_of = build(cases, years=1, rating=lambda case, year: chosen[case])

    found, suggested = mismatches(in_plan("suggestion-rule"), lambda e: str(cases[case_of[e.pk]]))

    assert found == []
    # Every rating is suggested somewhere in the batch, and some evaluations have none.
    assert set(suggested.values()) == {Rating.A, Rating.B, Rating.C, None}


# --- the shipped report and the API ----------------------------------------------------------


def test_the_shipped_report_gets_the_same_suggestions(plan):
    evaluations = Evaluation.objects.filter(round__plan=plan)
    found, ratings = mismatches(evaluations, str)
    assert found == []
    by_number = {
        number: ratings[pk]
        for pk, number in evaluations.filter(round__fiscal_year=2024).values_list(
            "pk", "initiative__number"
        )
    }
    assert {n: by_number[n] for n in (45, 60, 89, 50)} == {45: A, 60: A, 89: C, 50: B}


def test_the_list_filter_agrees_with_each_rows_flag(api):
    """``?differs_from_suggestion=true`` (SQL) lists exactly the rows whose
    ``differs_from_suggestion`` (Decimal) is true; at 80 % a B is not listed."""
    cases = [
        [("2.4", "3", H)],
        [("1.5999", "2", H)],
        [("79.996", "100", H)],
        [("100.004", "100", H)],
        [("0.7999", "1", H), ("0.8", "1", H)],
        [("20000", "15999", L)],
    ]
    build(
        cases,
        years=len(ROUND_RATINGS),
        rating=lambda case, year: ROUND_RATINGS[year],
        code="suggestion-api",
        status=RoundStatus.PUBLISHED,
    )

    def listed(**params) -> list[dict]:
        response = api.get(
            "/api/v1/evaluations/", {"plan": "suggestion-api", "page_size": 200, **params}
        )
        assert response.status_code == 200, response.content[:300]
        return response.json()["results"]

    rows = listed()
    assert len(rows) == len(cases) * len(ROUND_RATINGS)
    assert {row["suggestion"]["rating"] for row in rows} == {"B"}
    flagged = sorted(row["id"] for row in rows if row["differs_from_suggestion"])
    assert sorted(row["id"] for row in listed(differs_from_suggestion="true")) == flagged
    assert sorted(row["id"] for row in rows if row["rating"] != "B") == flagged
    assert len(listed(differs_from_suggestion="false")) == len(rows) - len(flagged)
