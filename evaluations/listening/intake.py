"""Opinions in: sent by a citizen (one at a time) or imported by the secretariat (a CSV of a
form tool's answers), masked of personal data, checked against simple spam signs, and then
moderated and linked to an initiative by the secretariat. Every door writes through here."""

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from dxapi.versions import Precondition, claim_version
from evaluations import policy
from evaluations.listening.masking import mask
from evaluations.models import (
    OPINION_TEXT_LIMIT,
    AgeBand,
    Opinion,
    OpinionSource,
    OpinionStatus,
)
from initiatives.access import Actor
from initiatives.models import Initiative, Plan, PolicyArea

MIN_LENGTH = 5
MAX_LINKS = 2
MUNICIPALITY_LIMIT = 50
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)


@dataclass
class OpinionDraft:
    """What a sender gives, as read by a door (API, CSV row, admin form)."""

    body: str
    initiative: Initiative | None = None
    policy_area: PolicyArea | None = None
    age_band: str = ""
    municipality: str = ""
    consent_to_publish: bool = False
    submitted_at: datetime | None = None
    row: int | None = None  # its row in the sender's file (the heading is row 1)
    errors: dict[str, str] = field(default_factory=dict)


def body_digest(body: str) -> str:
    """The same opinion in half- or full-width, spaced otherwise, has the same digest."""
    normalized = "".join(unicodedata.normalize("NFKC", body).split())
    return hashlib.sha256(normalized.encode()).hexdigest()


def sender_digest(sender: str) -> str:
    """A keyed digest of who sent it (client address or user): enough to tell repeats from
    one sender, without keeping the address itself."""
    if not sender:
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), sender.encode(), hashlib.sha256).hexdigest()


def draft_errors(draft: OpinionDraft, plan: Plan) -> dict[str, str]:
    """Every problem of a draft, by field, in the caller's language; empty when it is valid."""
    errors: dict[str, str] = {}
    body = draft.body.strip()
    visible = "".join(ch for ch in body if not ch.isspace())
    if len(visible) < MIN_LENGTH:
        errors["body"] = _("Write at least %(min)d characters.") % {"min": MIN_LENGTH}
    elif len(body) > OPINION_TEXT_LIMIT:
        errors["body"] = _("Write at most %(max)d characters.") % {"max": OPINION_TEXT_LIMIT}
    elif len(_LINK.findall(body)) > MAX_LINKS:
        errors["body"] = _("At most %(max)d links.") % {"max": MAX_LINKS}
    elif "\x00" in body:
        errors["body"] = _("The text contains characters that cannot be used.")
    if draft.initiative is not None and draft.initiative.plan_id != plan.pk:
        errors["initiative"] = _("Not an initiative of this plan.")
    if draft.policy_area is not None and draft.policy_area.pillar.plan_id != plan.pk:
        errors["policy_area"] = _("Not a policy area of this plan.")
    elif (
        draft.initiative is not None
        and draft.policy_area is not None
        and draft.initiative.policy_area_id != draft.policy_area.pk
    ):
        errors["policy_area"] = _("The initiative chosen is not in this policy area.")
    if draft.age_band and draft.age_band not in AgeBand.values:
        errors["age_band"] = _("Choose an age band from the list.")
    if len(draft.municipality) > MUNICIPALITY_LIMIT:
        errors["municipality"] = _("Write the municipality in at most %(max)d characters.") % {
            "max": MUNICIPALITY_LIMIT
        }
    return errors


def _new_opinion(draft: OpinionDraft, plan: Plan, *, source: str, sender: str) -> Opinion:
    body = draft.body.strip()
    masked = mask(body)
    return Opinion(
        plan=plan,
        body=masked.text,
        original_body=body,
        personal_data=list(masked.kinds),
        initiative=draft.initiative,
        policy_area=draft.policy_area or (draft.initiative and draft.initiative.policy_area),
        age_band=draft.age_band,
        municipality=draft.municipality.strip(),
        consent_to_publish=draft.consent_to_publish,
        source=source,
        submitted_at=draft.submitted_at or timezone.now(),
        body_digest=body_digest(body),
        sender_digest=sender_digest(sender),
    )


def _is_repeat(opinion: Opinion) -> bool:
    """The same text to the same plan from the same sender within the duplicate window."""
    if not opinion.sender_digest:
        return False
    since = timezone.now() - timedelta(hours=settings.OPINION_DUPLICATE_HOURS)
    return Opinion.objects.filter(
        plan_id=opinion.plan_id,
        body_digest=opinion.body_digest,
        sender_digest=opinion.sender_digest,
        submitted_at__gte=since,
    ).exists()


