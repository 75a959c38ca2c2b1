import functools

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dxapi.serializer_fields import PlainDecimalField
from evaluations import rating_rules
from evaluations.models import (
    EVALUATION_TEXT_FIELDS,
    RATED,
    REVIEWER_FIELDS_WITHHELD,
    Evaluation,
    KPIActual,
    Rating,
    Round,
)
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
