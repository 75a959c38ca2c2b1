"""The structure of a DX promotion plan: plan, pillars, policy areas, initiatives, KPIs."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from dxapi.history import tracked
from dxapi.numbers import plain_decimal
from initiatives.fiscal_years import MAX_FISCAL_YEAR, MIN_FISCAL_YEAR, long_label, short_label


def fiscal_year_range_check(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": MIN_FISCAL_YEAR, f"{field}__lte": MAX_FISCAL_YEAR}),
        name=name,
    )


class Plan(models.Model):
    code = models.SlugField(_("コード"), max_length=50, unique=True)
    organisation = models.CharField(_("団体"), max_length=100)
    name = models.CharField(_("計画名"), max_length=200)
    start_year = models.PositiveSmallIntegerField(_("開始年度"))
    end_year = models.PositiveSmallIntegerField(_("終了年度"))
    description = models.TextField(_("説明"), blank=True)

    history = tracked()

    class Meta:
        verbose_name = _("計画")
        verbose_name_plural = _("計画")
        ordering = ["organisation", "start_year", "code"]
        constraints = [
            fiscal_year_range_check("start_year", "plan_start_year_range"),
            fiscal_year_range_check("end_year", "plan_end_year_range"),
            models.CheckConstraint(
                condition=Q(start_year__lte=models.F("end_year")), name="plan_period_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.name}"

    @property
    def period_label(self) -> str:
        return f"{short_label(self.start_year)}–{short_label(self.end_year)}"

    def covers(self, fiscal_year: int) -> bool:
        return self.start_year <= fiscal_year <= self.end_year


class Department(models.Model):
    """A department (部局) of the plan's organisation, responsible for initiatives."""

    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="departments", verbose_name=_("計画")
    )
    code = models.SlugField(_("コード"), max_length=50)
    name = models.CharField(_("部局名"), max_length=100)
    order = models.PositiveSmallIntegerField(_("表示順"), default=0)

    history = tracked()

    class Meta:
        verbose_name = _("部局")
        verbose_name_plural = _("部局")
        ordering = ["plan", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "code"], name="department_code_unique_in_plan"),
            models.UniqueConstraint(fields=["plan", "name"], name="department_name_unique_in_plan"),
        ]

    def __str__(self) -> str:
        return self.name


class Pillar(models.Model):
    """A pillar (分類) of the plan, e.g. 行政 〜デジタル・ガバメント〜."""

    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="pillars", verbose_name=_("計画")
    )
    order = models.PositiveSmallIntegerField(_("表示順"))
    name = models.CharField(_("分類"), max_length=50)
    theme = models.CharField(_("テーマ"), max_length=100, blank=True)

    history = tracked()

    class Meta:
        verbose_name = _("分類")
        verbose_name_plural = _("分類")
        ordering = ["plan", "order"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "order"], name="pillar_order_unique_in_plan"),
            models.UniqueConstraint(fields=["plan", "name"], name="pillar_name_unique_in_plan"),
        ]

    def __str__(self) -> str:
        return f"{self.name} 〜{self.theme}〜" if self.theme else self.name


class PolicyArea(models.Model):
    """A policy area (施策), numbered (1), (2), … inside its pillar."""

    pillar = models.ForeignKey(
        Pillar, on_delete=models.PROTECT, related_name="policy_areas", verbose_name=_("分類")
    )
    number = models.PositiveSmallIntegerField(_("番号"))
    name = models.CharField(_("施策"), max_length=200)

    history = tracked()

    class Meta:
        verbose_name = _("施策")
        verbose_name_plural = _("施策")
        ordering = ["pillar__plan", "pillar__order", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["pillar", "number"], name="policy_area_number_unique_in_pillar"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pillar.name} ({self.number}) {self.name}"


