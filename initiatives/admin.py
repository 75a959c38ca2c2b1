"""Admin for the structure of a plan: plans, departments, pillars, policy areas, initiatives, KPIs.

Every model of the app has an admin page except the initiative–department link (担当部局),
which is edited inline on its initiative.
"""

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from initiatives.fiscal_years import long_label
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    DepartmentMembership,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
    SecretariatMembership,
)


def decimal_label(value: Decimal | None) -> str | None:
    """``Decimal("80.9000")`` -> ``"80.9"``; ``None`` stays ``None`` (shown as the empty value)."""
    return None if value is None else f"{value.normalize():f}"


def fiscal_year_list_filter(field_path: str) -> type[admin.SimpleListFilter]:
    """A list filter on a fiscal-year field whose choices read ``令和6年度`` rather than ``2024``.

    The choices are the years present in the admin's own queryset, newest first.
    """

    class FiscalYearListFilter(admin.SimpleListFilter):
        title = _("年度")
        parameter_name = field_path

        def lookups(
            self, request: HttpRequest, model_admin: admin.ModelAdmin
        ) -> list[tuple[str, str]]:
            years = (
                model_admin.get_queryset(request)
                .prefetch_related(None)
                .order_by()
                .values_list(field_path, flat=True)
                .distinct()
            )
            return [
                (str(year), long_label(year))
                for year in sorted({year for year in years if year is not None}, reverse=True)
            ]

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            return queryset.filter(**{field_path: value}) if value else queryset

    return FiscalYearListFilter


def restrict_inline_choices(
    formset: type[BaseInlineFormSet], field_name: str, queryset: QuerySet
) -> None:
    """Limit the choices of a foreign key in every form of an inline formset class."""
    field = formset.form.base_fields.get(field_name)
    if field is not None:
        field.queryset = queryset


@admin.register(Plan)
class PlanAdmin(SimpleHistoryAdmin):
    list_display = ("code", "organisation", "name", "start_year", "end_year", "period")
    list_display_links = ("code", "name")
    search_fields = ("code", "organisation", "name")

    @admin.display(description=_("期間"), ordering="start_year")
    def period(self, obj: Plan) -> str:
        return obj.period_label


@admin.register(Department)
class DepartmentAdmin(SimpleHistoryAdmin):
    list_display = ("name", "code", "plan", "order")
    list_filter = ("plan",)
    list_select_related = ("plan",)
    search_fields = ("name", "code")


class PolicyAreaInline(admin.TabularInline):
    model = PolicyArea
    fields = ("number", "name")
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyArea]:
        # Each row's title is ``PolicyArea.__str__``, which reads the pillar.
        return super().get_queryset(request).select_related("pillar")


@admin.register(Pillar)
class PillarAdmin(SimpleHistoryAdmin):
    list_display = ("order", "name", "theme", "plan")
    list_display_links = ("order", "name")
    list_filter = ("plan",)
    list_select_related = ("plan",)
    search_fields = ("name", "theme")
    inlines = (PolicyAreaInline,)


