from rest_framework import serializers

from dxapi.serializer_fields import PlainDecimalField
from initiatives.api.fields import FiscalYearLabelField
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
from initiatives.selectors import InitiativeRows


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


def initiative_representation(rows: InitiativeRows) -> dict:
    """The JSON of an initiative, built from its plain rows: the list reads them with
    ``values()``, a single initiative from its model instance (``InitiativeRows.of``)."""
    row = rows.initiative
    return {
        "id": row["id"],
        "plan": row["plan_id"],
        "number": row["number"],
        "title": row["title"],
        "is_major": row["is_major"],
        "relists": row["relists_id"],
        "pillar": {
            "id": row["policy_area__pillar_id"],
            "order": row["policy_area__pillar__order"],
            "name": row["policy_area__pillar__name"],
            "theme": row["policy_area__pillar__theme"],
        },
        "policy_area": {
            "id": row["policy_area_id"],
            "number": row["policy_area__number"],
            "name": row["policy_area__name"],
        },
        "departments": [
            {
                "id": item["department_id"],
                "code": item["department__code"],
                "name": item["department__name"],
                "is_lead": item["is_lead"],
            }
            for item in rows.departments
        ],
        "kpis": [
            {
                "id": kpi["id"],
                "order": kpi["order"],
                "name": kpi["name"],
                "unit": kpi["unit"],
                "is_cumulative": kpi["is_cumulative"],
            }
            for kpi in rows.kpis
        ],
    }


class InitiativeSerializer(serializers.ModelSerializer):
    """An initiative with its structure nested compactly.

    The nested objects are built as plain dicts (documented by the summary serializers):
    lists of initiatives are the busiest reads, and a nested serializer per row and relation
    costs several times more than the dict it produces.
    """

    # The fields document the schema; the JSON is ``initiative_representation``'s, from a
    # model instance or from the rows that lists read (``initiatives.selectors``).
    pillar = PillarSummarySerializer(read_only=True)
    policy_area = PolicyAreaSummarySerializer(read_only=True)
    departments = ResponsibleDepartmentSerializer(many=True, read_only=True)
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

    def to_representation(self, instance: Initiative | InitiativeRows) -> dict:
        if not isinstance(instance, InitiativeRows):
            instance = InitiativeRows.of(instance)
        return initiative_representation(instance)


class KPISerializer(serializers.ModelSerializer):
    initiative = InitiativeSummarySerializer(read_only=True)
    baseline_value = PlainDecimalField(allow_null=True, read_only=True)
    baseline_year_label = serializers.CharField(read_only=True, allow_null=True)
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
            "baseline_value",
            "baseline_year",
            "baseline_year_label",
            "targets",
        ]


class KPITargetDetailSerializer(KPITargetSerializer):
    kpi = KPISummarySerializer(read_only=True)
    initiative = InitiativeSummarySerializer(source="kpi.initiative", read_only=True)

    class Meta(KPITargetSerializer.Meta):
        fields = [*KPITargetSerializer.Meta.fields, "kpi", "initiative"]
