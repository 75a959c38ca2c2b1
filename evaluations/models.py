"""What happens each fiscal year: rounds, evaluations and KPI actuals; and the jobs that
import and export them."""

import uuid

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dxapi.history import tracked
from dxapi.numbers import plain_decimal
from initiatives.fiscal_years import long_label
from initiatives.models import KPI, ApiKey, Initiative, Plan, fiscal_year_range_check


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
    department_due_date = models.DateField(
        _("部局の提出期限"), null=True, blank=True, help_text=_("この日までに各部局が評価を提出")
    )
    review_due_date = models.DateField(
        _("審査期限"),
        null=True,
        blank=True,
        help_text=_("この日までに事務局が審査（承認・差戻し）"),
    )

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
            models.CheckConstraint(
                condition=Q(department_due_date__isnull=True)
                | Q(review_due_date__isnull=True)
                | Q(review_due_date__gte=models.F("department_due_date")),
                name="round_review_due_after_department_due",
                violation_error_message=_(
                    "The review due date cannot be before the department due date."
                ),
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


class RoadmapStatus(models.TextChoices):
    """Where a roadmap KPI stands against its milestone of the year (its qualitative target)."""

    AHEAD = "ahead", _("ロードマップより進んでいる")
    ON_TRACK = "on_track", _("ロードマップのとおり")
    BEHIND = "behind", _("ロードマップより遅れている")


class KPIActual(models.Model):
    """A KPI's actual value reported with an evaluation, as of a date; for a roadmap KPI
    (qualitative target of the year), whether the year's milestone is ahead, on track or
    behind."""

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
    roadmap_status = models.CharField(  # noqa: DJ001 -- null is "not judged"
        _("ロードマップの進捗"),
        max_length=10,
        choices=RoadmapStatus.choices,
        null=True,
        blank=True,
        help_text=_("その年度の目標が定性的（ロードマップ）な指標のみ"),
    )
    version = models.PositiveIntegerField(_("版"), default=1)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    history = tracked()

    class Meta:
        verbose_name = _("指標の実績")
        verbose_name_plural = _("指標の実績")
        ordering = ["evaluation", "kpi__order"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "kpi"], name="kpi_actual_unique"),
            # An actual without a value says why (e.g. 集計中), or is a roadmap KPI's status.
            models.CheckConstraint(
                condition=Q(value__isnull=False) | ~Q(note="") | Q(roadmap_status__isnull=False),
                name="kpi_actual_value_or_note",
            ),
            models.CheckConstraint(
                condition=Q(roadmap_status__isnull=True)
                | Q(roadmap_status__in=RoadmapStatus.values),
                name="kpi_actual_roadmap_status_valid",
            ),
        ]

    def __str__(self) -> str:
        if self.value is not None:
            shown = plain_decimal(self.value)
        elif self.roadmap_status:
            shown = self.get_roadmap_status_display()
        else:
            shown = self.note
        return f"{self.kpi.name}: {shown}"


class JobKind(models.TextChoices):
    PROGRESS_IMPORT = "progress_import", _("進捗シートの取込")
    TABLE_EXPORT = "table_export", _("表のエクスポート")
    DOCUMENT_EXPORT = "document_export", _("計画文書のエクスポート")
    OPINION_ANALYSIS = "opinion_analysis", _("意見の分析")
    OPINION_IMPORT = "opinion_import", _("意見の取込")


class JobState(models.TextChoices):
    QUEUED = "queued", _("待機中")
    RUNNING = "running", _("実行中")
    SUCCEEDED = "succeeded", _("完了")
    FAILED = "failed", _("失敗")


def job_file_path(instance: "Job", filename: str) -> str:
    """A directory of its own for each file, so that names never collide."""
    return f"jobs/{uuid.uuid4().hex}/{filename}"


