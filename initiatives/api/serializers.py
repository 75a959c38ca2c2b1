from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dxapi.serializer_fields import FiscalYearLabelField, PlainDecimalField
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


class PlanSerializer(serializers.ModelSerializer):
    start_year_label = FiscalYearLabelField(source="start_year")
    end_year_label = FiscalYearLabelField(source="end_year")

    class Meta:
        model = Plan
        fields = [
            "id",
            "code",
            "organisation",
            "name",
            "start_year",
            "start_year_label",
            "end_year",
            "end_year_label",
            "description",
        ]


class PlanSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "code", "name"]


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "plan", "code", "name", "order"]


class PillarSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Pillar
        fields = ["id", "order", "name", "theme"]


class PolicyAreaSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyArea
        fields = ["id", "number", "name"]


class PillarSerializer(serializers.ModelSerializer):
    policy_areas = PolicyAreaSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Pillar
        fields = ["id", "plan", "order", "name", "theme", "policy_areas"]


class PolicyAreaSerializer(serializers.ModelSerializer):
    pillar = PillarSummarySerializer(read_only=True)

    class Meta:
        model = PolicyArea
        fields = ["id", "pillar", "number", "name"]


class ResponsibleDepartmentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="department.id", read_only=True)
    code = serializers.CharField(source="department.code", read_only=True)
    name = serializers.CharField(source="department.name", read_only=True)

    class Meta:
        model = InitiativeDepartment
        fields = ["id", "code", "name", "is_lead"]


class KPITargetSerializer(serializers.ModelSerializer):
    fiscal_year_label = FiscalYearLabelField(source="fiscal_year")
    fiscal_year_label_ja = FiscalYearLabelField(source="fiscal_year", japanese=True)
    value = PlainDecimalField(allow_null=True)

    class Meta:
        model = KPITarget
        fields = ["id", "fiscal_year", "fiscal_year_label", "fiscal_year_label_ja", "value", "text"]


class KPISummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = KPI
        fields = ["id", "order", "name", "unit", "is_cumulative"]


class InitiativeSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Initiative
        fields = ["id", "number", "title"]


def _listed(instance, prefetched: str, relation: str):
    """A relation prefetched into a list by the viewset, or else read from its manager."""
    items = getattr(instance, prefetched, None)
    return items if items is not None else getattr(instance, relation).all()


class InitiativeSerializer(serializers.ModelSerializer):
    """An initiative with its structure nested compactly.

    The nested objects are built as plain dicts (documented by the summary serializers):
    lists of initiatives are the busiest reads, and a nested serializer per row and relation
    costs several times more than the dict it produces.
    """

    pillar = serializers.SerializerMethodField()
    policy_area = serializers.SerializerMethodField()
    departments = serializers.SerializerMethodField()
    kpis = serializers.SerializerMethodField()

    class Meta:
        model = Initiative
        fields = [
            "id",
            "plan",
            "number",
            "title",
            "is_major",
            "relists",
            "pillar",
            "policy_area",
            "departments",
            "kpis",
        ]

    @extend_schema_field(PillarSummarySerializer)
    def get_pillar(self, initiative: Initiative) -> dict:
        pillar = initiative.policy_area.pillar
        return {"id": pillar.id, "order": pillar.order, "name": pillar.name, "theme": pillar.theme}

    @extend_schema_field(PolicyAreaSummarySerializer)
    def get_policy_area(self, initiative: Initiative) -> dict:
        area = initiative.policy_area
        return {"id": area.id, "number": area.number, "name": area.name}

    @extend_schema_field(ResponsibleDepartmentSerializer(many=True))
    def get_departments(self, initiative: Initiative) -> list[dict]:
        return [
            {
                "id": item.department.id,
                "code": item.department.code,
                "name": item.department.name,
                "is_lead": item.is_lead,
            }
            for item in _listed(initiative, "responsibility_list", "responsibilities")
        ]

    @extend_schema_field(KPISummarySerializer(many=True))
    def get_kpis(self, initiative: Initiative) -> list[dict]:
        return [
            {
                "id": kpi.id,
                "order": kpi.order,
                "name": kpi.name,
                "unit": kpi.unit,
                "is_cumulative": kpi.is_cumulative,
            }
            for kpi in _listed(initiative, "kpi_list", "kpis")
        ]


class KPISerializer(serializers.ModelSerializer):
    initiative = InitiativeSummarySerializer(read_only=True)
    targets = KPITargetSerializer(many=True, read_only=True)

    class Meta:
        model = KPI
        fields = [
            "id",
            "initiative",
            "order",
            "name",
            "unit",
            "is_cumulative",
            "direction",
            "targets",
        ]


class KPITargetDetailSerializer(KPITargetSerializer):
    kpi = KPISummarySerializer(read_only=True)
    initiative = InitiativeSummarySerializer(source="kpi.initiative", read_only=True)

    class Meta(KPITargetSerializer.Meta):
        fields = [*KPITargetSerializer.Meta.fields, "kpi", "initiative"]
