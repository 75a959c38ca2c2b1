"""Webhooks: a plan's secretariat subscribes a URL to the plan's events (``events``); each
event is delivered to every active subscription that wants its kind, signed, retried until
the receiver answers 2xx, by jobs on the queue (``dxapi.jobs``), never inside a request.

Signing follows Standard Webhooks: headers ``webhook-id`` (the same at every attempt and
redelivery of an event to a subscription), ``webhook-timestamp`` (unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the
subscription's secret ``whsec_<base64>``. The secret is shown once, when the subscription is
made or its secret rotated. It is not stored: it is derived (HMAC-SHA256) from a random salt
kept in the row and the server's ``WEBHOOK_SECRET_KEY`` (default: ``SECRET_KEY``), so that a
copy of the database alone does not give the secrets away. Changing that key changes every
secret: rotate them all then.

Delivery is crash-safe because the database, not the queue, holds what is owed:

- an event records whether its deliveries were made (``dispatched``); the dispatcher
  (queued when an event commits) makes them, one per matching active subscription;
- a delivery is claimed for ``WEBHOOK_LEASE_SECONDS`` before it is sent (a conditional
  update: one sender at a time); a sender that dies leaves the claim to expire, and the
  periodic sweep (``CELERY_BEAT_SCHEDULE``) sends it again, with the same ``webhook-id``;
- a failure (connection error, timeout, non-2xx) sets the next attempt after an exponential
  backoff with jitter, capped; after ``WEBHOOK_MAX_ATTEMPTS`` the delivery has failed (the
  secretariat may redeliver it). In process (no broker) the retry is timed by a timer;
  with workers, the sweep sends what is due;
- each delivery records when it was last queued (``queued_at``): the sweep queues again only
  what is due and not queued, or was queued more than ``WEBHOOK_REQUEUE_SECONDS`` ago (the
  job was lost), so that a backlog of queued jobs is not queued twice.

A subscription whose deliveries keep failing (``WEBHOOK_PAUSE_AFTER_FAILURES`` failed
attempts in a row, the first at least ``WEBHOOK_PAUSE_AFTER_SECONDS`` ago) is paused:
``subscription_paused`` is sent (``on_subscription_paused``) so that the secretariat can be
told, and the subscription records when and why.

Targets: ``http``/``https`` only, no credentials in the URL, and no private, loopback,
link-local, multicast, reserved or unspecified address — checked when the URL is saved and
again at each delivery on the addresses the name resolves to then, and the request goes to
the address checked (no second lookup). ``WEBHOOK_ALLOW_PRIVATE_TARGETS=1`` allows private,
loopback and link-local addresses (a prefecture's own systems are often on private networks);
cloud metadata addresses stay refused. Redirects are not followed.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from dxapi.jobs import enqueue, in_process
from evaluations import policy
from evaluations.models import (
    DeliveryState,
    Event,
    EventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from initiatives.access import Actor
from initiatives.models import Plan

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
EXCERPT_BYTES = 500
DISPATCH_BATCH = 1000
SWEEP_BATCH = 5000
USER_AGENT = "dxapi-webhooks/1"
# Cloud metadata services: refused even where private targets are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)

# Sent when a subscription is paused after its deliveries kept failing (``subscription``).
subscription_paused = Signal()


# --- Secrets and signatures -------------------------------------------------------------


def _secret_key() -> bytes:
    return (settings.WEBHOOK_SECRET_KEY or settings.SECRET_KEY).encode()


def new_salt() -> str:
    return secrets.token_hex(32)


def secret_of(subscription: WebhookSubscription) -> str:
    """The subscription's signing secret, ``whsec_`` and 32 bytes in base64."""
    raw = hmac.new(_secret_key(), f"webhook-secret:{subscription.secret_salt}".encode(), "sha256")
    return SECRET_PREFIX + base64.b64encode(raw.digest()).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value of a Standard Webhooks message."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def body_of(event: Event) -> bytes:
    """What a delivery posts: the event's kind, time and data (its payload and id)."""
    message = {
        "type": event.kind,
        "timestamp": event.created_at.isoformat(),
        "data": {"event_id": event.pk, **event.payload},
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


# --- Targets --------------------------------------------------------------------------------


class TargetRefused(ValidationError):
    """A webhook URL that may not be called (400 on ``url`` when saved)."""


def _refused(message: str) -> TargetRefused:
    return TargetRefused({"url": [message]})


def _address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return True
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return True
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return False
    return not address.is_global or address.is_loopback or address.is_link_local


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the URL (a name or an address)
    port: int
    address: str  # the checked address the request goes to


def _parts(url: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _refused(_("Only http and https URLs are allowed."))
    if parts.username is not None or parts.password is not None:
        raise _refused(_("Leave credentials out of the URL."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _refused(_("The port is not a valid number.")) from None
    if not parts.hostname:
        raise _refused(_("The URL has no host."))
    return parts, port


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (tests replace it to pose as DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_target(url: str) -> Target:
    """Where a delivery to ``url`` goes, once every address it names is allowed; else
    ``TargetRefused``."""
    parts, port = _parts(url)
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise _refused(_("The host name does not resolve.")) from None
    if not addresses:
        raise _refused(_("The host name does not resolve."))
    for address in addresses:
        if _address_refused(ipaddress.ip_address(address.split("%")[0])):
            raise _refused(
                _(
                    "The URL leads to an address that is not allowed (%(address)s): private, "
                    "loopback, link-local, multicast, reserved and cloud metadata addresses "
                    "are refused."
                )
                % {"address": address}
            )
    return Target(parts.scheme, host, port, addresses[0])


def validate_url(url: str) -> None:
    """The check of a URL being saved (the same as at delivery)."""
    if len(url) > WebhookSubscription._meta.get_field("url").max_length:
        raise _refused(_("The URL is too long."))
    check_target(url)


def validate_kinds(kinds: Any) -> list[str]:
    if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
        raise ValidationError({"kinds": [_("Give a list of event kinds.")]})
    unknown = sorted(set(kinds) - set(EventKind.values))
    if unknown:
        raise ValidationError(
            {"kinds": [_("Unknown event kinds: %(kinds)s.") % {"kinds": ", ".join(unknown)}]}
        )
    return sorted(set(kinds))


# --- Subscriptions: what the secretariat does -------------------------------------------


@transaction.atomic
def subscription_create(
    *, actor: Actor, plan: Plan, url: str, kinds: list[str], description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (shown this once)."""
    policy.require_secretariat(actor, plan.pk)
    kinds = validate_kinds(kinds)
    validate_url(url)
    subscription = WebhookSubscription(
        plan=plan,
        url=url,
        kinds=kinds,
        description=description,
        secret_salt=new_salt(),
        created_by=actor.user if actor.api_key is None else None,
        created_by_key=actor.api_key,
    )
    subscription.full_clean()
    subscription.save()
    return subscription, secret_of(subscription)


@transaction.atomic
def subscription_update(
    *, actor: Actor, subscription: WebhookSubscription, data: dict[str, Any]
) -> WebhookSubscription:
    """Change the URL, kinds, description, or ``is_active`` (pause, or resume: the failure
    count starts again and what was owed is sent)."""
    policy.require_secretariat(actor, subscription.plan_id)
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    if "kinds" in data:
        subscription.kinds = validate_kinds(data["kinds"])
    if "url" in data:
        validate_url(data["url"])
        subscription.url = data["url"]
    if "description" in data:
        subscription.description = data["description"]
    resumed = False
    if "is_active" in data and bool(data["is_active"]) != subscription.is_active:
        subscription.is_active = bool(data["is_active"])
        resumed = subscription.is_active
        if resumed:
            subscription.failure_count, subscription.failing_since = 0, None
            subscription.paused_at, subscription.paused_reason = None, ""
    subscription.full_clean()
    subscription.save()
    if resumed:  # what was owed goes at the next sweep, queued now
        subscription.deliveries.filter(state=DeliveryState.PENDING).update(queued_at=None)
        _queue_sweep()
    return subscription


@transaction.atomic
def subscription_delete(*, actor: Actor, subscription: WebhookSubscription) -> None:
    policy.require_secretariat(actor, subscription.plan_id)
    subscription.delete()


@transaction.atomic
def secret_rotate(*, actor: Actor, subscription: WebhookSubscription) -> str:
    """A new secret, shown this once; the old one no longer signs anything."""
    policy.require_secretariat(actor, subscription.plan_id)
    subscription.secret_salt = new_salt()
    subscription.save(update_fields=["secret_salt", "updated_at"])
    return secret_of(subscription)


class DeliveryConflict(policy.WorkflowConflict):
    """A delivery that cannot be sent again now (409)."""


@transaction.atomic
def delivery_redeliver(*, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the delivery again (same ``webhook-id``), with a fresh count of attempts."""
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("subscription")
        .get(pk=delivery.pk)
    )
    policy.require_secretariat(actor, delivery.subscription.plan_id)
    if not delivery.subscription.is_active:
        raise DeliveryConflict(
            _("The webhook is paused: resume it first."),
            current_state="paused",
            state_label=_("停止中"),
        )
    if delivery.state == DeliveryState.PENDING and delivery.attempts == 0:
        return delivery  # not sent yet: it is on its way
    delivery.state = DeliveryState.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = delivery.queued_at = timezone.now()
    delivery.locked_until = None
    delivery.save(
        update_fields=["state", "attempts", "next_attempt_at", "locked_until", "queued_at"]
    )
    _queue_delivery(delivery.pk)
    return delivery


# --- Dispatching events into deliveries ---------------------------------------------------


def _queue_delivery(delivery_id: int) -> None:
    from evaluations.tasks import deliver_webhook

    enqueue(deliver_webhook, delivery_id)


def _queue_sweep() -> None:
    from evaluations.tasks import sweep_webhooks

    enqueue(sweep_webhooks)


def _wants(subscription: WebhookSubscription, kind: str) -> bool:
    return not subscription.kinds or kind in subscription.kinds


def dispatch(limit: int = DISPATCH_BATCH) -> tuple[int, list[int]]:
    """Make the deliveries of up to ``limit`` events not dispatched yet (oldest first), one
    per active subscription of its plan that wants its kind: how many events were taken, and
    the new deliveries' ids. Concurrent dispatchers take different events (the rows are
    locked, and skipped by the others)."""
    with transaction.atomic():
        pending = Event.objects.filter(dispatched=False).order_by("id")
        pending = pending.select_for_update(skip_locked=True)
        events = list(pending.only("id", "plan_id", "kind")[:limit])
        if not events:
            return 0, []
        subscriptions: dict[int, list[WebhookSubscription]] = {}
        active = WebhookSubscription.objects.filter(
            plan_id__in={event.plan_id for event in events}, is_active=True
        )
        for subscription in active.only("id", "plan_id", "kinds"):
            subscriptions.setdefault(subscription.plan_id, []).append(subscription)
        now = timezone.now()
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    subscription_id=subscription.pk,
                    event_id=event.pk,
                    webhook_id=f"msg_{secrets.token_hex(16)}",
                    next_attempt_at=now,
                    queued_at=now,  # by ``dispatch_all``, once this commits
                    created_at=now,
                )
                for event in events
                for subscription in subscriptions.get(event.plan_id, [])
                if _wants(subscription, event.kind)
            ],
            batch_size=2000,
        )
        Event.objects.filter(pk__in=[event.pk for event in events]).update(dispatched=True)
    return len(events), [delivery.pk for delivery in deliveries]


def dispatch_all() -> int:
    """Dispatch every event not dispatched yet and queue the new deliveries; how many."""
    queued = 0
    while True:
        taken, ids = dispatch()
        for delivery_id in ids:
            _queue_delivery(delivery_id)
        queued += len(ids)
        if taken < DISPATCH_BATCH:
            return queued


def sweep() -> int:
    """The periodic catch-up: events not dispatched (a dispatcher that died or was never
    queued), and deliveries due (retries, and claims that expired: their sender died); the
    number of deliveries queued."""
    queued = dispatch_all()
    now = timezone.now()
    lost = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)
    not_queued_since = Q(queued_at__isnull=True) | Q(queued_at__lt=F("locked_until"))
    due = list(
        WebhookDelivery.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lte=now, subscription__is_active=True
        )
        .filter(
            # Its sender died holding it (the claim expired), not queued again since.
            Q(locked_until__lt=now) & not_queued_since
            # Due and not queued (a retry), or queued so long ago that the job was lost; a
            # backlog of queued jobs is not queued again.
            | Q(locked_until__isnull=True) & (Q(queued_at__isnull=True) | Q(queued_at__lt=lost))
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    WebhookDelivery.objects.filter(pk__in=due).update(queued_at=now)
    for delivery_id in due:
        _queue_delivery(delivery_id)
    return queued + len(due)


# --- Sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    excerpt: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_clients = threading.local()
MAX_CLIENTS = 32


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(
        settings.WEBHOOK_READ_TIMEOUT_SECONDS,
        connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        pool=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
    )


def _client(target: Target) -> httpx.Client:
    """This thread's client for the target: connections are kept alive per host name and
    address, never shared between host names (TLS is checked against the name). No proxy
    from the environment (it would reach an address that was not checked)."""
    clients: dict[Target, httpx.Client] | None = getattr(_clients, "by_target", None)
    if clients is None:
        clients = _clients.by_target = {}
    client = clients.get(target)
    if client is None:
        if len(clients) >= MAX_CLIENTS:
            for old in clients.values():
                old.close()
            clients.clear()
        client = clients[target] = httpx.Client(follow_redirects=False, trust_env=False)
    return client


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _request_url(target: Target, url: str) -> str:
    """``url`` with the checked address in place of the host name."""
    parts = urlsplit(url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    netloc = f"{address}:{target.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def send(url: str, secret: str, webhook_id: str, body: bytes) -> Outcome:
    """POST one signed message to ``url`` (checked again now), without following redirects;
    how it went."""
    started = time.monotonic()
    try:
        target = check_target(url)
    except TargetRefused as refusal:
        return Outcome(None, "; ".join(refusal.messages), "", 0)
    timestamp = int(time.time())
    headers = {
        "host": urlsplit(url).netloc,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }
    extensions = {}
    if target.scheme == "https" and not _is_address(target.host):
        extensions["sni_hostname"] = target.host
    status, error, excerpt = None, "", b""
    try:
        with _client(target).stream(
            "POST",
            _request_url(target, url),
            content=body,
            headers=headers,
            timeout=_timeout(),
            extensions=extensions,
        ) as response:
            status = response.status_code
            for chunk in response.iter_raw():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
    except httpx.TimeoutException as timeout:
        error = f"timeout ({type(timeout).__name__})"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")
    if status is not None and not 200 <= status < 300 and not error:
        error = f"HTTP {status}"
    return Outcome(status, error, text, duration_ms)


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: the base doubled at
    each, capped, and a random 50–100 % of that (jitter: retries of many deliveries that
    failed together spread out)."""
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(max(attempts - 1, 0), 30)
    return min(settings.WEBHOOK_RETRY_MAX_SECONDS, delay) * random.uniform(0.5, 1.0)


def _start_timer(seconds: float, delivery_id: int) -> None:
    timer = threading.Timer(seconds, _queue_delivery, args=(delivery_id,))
    timer.daemon = True
    timer.start()


# In process, how a retry is timed (tests replace it); with workers the sweep sends it.
schedule_retry = _start_timer


def deliver(delivery_id: int) -> str | None:
    """Send one delivery if it is due and no other sender holds it: its state after the
    attempt, or ``None`` when it was not sent (not due, held, done, or paused)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription", "event").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.is_active:  # paused since it was queued: kept for the resumption
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            locked_until=None, attempts=F("attempts") - 1
        )
        return None
    outcome = send(
        subscription.url, secret_of(subscription), delivery.webhook_id, body_of(delivery.event)
    )
    return _record(delivery, outcome)


def _record(delivery: WebhookDelivery, outcome: Outcome) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {
        "locked_until": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:500],
    }
    retry_in = None
    if outcome.ok:
        fields |= {"state": DeliveryState.SUCCEEDED, "delivered_at": now}
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields["state"] = DeliveryState.FAILED
    else:
        retry_in = backoff(delivery.attempts)
        fields["next_attempt_at"] = now + timedelta(seconds=retry_in)
        # In process a timer queues the retry when it is due; with workers, the sweep.
        fields["queued_at"] = fields["next_attempt_at"] if in_process() else None
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error[:500],
            response_excerpt=outcome.excerpt[:EXCERPT_BYTES],
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        paused = _count(delivery.subscription, ok=outcome.ok, now=now)
    if paused is not None:
        on_subscription_paused(paused)
    elif retry_in is not None and in_process():
        schedule_retry(retry_in, delivery.pk)
    return fields.get("state", DeliveryState.PENDING)


def _count(subscription: WebhookSubscription, *, ok: bool, now) -> WebhookSubscription | None:
    """Count the subscription's failed attempts in a row (a success ends the run); pause it
    when the run is long enough, in number and in time: the paused subscription then."""
    rows = WebhookSubscription.objects.filter(pk=subscription.pk)
    if ok:
        if subscription.failure_count:  # as read with the delivery: no write in a good run
            rows.filter(failure_count__gt=0).update(failure_count=0, failing_since=None)
        return None
    rows.update(
        failure_count=F("failure_count") + 1,
        failing_since=Coalesce("failing_since", Value(now, output_field=DateTimeField())),
    )
    since = now - timedelta(seconds=settings.WEBHOOK_PAUSE_AFTER_SECONDS)
    count = settings.WEBHOOK_PAUSE_AFTER_FAILURES
    reason = _("Paused after %(count)s failed delivery attempts in a row.") % {"count": count}
    paused = rows.filter(is_active=True, failure_count__gte=count, failing_since__lte=since).update(
        is_active=False, paused_at=now, paused_reason=reason
    )
    return WebhookSubscription.objects.get(pk=subscription.pk) if paused else None


def on_subscription_paused(subscription: WebhookSubscription) -> None:
    """A subscription was paused because its deliveries kept failing: sends
    ``subscription_paused`` (``sender=WebhookSubscription, subscription=…``) so that the
    plan's secretariat can be told. Called once per pause, after it was saved; the
    subscription keeps ``paused_at`` and ``paused_reason`` for notifications sent later."""
    logger.warning(
        "webhook %s of plan %s paused: %s",
        subscription.pk,
        subscription.plan_id,
        subscription.paused_reason,
    )
    subscription_paused.send(sender=WebhookSubscription, subscription=subscription)
