"""Aggregate endpoints: rating counts, year-over-year transitions, trends."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dxapi.filters import id_or_code
from dxapi.strict import StrictQueryMixin
from evaluations import aggregate_cache, aggregates
from evaluations.api.cached_responses import cacheable, note_version
from evaluations.policy import evaluations_visible_to, plans_visible_to
from initiatives.access import actor_for
from initiatives.api.fields import FiscalYearParamField
from initiatives.fiscal_years import year_fields
from initiatives.models import Plan


class PlanParamField(serializers.CharField):
    looks_up_records = True  # an unknown plan is 404 (documented by dxapi.schema)

    def to_internal_value(self, data) -> Plan:
        value = super().to_internal_value(data)
        if "\x00" in value:
            raise serializers.ValidationError(_("Null characters are not allowed."))
        # A plan the caller may not see (another plan than an API key's) is not found.
        plans = plans_visible_to(actor_for(self.context["request"]))
        return get_object_or_404(plans, **id_or_code(value))


class PlanYearQuery(serializers.Serializer):
    plan = PlanParamField(help_text="Plan id or code, e.g. `akita-dx`.")
    fiscal_year = FiscalYearParamField(help_text="Fiscal year: 2024, R6 or 令和6年度.")


class RatingCountsQuery(PlanYearQuery):
    group_by = serializers.ChoiceField(
        choices=[item.value for item in aggregates.GroupBy], required=False
    )


class TransitionsQuery(serializers.Serializer):
    plan = PlanParamField(help_text="Plan id or code.")
    to_year = FiscalYearParamField(help_text="The later fiscal year, e.g. R6.")
    from_year = FiscalYearParamField(
        required=False, help_text="The earlier fiscal year; defaults to the year before."
    )


class TrendQuery(serializers.Serializer):
    plan = PlanParamField(help_text="Plan id or code.")


def percentage_field() -> serializers.FloatField:
    """A percentage to one decimal (rounded half up in ``aggregates``), as a JSON number."""
    return serializers.FloatField(allow_null=True, min_value=0, max_value=100)


class RatingCountsSerializer(serializers.Serializer):
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    c = serializers.IntegerField()
    not_evaluated = serializers.IntegerField(help_text="Rated `-`: not evaluated that year.")
    unrated = serializers.IntegerField(help_text="No rating given or known.")
    total = serializers.IntegerField()
    rated = serializers.IntegerField(help_text="A + B + C: the base of the percentages.")
    a_and_b = serializers.IntegerField()
    a_percentage = percentage_field()
    b_percentage = percentage_field()
    c_percentage = percentage_field()
    a_and_b_percentage = percentage_field()


class GroupKeySerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null for unassigned initiatives.")
    name = serializers.CharField()
    number = serializers.IntegerField(required=False, help_text="Policy areas only.")
    pillar_name = serializers.CharField(required=False, help_text="Policy areas only.")
    code = serializers.CharField(required=False, help_text="Departments only.")


class GroupCountsSerializer(RatingCountsSerializer):
    group = GroupKeySerializer()


class PlanSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    code = serializers.CharField()
    name = serializers.CharField()


def year_label_fields(prefix: str) -> dict[str, serializers.Field]:
    return {
        prefix: serializers.IntegerField(),
        f"{prefix}_label": serializers.CharField(),
        f"{prefix}_label_ja": serializers.CharField(),
    }


RatingCountsResponseSerializer = type(
    "RatingCountsResponseSerializer",
    (serializers.Serializer,),
    {
        "plan": PlanSummarySerializer(),
        **year_label_fields("fiscal_year"),
        "group_by": serializers.CharField(allow_null=True),
        "overall": RatingCountsSerializer(),
        "groups": GroupCountsSerializer(many=True),
    },
)


class TransitionCellSerializer(serializers.Serializer):
    from_rating = serializers.ChoiceField(choices=aggregates.TRANSITION_RATINGS)
    to_rating = serializers.ChoiceField(choices=aggregates.TRANSITION_RATINGS)
    count = serializers.IntegerField()


TransitionsResponseSerializer = type(
    "TransitionsResponseSerializer",
    (serializers.Serializer,),
    {
        "plan": PlanSummarySerializer(),
        **year_label_fields("from_year"),
        **year_label_fields("to_year"),
        "matrix": TransitionCellSerializer(many=True),
        "improved": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "worsened": serializers.IntegerField(),
        "not_comparable": serializers.IntegerField(
            help_text="Initiatives not rated A–C in one of the two years."
        ),
        "total": serializers.IntegerField(),
    },
)

TrendYearSerializer = type(
    "TrendYearSerializer", (RatingCountsSerializer,), year_label_fields("fiscal_year")
)


class TrendResponseSerializer(serializers.Serializer):
    plan = PlanSummarySerializer()
    years = TrendYearSerializer(many=True)


R6_OVERALL = {
    "a": 18,
    "b": 68,
    "c": 5,
    "not_evaluated": 0,
    "unrated": 0,
    "total": 91,
    "rated": 91,
    "a_and_b": 86,
    "a_percentage": 19.8,
    "b_percentage": 74.7,
    "c_percentage": 5.5,
    "a_and_b_percentage": 94.5,
}


class AggregateView(StrictQueryMixin, APIView):
    """A read of one plan's data: versioned ETags, and the public's bytes cached
    (``cached_responses``)."""

    permission_classes = [permissions.AllowAny]
    query_serializer: type[serializers.Serializer]

    @classmethod
    def as_view(cls, **initkwargs):
        return cacheable(super().as_view(**initkwargs))

    def query(self, request: Request) -> dict:
        """The valid query; the response is labelled with its plan's data version, read
        before any of the plan's data."""
        query = self.query_serializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        note_version(request, query.validated_data["plan"].pk)
        return query.validated_data


