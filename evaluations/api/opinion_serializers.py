"""The shapes of opinions and analyses at the API door; the rules are the services'."""

from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import serializers

from dxapi.serializer_fields import StrictCharField
from evaluations.api.webhook_views import PlanField
from evaluations.listening.intake import MUNICIPALITY_LIMIT
from evaluations.models import (
    OPINION_TEXT_LIMIT,
    AgeBand,
    Opinion,
    OpinionAnalysis,
    OpinionStatus,
)
from initiatives.models import Initiative, PolicyArea

MAX_SEED = 2**31 - 1


class InitiativeNumberField(serializers.IntegerField):
    """An initiative by its number in the plan (the body's ``plan``, or the opinion's)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 32767)
        super().__init__(**kwargs)

    def to_representation(self, value: Initiative) -> int:
        return value.number

    def get_attribute(self, instance):
        return getattr(instance, self.source_attrs[0])


def _initiative(plan, number: int | None, field: str) -> Initiative | None:
    if number is None:
        return None
    initiative = Initiative.objects.filter(plan=plan, number=number).select_related(
        "policy_area__pillar"
    )
    found = initiative.first()
    if found is None:
        raise serializers.ValidationError({field: _("No initiative of that number in this plan.")})
    return found


class OpinionSendSerializer(serializers.Serializer):
    plan = PlanField(help_text="Plan id or code.")
    body = StrictCharField(
        max_length=OPINION_TEXT_LIMIT, help_text="The opinion, in the sender's words."
    )
    initiative = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=32767,
        help_text="The number of the initiative it is about, if the sender chose one.",
    )
    policy_area = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=32767,
        help_text="The number of the policy area it is about, if the sender chose one.",
    )
    age_band = serializers.ChoiceField(
        choices=AgeBand.choices, required=False, allow_blank=True, default=""
    )
    municipality = StrictCharField(
        max_length=MUNICIPALITY_LIMIT, required=False, allow_blank=True, default=""
    )
    consent_to_publish = serializers.BooleanField(
        default=False,
        help_text="The sender agrees that the masked text may be quoted in published analyses.",
    )
    website = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="Leave empty: a field forms hide from people (what fills it is a script).",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs.pop("website", ""):
            raise serializers.ValidationError({"website": _("Leave this field empty.")})
        plan = attrs["plan"]
        attrs["initiative"] = _initiative(plan, attrs.get("initiative"), "initiative")
        number = attrs.get("policy_area")
        attrs["policy_area"] = None
        if number is not None:
            area = PolicyArea.objects.filter(pillar__plan=plan, number=number).first()
            if area is None:
                raise serializers.ValidationError(
                    {"policy_area": _("No policy area of that number in this plan.")}
                )
            attrs["policy_area"] = area
        return attrs


class OpinionReceiptSerializer(serializers.ModelSerializer):
    """What the sender gets back: the receipt number, and the text as it will be read."""

    plan_code = serializers.CharField(source="plan.code", read_only=True)
    personal_data = serializers.ListField(
        child=serializers.CharField(), help_text="The kinds of personal data masked."
    )

    class Meta:
        model = Opinion
        fields = ["receipt", "plan_code", "status", "body", "personal_data", "submitted_at"]
        read_only_fields = fields


class OpinionSerializer(serializers.ModelSerializer):
    """An opinion as a department reads it: masked, without how or by whom it was sent."""

    plan_code = serializers.CharField(source="plan.code", read_only=True)
    initiative = InitiativeNumberField(
        read_only=True, allow_null=True, help_text="The initiative the sender chose (number)."
    )
    policy_area = serializers.IntegerField(
        source="policy_area.number", read_only=True, allow_null=True, default=None
    )
    confirmed_initiative = InitiativeNumberField(
        read_only=True,
        allow_null=True,
        help_text="The initiative the secretariat confirmed it is about (number).",
    )
    age_band = serializers.ChoiceField(
        choices=AgeBand.choices, allow_blank=True, read_only=True, help_text="Blank: not given."
    )

    class Meta:
        model = Opinion
        fields = [
            "id",
            "plan_code",
            "body",
            "initiative",
            "policy_area",
            "confirmed_initiative",
            "age_band",
            "municipality",
            "status",
            "submitted_at",
        ]
        read_only_fields = fields


class OpinionSecretariatSerializer(OpinionSerializer):
    """As the plan's secretariat reads it: the original text and the moderation too."""

    personal_data = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(OpinionSerializer.Meta):
        fields = [
            *OpinionSerializer.Meta.fields,
            "receipt",
            "original_body",
            "personal_data",
            "consent_to_publish",
            "hidden_reason",
            "source",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class OpinionUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OpinionStatus.choices, required=False)
    hidden_reason = StrictCharField(required=False, allow_blank=True, max_length=1000)
    body = StrictCharField(
        required=False, max_length=OPINION_TEXT_LIMIT, help_text="The masked text, corrected."
    )
    confirmed_initiative = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=32767
    )

    def validate(self, attrs: dict) -> dict:
        if "confirmed_initiative" in attrs:
            plan = self.context["opinion"].plan
            attrs["confirmed_initiative"] = _initiative(
                plan, attrs["confirmed_initiative"], "confirmed_initiative"
            )
        if "hidden_reason" in attrs and "status" not in attrs:
            raise serializers.ValidationError(
                {"hidden_reason": _("Send the reason together with the state (status).")}
            )
        return attrs


class OpinionImportSerializer(serializers.Serializer):
    plan = PlanField(help_text="Plan id or code.")
    file = serializers.FileField(help_text="The CSV file.")


class OpinionImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    masked = serializers.IntegerField(help_text="Opinions in which personal data was masked.")
    ignored_columns = serializers.ListField(child=serializers.CharField())


class AnalysisRequestSerializer(serializers.Serializer):
    plan = PlanField(help_text="Plan id or code.")
    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    seed = serializers.IntegerField(
        min_value=0, max_value=MAX_SEED, required=False, default=0, help_text="Random seed."
    )


class OpinionAnalysisSerializer(serializers.ModelSerializer):
    plan_code = serializers.CharField(source="plan.code", read_only=True)
    result_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = OpinionAnalysis
        fields = [
            "id",
            "plan_code",
            "title",
            "seed",
            "state",
            "job",
            "opinion_count",
            "llm_model",
            "is_published",
            "published_at",
            "created_at",
            "finished_at",
            "result_url",
            "page_url",
        ]
        read_only_fields = fields

    def get_result_url(self, analysis: OpinionAnalysis) -> str:
        return reverse("opinion-analysis-result", args=[analysis.pk])

    def get_page_url(self, analysis: OpinionAnalysis) -> str:
        return reverse("opinion-analysis-page", args=[analysis.pk])


class ReceiptAnalysisSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    cluster = serializers.CharField(help_text="The label of the opinion's coarse cluster.")
    page_url = serializers.CharField()


class ReceiptSerializer(serializers.Serializer):
    receipt = serializers.UUIDField()
    plan_code = serializers.CharField()
    status = serializers.ChoiceField(choices=OpinionStatus.choices)
    submitted_at = serializers.DateTimeField()
    analyses = ReceiptAnalysisSerializer(many=True)
