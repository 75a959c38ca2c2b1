"""The report's rating criteria (評価基準), applied to KPIs to suggest a rating.

- A: above the target (目標数値を超える)
- B: 80% to 100% of the target (目標数値の100%〜80%)
- C: under 80% of the target (80%未満)

The rating itself is the department's and secretariat's judgement; these rules only suggest
one. Cumulative KPIs (累計) hold cumulative targets and actuals, so the same ratio applies.

The suggestion follows the achievement ratio *as displayed*, to 0.01 % (``RATIO_PLACES``):

1. A KPI's ratio is actual / target, or target / actual when lower is better, rounded half-up
   (half away from zero) to 4 decimal places. A KPI without an actual, without a numeric
   target, or whose denominator is 0 or less has none.
2. An evaluation's ratio is the mean of its KPIs' rounded ratios, rounded again to 4 places.
3. A ratio above 1 (``FULL``) suggests A, from 0.8 (``B_THRESHOLD``) up to 1 B, below 0.8 C.

So a KPI at 79.996 % displays as 80.00 % and is B; one at 100.004 % displays as 100.00 % and is
B (100.005 % displays as 100.01 % and is A); and two KPIs at 70 % and 90 % make 80.00 %, B.

A roadmap KPI (ロードマップ: its target of the year is qualitative, the year's milestone) has no
ratio; its actual records whether the milestone is ahead, on track or behind
(``KPIActual.roadmap_status``), which scores +1, 0 or -1 (``ROADMAP_SCORES``):

4. A roadmap KPI with a status suggests A when ahead of the roadmap, B on it, C behind it. A
   status on a KPI whose target of the year is numeric, or that has none, counts for nothing.
5. An evaluation none of whose KPIs has a ratio follows its roadmap KPIs: the sum of their
   scores above 0 (more ahead than behind) suggests A, 0 B, below 0 C. Numbers come first:
   with a ratio, the roadmap KPIs do not change the suggestion.

The rule exists twice, built from the same constants: in ``Decimal`` for one evaluation
(``assess_kpi``, ``suggest_rating``, ``rating_for_ratio``, ``rating_for_roadmap``), and in SQL
for filtering lists of evaluations (``kpi_ratio_sql``, ``mean_ratio_sql``,
``roadmap_score_sql``, ``roadmap_sum_sql``, ``rating_sql``, used by
``selectors.with_suggestion``). ``tests/test_suggestion_rule.py`` holds them equal on SQLite
and PostgreSQL.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    F,
    Func,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.utils.translation import gettext_lazy

from evaluations.models import Rating, RoadmapStatus
from initiatives.models import KPIDirection

B_THRESHOLD = Decimal("0.8")
FULL = Decimal("1")
RATIO_PLACES = Decimal("0.0001")
# A roadmap KPI's score by its status (rule 4); an evaluation's roadmap score is their sum.
ROADMAP_SCORES: dict[str, int] = {
    RoadmapStatus.AHEAD: 1,
    RoadmapStatus.ON_TRACK: 0,
    RoadmapStatus.BEHIND: -1,
}

# Enough significant digits that a quotient of two values of 20 digits (the model fields'
# ``max_digits``) is exact well past the 4th decimal place, so rounding it there is exact.
_EXACT = Context(prec=50, rounding=ROUND_HALF_UP)


def displayed(ratio: Decimal) -> Decimal:
    """``ratio`` as displayed: rounded half-up (half away from zero) to ``RATIO_PLACES``."""
    return Decimal(ratio).quantize(RATIO_PLACES, context=_EXACT)


def rounded_ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` as displayed (``denominator`` is not 0)."""
    return displayed(_EXACT.divide(Decimal(numerator), Decimal(denominator)))


@dataclass(frozen=True)
class KPIAssessment:
    """An achievement ratio, as displayed, and the rating it suggests; or why there is none."""

    ratio: Decimal | None
    rating: Rating | None
    reason: str = ""
    # A roadmap KPI's score (``ROADMAP_SCORES``), or an evaluation's sum of them.
    roadmap_score: int | None = None

    @property
    def ratio_display(self) -> Decimal | None:
        return None if self.ratio is None else displayed(self.ratio)


def rating_for_ratio(ratio: Decimal) -> Rating:
    """The rating of a ratio as displayed: above 100.00% is A; 80.00% up to and including
    100.00% is B; under 80.00% is C."""
    ratio = displayed(ratio)
    if ratio > FULL:
        return Rating.A
    if ratio >= B_THRESHOLD:
        return Rating.B
    return Rating.C