class Job(models.Model):
    """Work run after the request that asked for it (``evaluations.jobs``): a large sheet
    import or an export, with who asked (user or API key), its progress and its outcome."""

    kind = models.CharField(_("種類"), max_length=20, choices=JobKind.choices)
    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, related_name="jobs", verbose_name=_("計画")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("依頼者"),
    )
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("APIキー"),
    )
    request_id = models.CharField(_("リクエストID"), max_length=128, blank=True)
    language = models.CharField(_("言語"), max_length=16, blank=True)
    params = models.JSONField(_("パラメータ"), default=dict, blank=True)
    input_file = models.FileField(
        _("入力ファイル"), upload_to=job_file_path, max_length=255, blank=True
    )
    state = models.CharField(
        _("状態"), max_length=10, choices=JobState.choices, default=JobState.QUEUED
    )
    stage = models.CharField(_("段階"), max_length=20, blank=True)
    done = models.PositiveIntegerField(_("処理済み"), default=0)
    total = models.PositiveIntegerField(_("全体"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("実行回数"), default=0)
    result = models.JSONField(_("結果"), null=True, blank=True)
    result_file = models.FileField(
        _("結果ファイル"), upload_to=job_file_path, max_length=255, blank=True
    )
    error = models.JSONField(_("エラー"), null=True, blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    started_at = models.DateTimeField(_("開始日時"), null=True, blank=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    expires_at = models.DateTimeField(_("有効期限"), db_index=True)

    class Meta:
        verbose_name = _("ジョブ")
        verbose_name_plural = _("ジョブ")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=JobState.values), name="job_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=JobKind.values), name="job_kind_valid"),
        ]
        indexes = [models.Index(fields=["plan", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)


# --- Events and webhooks (``evaluations.events``, ``evaluations.webhooks``) -------------------


class EventKind(models.TextChoices):
    ROUND_OPENED = "round.opened", _("ラウンド開始")
    ROUND_CLOSED = "round.closed", _("ラウンド締切")
    ROUND_REOPENED = "round.reopened", _("ラウンド再開")
    ROUND_PUBLISHED = "round.published", _("ラウンド公表")
    EVALUATION_UPDATED = "evaluation.updated", _("評価の更新")
    EVALUATION_SUBMITTED = "evaluation.submitted", _("評価の提出")
    EVALUATION_RETURNED = "evaluation.returned", _("評価の差戻し")
    EVALUATION_APPROVED = "evaluation.approved", _("評価の承認")
    EVALUATION_REOPENED = "evaluation.reopened", _("評価の承認取消")
    KPI_ACTUAL_CHANGED = "kpi_actual.changed", _("指標の実績の変更")


class Event(models.Model):
    """A change of the yearly cycle, written in the transaction of the change (the outbox):
    the event feed reads it and the webhooks deliver it."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("種類"), max_length=40, choices=EventKind.choices)
    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, related_name="events", verbose_name=_("計画")
    )
    round = models.ForeignKey(
        Round, on_delete=models.CASCADE, related_name="events", verbose_name=_("年度ラウンド")
    )
    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("評価"),
    )
    kpi = models.ForeignKey(
        KPI,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("指標"),
    )
    payload = models.JSONField(_("内容"), default=dict)
    created_at = models.DateTimeField(_("作成日時"), default=timezone.now)
    # Whether the deliveries of the webhooks subscribed to it were made (the dispatcher's).
    dispatched = models.BooleanField(_("配信準備済み"), default=False)

    class Meta:
        verbose_name = _("イベント")
        verbose_name_plural = _("イベント")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["plan", "id"], name="event_plan_id"),
            models.Index(fields=["id"], condition=Q(dispatched=False), name="event_not_dispatched"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class WebhookSubscription(models.Model):
    """A plan's secretariat asks for its events at a URL, signed with the subscription's
    secret (Standard Webhooks). The secret is not stored: it is derived from
    ``secret_salt`` and the server's ``WEBHOOK_SECRET_KEY`` (``webhooks.secret_of``)."""

    plan = models.ForeignKey(
        Plan,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        verbose_name=_("計画"),
    )
    url = models.URLField(_("送信先URL"), max_length=2000)
    kinds = models.JSONField(
        _("イベントの種類"), default=list, blank=True, help_text=_("空欄はすべての種類")
    )
    description = models.CharField(_("説明"), max_length=200, blank=True)
    secret_salt = models.CharField(_("秘密鍵の種"), max_length=64, editable=False)
    is_active = models.BooleanField(_("有効"), default=True)
    failure_count = models.PositiveIntegerField(_("連続失敗回数"), default=0)
    failing_since = models.DateTimeField(_("失敗の開始日時"), null=True, blank=True)
    paused_at = models.DateTimeField(_("自動停止日時"), null=True, blank=True)
    paused_reason = models.CharField(_("停止の理由"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("作成者"),
    )
    created_by_key = models.ForeignKey(
        ApiKey,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("作成したAPIキー"),
    )
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    class Meta:
        verbose_name = _("Webhook送信先")
        verbose_name_plural = _("Webhook送信先")
        ordering = ["plan", "id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("送信待ち")
    SUCCEEDED = "succeeded", _("送信済み")
    FAILED = "failed", _("失敗")


class WebhookDelivery(models.Model):
    """One event for one subscription, sent until the receiver answers 2xx or the attempts
    run out; its ``webhook_id`` is the same at every attempt and redelivery."""

    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("Webhook送信先"),
    )
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("イベント")
    )
    webhook_id = models.CharField(_("配信ID（webhook-id）"), max_length=64, unique=True)
    state = models.CharField(
        _("状態"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    next_attempt_at = models.DateTimeField(_("次の試行日時"), default=timezone.now)
    # A sender holds the delivery until then; past it (the sender died) it is sent again.
    locked_until = models.DateTimeField(_("送信中の期限"), null=True, blank=True)
    # When it was last queued: the sweep queues it again only if that was long ago (lost).
    queued_at = models.DateTimeField(_("キュー投入日時"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("最後の応答コード"), null=True, blank=True
    )
    last_error = models.CharField(_("最後のエラー"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("作成日時"), default=timezone.now)
    delivered_at = models.DateTimeField(_("送信日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("Webhookの配信")
        verbose_name_plural = _("Webhookの配信")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="webhook_delivery_unique"
            ),
            models.CheckConstraint(
                condition=Q(state__in=DeliveryState.values), name="webhook_delivery_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhook_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} ({self.get_state_display()})"


class WebhookAttempt(models.Model):
    """One try of a delivery: when, how it went, and the start of the answer."""

    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("Webhookの配信"),
    )
    attempted_at = models.DateTimeField(_("試行日時"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("応答コード"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("所要時間（ミリ秒）"), default=0)
    error = models.CharField(_("エラー"), max_length=500, blank=True)
    response_excerpt = models.CharField(_("応答の冒頭"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("Webhookの送信試行")
        verbose_name_plural = _("Webhookの送信試行")
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery.webhook_id} {self.attempted_at:%Y-%m-%d %H:%M:%S}"


# --- E-mail notifications (``evaluations.notifications``) -----------------------------------


class NotificationKind(models.TextChoices):
    ROUND_OPENED = "round_opened", _("ラウンド開始のお知らせ")
    EVALUATION_RETURNED = "evaluation_returned", _("評価の差戻し")
    DUE_SOON = "due_soon", _("提出期限が近いお知らせ")
    OVERDUE = "overdue", _("提出期限超過のお知らせ")
    DIGEST = "digest", _("提出状況の日次まとめ（事務局）")
    WEBHOOK_PAUSED = "webhook_paused", _("Webhookの停止（事務局）")


class EmailState(models.TextChoices):
    QUEUED = "queued", _("送信待ち")
    SENT = "sent", _("送信済")
    FAILED = "failed", _("送信失敗")


class NotificationPreference(models.Model):
    """A user's choice to receive (or not) one kind of e-mail; without a row, they do."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        verbose_name=_("ユーザー"),
    )
    kind = models.CharField(_("種類"), max_length=24, choices=NotificationKind.choices)
    enabled = models.BooleanField(_("受け取る"), default=True)

    class Meta:
        verbose_name = _("メール通知の設定")
        verbose_name_plural = _("メール通知の設定")
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=NotificationKind.values),
                name="notification_preference_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} / {self.get_kind_display()}"


class EmailNotification(models.Model):
    """One e-mail to one person: what it says, what it is about, and whether it went out.

    ``key`` names the occasion (an event, a department's due date, a day): one e-mail per
    recipient, kind and key, so that a reminder or digest run twice sends nothing twice."""

    kind = models.CharField(_("種類"), max_length=24, choices=NotificationKind.choices)
    key = models.CharField(_("識別キー"), max_length=200)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("宛先ユーザー"),
    )
    address = models.EmailField(_("宛先アドレス"))
    subject = models.CharField(_("件名"), max_length=255)
    body = models.TextField(_("本文"))
    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, related_name="+", verbose_name=_("計画")
    )
    round = models.ForeignKey(
        Round,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("年度ラウンド"),
    )
    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("評価"),
    )
    department = models.ForeignKey(
        "initiatives.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("部局"),
    )
    state = models.CharField(
        _("状態"), max_length=10, choices=EmailState.choices, default=EmailState.QUEUED
    )
    attempts = models.PositiveIntegerField(_("送信回数"), default=0)
    error = models.TextField(_("エラー"), blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(_("最終送信試行日時"), null=True, blank=True)
    sent_at = models.DateTimeField(_("送信日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("メール通知")
        verbose_name_plural = _("メール通知")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "key"], name="email_notification_once"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=NotificationKind.values),
                name="email_notification_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(state__in=EmailState.values), name="email_notification_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "kind", "-created_at"]),
            models.Index(fields=["state", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.address}"


# Citizens' opinions and their analyses live in their own module, as models of this app.
from evaluations.opinion_models import (  # noqa: E402, F401
    OPINION_TEXT_LIMIT,
    AgeBand,
    AnalysisState,
    Opinion,
    OpinionAnalysis,
    OpinionCluster,
    OpinionLink,
    OpinionPlacement,
    OpinionSource,
    OpinionStatus,
)
