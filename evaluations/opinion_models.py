"""Citizens' opinions on a plan (広聴) and the analyses that group them, imported into
``evaluations.models`` so that they belong to this app."""

import uuid

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dxapi.history import tracked
from initiatives.models import Initiative, Plan, PolicyArea

# The longest opinion accepted at every door (API, CSV import, admin).
OPINION_TEXT_LIMIT = 2000


class AgeBand(models.TextChoices):
    UNDER_20 = "under_20", _("10代以下")
    TWENTIES = "20s", _("20代")
    THIRTIES = "30s", _("30代")
    FORTIES = "40s", _("40代")
    FIFTIES = "50s", _("50代")
    SIXTIES = "60s", _("60代")
    OVER_70 = "70_over", _("70代以上")


class OpinionStatus(models.TextChoices):
    RECEIVED = "received", _("受付")
    PUBLISHED = "published", _("公開")
    HIDDEN = "hidden", _("非公開")


class OpinionSource(models.TextChoices):
    FORM = "form", _("投稿フォーム")
    IMPORT = "import", _("CSV取込")


class Opinion(models.Model):
    """An opinion a citizen sent about a plan: its text masked of personal data (what is
    analysed and shown), the original (for the secretariat alone), and its moderation."""

    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="opinions", verbose_name=_("計画")
    )
    receipt = models.UUIDField(_("受付番号"), default=uuid.uuid4, unique=True, editable=False)
    body = models.TextField(_("意見（個人情報をマスク済み）"))
    original_body = models.TextField(
        _("意見（原文）"), validators=[MaxLengthValidator(OPINION_TEXT_LIMIT)]
    )
    personal_data = models.JSONField(
        _("マスクした個人情報の種類"), default=list, blank=True, editable=False
    )
    initiative = models.ForeignKey(
        Initiative,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("投稿者が選んだ取組"),
    )
    policy_area = models.ForeignKey(
        PolicyArea,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("投稿者が選んだ施策"),
    )
    age_band = models.CharField(_("年代"), max_length=10, choices=AgeBand.choices, blank=True)
    municipality = models.CharField(_("市町村"), max_length=50, blank=True)
    consent_to_publish = models.BooleanField(
        _("公開への同意"),
        default=False,
        help_text=_("マスク済みの本文を分析結果に掲載してよいか"),
    )
    status = models.CharField(
        _("状態"), max_length=10, choices=OpinionStatus.choices, default=OpinionStatus.RECEIVED
    )
    hidden_reason = models.TextField(_("非公開の理由"), blank=True)
    source = models.CharField(
        _("受付方法"), max_length=10, choices=OpinionSource.choices, default=OpinionSource.FORM
    )
    confirmed_initiative = models.ForeignKey(
        Initiative,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="confirmed_opinions",
        verbose_name=_("確認済みの関連取組"),
    )
    submitted_at = models.DateTimeField(_("受付日時"), default=timezone.now)
    body_digest = models.CharField(_("本文のハッシュ"), max_length=64, editable=False)
    sender_digest = models.CharField(
        _("送信元のハッシュ"), max_length=64, blank=True, editable=False
    )
    version = models.PositiveIntegerField(_("版"), default=1)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    history = tracked()

    class Meta:
        verbose_name = _("意見")
        verbose_name_plural = _("意見")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OpinionStatus.values), name="opinion_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=OpinionStatus.HIDDEN) | ~Q(hidden_reason=""),
                name="opinion_hidden_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "status"]),
            models.Index(fields=["plan", "body_digest"]),
            models.Index(fields=["sender_digest", "submitted_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} #{self.pk}"


def is_quotable(status: str, consent_to_publish: bool) -> bool:
    """Whether the public may read an opinion's (masked) text: published, with its sender's
    consent."""
    return status == OpinionStatus.PUBLISHED and consent_to_publish


class AnalysisState(models.TextChoices):
    QUEUED = "queued", _("待機中")
    RUNNING = "running", _("実行中")
    SUCCEEDED = "succeeded", _("完了")
    FAILED = "failed", _("失敗")


class OpinionAnalysis(models.Model):
    """One run of the analysis over a plan's opinions (``evaluations.listening``): its
    clusters, each opinion's place and its suggested initiatives. Public once published."""

    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="opinion_analyses", verbose_name=_("計画")
    )
    title = models.CharField(_("題名"), max_length=200)
    seed = models.PositiveIntegerField(_("乱数シード"), default=0)
    state = models.CharField(
        _("状態"), max_length=10, choices=AnalysisState.choices, default=AnalysisState.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("依頼者"),
    )
    job = models.ForeignKey(
        "evaluations.Job",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ジョブ"),
    )
    opinion_count = models.PositiveIntegerField(_("意見数"), default=0)
    parameters = models.JSONField(_("パラメータ"), default=dict, blank=True)
    overview = models.TextField(_("概要"), blank=True)
    llm_model = models.CharField(_("言語モデル"), max_length=200, blank=True)
    llm_errors = models.JSONField(_("言語モデルのエラー"), default=list, blank=True)
    error = models.TextField(_("エラー"), blank=True)
    is_published = models.BooleanField(_("公開"), default=False)
    published_at = models.DateTimeField(_("公開日時"), null=True, blank=True)
    version = models.PositiveIntegerField(_("版"), default=1)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)

    history = tracked()

    class Meta:
        verbose_name = _("意見の分析")
        verbose_name_plural = _("意見の分析")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=AnalysisState.values), name="opinion_analysis_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(is_published=False) | Q(state=AnalysisState.SUCCEEDED),
                name="opinion_analysis_published_succeeded",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class OpinionCluster(models.Model):
    """A group of opinions in an analysis: level 1 (coarse) or 2 (fine), keyed as kouchou-ai
    keys them ("1_0", "2_3"), labelled by its distinctive terms or a language model."""

    analysis = models.ForeignKey(
        OpinionAnalysis, on_delete=models.CASCADE, related_name="clusters", verbose_name=_("分析")
    )
    key = models.CharField(_("キー"), max_length=12)
    level = models.PositiveSmallIntegerField(_("階層"))
    parent_key = models.CharField(_("親のキー"), max_length=12)
    size = models.PositiveIntegerField(_("意見数"))
    terms = models.JSONField(_("特徴語"), default=list)
    label = models.CharField(_("見出し"), max_length=200)
    takeaway = models.TextField(_("要約"), blank=True)
    representative_ids = models.JSONField(_("代表的な意見"), default=list)

    class Meta:
        verbose_name = _("意見のクラスタ")
        verbose_name_plural = _("意見のクラスタ")
        ordering = ["analysis", "level", "-size", "key"]
        constraints = [
            models.UniqueConstraint(fields=["analysis", "key"], name="opinion_cluster_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.label}"


class OpinionPlacement(models.Model):
    """Where an analysis put an opinion: its clusters and its point on the chart."""

    analysis = models.ForeignKey(
        OpinionAnalysis, on_delete=models.CASCADE, related_name="placements"
    )
    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="placements")
    coarse_key = models.CharField(max_length=12)
    fine_key = models.CharField(max_length=12)
    x = models.FloatField()
    y = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["analysis", "opinion"], name="opinion_placement_unique")
        ]
        indexes = [models.Index(fields=["analysis", "coarse_key"])]

    def __str__(self) -> str:
        return f"{self.opinion_id} → {self.fine_key}"


class OpinionLink(models.Model):
    """An initiative an analysis suggests an opinion is about, by text similarity (rank 1 is
    the likeliest); the secretariat confirms one as the opinion's ``confirmed_initiative``."""

    analysis = models.ForeignKey(OpinionAnalysis, on_delete=models.CASCADE, related_name="links")
    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="links")
    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()

    class Meta:
        ordering = ["analysis", "opinion", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["analysis", "opinion", "rank"], name="opinion_link_unique_rank"
            )
        ]
        indexes = [models.Index(fields=["analysis", "initiative", "rank"])]

    def __str__(self) -> str:
        return f"{self.opinion_id} → {self.initiative_id} ({self.rank})"
