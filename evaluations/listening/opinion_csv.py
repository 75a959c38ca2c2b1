"""Opinions from a CSV file (a form tool's export, saved from Excel or not): its columns by
their Japanese or English headings, each row as an ``OpinionDraft`` with its own errors."""

import csv
import io
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from evaluations import policy
from evaluations.exchange.sheets import SheetError, decode_csv
from evaluations.listening.intake import OpinionDraft, opinions_import
from evaluations.models import AgeBand, Opinion
from initiatives.access import Actor
from initiatives.models import Initiative, Plan

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_COLUMNS = 50

# Each column: the headings it is known by (first: the one the template uses).
COLUMNS = {
    "body": ("意見", "ご意見", "本文", "body", "opinion", "text"),
    "initiative": ("取組番号", "initiative", "initiative_number"),
    "age_band": ("年代", "age_band"),
    "municipality": ("市町村", "お住まいの市町村", "municipality"),
    "consent_to_publish": ("公開への同意", "consent_to_publish", "consent"),
    "submitted_at": ("受付日時", "回答日時", "タイムスタンプ", "submitted_at", "timestamp"),
}
_BY_HEADING = {heading.casefold(): key for key, names in COLUMNS.items() for heading in names}
# A form tool heads a column with its question ("DX推進計画へのご意見をお書きください"): a
# heading that is none of the above is read by the first of these words it contains.
_BY_WORD = (
    ("取組番号", "initiative"),
    ("同意", "consent_to_publish"),
    ("年代", "age_band"),
    ("年齢", "age_band"),
    ("市町村", "municipality"),
    ("お住まい", "municipality"),
    ("タイムスタンプ", "submitted_at"),
    ("意見", "body"),
)


def column_of(heading: str) -> str | None:
    """The column a heading names, or None (the column is ignored)."""
    heading = heading.strip().casefold()
    if heading in _BY_HEADING:
        return _BY_HEADING[heading]
    return next((key for word, key in _BY_WORD if word in heading), None)


_YES = {"はい", "同意する", "同意します", "可", "yes", "y", "true", "1", "○"}
_NO = {"", "いいえ", "同意しない", "同意しません", "不可", "no", "n", "false", "0", "×"}
_AGE_BY_TEXT = {
    **{str(label): value for value, label in AgeBand.choices},
    **{value: value for value in AgeBand.values},
    "10代": AgeBand.UNDER_20,
    "70代": AgeBand.OVER_70,
    "80代": AgeBand.OVER_70,
    "80代以上": AgeBand.OVER_70,
    "90代": AgeBand.OVER_70,
}
_DATE_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")


def template_csv() -> bytes:
    """An empty file with the headings, UTF-8 with a BOM so that Excel reads it as such."""
    return ("\ufeff" + ",".join(names[0] for names in COLUMNS.values()) + "\r\n").encode()


def _timestamp(text: str) -> datetime | None:
    parsed = parse_datetime(text.replace("/", "-")) if "T" in text else None
    if parsed is None:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(text)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    if parsed > timezone.now():
        raise ValueError(text)
    return parsed


def _draft(cells: dict[str, str], initiatives: dict[str, Initiative]) -> OpinionDraft:
    draft = OpinionDraft(body=cells.get("body", ""))
    number = cells.get("initiative", "").strip()
    if number:
        draft.initiative = initiatives.get(number.lstrip("0") or "0")
        if draft.initiative is None:
            draft.errors["initiative"] = _("No initiative number “%(value)s” in this plan.") % {
                "value": number
            }
    age = cells.get("age_band", "").strip()
    if age:
        draft.age_band = _AGE_BY_TEXT.get(age, "")
        if not draft.age_band:
            draft.errors["age_band"] = _("No age band “%(value)s”.") % {"value": age}
    draft.municipality = cells.get("municipality", "").strip()
    consent = cells.get("consent_to_publish", "").strip().casefold()
    if consent in _YES:
        draft.consent_to_publish = True
    elif consent not in _NO:
        draft.errors["consent_to_publish"] = _("Write consent as はい (yes) or いいえ (no).")
    submitted = cells.get("submitted_at", "").strip()
    if submitted:
        try:
            draft.submitted_at = _timestamp(submitted)
        except ValueError:
            draft.errors["submitted_at"] = _(
                "Cannot read the date “%(value)s” (e.g. 2026/11/30 10:00)."
            ) % {"value": submitted}
    return draft


