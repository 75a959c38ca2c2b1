"""Forms and words of the yearly cycle's admin pages: the version a form was loaded at, the
workflow steps and their Japanese messages, round opening, the sheet import."""

from dataclasses import dataclass

from django import forms
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError

from dxapi.errors import StateConflict
from evaluations.models import (
    EVALUATION_EDITABLE_FIELDS,
    Evaluation,
    EvaluationStatus,
    KPIActual,
    Round,
    RoundStatus,
)
from evaluations.policy import Action
from evaluations.services import evaluation_changes_validate, kpi_actual_validate
from initiatives.fiscal_years import long_label, parse_fiscal_year


def _state_label(state: str, error: StateConflict) -> str:
    shown = getattr(error, "state_label", None)
    if shown:
        return str(shown)
    for choices in (RoundStatus, EvaluationStatus):
        if state in choices.values:
            return str(choices(state).label)
    return state


def conflict_text(
    error: StateConflict,
    verb: str,
    *,
    record: Evaluation | Round | None = None,
    action: Action | None = None,
) -> str:
    """A ``WorkflowConflict`` (409) in Japanese, naming the state that refuses ``verb``: the
    evaluation's, or its round's (with the year). When the state itself allows the action
    (e.g. publishing a closed round whose evaluations are not all approved), the service's
    own reason."""
    state = error.current_state
    label = _state_label(state, error)
    if isinstance(record, Round) and action == Action.PUBLISH and state == RoundStatus.CLOSED:
        return f"{verb}できませんでした: {error!s}"
    if state in EvaluationStatus.values:
        return f"評価が「{label}」のため、{verb}できません。"
    if state in RoundStatus.values:
        round_ = record if isinstance(record, Round) else getattr(record, "round", None)
        year = f"{long_label(round_.fiscal_year)}の" if round_ is not None else ""
        return f"{year}ラウンドが「{label}」のため、{verb}できません。"
    return f"{verb}できませんでした: {error!s}"


# --- Workflow steps -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A workflow action as the admin offers it: button label, verb of its messages, and the
    text it asks for (comment or reason)."""

    action: Action
    label: str
    text_label: str = ""
    text_required: bool = False

    @property
    def verb(self) -> str:
        return self.label


EVALUATION_STEPS: dict[Action, Step] = {
    Action.SUBMIT: Step(Action.SUBMIT, "提出"),
    Action.RETURN: Step(Action.RETURN, "差戻し", "差戻しの理由（コメント）", True),
    Action.APPROVE: Step(Action.APPROVE, "承認"),
    Action.REOPEN: Step(Action.REOPEN, "承認取消", "承認を取り消す理由", True),
}
ROUND_STEPS: dict[Action, Step] = {
    Action.CLOSE: Step(Action.CLOSE, "締切"),
    Action.REOPEN: Step(Action.REOPEN, "再開", "再開する理由（公表済のラウンドでは必須）"),
    Action.PUBLISH: Step(Action.PUBLISH, "公表"),
}


class WorkflowActionForm(helpers.ActionForm):
    """The changelist's action bar, with the comment or reason that 差戻し, 承認取消 and the
    reopening of a published round need."""

    comment = forms.CharField(
        label="コメント・理由",
        required=False,
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "差戻し・承認取消・再開の理由"}),
    )


# --- The version a form was loaded at -------------------------------------------------------


class VersionedForm(forms.ModelForm):
    """Carries the version of the record the form was made from (hidden), so that saving a
    form someone else has overtaken is refused (``StaleVersion``) instead of overwriting."""

    loaded_version = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=1, label="読み込んだ版"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["loaded_version"].initial = self.instance.version

    @property
    def expected_version(self) -> int | None:
        return self.cleaned_data.get("loaded_version")


class EvaluationForm(VersionedForm):
    class Meta:
        model = Evaluation
        fields = (
            "round",
            "initiative",
            *EVALUATION_EDITABLE_FIELDS,
            "note",
            "status",
            "review_comment",
            "submitted_by",
            "submitted_at",
            "approved_by",
            "approved_at",
        )

    def clean(self):
        cleaned = super().clean()
        # The services' own check of each value, shown on its field before anything is saved.
        changed = {
            name: cleaned[name]
            for name in EVALUATION_EDITABLE_FIELDS
            if name in self.changed_data and name in cleaned
        }
        try:
            evaluation_changes_validate(changed)
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                for message in field_errors:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned


class KPIActualForm(VersionedForm):
    """A KPI actual; its KPI and evaluation are fixed once it exists."""

    class Meta:
        model = KPIActual
        fields = ("evaluation", "kpi", "value", "as_of", "note")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None and "kpi" in self.changed_data:
            self.add_error(
                "kpi", "既存の実績の指標は変更できません。削除してから追加してください。"
            )
            return cleaned
        # The services' own check, shown on the row before anything is saved.
        kpi = cleaned.get("kpi") or (self.instance.kpi if self.instance.kpi_id else None)
        evaluation = cleaned.get("evaluation") or (
            self.instance.evaluation if self.instance.evaluation_id else None
        )
        if kpi is not None and evaluation is not None and cleaned.get("value") is not None:
            try:
                kpi_actual_validate(
                    kpi,
                    evaluation,
                    cleaned.get("value"),
                    cleaned.get("as_of"),
                    cleaned.get("note", ""),
                )
            except ValidationError as error:
                for field, field_errors in error.message_dict.items():
                    for message in field_errors:
                        name = field if field in self.fields else None
                        self.add_error(name, message)
        return cleaned


# --- Opening a round ------------------------------------------------------------------------


class FiscalYearField(forms.CharField):
    """A fiscal year as people write it: R7, 2025 or 令和7年度."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("help_text", "例: R7、2025、令和7年度")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return long_label(value) if isinstance(value, int) else value

    def to_python(self, value) -> int | None:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_fiscal_year(value)
        except ValueError:
            raise ValidationError("年度は R7、2025、令和7年度 のように入力してください。") from None


class RoundOpenForm(forms.ModelForm):
    fiscal_year = FiscalYearField(label="年度")

    class Meta:
        model = Round
        fields = ("plan", "fiscal_year")


# --- The sheet import -----------------------------------------------------------------------


class ImportForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=None, label="計画")
    fiscal_year = FiscalYearField(label="年度")
    file = forms.FileField(
        label="ファイル",
        required=False,
        help_text="記入した様式（XLSX、または UTF-8・Shift_JIS の CSV）",
    )
    stored = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, plans, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans
        if plans.count() == 1:
            self.fields["plan"].initial = plans.first()


class TemplateForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=None, label="計画")
    fiscal_year = FiscalYearField(label="年度")
    department = forms.ModelChoiceField(queryset=None, label="部局", required=False)
    file_format = forms.ChoiceField(
        label="形式", choices=[("xlsx", "Excel（XLSX）"), ("csv", "CSV（UTF-8）")]
    )

    def __init__(self, *args, plans, departments, all_departments: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans
        if plans.count() == 1:
            self.fields["plan"].initial = plans.first()
        department = self.fields["department"]
        department.queryset = departments
        department.required = not all_departments
        department.empty_label = "全部局" if all_departments else "部局を選んでください"

    def clean(self):
        cleaned = super().clean()
        plan, department = cleaned.get("plan"), cleaned.get("department")
        if plan and department and department.plan_id != plan.pk:
            self.add_error("department", "別の計画の部局です。")
        return cleaned
