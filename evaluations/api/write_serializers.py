"""Input of the write endpoints; the services hold the rules."""

from rest_framework import serializers

from dxapi.serializer_fields import StrictCharField, StrictSerializer
from evaluations.models import TEXT_LIMIT, Rating, RoadmapStatus


def text_field(**kwargs) -> StrictCharField:
    return StrictCharField(max_length=TEXT_LIMIT, allow_blank=True, **kwargs)


class EvaluationUpdateSerializer(StrictSerializer):
    rating = serializers.ChoiceField(choices=Rating.choices, allow_null=True)
    rating_reason = text_field(required=False)
    plan_text = text_field(required=False)
    progress_text = text_field(required=False)
    next_actions = text_field(required=False)


class CommentSerializer(StrictSerializer):
    comment = StrictCharField(max_length=TEXT_LIMIT)


class ReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=TEXT_LIMIT)


class RoundReopenSerializer(StrictSerializer):
    reason = StrictCharField(
        max_length=TEXT_LIMIT,
        allow_blank=True,
        required=False,
        default="",
        help_text="Why the round is reopened; required for a published round.",
    )


def due_date_field(help_text: str, **kwargs) -> serializers.DateField:
    return serializers.DateField(
        allow_null=True, required=False, help_text=f"{help_text} null: none.", **kwargs
    )


class RoundUpdateSerializer(StrictSerializer):
    department_due_date = due_date_field("The day departments submit their evaluations by.")
    review_due_date = due_date_field(
        "The day the secretariat reviews them by; not before the department due date."
    )


def roadmap_status_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=RoadmapStatus.choices,
        allow_null=True,
        required=False,
        default=None,
        help_text=(
            "For a KPI whose target of the year is qualitative (the year's roadmap milestone): "
            "ahead of it, on track or behind; the suggested rating follows it. null: none."
        ),
    )


def actual_value_field() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        allow_null=True,
        help_text="The actual value; null while there is none yet, with a note saying why.",
    )


class KPIActualWriteSerializer(StrictSerializer):
    evaluation = serializers.IntegerField(min_value=1)
    kpi = serializers.IntegerField(min_value=1)
    value = actual_value_field()
    as_of = serializers.DateField(allow_null=True, required=False, default=None)
    note = StrictCharField(max_length=500, allow_blank=True, required=False, default="")
    roadmap_status = roadmap_status_field()


class KPIActualUpdateSerializer(StrictSerializer):
    value = actual_value_field()
    as_of = serializers.DateField(allow_null=True, required=False, default=None)
    note = StrictCharField(max_length=500, allow_blank=True, required=False, default="")
    roadmap_status = roadmap_status_field()
