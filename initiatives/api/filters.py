from django_filters import rest_framework as filters

from dxapi.filters import FiscalYearFilter, PlanFilter, is_id
from initiatives.models import KPI, Department, Initiative, KPITarget, Pillar, PolicyArea


class DepartmentFilter(filters.FilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")

    class Meta:
        model = Department
        fields = ["plan", "code"]


class PillarFilter(filters.FilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")

    class Meta:
        model = Pillar
        fields = ["plan"]


class PolicyAreaFilter(filters.FilterSet):
    plan = PlanFilter(field_name="pillar__plan", help_text="Plan id or code.")

    class Meta:
        model = PolicyArea
        fields = ["plan", "pillar"]


class InitiativeFilter(filters.FilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")
    pillar = filters.NumberFilter(field_name="policy_area__pillar", help_text="Pillar id.")
    policy_area = filters.NumberFilter(field_name="policy_area", help_text="Policy area id.")
    department = filters.CharFilter(
        method="filter_department", help_text="Responsible department id or code."
    )
    number = filters.NumberFilter()

    class Meta:
        model = Initiative
        fields = ["plan", "pillar", "policy_area", "department", "number", "is_major"]

    def filter_department(self, queryset, name, value):
        lookup = "departments__id" if is_id(value) else "departments__code"
        return queryset.filter(**{lookup: value}).distinct()


class KPIFilter(filters.FilterSet):
    plan = PlanFilter(field_name="initiative__plan", help_text="Plan id or code.")
    initiative_number = filters.NumberFilter(field_name="initiative__number")

    class Meta:
        model = KPI
        fields = ["plan", "initiative", "initiative_number", "is_cumulative"]


class KPITargetFilter(filters.FilterSet):
    plan = PlanFilter(field_name="kpi__initiative__plan", help_text="Plan id or code.")
    fiscal_year = FiscalYearFilter(help_text="Fiscal year: 2024, R6 or 令和6年度.")

    class Meta:
        model = KPITarget
        fields = ["plan", "kpi", "fiscal_year"]
