"""Read API for the structure of plans."""

from django.db.models import Prefetch
from rest_framework import permissions, viewsets

from dxapi.schema import read_only_docs
from initiatives.api import filters, serializers
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    Pillar,
    Plan,
    PolicyArea,
)


class StructureViewSet(viewsets.ReadOnlyModelViewSet):
    """Plan structure is public information: anyone may read it."""

    permission_classes = [permissions.AllowAny]


@read_only_docs(
    plural="plans",
    singular="plan",
    description="DX promotion plans (計画) held by the service, with their period of fiscal years.",
)
class PlanViewSet(StructureViewSet):
    serializer_class = serializers.PlanSerializer
    search_fields = ["name", "organisation", "code"]
    ordering_fields = ["organisation", "start_year", "code"]

    def get_queryset(self):
        return Plan.objects.order_by("organisation", "start_year", "code")


@read_only_docs(
    plural="departments",
    singular="department",
    description="Departments (部局) of a plan's organisation, responsible for initiatives.",
)
class DepartmentViewSet(StructureViewSet):
    serializer_class = serializers.DepartmentSerializer
    filterset_class = filters.DepartmentFilter
    search_fields = ["name", "code"]
    ordering_fields = ["order", "code", "name"]

    def get_queryset(self):
        return Department.objects.order_by("plan_id", "order", "code")


@read_only_docs(
    plural="pillars",
    singular="pillar",
    description="Pillars (分類) of a plan, each with its theme and its policy areas.",
)
class PillarViewSet(StructureViewSet):
    serializer_class = serializers.PillarSerializer
    filterset_class = filters.PillarFilter
    ordering_fields = ["order"]

    def get_queryset(self):
        return Pillar.objects.prefetch_related("policy_areas").order_by("plan_id", "order")


@read_only_docs(
    plural="policy areas",
    singular="policy area",
    description="Policy areas (施策), numbered (1), (2), … inside their pillar.",
)
class PolicyAreaViewSet(StructureViewSet):
    serializer_class = serializers.PolicyAreaSerializer
    filterset_class = filters.PolicyAreaFilter
    search_fields = ["name"]
    ordering_fields = ["number"]

    def get_queryset(self):
        return PolicyArea.objects.select_related("pillar").order_by(
            "pillar__plan_id", "pillar__order", "number"
        )


def initiative_queryset():
    """Initiatives with everything their representation nests, in a fixed number of queries."""
    return (
        Initiative.objects.select_related("policy_area__pillar")
        .prefetch_related(
            Prefetch(
                "responsibilities",
                queryset=InitiativeDepartment.objects.select_related("department"),
            ),
            Prefetch("kpis", queryset=KPI.objects.order_by("order")),
        )
        .order_by("plan_id", "number")
    )


class InitiativeViewSet(StructureViewSet):
    serializer_class = serializers.InitiativeSerializer
    filterset_class = filters.InitiativeFilter
    search_fields = ["title"]
    ordering_fields = ["number", "title"]

    def get_queryset(self):
        return initiative_queryset()


class KPIViewSet(StructureViewSet):
    serializer_class = serializers.KPISerializer
    filterset_class = filters.KPIFilter
    search_fields = ["name"]
    ordering_fields = ["order"]

    def get_queryset(self):
        return (
            KPI.objects.select_related("initiative")
            .prefetch_related("targets")
            .order_by("initiative__plan_id", "initiative__number", "order")
        )
