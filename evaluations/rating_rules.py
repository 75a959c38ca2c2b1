"""The report's rating criteria (評価基準), applied to KPIs to suggest a rating.

- A: above the target (目標数値を超える)
- B: 80% to 100% of the target (目標数値の100%〜80%)
- C: under 80% of the target (80%未満)

The rating itself is the department's and secretariat's judgement; these rules only suggest
one. An evaluation's suggestion comes from the mean achievement ratio of its numeric KPIs.
Cumulative KPIs (累計) hold cumulative targets and actuals, so the same ratio applies.
All arithmetic is in ``Decimal``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from evaluations.models import Rating
from initiatives.models import KPIDirection

B_THRESHOLD = Decimal("0.8")
FULL = Decimal("1")
RATIO_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class KPIAssessment:
    ratio: Decimal | None
    rating: Rating | None
    reason: str = ""

    @property
    def ratio_display(self) -> Decimal | None:
        return None if self.ratio is None else self.ratio.quantize(RATIO_PLACES, ROUND_HALF_UP)


def rating_for_ratio(ratio: Decimal) -> Rating:
    """Above 100% is A; 80% up to and including 100% is B; under 80% is C."""
    if ratio > FULL:
        return Rating.A
    if ratio >= B_THRESHOLD:
        return Rating.B
    return Rating.C


def assess_kpi(
    *,
    actual: Decimal | None,
    target: Decimal | None,
    direction: str = KPIDirection.HIGHER,
) -> KPIAssessment:
    """Achievement ratio of one KPI in one year: actual / target, or target / actual when
    lower is better."""
    if actual is None:
        return KPIAssessment(None, None, "実績値がありません")
    if target is None:
        return KPIAssessment(None, None, "数値目標がありません（定性的な目標）")
    numerator, denominator = (
        (target, actual) if direction == KPIDirection.LOWER else (actual, target)
    )
    if denominator <= 0:
        return KPIAssessment(None, None, "比率を計算できません（分母が0以下）")
    ratio = Decimal(numerator) / Decimal(denominator)
    return KPIAssessment(ratio, rating_for_ratio(ratio))


def suggest_rating(assessments: Iterable[KPIAssessment]) -> KPIAssessment:
    """The evaluation's suggestion: the mean ratio of the KPIs that have one."""
    ratios = [item.ratio for item in assessments if item.ratio is not None]
    if not ratios:
        return KPIAssessment(None, None, "数値で評価できる指標がありません")
    mean = sum(ratios, Decimal(0)) / len(ratios)
    return KPIAssessment(mean, rating_for_ratio(mean))