def require_size(size: int) -> None:
    """A file of at most ``MAX_BYTES`` (checked on the upload's size, before it is read)."""
    if size > MAX_BYTES:
        raise ValidationError(
            {"file": _("The file is too large (at most %(max)d MB).") % {"max": MAX_BYTES >> 20}}
        )


def read_opinions_csv(data: bytes, plan: Plan) -> tuple[list[OpinionDraft], list[str]]:
    """The drafts of a CSV file's rows (blank rows left out) and the headings it ignored;
    ``ValidationError`` when the file itself cannot be read."""
    require_size(len(data))
    try:
        text = decode_csv(data)
    except SheetError as error:
        raise ValidationError({"file": str(error)}) from error
    if "\x00" in text:
        raise ValidationError({"file": _("The file cannot be read as CSV.")})
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as error:
        raise ValidationError({"file": _("The file is empty.")}) from error
    if len(header) > MAX_COLUMNS:
        raise ValidationError(
            {"file": _("Too many columns (at most %(max)d).") % {"max": MAX_COLUMNS}}
        )
    keys = [column_of(heading) for heading in header]
    for key in set(keys) - {None}:
        if keys.count(key) > 1:  # two columns read as one: keep the first, ignore the others
            keys = [k if k != key or i == keys.index(key) else None for i, k in enumerate(keys)]
    if "body" not in keys:
        raise ValidationError(
            {"file": _("No 意見 (opinion) column: write the headings in the first row.")}
        )
    ignored = [heading for heading, key in zip(header, keys, strict=True) if key is None]
    initiatives = {
        str(i.number): i
        for i in Initiative.objects.filter(plan=plan).select_related("policy_area__pillar")
    }
    drafts = []
    try:
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(drafts) >= MAX_ROWS:
                raise ValidationError(
                    {
                        "file": _("Too many rows (at most %(max)d): split the file.")
                        % {"max": MAX_ROWS}
                    }
                )
            row = {key: cell for key, cell in zip(keys, cells, strict=False) if key}
            draft = _draft(row, initiatives)
            draft.row = row_number
            drafts.append(draft)
    except csv.Error as error:
        raise ValidationError({"file": _("The file cannot be read as CSV.")}) from error
    if not drafts:
        raise ValidationError({"file": _("No opinion to import.")})
    return drafts, ignored


def import_file(*, actor: Actor, plan: Plan, data: bytes) -> tuple[list[Opinion], list[str]]:
    """Import a CSV file's opinions (the plan's secretariat, asked before the file is read):
    the opinions written and the headings ignored."""
    policy.require_secretariat(actor, plan.pk)
    drafts, ignored = read_opinions_csv(data, plan)
    return opinions_import(actor=actor, plan=plan, drafts=drafts), ignored


def import_summary(opinions: list[Opinion], ignored: list[str]) -> dict:
    """What an import answers (the API at once, or a job's result)."""
    return {
        "imported": len(opinions),
        "masked": sum(1 for opinion in opinions if opinion.personal_data),
        "ignored_columns": ignored,
    }


def is_large(data: bytes) -> bool:
    """Whether a file is imported by a job: masking its texts would hold the request long."""
    return (
        len(data) >= settings.OPINION_IMPORT_JOB_MIN_BYTES
        or data.count(b"\n") >= settings.OPINION_IMPORT_JOB_MIN_ROWS
    )