def rating_for_roadmap(score: int) -> Rating:
    """The rating of a roadmap score: above 0 (ahead) is A, 0 (on track) B, below 0 C."""
    if score > 0:
        return Rating.A
    if score == 0:
        return Rating.B
    return Rating.C


NO_ACTUAL = gettext_lazy("No actual value has been entered yet.")
QUALITATIVE_TARGET = gettext_lazy("The target is qualitative: judge against the roadmap.")
NO_TARGET = gettext_lazy("The KPI has no target for this fiscal year.")
NO_RATIO = gettext_lazy("No ratio can be computed (the denominator is 0 or less).")
NO_KPI = gettext_lazy("The initiative has no KPI: judge against the roadmap.")
NO_NUMERIC_KPI = gettext_lazy("No KPI of this evaluation can be measured against a number.")
ROADMAP_REASONS = {
    RoadmapStatus.AHEAD: gettext_lazy("Ahead of the year's roadmap milestone."),
    RoadmapStatus.ON_TRACK: gettext_lazy("On track with the year's roadmap milestone."),
    RoadmapStatus.BEHIND: gettext_lazy("Behind the year's roadmap milestone."),
}
BY_ROADMAP = gettext_lazy("No KPI has a ratio: suggested from the roadmap milestones.")


def assess_kpi(
    *,
    actual: Decimal | None,
    target: Decimal | None,
    direction: str = KPIDirection.HIGHER,
    target_text: str = "",
    roadmap_status: str | None = None,
) -> KPIAssessment:
    """Achievement ratio of one KPI in one year, as displayed: actual / target, or
    target / actual when lower is better. ``target_text`` tells a qualitative target from
    no target at all, for the reason given when there is no ratio; against a qualitative
    target (the year's roadmap milestone) ``roadmap_status`` gives the rating (rule 4)."""
    if target is None:
        if target_text and roadmap_status in ROADMAP_SCORES:
            score = ROADMAP_SCORES[roadmap_status]
            reason = str(ROADMAP_REASONS[RoadmapStatus(roadmap_status)])
            return KPIAssessment(None, rating_for_roadmap(score), reason, roadmap_score=score)
        return KPIAssessment(None, None, str(QUALITATIVE_TARGET if target_text else NO_TARGET))
    if actual is None:
        return KPIAssessment(None, None, str(NO_ACTUAL))
    numerator, denominator = (
        (target, actual) if direction == KPIDirection.LOWER else (actual, target)
    )
    if denominator <= 0:
        return KPIAssessment(None, None, str(NO_RATIO))
    ratio = rounded_ratio(numerator, denominator)
    return KPIAssessment(ratio, rating_for_ratio(ratio))


def suggest_rating(
    assessments: Iterable[KPIAssessment], *, kpi_count: int | None = None
) -> KPIAssessment:
    """The evaluation's suggestion: the mean of the displayed ratios of the KPIs that have
    one, as displayed. Without any, the sum of the roadmap KPIs' scores (rule 5); without
    those either, the reason is the KPIs' own when they agree; with no assessment at all
    (``kpi_count`` KPIs, none with an actual), that no actual was entered yet, or that the
    initiative has no KPI."""
    assessments = list(assessments)
    ratios = [displayed(item.ratio) for item in assessments if item.ratio is not None]
    if not assessments and kpi_count is not None:
        return KPIAssessment(None, None, str(NO_ACTUAL if kpi_count else NO_KPI))
    scores = [item.roadmap_score for item in assessments if item.roadmap_score is not None]
    if not ratios and scores:
        total = sum(scores)
        return KPIAssessment(None, rating_for_roadmap(total), str(BY_ROADMAP), roadmap_score=total)
    if not ratios:
        reasons = {item.reason for item in assessments}
        if len(reasons) == 1:
            return KPIAssessment(None, None, reasons.pop())
        return KPIAssessment(None, None, str(NO_NUMERIC_KPI))
    mean = rounded_ratio(functools.reduce(_EXACT.add, ratios, Decimal(0)), len(ratios))
    return KPIAssessment(mean, rating_for_ratio(mean))


# --- the same rule in SQL ---------------------------------------------------------------------

PLACES = -RATIO_PLACES.as_tuple().exponent  # 4
SCALE = 10**PLACES  # units of RATIO_PLACES in 1


def ratio_field() -> DecimalField:
    """The output field of a ratio in SQL."""
    return DecimalField(max_digits=40, decimal_places=PLACES)


