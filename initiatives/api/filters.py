from django_filters import rest_framework as filters

from dxapi.filters import (
    IntegerFilter,
    PlanFilter,
    StrictFilterSet,
    id_or_code,
)
from initiatives.api.fields import FiscalYearFilter
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    PolicyArea,
)


class DepartmentFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")

    class Meta:
        model = Department
        fields = ["plan", "code"]


class PillarFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")

    class Meta:
        model = Pillar
        fields = ["plan"]


class PolicyAreaFilter(StrictFilterSet):
    plan = PlanFilter(field_name="pillar__plan", help_text="Plan id or code.")

    class Meta:
        model = PolicyArea
        fields = ["plan", "pillar"]


class InitiativeFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")
    pillar = IntegerFilter(field_name="policy_area__pillar", help_text="Pillar id.")
    policy_area = IntegerFilter(field_name="policy_area", help_text="Policy area id.")
    department = filters.CharFilter(
        method="filter_department", help_text="Responsible department id or code."
    )
    number = IntegerFilter()

    class Meta:
        model = Initiative
        fields = ["plan", "pillar", "policy_area", "department", "number", "is_major"]

    def filter_department(self, queryset, name, value):
        return queryset.filter(**id_or_code(value, "departments__")).distinct()


def initiatives_of_department(value: str):
    """The ids of the initiatives a department (given by id or code) is responsible for, as
    a subquery: filtering by it joins no department and needs no ``distinct()``."""
    return InitiativeDepartment.objects.filter(**id_or_code(value, "department__")).values(
        "initiative_id"
    )


class KPIFilter(StrictFilterSet):
    plan = PlanFilter(field_name="initiative__plan", help_text="Plan id or code.")
    department = filters.CharFilter(
        method="filter_department",
        help_text="Department id or code: the KPIs of the initiatives it is responsible for.",
    )
    initiative_number = IntegerFilter(field_name="initiative__number")

    class Meta:
        model = KPI
        fields = ["plan", "department", "initiative", "initiative_number", "is_cumulative"]

    def filter_department(self, queryset, name, value):
        return queryset.filter(initiative__in=initiatives_of_department(value))


class KPITargetFilter(StrictFilterSet):
    plan = PlanFilter(field_name="kpi__initiative__plan", help_text="Plan id or code.")
    fiscal_year = FiscalYearFilter(help_text="Fiscal year: 2024, R6 or 令和6年度.")

    class Meta:
        model = KPITarget
        fields = ["plan", "kpi", "fiscal_year"]
