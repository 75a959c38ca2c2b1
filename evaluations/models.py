"""What happens each fiscal year: rounds, evaluations and KPI actuals."""

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dxapi.history import tracked
from dxapi.numbers import plain_decimal
from initiatives.fiscal_years import long_label
from initiatives.models import KPI, Initiative, Plan, fiscal_year_range_check


class Rating(models.TextChoices):
    A = "A", _("A: 計画を上回る")
    B = "B", _("B: 計画どおり")
    C = "C", _("C: 計画を下回る")
    NOT_EVALUATED = "-", _("-: 評価なし")


RATED = (Rating.A, Rating.B, Rating.C)

# The texts a department writes in an evaluation, and the longest each may be at every door
# (API, admin, sheet import): ``Evaluation.full_clean`` enforces it.
EVALUATION_TEXT_FIELDS = ("rating_reason", "plan_text", "progress_text", "next_actions")
TEXT_LIMIT = 5000
# What a department edits: the rating and the texts.
EVALUATION_EDITABLE_FIELDS = ("rating", *EVALUATION_TEXT_FIELDS)


class RoundStatus(models.TextChoices):
    OPEN = "open", _("受付中")
    CLOSED = "closed", _("締切")
    PUBLISHED = "published", _("公表済")


class EvaluationStatus(models.TextChoices):
    DRAFT = "draft", _("作成中")
    SUBMITTED = "submitted", _("提出済")
    RETURNED = "returned", _("差戻し")
    APPROVED = "approved", _("承認済")


class Round(models.Model):
    """The yearly evaluation round of a plan (進行管理の年度)."""

    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="rounds", verbose_name=_("計画")
    )
    fiscal_year = models.PositiveSmallIntegerField(_("年度"))
    status = models.CharField(
        _("状態"), max_length=10, choices=RoundStatus.choices, default=RoundStatus.OPEN
    )
    opened_at = models.DateTimeField(_("開始日時"), null=True, blank=True)
    closed_at = models.DateTimeField(_("締切日時"), null=True, blank=True)
    published_at = models.DateTimeField(_("公表日時"), null=True, blank=True)

    history = tracked()

    class Meta:
        verbose_name = _("年度ラウンド")
        verbose_name_plural = _("年度ラウンド")
        ordering = ["plan", "fiscal_year"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "fiscal_year"], name="round_unique_year"),
            fiscal_year_range_check("fiscal_year", "round_year_range"),
            models.CheckConstraint(
                condition=Q(status__in=RoundStatus.values), name="round_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.name} {long_label(self.fiscal_year)}"

    @property
    def is_published(self) -> bool:
        return self.status == RoundStatus.PUBLISHED


# Who reviewed an evaluation and what they wrote, and the value each shows to callers who may
# not see who worked on it (``initiatives.access.may_see_who_changed``).
REVIEWER_FIELDS_WITHHELD = {"submitted_by": None, "approved_by": None, "review_comment": ""}


class Evaluation(models.Model):
    """An initiative's evaluation in one round: rating, plan, progress and next actions."""

    round = models.ForeignKey(
        Round, on_delete=models.PROTECT, related_name="evaluations", verbose_name=_("年度ラウンド")
    )
    initiative = models.ForeignKey(
        Initiative, on_delete=models.PROTECT, related_name="evaluations", verbose_name=_("取組")
    )
    rating = models.CharField(  # noqa: DJ001 -- null is "unknown", distinct from "-"
        _("評価"),
        max_length=1,
        choices=Rating.choices,
        null=True,
        blank=True,
        help_text=_("空欄は未評価（未入力、または資料から判読できない）"),
    )
    rating_reason = models.TextField(
        _("評価の理由"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)]
    )
    plan_text = models.TextField(_("計画"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)])
    progress_text = models.TextField(
        _("進捗"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)]
    )
    next_actions = models.TextField(
        _("今後の取組等"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)]
    )
    note = models.TextField(_("備考"), blank=True)
    status = models.CharField(
        _("状態"), max_length=10, choices=EvaluationStatus.choices, default=EvaluationStatus.DRAFT
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("提出者"),
    )
    submitted_at = models.DateTimeField(_("提出日時"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("承認者"),
    )
    approved_at = models.DateTimeField(_("承認日時"), null=True, blank=True)
    review_comment = models.TextField(_("審査コメント"), blank=True)
    version = models.PositiveIntegerField(_("版"), default=1)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    history = tracked()

    class Meta:
        verbose_name = _("評価")
        verbose_name_plural = _("評価")
        ordering = ["round__fiscal_year", "initiative__number"]
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "round"], name="evaluation_unique_initiative_round"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__in=Rating.values),
                name="evaluation_rating_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=EvaluationStatus.values), name="evaluation_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["round", "rating"]),
            models.Index(fields=["round", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.initiative.number} {long_label(self.round.fiscal_year)}"

    @property
    def fiscal_year(self) -> int:
        return self.round.fiscal_year


class KPIActual(models.Model):
    """A KPI's actual value reported with an evaluation, as of a date."""

    evaluation = models.ForeignKey(
        Evaluation, on_delete=models.CASCADE, related_name="kpi_actuals", verbose_name=_("評価")
    )
    kpi = models.ForeignKey(
        KPI, on_delete=models.PROTECT, related_name="actuals", verbose_name=_("指標")
    )
    value = models.DecimalField(
        _("実績値"),
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("まだ値がないとき（集計中など）は空欄にし、注記に理由を書きます"),
    )
    as_of = models.DateField(_("時点"), null=True, blank=True)
    note = models.CharField(_("注記"), max_length=500, blank=True)
    version = models.PositiveIntegerField(_("版"), default=1)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    history = tracked()

    class Meta:
        verbose_name = _("指標の実績")
        verbose_name_plural = _("指標の実績")
        ordering = ["evaluation", "kpi__order"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "kpi"], name="kpi_actual_unique"),
            # An actual without a value says why (e.g. 集計中).
            models.CheckConstraint(
                condition=Q(value__isnull=False) | ~Q(note=""), name="kpi_actual_value_or_note"
            ),
        ]

    def __str__(self) -> str:
        shown = self.note if self.value is None else plain_decimal(self.value)
        return f"{self.kpi.name}: {shown}"
