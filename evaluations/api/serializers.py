import functools
from collections.abc import Iterator

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dxapi.serializer_fields import PlainDecimalField
from evaluations import rating_rules
from evaluations.api.filters import requested_expansions
from evaluations.models import (
    EVALUATION_TEXT_FIELDS,
    RATED,
    REVIEWER_FIELDS_WITHHELD,
    Evaluation,
    KPIActual,
    Rating,
    Round,
)
from initiatives.access import actor_for, may_see_who_changed
from initiatives.api.fields import FiscalYearLabelField
from initiatives.api.serializers import (
    InitiativeSerializer,
    InitiativeSummarySerializer,
    KPISerializer,
    KPISummarySerializer,
)
from initiatives.fiscal_years import as_of_label, year_fields
from initiatives.models import Initiative
from initiatives.selectors import InitiativeRows


class FiscalYearFieldsMixin(serializers.Serializer):
    fiscal_year = serializers.IntegerField(source="round.fiscal_year", read_only=True)
    fiscal_year_label = FiscalYearLabelField(source="round.fiscal_year")
    fiscal_year_label_ja = FiscalYearLabelField(source="round.fiscal_year", japanese=True)


class RoundSerializer(serializers.ModelSerializer):
    fiscal_year_label = FiscalYearLabelField(source="fiscal_year")
    fiscal_year_label_ja = FiscalYearLabelField(source="fiscal_year", japanese=True)

    class Meta:
        model = Round
        fields = [
            "id",
            "plan",
            "fiscal_year",
            "fiscal_year_label",
            "fiscal_year_label_ja",
            "status",
            "opened_at",
            "closed_at",
            "published_at",
        ]


class AssessmentSerializer(serializers.Serializer):
    """A KPI-based assessment: achievement ratio and the rating it suggests."""

    ratio = serializers.DecimalField(
        source="ratio_display", max_digits=40, decimal_places=4, allow_null=True, read_only=True
    )
    rating = serializers.ChoiceField(choices=Rating.choices, allow_null=True)
    reason = serializers.CharField()


class KPIActualSerializer(serializers.ModelSerializer):
    fiscal_year = serializers.IntegerField(source="evaluation.round.fiscal_year", read_only=True)
    fiscal_year_label = FiscalYearLabelField(source="evaluation.round.fiscal_year")
    fiscal_year_label_ja = FiscalYearLabelField(
        source="evaluation.round.fiscal_year", japanese=True
    )
    kpi = KPISummarySerializer(read_only=True)
    unit = serializers.CharField(source="kpi.unit", read_only=True)
    value = PlainDecimalField(allow_null=True)
    as_of_label = serializers.SerializerMethodField()
    target_value = PlainDecimalField(read_only=True, allow_null=True)
    target_text = serializers.CharField(read_only=True, allow_null=True)
    assessment = serializers.SerializerMethodField()

    class Meta:
        model = KPIActual
        fields = [
            "id",
            "evaluation",
            "kpi",
            "fiscal_year",
            "fiscal_year_label",
            "fiscal_year_label_ja",
            "value",
            "unit",
            "as_of",
            "as_of_label",
            "note",
            "target_value",
            "target_text",
            "assessment",
        ]

    def get_as_of_label(self, actual: KPIActual) -> str | None:
        return as_of_label(actual.as_of) if actual.as_of else None

    @extend_schema_field(AssessmentSerializer)
    def get_assessment(self, actual: KPIActual) -> dict:
        return AssessmentSerializer(assess_actual(actual)).data


def assess_actual(actual: KPIActual) -> rating_rules.KPIAssessment:
    """Assess an actual annotated by ``selectors.with_target``."""
    return rating_rules.assess_kpi(
        actual=actual.value,
        target=actual.target_value,
        direction=actual.kpi.direction,
        target_text=actual.target_text or "",
    )


class EvaluationSerializer(FiscalYearFieldsMixin, serializers.ModelSerializer):
    initiative = InitiativeSummarySerializer(read_only=True)
    plan = serializers.IntegerField(source="round.plan_id", read_only=True)
    suggestion = serializers.SerializerMethodField()
    differs_from_suggestion = serializers.SerializerMethodField()

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "plan",
            "round",
            "fiscal_year",
            "fiscal_year_label",
            "fiscal_year_label_ja",
            "initiative",
            "rating",
            "status",
            "suggestion",
            "differs_from_suggestion",
            "updated_at",
        ]

    def _suggestion(self, evaluation: Evaluation) -> rating_rules.KPIAssessment:
        cache = self.context.setdefault("_suggestions", {})
        if evaluation.pk not in cache:
            cache[evaluation.pk] = rating_rules.suggest_rating(
                assess_actual(actual) for actual in evaluation.kpi_actuals.all()
            )
        return cache[evaluation.pk]

    @extend_schema_field(AssessmentSerializer)
    def get_suggestion(self, evaluation: Evaluation) -> dict:
        return AssessmentSerializer(self._suggestion(evaluation)).data

    def get_differs_from_suggestion(self, evaluation: Evaluation) -> bool | None:
        suggested = self._suggestion(evaluation).rating
        if suggested is None or evaluation.rating not in RATED:
            return None
        return evaluation.rating != suggested


# The list's fields each ``?expand=`` name adds (the detail always has them).
EXPANDED_FIELDS = {
    "texts": (
        *EVALUATION_TEXT_FIELDS,
        "note",
        "review_comment",
        "submitted_by",
        "submitted_at",
        "approved_by",
        "approved_at",
    ),
    "kpi_actuals": ("kpi_actuals",),
}


