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


class InitiativeSerializer(serializers.ModelSerializer):
    pillar = PillarSummarySerializer(source="policy_area.pillar", read_only=True)
    policy_area = PolicyAreaSummarySerializer(read_only=True)
    departments = ResponsibleDepartmentSerializer(
        source="responsibilities", many=True, read_only=True
    )
    kpis = KPISummarySerializer(many=True, read_only=True)

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
