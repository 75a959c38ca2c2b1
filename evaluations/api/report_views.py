"""The yearly progress report: JSON, printable HTML with a chart, CSV and XLSX of the table."""

from django.http import Http404
from django.utils.http import content_disposition_header
from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.serializer_fields import PlainDecimalField
from evaluations.api.aggregate_views import (
    AggregateView,
    GroupCountsSerializer,
    PlanYearQuery,
    RatingCountsSerializer,
)
from evaluations.api.report_renderers import (
    ReportCSVRenderer,
    ReportHTMLRenderer,
    ReportXLSXRenderer,
)
from evaluations.models import Rating, RoundStatus
from evaluations.policy import evaluations_visible_to, rounds_visible_to
from evaluations.report import ReportScope, yearly_report
from initiatives.access import actor_for


def _rating(**kwargs) -> serializers.ChoiceField:
    """A rating as the evaluations hold it: A, B, C, ``-`` (not rated) or null (unknown)."""
    return serializers.ChoiceField(
        choices=Rating.choices, allow_null=True, allow_blank=True, **kwargs
    )


class ReportPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class ReportInitiativeRowSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    previous_rating = _rating(help_text="The rating of the year before; null without one.")
    rating = _rating(help_text="This year's rating; null without one.")


class ReportPolicyAreaSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    name = serializers.CharField()
    initiatives = ReportInitiativeRowSerializer(many=True)


class ReportPillarSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    name = serializers.CharField()
    theme = serializers.CharField()
    policy_areas = ReportPolicyAreaSerializer(many=True)


class ReportKPISerializer(serializers.Serializer):
    name = serializers.CharField()
    unit = serializers.CharField()
    is_cumulative = serializers.BooleanField()
    target_value = PlainDecimalField(allow_null=True)
    target_text = serializers.CharField()
    actual_value = PlainDecimalField(allow_null=True)
    as_of = serializers.DateField(allow_null=True)
    as_of_label = serializers.CharField(allow_null=True)


class ReportDetailSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    pillar = serializers.CharField()
    policy_area_number = serializers.IntegerField()
    policy_area = serializers.CharField()
    departments = serializers.ListField(child=serializers.CharField())
    plan_text = serializers.CharField()
    progress_text = serializers.CharField()
    rating = _rating()
    next_actions = serializers.CharField()
    kpis = ReportKPISerializer(many=True)


class ReportSerializer(serializers.Serializer):
    plan = ReportPlanSerializer()
    organisation = serializers.CharField()
    fiscal_year = serializers.IntegerField()
    fiscal_year_label = serializers.CharField()
    fiscal_year_label_ja = serializers.CharField()
    previous_fiscal_year_label = serializers.CharField()
    title = serializers.CharField()
    round_status = serializers.ChoiceField(choices=RoundStatus.choices)
    summary = RatingCountsSerializer()
    by_pillar = GroupCountsSerializer(many=True)
    previous_by_pillar = GroupCountsSerializer(many=True)
    table = ReportPillarSerializer(many=True)
    details = ReportDetailSerializer(many=True)


class YearlyReportView(AggregateView):
    """Published rounds for everyone; the plan's secretariat may preview an unpublished one."""

    permission_classes = [permissions.AllowAny]
    query_serializer = PlanYearQuery
    renderer_classes = [ORJSONRenderer, ReportHTMLRenderer, ReportCSVRenderer, ReportXLSXRenderer]

    @extend_schema(
        operation_id="reports_yearly",
        summary="The yearly progress report",
        description=(
            "The report of a plan's fiscal year in the structure of the published source: "
            "summary of A/B/C counts and shares, the table by pillar and policy area with the "
            "previous year's rating beside, and the details of the major initiatives. "
            "`format=json` (default), `html` (printable, with an SVG chart), `csv` (UTF-8 "
            "with BOM) or `xlsx` (the table). The public gets published rounds only; the "
            "plan's secretariat may preview an unpublished round."
        ),
        parameters=[
            PlanYearQuery,
            OpenApiParameter(
                "format", str, enum=["json", "html", "csv", "xlsx"], description="Output format."
            ),
        ],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/html"): OpenApiResponse(
                OpenApiTypes.STR, description="`format=html`: the printable page."
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="`format=csv`: the table, UTF-8 with BOM."
            ),
            (200, ReportXLSXRenderer.media_type): OpenApiResponse(
                OpenApiTypes.BINARY, description="`format=xlsx`: the table as a workbook."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        plan, fiscal_year = query["plan"], query["fiscal_year"]
        actor = actor_for(request)
        round_ = rounds_visible_to(actor).filter(plan=plan, fiscal_year=fiscal_year).first()
        if round_ is None:
            raise Http404("No round of that fiscal year that you may see.")
        scope = ReportScope(plan=plan, round=round_, evaluations=evaluations_visible_to(actor))
        report = yearly_report(scope)
        response = Response(ReportSerializer(report).data)
        if request.accepted_renderer.format in ("csv", "xlsx"):
            filename = (
                f"{plan.code}-{report['fiscal_year_label']}.{request.accepted_renderer.format}"
            )
            response["Content-Disposition"] = content_disposition_header(True, filename)
        return response
