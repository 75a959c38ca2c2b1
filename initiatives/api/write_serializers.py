"""Input of the structure write endpoints; ``initiatives.services`` holds the rules."""

from django.utils.translation import gettext as _
from rest_framework import serializers

from dxapi.serializer_fields import StrictModelSerializer, StrictSerializer
from initiatives.fiscal_years import MAX_FISCAL_YEAR, MIN_FISCAL_YEAR
from initiatives.models import KPI, Department, Initiative, KPITarget, Pillar, Plan, PolicyArea


class PlanWriteSerializer(StrictModelSerializer):
    class Meta:
        model = Plan
        fields = ["code", "organisation", "name", "start_year", "end_year", "description"]
        extra_kwargs = {
            "start_year": {"min_value": MIN_FISCAL_YEAR, "max_value": MAX_FISCAL_YEAR},
            "end_year": {"min_value": MIN_FISCAL_YEAR, "max_value": MAX_FISCAL_YEAR},
        }

    def validate(self, attrs):
        start = attrs.get("start_year", getattr(self.instance, "start_year", None))
        end = attrs.get("end_year", getattr(self.instance, "end_year", None))
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"end_year": _("Must not be before start_year.")})
        return attrs


class DepartmentWriteSerializer(StrictModelSerializer):
    class Meta:
        model = Department
        fields = ["plan", "code", "name", "order"]


class PillarWriteSerializer(StrictModelSerializer):
    class Meta:
        model = Pillar
        fields = ["plan", "order", "name", "theme"]


class PolicyAreaWriteSerializer(StrictModelSerializer):
    class Meta:
        model = PolicyArea
        fields = ["pillar", "number", "name"]


class ResponsibilityInputSerializer(StrictSerializer):
    department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all())
    is_lead = serializers.BooleanField(default=False)


class InitiativeWriteSerializer(StrictModelSerializer):
    departments = ResponsibilityInputSerializer(
        many=True,
        required=False,
        help_text="Responsible departments; given, they replace the current ones.",
    )

    class Meta:
        model = Initiative
        fields = ["plan", "policy_area", "number", "title", "is_major", "relists", "departments"]
        extra_kwargs = {"number": {"min_value": 1}}


class KPIWriteSerializer(StrictModelSerializer):
    class Meta:
        model = KPI
        fields = [
            "initiative",
            "order",
            "name",
            "unit",
            "is_cumulative",
            "direction",
            "baseline_value",
            "baseline_year",
        ]
        extra_kwargs = {
            "baseline_value": {"help_text": "The KPI's value before the plan; with its year."},
            "baseline_year": {
                "min_value": MIN_FISCAL_YEAR,
                "max_value": MAX_FISCAL_YEAR,
                "help_text": "The fiscal year of the baseline value, e.g. 2022.",
            },
        }


class KPITargetWriteSerializer(StrictModelSerializer):
    class Meta:
        model = KPITarget
        fields = ["kpi", "fiscal_year", "value", "text"]
        extra_kwargs = {
            "fiscal_year": {"min_value": MIN_FISCAL_YEAR, "max_value": MAX_FISCAL_YEAR},
        }

    def validate(self, attrs):
        value = attrs.get("value", getattr(self.instance, "value", None))
        text = attrs.get("text", getattr(self.instance, "text", ""))
        if value is None and not text:
            raise serializers.ValidationError(
                {"value": _("Give a numeric value or a text target.")}
            )
        return attrs