class RatingCountsView(AggregateView):
    query_serializer = RatingCountsQuery

    @extend_schema(
        operation_id="aggregates_ratings",
        summary="Rating counts for a plan and fiscal year",
        description=(
            "Counts and percentages of A, B and C (percentages of the initiatives rated that "
            "year, one decimal), plus not evaluated, unrated and total; optionally grouped by "
            "pillar, policy area or department (an initiative with several departments counts "
            "in each). Only evaluations the caller may see are counted: the public counts "
            "published rounds only."
        ),
        parameters=[RatingCountsQuery],
        responses=RatingCountsResponseSerializer,
        examples=[
            OpenApiExample(
                "R6 of 秋田県DX推進計画",
                response_only=True,
                value={
                    "plan": {"id": 1, "code": "akita-dx", "name": "秋田県DX推進計画"},
                    "fiscal_year": 2024,
                    "fiscal_year_label": "R6",
                    "fiscal_year_label_ja": "令和6年度",
                    "group_by": None,
                    "overall": R6_OVERALL,
                    "groups": [],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        group_by = query.get("group_by")
        actor, plan = actor_for(request), query["plan"]
        result = aggregate_cache.cached(
            actor=actor,
            plan_id=plan.pk,
            name="ratings",
            params=(query["fiscal_year"], group_by),
            compute=lambda: aggregates.rating_counts(
                evaluations_visible_to(actor),
                plan=plan,
                fiscal_year=query["fiscal_year"],
                group_by=aggregates.GroupBy(group_by) if group_by else None,
            ),
        )
        body = {
            "plan": query["plan"],
            **year_fields(query["fiscal_year"]),
            "group_by": group_by,
            **result,
        }
        return Response(RatingCountsResponseSerializer(body).data)


class RatingTransitionsView(AggregateView):
    query_serializer = TransitionsQuery

    @extend_schema(
        operation_id="aggregates_transitions",
        summary="Year-over-year rating transitions",
        description=(
            "A matrix of every initiative's rating in `from_year` against `to_year` (A, B, C, "
            "`-` not evaluated, `none` no visible evaluation or unknown rating), and how many "
            "improved, stayed unchanged or worsened among those rated A–C in both years."
        ),
        parameters=[TransitionsQuery],
        responses=TransitionsResponseSerializer,
        examples=[
            OpenApiExample(
                "R5 → R6 of 秋田県DX推進計画 (excerpt of the matrix)",
                response_only=True,
                value={
                    "plan": {"id": 1, "code": "akita-dx", "name": "秋田県DX推進計画"},
                    **year_fields(2023, "from_year"),
                    **year_fields(2024, "to_year"),
                    "matrix": [
                        {"from_rating": "C", "to_rating": "A", "count": 2},
                        {"from_rating": "B", "to_rating": "C", "count": 2},
                    ],
                    "improved": 8,
                    "unchanged": 69,
                    "worsened": 6,
                    "not_comparable": 8,
                    "total": 91,
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        to_year = query["to_year"]
        from_year = query.get("from_year", to_year - 1)
        if from_year >= to_year:
            raise serializers.ValidationError({"from_year": [_("Must be before to_year.")]})
        actor, plan = actor_for(request), query["plan"]
        result = aggregate_cache.cached(
            actor=actor,
            plan_id=plan.pk,
            name="transitions",
            params=(from_year, to_year),
            compute=lambda: aggregates.rating_transitions(
                evaluations_visible_to(actor), plan=plan, from_year=from_year, to_year=to_year
            ),
        )
        body = {
            "plan": query["plan"],
            **year_fields(from_year, "from_year"),
            **year_fields(to_year, "to_year"),
            **result,
        }
        return Response(TransitionsResponseSerializer(body).data)


class RatingTrendView(AggregateView):
    query_serializer = TrendQuery

    @extend_schema(
        operation_id="aggregates_trend",
        summary="Rating counts over the fiscal years of a plan",
        description="Rating counts and percentages for each fiscal year with visible evaluations.",
        parameters=[TrendQuery],
        responses=TrendResponseSerializer,
        examples=[
            OpenApiExample(
                "秋田県DX推進計画",
                response_only=True,
                value={
                    "plan": {"id": 1, "code": "akita-dx", "name": "秋田県DX推進計画"},
                    "years": [{**year_fields(2024), **R6_OVERALL}],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        plan, actor = self.query(request)["plan"], actor_for(request)
        trend = aggregate_cache.cached(
            actor=actor,
            plan_id=plan.pk,
            name="trend",
            params=(),
            compute=lambda: aggregates.rating_trend(evaluations_visible_to(actor), plan=plan),
        )
        years = [{**row, **year_fields(row["fiscal_year"])} for row in trend]
        return Response(TrendResponseSerializer({"plan": plan, "years": years}).data)
