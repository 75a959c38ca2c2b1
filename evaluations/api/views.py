"""Read API for rounds, evaluations, KPI actuals, and initiatives and KPIs with their progress."""

from django.db.models import Prefetch
from rest_framework import permissions, viewsets

from dxapi.schema import read_only_docs
from evaluations.api import filters, serializers
from evaluations.selectors import (
    evaluations_visible_to,
    kpi_actuals_visible_to,
    rounds_visible_to,
    with_target,
)
from initiatives.api.views import InitiativeViewSet, KPIViewSet


class PublishedReadViewSet(viewsets.ReadOnlyModelViewSet):
    """Readable by anyone; what each caller sees is scoped by the selectors."""

    permission_classes = [permissions.AllowAny]


def actuals_with_targets(user):
    return with_target(kpi_actuals_visible_to(user)).select_related("kpi", "evaluation__round")


@read_only_docs(
    plural="rounds",
    singular="round",
    description=(
        "Yearly evaluation rounds of a plan (open → closed → published). The public sees "
        "published rounds only."
    ),
)
class RoundViewSet(PublishedReadViewSet):
    serializer_class = serializers.RoundSerializer
    filterset_class = filters.RoundFilter
    ordering_fields = ["fiscal_year"]

    def get_queryset(self):
        return rounds_visible_to(self.request.user).order_by("plan_id", "fiscal_year")


@read_only_docs(
    plural="evaluations",
    singular="evaluation",
    description=(
        "Yearly evaluations of initiatives: rating (A/B/C, `-` not evaluated, null unknown), "
        "workflow status and the KPI-based suggested rating. The detail adds plan, progress "
        "and next-actions texts and the KPI actuals. The public sees published rounds only."
    ),
)
class EvaluationViewSet(PublishedReadViewSet):
    filterset_class = filters.EvaluationFilter
    search_fields = ["initiative__title"]
    ordering_fields = ["initiative__number", "round__fiscal_year", "rating", "updated_at"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.EvaluationDetailSerializer
        return serializers.EvaluationSerializer

    def get_queryset(self):
        user = self.request.user
        queryset = (
            evaluations_visible_to(user)
            .select_related("round", "initiative")
            .prefetch_related(Prefetch("kpi_actuals", queryset=actuals_with_targets(user)))
            .order_by("round__plan_id", "round__fiscal_year", "initiative__number")
        )
        if self.action == "retrieve":
            queryset = queryset.select_related(
                "initiative__policy_area__pillar", "submitted_by", "approved_by"
            ).prefetch_related("initiative__responsibilities__department", "initiative__kpis")
        return queryset


@read_only_docs(
    plural="KPI actuals",
    singular="KPI actual",
    description=(
        "Actual values of KPIs reported with an evaluation, as of a date (`as_of_label` such "
        "as R7.3時点), with the year's target and the achievement ratio."
    ),
)
class KPIActualViewSet(PublishedReadViewSet):
    serializer_class = serializers.KPIActualSerializer
    filterset_class = filters.KPIActualFilter
    ordering_fields = ["evaluation__round__fiscal_year", "kpi__order"]

    def get_queryset(self):
        return actuals_with_targets(self.request.user).order_by(
            "evaluation__round__fiscal_year", "evaluation__initiative__number", "kpi__order"
        )


@read_only_docs(
    plural="initiatives",
    singular="initiative",
    description=(
        "Initiatives (取組) with pillar, policy area, responsible departments, KPIs and the "
        "rating of each fiscal year the caller may see. Filter by `fiscal_year` and `rating` "
        "together to find, e.g., the initiatives rated C in R6."
    ),
)
class InitiativeProgressViewSet(InitiativeViewSet):
    serializer_class = serializers.InitiativeProgressSerializer
    filterset_class = filters.InitiativeProgressFilter

    def get_queryset(self):
        visible = evaluations_visible_to(self.request.user).select_related("round")
        return (
            super()
            .get_queryset()
            .prefetch_related(
                Prefetch(
                    "evaluations",
                    queryset=visible.order_by("round__fiscal_year"),
                    to_attr="visible_evaluations",
                )
            )
        )


@read_only_docs(
    plural="KPIs",
    singular="KPI",
    description=(
        "KPIs (指標) of initiatives: unit, cumulative or not, direction, targets per fiscal "
        "year (numeric or qualitative) and the actuals the caller may see, each with its "
        "achievement ratio."
    ),
)
class KPIProgressViewSet(KPIViewSet):
    serializer_class = serializers.KPIProgressSerializer

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .prefetch_related(
                Prefetch(
                    "actuals",
                    queryset=actuals_with_targets(self.request.user).order_by(
                        "evaluation__round__fiscal_year"
                    ),
                    to_attr="visible_actuals",
                )
            )
        )