@admin.register(PolicyArea)
class PolicyAreaAdmin(SimpleHistoryAdmin):
    list_display = ("number_label", "name", "pillar_name", "plan")
    list_display_links = ("number_label", "name")
    list_filter = ("pillar__plan", "pillar")
    list_select_related = ("pillar__plan",)
    search_fields = ("name", "pillar__name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyArea]:
        # ``PolicyArea.__str__`` reads the pillar (also for autocomplete and delete pages).
        return super().get_queryset(request).select_related("pillar__plan")

    @admin.display(description=_("番号"), ordering="number")
    def number_label(self, obj: PolicyArea) -> str:
        return f"({obj.number})"

    @admin.display(description=_("分類"), ordering="pillar__order")
    def pillar_name(self, obj: PolicyArea) -> str:
        return obj.pillar.name

    @admin.display(description=_("計画"), ordering="pillar__plan")
    def plan(self, obj: PolicyArea) -> Plan:
        return obj.pillar.plan


class InitiativeDepartmentInline(admin.TabularInline):
    model = InitiativeDepartment
    fields = ("department", "is_lead")
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[InitiativeDepartment]:
        # Each row's title is ``InitiativeDepartment.__str__``: initiative number, department.
        return super().get_queryset(request).select_related("initiative", "department")

    def get_formset(
        self, request: HttpRequest, obj: Initiative | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            restrict_inline_choices(
                formset, "department", Department.objects.filter(plan_id=obj.plan_id)
            )
        return formset


class KPIInline(admin.TabularInline):
    model = KPI
    fields = ("order", "name", "unit", "is_cumulative", "direction")
    extra = 0
    show_change_link = True


@admin.register(Initiative)
class InitiativeAdmin(SimpleHistoryAdmin):
    list_display = (
        "number",
        "title",
        "policy_area_label",
        "pillar_name",
        "lead_department",
        "is_major",
    )
    list_display_links = ("number", "title")
    list_filter = ("plan", "policy_area__pillar", "is_major", "departments")
    list_select_related = ("plan", "policy_area__pillar")
    search_fields = ("title", "number__exact")
    ordering = ("number",)
    list_per_page = 100
    autocomplete_fields = ("relists",)
    fields = ("plan", "policy_area", "number", "title", "is_major", "relists")
    inlines = (InitiativeDepartmentInline, KPIInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Initiative]:
        lead_responsibilities = InitiativeDepartment.objects.filter(is_lead=True).select_related(
            "department"
        )
        return (
            super()
            .get_queryset(request)
            .select_related("plan", "policy_area__pillar")
            .prefetch_related(
                Prefetch(
                    "responsibilities",
                    queryset=lead_responsibilities,
                    to_attr="lead_responsibilities",
                )
            )
        )

    def get_form(
        self,
        request: HttpRequest,
        obj: Initiative | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        policy_area = form.base_fields.get("policy_area")
        if policy_area is not None:
            # ``PolicyArea.__str__`` reads the pillar: join it once for the whole select.
            areas = PolicyArea.objects.select_related("pillar")
            if obj is not None:
                areas = areas.filter(pillar__plan_id=obj.plan_id)
            policy_area.queryset = areas
        return form

    @admin.display(description=_("施策"), ordering="policy_area__number")
    def policy_area_label(self, obj: Initiative) -> str:
        return f"({obj.policy_area.number}) {obj.policy_area.name}"

    @admin.display(description=_("分類"), ordering="policy_area__pillar__order")
    def pillar_name(self, obj: Initiative) -> str:
        return obj.policy_area.pillar.name

    @admin.display(description=_("主担当部局"))
    def lead_department(self, obj: Initiative) -> str | None:
        leads: list[InitiativeDepartment] | None = getattr(obj, "lead_responsibilities", None)
        if leads is None:  # not fetched through get_queryset
            leads = list(obj.responsibilities.filter(is_lead=True).select_related("department"))
        return leads[0].department.name if leads else None


class KPITargetInline(admin.TabularInline):
    model = KPITarget
    fields = ("fiscal_year", "value", "text")
    extra = 0


@admin.register(KPI)
class KPIAdmin(SimpleHistoryAdmin):
    list_display = ("initiative_number", "name", "unit", "is_cumulative", "direction")
    list_display_links = ("name",)
    list_filter = (
        "initiative__plan",
        "initiative__policy_area__pillar",
        "is_cumulative",
        "direction",
    )
    list_select_related = ("initiative",)
    search_fields = ("name", "initiative__title", "initiative__number__exact")
    ordering = ("initiative__number", "order")
    autocomplete_fields = ("initiative",)
    inlines = (KPITargetInline,)

    @admin.display(description=_("取組番号"), ordering="initiative__number")
    def initiative_number(self, obj: KPI) -> int:
        return obj.initiative.number


@admin.register(KPITarget)
class KPITargetAdmin(SimpleHistoryAdmin):
    list_display = ("kpi", "initiative_number", "fiscal_year_label", "value_label", "text")
    list_filter = (fiscal_year_list_filter("fiscal_year"), "kpi__initiative__plan")
    list_select_related = ("kpi__initiative",)
    search_fields = ("kpi__name", "text", "kpi__initiative__number__exact")
    ordering = ("kpi__initiative__number", "kpi__order", "fiscal_year")
    autocomplete_fields = ("kpi",)

    @admin.display(description=_("取組番号"), ordering="kpi__initiative__number")
    def initiative_number(self, obj: KPITarget) -> int:
        return obj.kpi.initiative.number

    @admin.display(description=_("年度"), ordering="fiscal_year")
    def fiscal_year_label(self, obj: KPITarget) -> str:
        return obj.fiscal_year_label

    @admin.display(description=_("目標値"), ordering="value")
    def value_label(self, obj: KPITarget) -> str | None:
        return decimal_label(obj.value)


@admin.register(DepartmentMembership)
class DepartmentMembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "department", "role")
    list_filter = ("department__plan", "department", "role")
    list_select_related = ("user", "department")
    search_fields = ("user__username", "department__name")
    autocomplete_fields = ("user", "department")


@admin.register(SecretariatMembership)
class SecretariatMembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "plan")
    list_filter = ("plan",)
    list_select_related = ("user", "plan")
    search_fields = ("user__username", "plan__name")
    autocomplete_fields = ("user",)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Keys are shown once, on creation, and stored hashed."""

    list_display = (*APIKeyModelAdmin.list_display, "plan", "department", "can_write")
    list_filter = (*APIKeyModelAdmin.list_filter, "plan", "can_write")