class Initiative(models.Model):
    """An initiative (取組), numbered across the whole plan."""

    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="initiatives", verbose_name=_("計画")
    )
    policy_area = models.ForeignKey(
        PolicyArea, on_delete=models.PROTECT, related_name="initiatives", verbose_name=_("施策")
    )
    number = models.PositiveSmallIntegerField(_("番号"))
    title = models.CharField(_("取組事項"), max_length=300)
    is_major = models.BooleanField(
        _("主な取組"), default=False, help_text=_("報告書で詳細を掲載する取組")
    )
    relists = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="relistings",
        verbose_name=_("再掲元"),
        help_text=_("この取組が再掲である場合の元の取組"),
    )
    departments = models.ManyToManyField(
        Department,
        through="InitiativeDepartment",
        related_name="initiatives",
        verbose_name=_("担当部局"),
    )

    history = tracked()

    class Meta:
        verbose_name = _("取組")
        verbose_name_plural = _("取組")
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="initiative_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="initiative_number_positive"),
            models.CheckConstraint(
                condition=~Q(relists=models.F("id")), name="initiative_not_relisting_itself"
            ),
        ]
        indexes = [models.Index(fields=["policy_area", "number"])]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class InitiativeDepartment(models.Model):
    """A department responsible for an initiative; one of them may be the lead."""

    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="responsibilities"
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="responsibilities"
    )
    is_lead = models.BooleanField(_("主担当"), default=False)

    history = tracked()

    class Meta:
        verbose_name = _("担当部局")
        verbose_name_plural = _("担当部局")
        ordering = ["initiative", "-is_lead", "department__order"]
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "department"], name="initiative_department_unique"
            ),
            models.UniqueConstraint(
                fields=["initiative"],
                condition=Q(is_lead=True),
                name="initiative_single_lead_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.initiative.number}: {self.department.name}"


class KPIDirection(models.TextChoices):
    HIGHER = "higher", _("高いほど良い")
    LOWER = "lower", _("低いほど良い")


class KPI(models.Model):
    """A KPI (指標) of an initiative."""

    initiative = models.ForeignKey(Initiative, on_delete=models.PROTECT, related_name="kpis")
    order = models.PositiveSmallIntegerField(_("表示順"), default=1)
    name = models.CharField(_("指標名"), max_length=300)
    unit = models.CharField(_("単位"), max_length=30, blank=True)
    is_cumulative = models.BooleanField(_("累計"), default=False)
    direction = models.CharField(
        _("方向"), max_length=10, choices=KPIDirection.choices, default=KPIDirection.HIGHER
    )
    baseline_value = models.DecimalField(
        _("基準値"), max_digits=20, decimal_places=4, null=True, blank=True
    )
    baseline_year = models.PositiveSmallIntegerField(
        _("基準値の年度"), null=True, blank=True, help_text=_("基準値を測った年度（例: 2022）")
    )

    history = tracked()

    class Meta:
        verbose_name = _("指標")
        verbose_name_plural = _("指標")
        ordering = ["initiative", "order"]
        constraints = [
            models.UniqueConstraint(fields=["initiative", "order"], name="kpi_order_unique"),
            models.CheckConstraint(
                condition=Q(direction__in=KPIDirection.values), name="kpi_direction_valid"
            ),
            # A baseline is a value of a fiscal year: both, or neither.
            models.CheckConstraint(
                condition=Q(baseline_value__isnull=True, baseline_year__isnull=True)
                | (
                    Q(baseline_value__isnull=False)
                    & Q(baseline_year__gte=MIN_FISCAL_YEAR, baseline_year__lte=MAX_FISCAL_YEAR)
                ),
                name="kpi_baseline_value_and_year",
                violation_error_message=_(
                    "A baseline is a value and its fiscal year: give both, or neither."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name

    @property
    def baseline_year_label(self) -> str | None:
        return None if self.baseline_year is None else short_label(self.baseline_year)


class KPITarget(models.Model):
    """A KPI's target for one fiscal year: a number, or qualitative text."""

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="targets")
    fiscal_year = models.PositiveSmallIntegerField(_("年度"))
    value = models.DecimalField(_("目標値"), max_digits=20, decimal_places=4, null=True, blank=True)
    text = models.CharField(_("目標（定性）"), max_length=300, blank=True)

    history = tracked()

    class Meta:
        verbose_name = _("指標の目標")
        verbose_name_plural = _("指標の目標")
        ordering = ["kpi", "fiscal_year"]
        constraints = [
            models.UniqueConstraint(fields=["kpi", "fiscal_year"], name="kpi_target_unique_year"),
            fiscal_year_range_check("fiscal_year", "kpi_target_year_range"),
            models.CheckConstraint(
                condition=Q(value__isnull=False) | ~Q(text=""), name="kpi_target_value_or_text"
            ),
        ]

    def __str__(self) -> str:
        shown = self.text if self.value is None else plain_decimal(self.value)
        return f"{short_label(self.fiscal_year)}: {shown}"

    @property
    def fiscal_year_label(self) -> str:
        return long_label(self.fiscal_year)


class DepartmentRole(models.TextChoices):
    EDITOR = "editor", _("編集者")
    VIEWER = "viewer", _("閲覧者")


class DepartmentMembership(models.Model):
    """A user's role in a department: editors enter progress, viewers read drafts."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="department_memberships"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(_("役割"), max_length=10, choices=DepartmentRole.choices)

    history = tracked()

    class Meta:
        verbose_name = _("部局メンバー")
        verbose_name_plural = _("部局メンバー")
        ordering = ["department", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=DepartmentRole.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} / {self.department} ({self.get_role_display()})"


class SecretariatMembership(models.Model):
    """A member of a plan's secretariat (DX戦略本部事務局): manages and reviews the plan."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secretariat_memberships"
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, related_name="secretariat", verbose_name=_("計画")
    )

    history = tracked()

    class Meta:
        verbose_name = _("事務局メンバー")
        verbose_name_plural = _("事務局メンバー")
        ordering = ["plan", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "plan"], name="secretariat_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} / {self.plan}"


class ApiKeyRole(models.TextChoices):
    """What an API key may do within its plan: what a user of the same role may."""

    SECRETARIAT = "secretariat", _("事務局")
    EDITOR = "editor", _("編集者")
    VIEWER = "viewer", _("閲覧者")
    READER = "reader", _("公開情報の閲覧")


# The roles of a key that may be bound to one department (unbound: every department).
API_KEY_DEPARTMENT_ROLES = (ApiKeyRole.EDITOR, ApiKeyRole.VIEWER)


def api_key_cache_name(prefix: str) -> str:
    """The cache entry of a resolved key (``access.api_key_from_cache``)."""
    return f"api-key:{prefix}"


def forget_api_keys(prefixes: list[str]) -> None:
    """Drop the keys' cached resolutions, now and once the transaction commits; until
    ``API_KEY_CACHE_SECONDS`` have passed, a marker left in their place stops a request that
    read a key before the change from caching it again."""

    def forget() -> None:
        timeout = max(settings.API_KEY_CACHE_SECONDS, 1)
        cache.set_many({api_key_cache_name(prefix): FORGOTTEN for prefix in prefixes}, timeout)

    if prefixes:
        forget()
        transaction.on_commit(forget)


# The value a changed key's cache entry holds (see ``forget_api_keys``).
FORGOTTEN = "forgotten"


class ApiKeyQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """An update (a bulk revocation) clears the keys' cached resolutions too."""
        prefixes = list(self.values_list("prefix", flat=True))
        count = super().update(**kwargs)
        forget_api_keys(prefixes)
        return count


class ApiKey(AbstractAPIKey):
    """A key for another government system, within one plan, with a role: the plan's
    secretariat, a department's editor or viewer (bound to one department, or unbound: every
    department of the plan), or a reader of what the public reads.

    A resolved key is cached (``access.api_key_from_cache``); every change to a key (saved,
    updated in bulk, deleted, also by cascade) clears it at once."""

    objects = APIKeyManager.from_queryset(ApiKeyQuerySet)()

    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("計画")
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        verbose_name=_("部局"),
        help_text=_("編集者・閲覧者のみ。空欄なら計画のすべての部局"),
    )
    role = models.CharField(
        _("役割"), max_length=12, choices=ApiKeyRole.choices, default=ApiKeyRole.READER
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("APIキー")
        verbose_name_plural = _("APIキー")
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=ApiKeyRole.values), name="api_key_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(department__isnull=True) | Q(role__in=API_KEY_DEPARTMENT_ROLES),
                name="api_key_department_only_for_editor_or_viewer",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.department_id is None:
            return
        if self.role not in API_KEY_DEPARTMENT_ROLES:
            raise ValidationError(
                {"department": _("Only an editor or viewer key may be bound to a department.")}
            )
        if self.plan_id is not None and self.department.plan_id != self.plan_id:
            raise ValidationError({"department": _("The department belongs to another plan.")})


@receiver([models.signals.post_save, models.signals.post_delete], sender=ApiKey)
def _forget_changed_api_key(sender, instance: ApiKey, created: bool = False, **kwargs) -> None:
    if not created:  # a new key has nothing cached
        forget_api_keys([instance.prefix])
