"""Rating counts, year-over-year transitions and trends, computed in the database.

Every function takes an evaluation queryset already scoped to what the caller may see
(``selectors.evaluations_visible_to``), so unpublished data is never counted for the public.
Percentages are of the initiatives rated A, B or C that year, to one decimal.
"""

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from evaluations.models import Evaluation, Rating
from initiatives.models import Initiative, Plan

ONE_DECIMAL = Decimal("0.1")
RATING_RANK = {Rating.A: 3, Rating.B: 2, Rating.C: 1}
NO_RATING = "none"
UNASSIGNED = "（未割当）"
TRANSITION_RATINGS = [*Rating.values, NO_RATING]


class GroupBy(StrEnum):
    PILLAR = "pillar"
    POLICY_AREA = "policy_area"
    DEPARTMENT = "department"


_COUNTS = {
    "a": Count("id", filter=Q(rating=Rating.A)),
    "b": Count("id", filter=Q(rating=Rating.B)),
    "c": Count("id", filter=Q(rating=Rating.C)),
    "not_evaluated": Count("id", filter=Q(rating=Rating.NOT_EVALUATED)),
    "unrated": Count("id", filter=Q(rating__isnull=True)),
    "total": Count("id"),
}

# Per grouping: the fields of the group's key, then the fields it is ordered by.
_GROUPS: dict[GroupBy, tuple[dict[str, Any], list[Any]]] = {
    GroupBy.PILLAR: (
        {
            "id": F("initiative__policy_area__pillar_id"),
            "name": F("initiative__policy_area__pillar__name"),
        },
        [F("initiative__policy_area__pillar__order")],
    ),
    GroupBy.POLICY_AREA: (
        {
            "id": F("initiative__policy_area_id"),
            "pillar_name": F("initiative__policy_area__pillar__name"),
            "number": F("initiative__policy_area__number"),
            "name": F("initiative__policy_area__name"),
        },
        [F("initiative__policy_area__pillar__order"), F("initiative__policy_area__number")],
    ),
    GroupBy.DEPARTMENT: (
        {
            "id": F("initiative__responsibilities__department_id"),
            "code": Coalesce(F("initiative__responsibilities__department__code"), Value("")),
            "name": Coalesce(
                F("initiative__responsibilities__department__name"), Value(UNASSIGNED)
            ),
        },
        # Unassigned initiatives last, on every database.
        [Coalesce(F("initiative__responsibilities__department__order"), Value(2**15))],
    ),
}


def percentage(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(ONE_DECIMAL, ROUND_HALF_UP)


def with_shares(counts: dict[str, int]) -> dict[str, Any]:
    """Add ``rated``, ``a_and_b`` and the percentages to raw counts."""
    rated = counts["a"] + counts["b"] + counts["c"]
    a_and_b = counts["a"] + counts["b"]
    return {
        **counts,
        "rated": rated,
        "a_and_b": a_and_b,
        "a_percentage": percentage(counts["a"], rated),
        "b_percentage": percentage(counts["b"], rated),
        "c_percentage": percentage(counts["c"], rated),
        "a_and_b_percentage": percentage(a_and_b, rated),
    }


def _in_year(evaluations: QuerySet[Evaluation], plan: Plan, fiscal_year: int):
    return evaluations.filter(round__plan=plan, round__fiscal_year=fiscal_year)


def rating_counts(
    evaluations: QuerySet[Evaluation],
    *,
    plan: Plan,
    fiscal_year: int,
    group_by: GroupBy | None = None,
) -> dict[str, Any]:
    """Counts of A/B/C/not evaluated for one plan-year, overall and optionally per group.

    Grouped by department, an initiative counts once for each responsible department;
    initiatives without one form a group whose ``id`` is null.
    """
    in_year = _in_year(evaluations, plan, fiscal_year).order_by()
    overall = with_shares(in_year.aggregate(**_COUNTS))
    groups: list[dict[str, Any]] = []
    if group_by is not None:
        fields, ordering = _GROUPS[group_by]
        sort_keys = {f"sort_{index}": expr for index, expr in enumerate(ordering)}
        rows = (
            in_year.annotate(
                **{f"group_{name}": expr for name, expr in fields.items()}, **sort_keys
            )
            .values(*(f"group_{name}" for name in fields), *sort_keys)
            .annotate(**_COUNTS)
            .order_by(*sort_keys, "group_id")
        )
        for row in rows:
            group = {name: row.pop(f"group_{name}") for name in fields}
            for name in sort_keys:
                row.pop(name)
            groups.append({"group": group, **with_shares(row)})
    return {"overall": overall, "groups": groups}


def rating_transitions(
    evaluations: QuerySet[Evaluation], *, plan: Plan, from_year: int, to_year: int
) -> dict[str, Any]:
    """A matrix of each initiative's rating in ``from_year`` against ``to_year``.

    Ratings are A, B, C, ``-`` (not evaluated) and ``none`` (no visible evaluation, or a
    rating not known). Improved / unchanged / worsened compare initiatives rated A–C in both.
    """

    def rating_in(year: int) -> Subquery:
        return Subquery(
            _in_year(evaluations, plan, year).filter(initiative=OuterRef("pk")).values("rating")[:1]
        )

    cells = (
        Initiative.objects.filter(plan=plan)
        .annotate(from_rating=rating_in(from_year), to_rating=rating_in(to_year))
        .values("from_rating", "to_rating")
        .annotate(count=Count("id"))
        .order_by("from_rating", "to_rating")
    )
    matrix = [
        {
            "from_rating": cell["from_rating"] or NO_RATING,
            "to_rating": cell["to_rating"] or NO_RATING,
            "count": cell["count"],
        }
        for cell in cells
    ]
    movement = {"improved": 0, "unchanged": 0, "worsened": 0, "not_comparable": 0}
    for cell in matrix:
        before = RATING_RANK.get(cell["from_rating"])
        after = RATING_RANK.get(cell["to_rating"])
        if before is None or after is None:
            key = "not_comparable"
        elif after > before:
            key = "improved"
        elif after < before:
            key = "worsened"
        else:
            key = "unchanged"
        movement[key] += cell["count"]
    return {"matrix": matrix, **movement, "total": sum(cell["count"] for cell in matrix)}


def rating_trend(evaluations: QuerySet[Evaluation], *, plan: Plan) -> list[dict[str, Any]]:
    """Rating counts for every fiscal year of the plan that has visible evaluations."""
    rows = (
        evaluations.filter(round__plan=plan)
        .values(fiscal_year=F("round__fiscal_year"))
        .annotate(**_COUNTS)
        .order_by("fiscal_year")
    )
    return [{"fiscal_year": row.pop("fiscal_year"), **with_shares(row)} for row in rows]