@transaction.atomic
def opinion_submit(*, actor: Actor, plan: Plan, draft: OpinionDraft, sender: str) -> Opinion:
    """Receive one opinion from a person (``sender``: the client address, or the user)."""
    policy.require_may_send_opinion(actor)
    errors = draft_errors(draft, plan)
    if errors:
        raise ValidationError(errors)
    opinion = _new_opinion(draft, plan, source=OpinionSource.FORM, sender=sender)
    if _is_repeat(opinion):
        raise ValidationError({"body": _("The same opinion has already been received.")})
    opinion._change_reason = "received"
    opinion.save()
    return opinion


@transaction.atomic
def opinions_import(*, actor: Actor, plan: Plan, drafts: Iterable[OpinionDraft]) -> list[Opinion]:
    """Import opinions collected elsewhere (the secretariat only): every row is checked first,
    and nothing is written when any row has an error (``ValidationError`` naming
    ``rows.<row>.<field>``, the row as the file numbers it)."""
    policy.require_secretariat(actor, plan.pk)
    drafts = list(drafts)
    errors = {}
    for number, draft in enumerate(drafts, start=2):
        row_errors = {**draft.errors, **draft_errors(draft, plan)}
        for name, message in row_errors.items():
            errors[f"rows.{draft.row or number}.{name}"] = message
    if errors:
        raise ValidationError(errors)
    opinions = [_new_opinion(d, plan, source=OpinionSource.IMPORT, sender="") for d in drafts]
    return bulk_create_with_history(
        opinions,
        Opinion,
        batch_size=500,
        default_user=actor.user,
        default_change_reason="imported",
    )


def _save(opinion: Opinion, fields: list[str], reason: str, expected: Precondition | int | None):
    opinion.full_clean(validate_unique=False)
    claim_version(opinion, expected)
    opinion._change_reason = reason
    opinion.save(update_fields=[*fields, "version", "updated_at"])
    return opinion


def moderation_validate(status: str, hidden_reason: str) -> None:
    """A state from the list; a reason to hide."""
    if status not in OpinionStatus.values:
        raise ValidationError({"status": _("Choose a state from the list.")})
    if status == OpinionStatus.HIDDEN and not hidden_reason.strip():
        raise ValidationError({"hidden_reason": _("Write the reason for hiding it.")})


@transaction.atomic
def opinion_update(
    *,
    actor: Actor,
    opinion: Opinion,
    data: dict,
    expected_version: Precondition | int | None = None,
) -> Opinion:
    """The secretariat's changes to an opinion, in one transaction, each as its own version
    with its reason in the history: ``status`` (with ``hidden_reason``), ``body`` (the masked
    text corrected), ``confirmed_initiative``. Asked first, so that nobody else learns
    anything, even from an empty change."""
    policy.require_secretariat(actor, opinion.plan_id)
    if not data:
        raise ValidationError({"non_field_errors": _("Nothing to change.")})
    opinion = Opinion.objects.select_for_update().get(pk=opinion.pk)
    if "status" in data:
        _moderate(opinion, data["status"], data.get("hidden_reason", ""), expected_version)
        expected_version = opinion.version
    if "body" in data:
        _correct_masked_text(opinion, data["body"], expected_version)
        expected_version = opinion.version
    if "confirmed_initiative" in data:
        _confirm_initiative(opinion, data["confirmed_initiative"], expected_version)
    return opinion


def _moderate(opinion: Opinion, status: str, hidden_reason: str, expected) -> None:
    """Publish an opinion (its masked text may then be quoted, with the sender's consent),
    hide it with a reason (abuse, spam, personal data the masking missed), or take it back
    to received."""
    moderation_validate(status, hidden_reason)
    hidden_reason = hidden_reason.strip()
    opinion.status = status
    opinion.hidden_reason = hidden_reason if status == OpinionStatus.HIDDEN else ""
    reason = f"{status}: {hidden_reason}" if hidden_reason else status
    _save(opinion, ["status", "hidden_reason"], reason, expected)


def _correct_masked_text(opinion: Opinion, body: str, expected) -> None:
    """The masked text corrected (personal data the masking missed): masked again; the
    original stays as sent."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": _("The text cannot be empty.")})
    masked = mask(body)
    opinion.body = masked.text
    opinion.personal_data = sorted(set(opinion.personal_data) | set(masked.kinds))
    _save(opinion, ["body", "personal_data"], "masked text corrected", expected)


def _confirm_initiative(opinion: Opinion, initiative: Initiative | None, expected) -> None:
    """Which initiative the opinion is about (an analysis's suggestion, or another), or none:
    the initiative's departments then read it."""
    if initiative is not None and initiative.plan_id != opinion.plan_id:
        raise ValidationError({"initiative": _("Not an initiative of this plan.")})
    opinion.confirmed_initiative = initiative
    reason = f"initiative confirmed: {initiative.number}" if initiative else "initiative cleared"
    _save(opinion, ["confirmed_initiative"], reason, expected)