class RoundedRatio(Func):
    """``ROUND(numerator / denominator, 4)``: ``rounded_ratio`` in SQL, for a denominator
    above 0.

    PostgreSQL divides ``numeric`` to at least the dividend's scale, so the dividend is cast
    to 30 decimal places first: the quotient is then exact far past the 4th place and
    ``round(numeric, 4)`` rounds it half away from zero, like ``ROUND_HALF_UP``.

    SQLite would divide in floating point, where a ratio at a tie (1.00005) can come out just
    under it, and its ``round()`` of such a value depends on the version: ``round(100.005 /
    100, 4)`` is 1.0001 on 3.40 but 1.0 on 3.51. So on SQLite both sides are taken as integers
    of ten-thousandths (n, d) and the ratio in ten-thousandths is
    sign(n) · ((2·|n|·10⁴ + d) div 2d), exact while the values stay under 4.6·10¹⁰ (SQLite
    keeps decimals as REAL, to 15 significant digits, anyway).
    """

    arity = 2

    def __init__(self, numerator, denominator, **extra):
        super().__init__(numerator, denominator, output_field=ratio_field(), **extra)

    def _compiled(self, compiler):
        return [compiler.compile(expression) for expression in self.get_source_expressions()]

    def as_sql(self, compiler, connection, **extra_context):
        (numerator, n_params), (denominator, d_params) = self._compiled(compiler)
        sql = f"ROUND(CAST({numerator} AS NUMERIC(1000, 30)) / ({denominator}), {PLACES})"
        return sql, (*n_params, *d_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        (numerator, n_params), (denominator, d_params) = self._compiled(compiler)
        n = f"CAST(ROUND(({numerator}) * {SCALE}) AS INTEGER)"
        d = f"CAST(ROUND(({denominator}) * {SCALE}) AS INTEGER)"
        sql = (
            f"CAST(CASE WHEN ({numerator}) < 0 THEN -1 ELSE 1 END"
            f" * CAST((ABS({n}) * {2 * SCALE} + {d}) / ({d} * 2) AS INTEGER)"
            f" / {SCALE}.0 AS NUMERIC)"
        )
        return sql, (*n_params, *n_params, *d_params, *d_params)


def kpi_ratio_sql(*, actual: str, target: str, direction: str) -> Case:
    """``assess_kpi(...).ratio`` in SQL, from the paths of the actual, the numeric target
    and the KPI's direction: NULL where there is no ratio."""
    lower = Q(**{direction: KPIDirection.LOWER})
    return Case(
        When(lower & Q(**{f"{actual}__gt": 0}), then=RoundedRatio(F(target), F(actual))),
        When(~lower & Q(**{f"{target}__gt": 0}), then=RoundedRatio(F(actual), F(target))),
        default=None,
        output_field=ratio_field(),
    )


def mean_ratio_sql(ratio: str) -> RoundedRatio:
    """``suggest_rating(...).ratio`` in SQL: the aggregate over the rows of KPI ratios named
    ``ratio`` (rows without one left out first)."""
    return RoundedRatio(Sum(ratio, output_field=ratio_field()), Count(ratio))


def roadmap_score_sql(*, status: str, target: str) -> Case:
    """``assess_kpi(...).roadmap_score`` in SQL, from the paths of the actual's roadmap status
    and of the numeric target of a target row that exists (so its text is the milestone when
    it has no number): NULL for a numeric target or no status."""
    qualitative = Q(**{f"{target}__isnull": True})
    return Case(
        *(
            When(qualitative & Q(**{status: value}), then=Value(score))
            for value, score in ROADMAP_SCORES.items()
        ),
        default=None,
        output_field=IntegerField(),
    )


def roadmap_sum_sql(score: str) -> Sum:
    """``suggest_rating(...).roadmap_score`` in SQL: the aggregate over the rows of roadmap
    scores named ``score`` (NULL when none has one)."""
    return Sum(score, output_field=IntegerField())


def rating_sql(ratio: str, roadmap: str | None = None) -> Case:
    """``rating_for_ratio`` in SQL, for the displayed ratio named ``ratio``; without one,
    ``rating_for_roadmap`` of the roadmap score named ``roadmap`` (rule 5); NULL without
    either."""
    by_roadmap = []
    if roadmap is not None:
        by_roadmap = [
            When(**{f"{roadmap}__gt": 0}, then=Value(Rating.A)),
            When(**{roadmap: 0}, then=Value(Rating.B)),
            When(**{f"{roadmap}__lt": 0}, then=Value(Rating.C)),
        ]
    return Case(
        When(**{f"{ratio}__gt": FULL}, then=Value(Rating.A)),
        When(**{f"{ratio}__gte": B_THRESHOLD}, then=Value(Rating.B)),
        When(**{f"{ratio}__isnull": False}, then=Value(Rating.C)),
        *by_roadmap,
        default=None,
        output_field=CharField(),
    )
