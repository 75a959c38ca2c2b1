import functools
from collections.abc import Iterator

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dxapi.serializer_fields import PlainDecimalField
from evaluations import rating_rules, selectors
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
from evaluations.policy import evaluations_visible_to, kpi_actuals_visible_to
from initiatives.access import ANONYMOUS, Actor, actor_for, may_see_who_changed
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
            "department_due_date",
            "review_due_date",
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
            "roadmap_status",
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
        roadmap_status=actual.roadmap_status,
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


# The list's representation built from plain rows (``selectors.evaluation_values``): the same
# JSON as ``EvaluationListSerializer`` over model instances (tests/test_evaluation_rows.py),
# with DRF's own fields formatting the dates and ratios.
_DATETIME = serializers.DateTimeField()
_RATIO = serializers.DecimalField(max_digits=40, decimal_places=4)


def _assessment(assessment: rating_rules.KPIAssessment) -> dict:
    ratio = assessment.ratio_display
    return {
        "ratio": None if ratio is None else _RATIO.to_representation(ratio),
        "rating": None if assessment.rating is None else str(assessment.rating),
        "reason": str(assessment.reason),
    }


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class EvaluationRowsRepresentation:
    """The list's page from rows of ``selectors.evaluation_values``: the suggestions are the
    page's own (``selectors.suggestions``, or the expanded KPI actuals when asked for); the
    expansions read their KPI actuals and responsibilities in one query each."""

    def __init__(self, request, expansions: frozenset[str]) -> None:
        self.request = request
        self.expansions = expansions

    def __call__(self, rows: list[dict]) -> list[dict]:
        actor = actor_for(self.request)
        actuals = self._actuals(rows, actor) if "kpi_actuals" in self.expansions else None
        if actuals is None:
            suggestions = selectors.suggestions(row["pk"] for row in rows)
        else:
            suggestions = {
                evaluation_id: rating_rules.suggest_rating(map(assess_actual, page_actuals))
                for evaluation_id, page_actuals in actuals.items()
            }
        departments: dict[int, list[int]] | None = None
        if "texts" in self.expansions and actor.readable_department_ids:
            departments = selectors.responsible_departments(row["initiative_id"] for row in rows)
        items = []
        for row in rows:
            item = self._item(row, suggestions[row["pk"]])
            if "texts" in self.expansions:
                show_who = may_see_who_changed(
                    actor,
                    plan_id=row["initiative__plan_id"],
                    department_ids=(departments or {}).get(row["initiative_id"], ()),
                )
                item.update(self._texts(row, show_who))
            if actuals is not None:
                item["kpi_actuals"] = KPIActualSerializer(actuals[row["pk"]], many=True).data
            items.append(item)
        return items

    @staticmethod
    def _actuals(rows: list[dict], actor: Actor) -> dict[int, list[KPIActual]]:
        ids = [row["pk"] for row in rows]
        actuals: dict[int, list[KPIActual]] = {evaluation_id: [] for evaluation_id in ids}
        for actual in (
            selectors.with_target(kpi_actuals_visible_to(actor))
            .select_related("kpi", "evaluation__round")
            .filter(evaluation_id__in=ids)
        ):
            actuals[actual.evaluation_id].append(actual)
        return actuals

    @staticmethod
    def _item(row: dict, suggestion: rating_rules.KPIAssessment) -> dict:
        suggested = suggestion.rating
        rating = row["rating"]
        return {
            "id": row["pk"],
            "plan": row["round__plan_id"],
            "round": row["round_id"],
            **_year_fields(row["round__fiscal_year"]),
            "initiative": {
                "id": row["initiative_id"],
                "number": row["initiative__number"],
                "title": row["initiative__title"],
            },
            "rating": rating,
            "status": row["status"],
            "suggestion": _assessment(suggestion),
            "differs_from_suggestion": (
                None if suggested is None or rating not in RATED else rating != suggested
            ),
            "updated_at": _datetime(row["updated_at"]),
        }

    @staticmethod
    def _texts(row: dict, show_who: bool) -> dict:
        texts = {name: row[name] for name in EVALUATION_TEXT_FIELDS}
        texts.update(
            note=row["note"],
            review_comment=row["review_comment"],
            submitted_by=row["submitted_by__username"],
            submitted_at=_datetime(row["submitted_at"]),
            approved_by=row["approved_by__username"],
            approved_at=_datetime(row["approved_at"]),
        )
        if not show_who:
            texts.update(REVIEWER_FIELDS_WITHHELD)
        return texts


