"""Admin for what happens each fiscal year: rounds, evaluations and KPI actuals."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from evaluations.models import Evaluation, KPIActual, Round
from evaluations.selectors import (
    evaluations_editable_by,
    evaluations_visible_to,
    kpi_actuals_visible_to,
    rounds_visible_to,
)
from initiatives.access import actor_for_user
from initiatives.admin import decimal_label, fiscal_year_list_filter, restrict_inline_choices
from initiatives.fiscal_years import long_label
from initiatives.models import KPI


@admin.register(Round)
class RoundAdmin(SimpleHistoryAdmin):
    list_display = ("plan", "fiscal_year", "fiscal_year_label", "status", "published_at")
    list_display_links = ("fiscal_year", "fiscal_year_label")
    list_filter = ("plan", fiscal_year_list_filter("fiscal_year"), "status")
    list_select_related = ("plan",)
    search_fields = ("plan__name", "plan__code", "fiscal_year__exact")
    ordering = ("plan", "-fiscal_year")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Round]:
        # ``Round.__str__`` reads the plan (also for autocomplete and delete pages).
        visible = rounds_visible_to(actor_for_user(request.user))
        return (
            super().get_queryset(request).filter(pk__in=visible.values("pk")).select_related("plan")
        )

    @admin.display(description=_("年度（和暦）"), ordering="fiscal_year")
    def fiscal_year_label(self, obj: Round) -> str:
        return long_label(obj.fiscal_year)


class KPIActualInline(admin.TabularInline):
    model = KPIActual
    fields = ("kpi", "value", "as_of", "note", "version", "updated_at")
    readonly_fields = ("version", "updated_at")
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[KPIActual]:
        # Each row's title is ``KPIActual.__str__``, which reads the KPI.
        return super().get_queryset(request).select_related("kpi")

    def get_formset(
        self, request: HttpRequest, obj: Evaluation | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            # Only the KPIs of the evaluated initiative can have actuals in this evaluation.
            restrict_inline_choices(
                formset, "kpi", KPI.objects.filter(initiative_id=obj.initiative_id)
            )
        return formset


@admin.register(Evaluation)
class EvaluationAdmin(SimpleHistoryAdmin):
    list_display = (
        "initiative_number",
        "initiative_title",
        "fiscal_year_label",
        "rating",
        "status",
        "updated_at",
    )
    list_display_links = ("initiative_number", "initiative_title")
    list_filter = (
        "round__plan",
        fiscal_year_list_filter("round__fiscal_year"),
        "rating",
        "status",
        "initiative__policy_area__pillar",
        "initiative__departments",
    )
    list_select_related = ("round", "initiative")
    search_fields = ("initiative__title", "initiative__number__exact")
    ordering = ("-round__fiscal_year", "initiative__number")
    list_per_page = 100
    autocomplete_fields = ("round", "initiative")
    raw_id_fields = ("submitted_by", "approved_by")
    readonly_fields = (
        "submitted_by",
        "submitted_at",
        "approved_by",
        "approved_at",
        "version",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("round", "initiative")}),
        (
            _("評価"),
            {
                "fields": (
                    "rating",
                    "rating_reason",
                    "plan_text",
                    "progress_text",
                    "next_actions",
                    "note",
                )
            },
        ),
        (
            _("審査"),
            {
                "fields": (
                    "status",
                    "review_comment",
                    ("submitted_by", "submitted_at"),
                    ("approved_by", "approved_at"),
                )
            },
        ),
        (_("記録"), {"fields": ("version", "created_at", "updated_at")}),
    )
    inlines = (KPIActualInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Evaluation]:
        # Scoped as in the API: what the user may see, then what the user may change.
        # ``Evaluation.__str__`` reads the initiative and the round.
        visible = evaluations_visible_to(actor_for_user(request.user))
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=visible.values("pk"))
            .select_related("round", "initiative")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Evaluation | None = None):
        # The workflow state changes through the review actions, not by editing the field.
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else (*fields, "status", "round", "initiative")

    def has_change_permission(self, request: HttpRequest, obj: Evaluation | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return True
        editable = evaluations_editable_by(actor_for_user(request.user))
        return editable.filter(pk=obj.pk).exists()

    @admin.display(description=_("取組番号"), ordering="initiative__number")
    def initiative_number(self, obj: Evaluation) -> int:
        return obj.initiative.number

    @admin.display(description=_("取組事項"), ordering="initiative__title")
    def initiative_title(self, obj: Evaluation) -> str:
        return obj.initiative.title

    @admin.display(description=_("年度"), ordering="round__fiscal_year")
    def fiscal_year_label(self, obj: Evaluation) -> str:
        return long_label(obj.round.fiscal_year)


@admin.register(KPIActual)
class KPIActualAdmin(SimpleHistoryAdmin):
    list_display = ("evaluation", "kpi", "value_label", "as_of", "note")
    list_filter = (
        "evaluation__round__plan",
        fiscal_year_list_filter("evaluation__round__fiscal_year"),
    )
    list_select_related = ("evaluation__round", "evaluation__initiative", "kpi")
    search_fields = ("kpi__name", "evaluation__initiative__title", "note")
    ordering = ("-evaluation__round__fiscal_year", "evaluation__initiative__number", "kpi__order")
    autocomplete_fields = ("evaluation", "kpi")
    readonly_fields = ("version", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[KPIActual]:
        visible = kpi_actuals_visible_to(actor_for_user(request.user))
        return super().get_queryset(request).filter(pk__in=visible.values("pk"))

    @admin.display(description=_("実績値"), ordering="value")
    def value_label(self, obj: KPIActual) -> str | None:
        return decimal_label(obj.value)