def _responsible_department_ids(initiative: Initiative) -> Iterator[int]:
    # A generator: nothing is read until it is iterated.
    for responsibility in initiative.responsibilities.all():
        yield responsibility.department_id


def _optional_text(**kwargs) -> serializers.CharField:
    # Not read-only, so that the schema does not mark it as always present (it is output only).
    return serializers.CharField(required=False, **kwargs)


class EvaluationListSerializer(EvaluationSerializer):
    """An evaluation of the list; ``?expand=texts`` adds the texts, the note and the review
    (reviewers and review comment withheld, as on the detail, from callers who may not see who
    changed it), ``?expand=kpi_actuals`` the KPI actuals with their targets and ratios. Fields
    not asked for are left out. The view prefetches what the expansions read."""

    rating_reason = _optional_text()
    plan_text = _optional_text()
    progress_text = _optional_text()
    next_actions = _optional_text()
    note = _optional_text()
    review_comment = _optional_text()
    submitted_by = _optional_text(source="submitted_by.username", default=None, allow_null=True)
    submitted_at = serializers.DateTimeField(required=False, allow_null=True)
    approved_by = _optional_text(source="approved_by.username", default=None, allow_null=True)
    approved_at = serializers.DateTimeField(required=False, allow_null=True)
    kpi_actuals = KPIActualSerializer(many=True, required=False)

    class Meta(EvaluationSerializer.Meta):
        fields = [
            *EvaluationSerializer.Meta.fields,
            *(name for names in EXPANDED_FIELDS.values() for name in names),
        ]

    def _left_out(self) -> frozenset[str]:
        """The fields of the expansions not asked for (once per response)."""
        if "_left_out" not in self.context:
            asked = requested_expansions(self.context.get("request"))
            self.context["_left_out"] = frozenset(
                name for key, names in EXPANDED_FIELDS.items() if key not in asked for name in names
            )
        return self.context["_left_out"]

    @property
    def _readable_fields(self):
        # DRF's to_representation serializes these: the expansions not asked for are skipped
        # (never computed), while the schema, which reads ``fields``, documents them all.
        left_out = self._left_out()
        return [field for field in super()._readable_fields if field.field_name not in left_out]

    def _show_who(self, evaluation: Evaluation) -> bool:
        """``access.may_see_who_changed``: the responsibilities (prefetched for department
        members) are read only if the actor's roles leave the question open."""
        initiative = evaluation.initiative
        return may_see_who_changed(
            actor_for(self.context["request"]),
            plan_id=initiative.plan_id,
            department_ids=_responsible_department_ids(initiative),
        )

    def to_representation(self, evaluation: Evaluation) -> dict:
        data = super().to_representation(evaluation)
        if "review_comment" in data and not self._show_who(evaluation):
            data.update(REVIEWER_FIELDS_WITHHELD)
        return data


class EvaluationDetailSerializer(EvaluationSerializer):
    initiative = InitiativeSerializer(read_only=True)
    kpi_actuals = KPIActualSerializer(many=True, read_only=True)
    submitted_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    approved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta(EvaluationSerializer.Meta):
        fields = [
            *EvaluationSerializer.Meta.fields,
            *EVALUATION_TEXT_FIELDS,
            "note",
            "kpi_actuals",
            "review_comment",
            "submitted_by",
            "submitted_at",
            "approved_by",
            "approved_at",
            "created_at",
        ]

    def to_representation(self, evaluation: Evaluation) -> dict:
        """Reviewers and comments are shown only with ``show_who`` in the context (see
        ``access.may_see_who_changed``)."""
        data = super().to_representation(evaluation)
        if not self.context.get("show_who", False):
            data.update(REVIEWER_FIELDS_WITHHELD)
        return data


class YearRatingSerializer(FiscalYearFieldsMixin, serializers.ModelSerializer):
    evaluation_id = serializers.IntegerField(source="id", read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "evaluation_id",
            "fiscal_year",
            "fiscal_year_label",
            "fiscal_year_label_ja",
            "rating",
        ]


@functools.lru_cache(maxsize=256)
def _year_fields(fiscal_year: int) -> dict[str, int | str]:
    """``year_fields`` memoised: a page of initiatives repeats the same few years; callers
    unpack (copy) the dict."""
    return year_fields(fiscal_year)


class InitiativeProgressSerializer(InitiativeSerializer):
    """An initiative with the ratings of the years the caller may see."""

    ratings = serializers.SerializerMethodField()

    class Meta(InitiativeSerializer.Meta):
        model = Initiative
        fields = [*InitiativeSerializer.Meta.fields, "ratings"]

    @extend_schema_field(YearRatingSerializer(many=True))
    def get_ratings(self, initiative: Initiative | InitiativeRows) -> list[dict]:
        return [
            {"evaluation_id": evaluation_id, **_year_fields(fiscal_year), "rating": rating}
            for evaluation_id, fiscal_year, rating in initiative.visible_ratings
        ]

    def to_representation(self, instance: Initiative | InitiativeRows) -> dict:
        """``instance`` (a model instance or its rows) carries ``visible_ratings``."""
        return {**super().to_representation(instance), "ratings": self.get_ratings(instance)}


class KPIProgressSerializer(KPISerializer):
    """A KPI with its targets and the actuals the caller may see."""

    actuals = KPIActualSerializer(source="visible_actuals", many=True, read_only=True)

    class Meta(KPISerializer.Meta):
        fields = [*KPISerializer.Meta.fields, "actuals"]