class PreviousActualSerializer(serializers.ModelSerializer):
    """Last year's actual of a KPI, beside this year's on the evaluation detail."""

    value = PlainDecimalField(allow_null=True, read_only=True)
    as_of_label = serializers.SerializerMethodField()

    class Meta:
        model = KPIActual
        fields = ["id", "kpi", "value", "as_of", "as_of_label", "note", "roadmap_status"]

    def get_as_of_label(self, actual: KPIActual) -> str | None:
        return as_of_label(actual.as_of) if actual.as_of else None


class PreviousYearSerializer(FiscalYearFieldsMixin, serializers.ModelSerializer):
    """The initiative's evaluation of the year before, as the caller may see it: its rating
    and its KPI actuals."""

    evaluation_id = serializers.IntegerField(source="id", read_only=True)
    kpi_actuals = PreviousActualSerializer(many=True, read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "evaluation_id",
            "fiscal_year",
            "fiscal_year_label",
            "fiscal_year_label_ja",
            "rating",
            "kpi_actuals",
        ]


def previous_year_of(actor: Actor, evaluation: Evaluation) -> Evaluation | None:
    """The same initiative's evaluation in the plan's round of the year before, if the actor
    may see it, with its KPI actuals (two queries)."""
    return (
        evaluations_visible_to(actor)
        .filter(
            initiative_id=evaluation.initiative_id,
            round__plan_id=evaluation.round.plan_id,
            round__fiscal_year=evaluation.round.fiscal_year - 1,
        )
        .select_related("round")
        .prefetch_related(
            Prefetch("kpi_actuals", queryset=KPIActual.objects.order_by("kpi__order"))
        )
        .first()
    )


class EvaluationDetailSerializer(EvaluationSerializer):
    """An evaluation with its texts, KPI actuals and review, and last year's values beside
    (``previous_year``: for the caller in the context's ``actor``, else its ``request``'s)."""

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
            "previous_year",
        ]

    previous_year = serializers.SerializerMethodField()

    @extend_schema_field(PreviousYearSerializer(allow_null=True))
    def get_previous_year(self, evaluation: Evaluation) -> dict | None:
        actor = self.context.get("actor")
        if actor is None:
            request = self.context.get("request")
            actor = actor_for(request) if request is not None else ANONYMOUS
        previous = previous_year_of(actor, evaluation)
        return None if previous is None else PreviousYearSerializer(previous).data

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


# --- the round's dashboard (``evaluations.dashboard``) ---------------------------------------


class StatusCountsSerializer(serializers.Serializer):
    draft = serializers.IntegerField()
    submitted = serializers.IntegerField()
    returned = serializers.IntegerField()
    approved = serializers.IntegerField()
    total = serializers.IntegerField()


class OverdueCountsSerializer(serializers.Serializer):
    submission = serializers.IntegerField(
        help_text="Not submitted (draft or returned) after the department due date."
    )
    review = serializers.IntegerField(
        help_text="Submitted and not reviewed after the review due date."
    )


class DepartmentProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null: initiatives without one.")
    code = serializers.CharField()
    name = serializers.CharField()
    counts = StatusCountsSerializer()
    overdue = OverdueCountsSerializer()
    last_activity = serializers.DateTimeField(
        allow_null=True, help_text="Latest change of its evaluations or their KPI actuals."
    )


class KPIGapSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    name = serializers.CharField()


class DashboardInitiativeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="initiative_id")
    number = serializers.IntegerField()
    title = serializers.CharField()


MISSING_CHOICES = (
    ("rating", "No rating yet"),
    ("actual", "A KPI with a numeric target of the year has no actual value"),
    ("reason", "The rating differs from the KPI-based suggestion and gives no reason"),
    ("target", "A KPI has no target for the round's fiscal year"),
)


class InitiativeGapsSerializer(serializers.Serializer):
    evaluation = serializers.IntegerField(source="evaluation_id")
    initiative = DashboardInitiativeSerializer(source="*")
    departments = serializers.ListField(child=serializers.IntegerField(), source="department_ids")
    status = serializers.CharField()
    rating = serializers.ChoiceField(choices=Rating.choices, allow_null=True)
    overdue = serializers.ChoiceField(
        choices=[("submission", "submission"), ("review", "review")], allow_null=True
    )
    missing = serializers.ListField(child=serializers.ChoiceField(choices=MISSING_CHOICES))
    kpis_without_actual = KPIGapSerializer(many=True)
    kpis_without_target = KPIGapSerializer(many=True)


class RoundDashboardSerializer(serializers.Serializer):
    """A round's progress for its secretariat: per department and per initiative."""

    round = RoundSerializer()
    today = serializers.DateField(help_text="The day the overdue items are counted on.")
    counts = StatusCountsSerializer()
    overdue = OverdueCountsSerializer()
    departments = DepartmentProgressSerializer(many=True)
    initiatives = InitiativeGapsSerializer(
        many=True, help_text="The evaluations that miss something or are overdue."
    )
