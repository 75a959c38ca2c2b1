"""API for the structure of plans: anyone reads it, the plan's secretariat changes it."""

from django.db.models import Prefetch
from rest_framework import status, viewsets
from rest_framework.response import Response

from dxapi.schema import crud_docs
from initiatives import services
from initiatives.access import actor_for
from initiatives.api import filters, serializers, write_serializers
from initiatives.api.permissions import ReadAnyoneWriteAuthenticated
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
)
from initiatives.selectors import RESPONSIBILITY_ORDER

SECRETARIAT = "The plan's secretariat"


class StructureViewSet(viewsets.ModelViewSet):
    """Reads are public; writes go through ``initiatives.services`` and answer with the
    read representation of the saved record."""

    permission_classes = [ReadAnyoneWriteAuthenticated]
    write_serializer_class: type[write_serializers.serializers.Serializer]

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return self.write_serializer_class
        return self.serializer_class

    def with_extras(self, instances: list) -> list:
        """Hook for subclasses that attach data read outside the queryset."""
        return instances

    def _read_back(self, instance, code=status.HTTP_200_OK) -> Response:
        (fresh,) = self.with_extras([self.get_queryset().get(pk=instance.pk)])
        return Response(
            self.serializer_class(fresh, context=self.get_serializer_context()).data, status=code
        )

    def _save(self, instance, values: dict):
        responsibilities = values.pop("departments", None)
        for name, value in values.items():
            setattr(instance, name, value)
        extra = {} if responsibilities is None else {"responsibilities": responsibilities}
        return services.structure_save(actor=actor_for(self.request), instance=instance, **extra)

    def create(self, request, *args, **kwargs):
        services.require_may_create_structure(actor_for(request))
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = self._save(
            self.write_serializer_class.Meta.model(), dict(serializer.validated_data)
        )
        return self._read_back(instance, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        services.require_may_change(actor_for(request), instance)
        serializer = self.get_serializer(
            instance, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        self._save(instance, dict(serializer.validated_data))
        return self._read_back(instance)

    def perform_destroy(self, instance) -> None:
        services.structure_delete(actor=actor_for(self.request), instance=instance)


@crud_docs(
    plural="plans",
    singular="plan",
    description="DX promotion plans (計画) held by the service, with their period of fiscal years.",
    read=serializers.PlanSerializer,
    write=write_serializers.PlanWriteSerializer,
    who="A superuser (create, delete) or the plan's secretariat (update)",
)
class PlanViewSet(StructureViewSet):
    serializer_class = serializers.PlanSerializer
    write_serializer_class = write_serializers.PlanWriteSerializer
    search_fields = ["name", "organisation", "code"]
    ordering_fields = ["organisation", "start_year", "code"]

    def get_queryset(self):
        return Plan.objects.order_by("organisation", "start_year", "code")


@crud_docs(
    plural="departments",
    singular="department",
    description="Departments (部局) of a plan's organisation, responsible for initiatives.",
    read=serializers.DepartmentSerializer,
    write=write_serializers.DepartmentWriteSerializer,
    who=SECRETARIAT,
)
class DepartmentViewSet(StructureViewSet):
    serializer_class = serializers.DepartmentSerializer
    write_serializer_class = write_serializers.DepartmentWriteSerializer
    filterset_class = filters.DepartmentFilter
    search_fields = ["name", "code"]
    ordering_fields = ["order", "code", "name"]

    def get_queryset(self):
        return Department.objects.order_by("plan_id", "order", "code")


@crud_docs(
    plural="pillars",
    singular="pillar",
    description="Pillars (分類) of a plan, each with its theme and its policy areas.",
    read=serializers.PillarSerializer,
    write=write_serializers.PillarWriteSerializer,
    who=SECRETARIAT,
)
class PillarViewSet(StructureViewSet):
    serializer_class = serializers.PillarSerializer
    write_serializer_class = write_serializers.PillarWriteSerializer
    filterset_class = filters.PillarFilter
    ordering_fields = ["order"]

    def get_queryset(self):
        return Pillar.objects.prefetch_related("policy_areas").order_by("plan_id", "order")


@crud_docs(
    plural="policy areas",
    singular="policy area",
    description="Policy areas (施策), numbered (1), (2), … inside their pillar.",
    read=serializers.PolicyAreaSerializer,
    write=write_serializers.PolicyAreaWriteSerializer,
    who=SECRETARIAT,
)
class PolicyAreaViewSet(StructureViewSet):
    serializer_class = serializers.PolicyAreaSerializer
    write_serializer_class = write_serializers.PolicyAreaWriteSerializer
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
            # Into lists (to_attr): cheaper than a related manager per row.
            Prefetch(
                "responsibilities",
                queryset=InitiativeDepartment.objects.select_related("department").order_by(
                    *RESPONSIBILITY_ORDER
                ),
                to_attr="responsibility_list",
            ),
            Prefetch("kpis", queryset=KPI.objects.order_by("order"), to_attr="kpi_list"),
        )
        .order_by("plan_id", "number")
    )


class InitiativeViewSet(StructureViewSet):
    serializer_class = serializers.InitiativeSerializer
    write_serializer_class = write_serializers.InitiativeWriteSerializer
    filterset_class = filters.InitiativeFilter
    search_fields = ["title"]
    ordering_fields = ["number", "title"]

    def get_queryset(self):
        return initiative_queryset()


class KPIViewSet(StructureViewSet):
    serializer_class = serializers.KPISerializer
    write_serializer_class = write_serializers.KPIWriteSerializer
    filterset_class = filters.KPIFilter
    search_fields = ["name"]
    ordering_fields = ["order"]

    def get_queryset(self):
        return (
            KPI.objects.select_related("initiative")
            .prefetch_related("targets")
            .order_by("initiative__plan_id", "initiative__number", "order")
        )


@crud_docs(
    plural="KPI targets",
    singular="KPI target",
    description="A KPI's target for a fiscal year: a number, or qualitative text.",
    read=serializers.KPITargetDetailSerializer,
    write=write_serializers.KPITargetWriteSerializer,
    who=SECRETARIAT,
)
class KPITargetViewSet(StructureViewSet):
    serializer_class = serializers.KPITargetDetailSerializer
    write_serializer_class = write_serializers.KPITargetWriteSerializer
    filterset_class = filters.KPITargetFilter
    ordering_fields = ["fiscal_year"]

    def get_queryset(self):
        return KPITarget.objects.select_related("kpi__initiative").order_by(
            "kpi__initiative__plan_id", "kpi__initiative__number", "kpi__order", "fiscal_year"
        )
