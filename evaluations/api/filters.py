from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django_filters import rest_framework as filters

from dxapi.filters import (
    ChoiceFilter,
    IntegerFilter,
    PlanFilter,
    StrictBooleanFilter,
    StrictFilterSet,
    id_or_code,
)
from evaluations.models import (
    AgeBand,
    AnalysisState,
    DeliveryState,
    Evaluation,
    EvaluationStatus,
    Job,
    JobKind,
    JobState,
    KPIActual,
    Opinion,
    OpinionAnalysis,
    OpinionSource,
    OpinionStatus,
    Rating,
    Round,
    RoundStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from evaluations.policy import evaluations_visible_to
from evaluations.selectors import differing_from_suggestion
from initiatives.access import actor_for
from initiatives.api.fields import FiscalYearFilter
from initiatives.api.filters import InitiativeFilter, KPIFilter, initiatives_of_department

# What ``?expand=`` may add to the evaluation list (comma-separated).
EXPANSIONS = ("texts", "kpi_actuals")


def department_lookup(value: str) -> dict[str, str]:
    """A department given by id or code."""
    return id_or_code(value, "initiative__departments__")


def _names(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def requested_expansions(request) -> frozenset[str]:
    """The names in ``?expand=a,b`` (blanks dropped). ``EvaluationFilter`` refuses names not
    in ``EXPANSIONS`` before a list is read, so its serializer may trust what it gets here."""
    return _names(request.query_params.get("expand", "")) if request is not None else frozenset()


class ExpansionsFormField(forms.CharField):
    """Names from ``EXPANSIONS``, comma-separated; another name is refused with Django's own
    (translated) message for an unknown choice."""

    default_error_messages = {
        "invalid_choice": forms.ChoiceField.default_error_messages["invalid_choice"],
    }

    def clean(self, value: str | None) -> frozenset[str]:
        names = _names(super().clean(value) or "")
        unknown = sorted(names.difference(EXPANSIONS))
        if unknown:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": ", ".join(unknown)},
            )
        return names


class ExpansionsFilter(filters.CharFilter):
    """``?expand=texts,kpi_actuals``: validated here, read by the serializer and the view
    (``requested_expansions``); it filters nothing."""

    field_class = ExpansionsFormField


class RoundFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")
    fiscal_year = FiscalYearFilter(help_text="Fiscal year: 2024, R6 or 令和6年度.")
    status = ChoiceFilter(choices=RoundStatus.choices)

    class Meta:
        model = Round
        fields = ["plan", "fiscal_year", "status"]


class EvaluationFilter(StrictFilterSet):
    plan = PlanFilter(field_name="round__plan", help_text="Plan id or code.")
    fiscal_year = FiscalYearFilter(
        field_name="round__fiscal_year", help_text="Fiscal year: 2024, R6 or 令和6年度."
    )
    rating = ChoiceFilter(choices=Rating.choices)
    status = ChoiceFilter(choices=EvaluationStatus.choices)
    pillar = IntegerFilter(field_name="initiative__policy_area__pillar", help_text="Pillar id.")
    policy_area = IntegerFilter(field_name="initiative__policy_area", help_text="Policy area id.")
    department = filters.CharFilter(
        method="filter_department", help_text="Responsible department id or code."
    )
    initiative_number = IntegerFilter(field_name="initiative__number")
    differs_from_suggestion = StrictBooleanFilter(
        method="filter_differs",
        help_text="Rated A–C differently from the KPI-based suggestion (true), or not (false).",
    )
    expand = ExpansionsFilter(
        method="keep_all",
        help_text=(
            "Add to each evaluation, comma-separated: `texts` (the texts and note; the "
            "reviewers and review comment for those who may see who changed it), "
            "`kpi_actuals` (the KPI actuals with their targets and ratios)."
        ),
    )

    class Meta:
        model = Evaluation
        fields = [
            "plan",
            "fiscal_year",
            "rating",
            "status",
            "pillar",
            "policy_area",
            "department",
            "initiative",
            "initiative_number",
            "differs_from_suggestion",
            "expand",
        ]

    def keep_all(self, queryset, name, value):
        return queryset  # ``expand`` shapes the response, not the rows

    def filter_department(self, queryset, name, value):
        return queryset.filter(**department_lookup(value)).distinct()

    def filter_differs(self, queryset, name, value):
        return differing_from_suggestion(queryset, value)


class KPIActualFilter(StrictFilterSet):
    plan = PlanFilter(field_name="evaluation__round__plan", help_text="Plan id or code.")
    fiscal_year = FiscalYearFilter(
        field_name="evaluation__round__fiscal_year",
        help_text="Fiscal year of the actual's round: 2024, R6 or 令和6年度.",
    )
    department = filters.CharFilter(
        method="filter_department",
        help_text="Department id or code: the actuals of the initiatives it is responsible for.",
    )
    initiative_number = IntegerFilter(field_name="evaluation__initiative__number")

    class Meta:
        model = KPIActual
        fields = ["plan", "fiscal_year", "department", "evaluation", "kpi", "initiative_number"]

    def filter_department(self, queryset, name, value):
        return queryset.filter(evaluation__initiative__in=initiatives_of_department(value))


class KPIProgressFilter(KPIFilter):
    """Adds ``fiscal_year``, which narrows what each KPI shows, not which KPIs are listed."""

    fiscal_year = FiscalYearFilter(
        method="keep_all",
        help_text=(
            "Fiscal year (2024, R6 or 令和6年度): each KPI shows only its target and actuals of "
            "that year; every KPI is still listed."
        ),
    )

    class Meta(KPIFilter.Meta):
        fields = [*KPIFilter.Meta.fields, "fiscal_year"]

    def keep_all(self, queryset, name, value):
        return queryset  # the view narrows the nested targets and actuals (its prefetches)


class InitiativeProgressFilter(InitiativeFilter):
    """Adds ``fiscal_year`` and ``rating``, matched against the evaluations the caller may see."""

    fiscal_year = FiscalYearFilter(
        method="filter_by_evaluation", help_text="Fiscal year: 2024, R6 or 令和6年度."
    )
    rating = ChoiceFilter(
        choices=Rating.choices,
        method="filter_by_evaluation",
        help_text="Rating in `fiscal_year` (or in any year when none is given).",
    )

    class Meta(InitiativeFilter.Meta):
        fields = [*InitiativeFilter.Meta.fields, "fiscal_year", "rating"]

    def filter_by_evaluation(self, queryset, name, value):
        return queryset  # applied once for both fields in filter_queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        fiscal_year = self.form.cleaned_data.get("fiscal_year")
        rating = self.form.cleaned_data.get("rating")
        if fiscal_year is None and not rating:
            return queryset
        evaluations = evaluations_visible_to(actor_for(self.request))
        if fiscal_year is not None:
            evaluations = evaluations.filter(round__fiscal_year=fiscal_year)
        if rating:
            evaluations = evaluations.filter(rating=rating)
        return queryset.filter(pk__in=evaluations.values("initiative"))


class WebhookSubscriptionFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")

    class Meta:
        model = WebhookSubscription
        fields = ["plan", "is_active"]


class WebhookDeliveryFilter(StrictFilterSet):
    subscription = IntegerFilter(field_name="subscription", help_text="Webhook id.")
    event = IntegerFilter(field_name="event", help_text="Event id.")
    state = ChoiceFilter(choices=DeliveryState.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "event", "state"]


class JobFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")
    state = ChoiceFilter(choices=JobState.choices)
    kind = ChoiceFilter(choices=JobKind.choices)

    class Meta:
        model = Job
        fields = ["plan", "state", "kind"]


class OpinionFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")
    status = ChoiceFilter(choices=OpinionStatus.choices)
    source = ChoiceFilter(choices=OpinionSource.choices)
    age_band = ChoiceFilter(choices=AgeBand.choices)
    initiative = IntegerFilter(
        method="about_initiative",
        help_text="Initiative number: opinions that name it or were confirmed to be about it.",
    )

    class Meta:
        model = Opinion
        fields = ["plan", "status", "source", "age_band", "initiative"]

    def about_initiative(self, queryset, name: str, value):
        return queryset.filter(Q(initiative__number=value) | Q(confirmed_initiative__number=value))


class OpinionAnalysisFilter(StrictFilterSet):
    plan = PlanFilter(field_name="plan", help_text="Plan id or code.")
    state = ChoiceFilter(choices=AnalysisState.choices)

    class Meta:
        model = OpinionAnalysis
        fields = ["plan", "state", "is_published"]
