"""Lab webhooks: endpoints, events, and sending deliveries with retries and a sweep."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from seal.errors import ApplicationError
from seal.models import Lab, WebhookDelivery, WebhookEndpoint
from seal.services.labs import endpoint_allow_list
from seal.task_names import WEBHOOK_DELIVERY_SEND
from seal.tasking import task_send_on_commit
from seal.webhooks import (
    TEST_EVENT_TYPE,
    WebhookPolicy,
    webhook_backoff_delay,
    webhook_body,
    webhook_post,
    webhook_secret_generate,
    webhook_url_problems,
)

logger = logging.getLogger(__name__)


# Sent in the `webhook-id` header: ASCII a header carries and a receiver can key on.
WEBHOOK_EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
WEBHOOK_EVENT_TYPES = frozenset(WebhookEndpoint.EventType.values)


class WebhookDeliveryRetry(Exception):
    """A delivery failed for a transient reason and is due again in `retry_in` seconds."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"due again in {retry_in:.1f} s")
        self.retry_in = retry_in


def webhook_policy() -> WebhookPolicy:
    """Timeout, attempts and backoff of webhook deliveries (SEAL_WEBHOOK_*)."""
    return WebhookPolicy(
        timeout=float(settings.SEAL_WEBHOOK_TIMEOUT_SECONDS),
        max_attempts=max(1, int(settings.SEAL_WEBHOOK_MAX_ATTEMPTS)),
        backoff_base=float(settings.SEAL_WEBHOOK_BACKOFF_BASE_SECONDS),
        backoff_max=float(settings.SEAL_WEBHOOK_BACKOFF_MAX_SECONDS),
    )


def _webhook_url_check(url: str) -> str:
    url = url.strip()
    problems = ["must be at most 500 characters"] if len(url) > 500 else []
    problems += webhook_url_problems(url, allow=endpoint_allow_list())
    if problems:
        raise ApplicationError("The webhook URL is refused.", field_errors={"url": problems})
    return url


def _webhook_event_types_check(event_types: Sequence[str]) -> list[str]:
    unknown = sorted({str(kind) for kind in event_types} - WEBHOOK_EVENT_TYPES)
    if unknown or not event_types:
        allowed = ", ".join(sorted(WEBHOOK_EVENT_TYPES))
        problem = f"unknown: {', '.join(unknown)}; " if unknown else "at least one is needed; "
        raise ApplicationError(
            "The event types are refused.",
            field_errors={"event_types": [f"{problem}choose from {allowed}"]},
        )
    return sorted(set(event_types))


def webhook_endpoint_create(
    *,
    lab: Lab,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """Register a webhook endpoint for the lab with a new signing secret (all events by default)."""
    url = _webhook_url_check(url)
    kinds = _webhook_event_types_check(
        sorted(WEBHOOK_EVENT_TYPES) if event_types is None else event_types
    )
    with transaction.atomic():
        # The lab row serialises concurrent registrations, so the cap holds.
        Lab.objects.select_for_update().filter(pk=lab.pk).first()
        limit = int(settings.SEAL_WEBHOOK_MAX_ENDPOINTS_PER_LAB)
        if WebhookEndpoint.objects.filter(lab=lab).count() >= limit:
            raise ApplicationError(f"A lab may register at most {limit} webhook endpoints.")
        return WebhookEndpoint.objects.create(
            lab=lab,
            url=url,
            event_types=kinds,
            description=description[:200],
            is_active=is_active,
            secret=webhook_secret_generate(),
        )


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or active flag (the secret stays)."""
    fields = ["updated_at"]
    if url is not None:
        endpoint.url = _webhook_url_check(url)
        fields.append("url")
    if event_types is not None:
        endpoint.event_types = _webhook_event_types_check(event_types)
        fields.append("event_types")
    if description is not None:
        endpoint.description = description[:200]
        fields.append("description")
    if is_active is not None:
        endpoint.is_active = is_active
        fields.append("is_active")
    with transaction.atomic():
        endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Give the endpoint a new signing secret; messages carry a signature with the old one too
    for SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS, so the receiver can switch without a gap."""
    overlap = timedelta(seconds=float(settings.SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS))
    with transaction.atomic():
        endpoint.previous_secret = endpoint.secret if overlap else ""
        endpoint.previous_secret_until = timezone.now() + overlap if overlap else None
        endpoint.secret = webhook_secret_generate()
        endpoint.save(
            update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"]
        )
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    with transaction.atomic():
        endpoint.delete()


def _webhook_payload_check(payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ApplicationError("A webhook payload must be a JSON object.")
    try:
        encoded = json.dumps(dict(payload), allow_nan=False, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"The webhook payload is not JSON: {exc}") from exc
    limit = int(settings.SEAL_WEBHOOK_MAX_PAYLOAD_BYTES)
    if len(encoded) > limit:
        raise ApplicationError(f"The webhook payload is larger than {limit} bytes.")
    data: dict[str, Any] = json.loads(encoded)
    return data


def _webhook_enqueue(delivery_id: int) -> None:
    task_send_on_commit(WEBHOOK_DELIVERY_SEND, delivery_id)


def webhook_event_emit(
    *, lab: Lab, event_type: str, event_id: str, payload: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """Record an event for each of the lab's active endpoints subscribed to it and send it after
    commit; an event id an endpoint already has is neither recorded nor sent again."""
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ApplicationError(f"Unknown webhook event type {event_type!r}.")
    if not WEBHOOK_EVENT_ID.fullmatch(event_id):
        raise ApplicationError(
            f"A webhook event id is 1-100 characters of A-Z a-z 0-9 _ . : -, not {event_id!r}."
        )
    data = _webhook_payload_check(payload)
    with transaction.atomic():
        endpoints = [
            endpoint
            for endpoint in WebhookEndpoint.objects.filter(lab=lab, is_active=True)
            if endpoint.subscribes_to(event_type)
        ]
        if not endpoints:
            return []
        known = set(
            WebhookDelivery.objects.filter(endpoint__in=endpoints, event_id=event_id).values_list(
                "endpoint_id", flat=True
            )
        )
        now = timezone.now()
        fresh = [endpoint.pk for endpoint in endpoints if endpoint.pk not in known]
        # The unique (endpoint, event id) constraint settles a race with a concurrent emit:
        # the row is written once and the other insert does nothing.
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    endpoint_id=endpoint_id,
                    event_id=event_id,
                    event_type=event_type,
                    payload=data,
                    next_attempt_at=now,
                )
                for endpoint_id in fresh
            ],
            ignore_conflicts=True,
        )
        created = list(
            WebhookDelivery.objects.filter(
                endpoint_id__in=fresh,
                event_id=event_id,
                status=WebhookDelivery.Status.PENDING,
                attempts=0,
            )
        )
        for delivery in created:
            _webhook_enqueue(delivery.pk)
    return created


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `webhook.test` event to one endpoint, whatever it subscribes to."""
    if not endpoint.is_active:
        raise ApplicationError("The webhook endpoint is disabled; enable it to test it.")
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=f"evt_test_{uuid.uuid4().hex}",
            event_type=TEST_EVENT_TYPE,
            payload={
                "lab": endpoint.lab.slug,
                "endpoint_id": endpoint.pk,
                "message": "A test event from SEAL: your endpoint received and can verify it.",
            },
            next_attempt_at=timezone.now(),
        )
        _webhook_enqueue(delivery.pk)
    return delivery


def _webhook_claimable(now: datetime, max_attempts: int) -> Q:
    """Due and not in flight: pending and its time has come, or sending under a lapsed claim
    (its sender died); and an attempt left."""
    due = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookDelivery.Status.SENDING, claimed_until__lt=now
    )
    return due & Q(attempts__lt=max_attempts)


def _webhook_claim(
    *, delivery_id: int, token: str, policy: WebhookPolicy
) -> WebhookDelivery | None:
    now = timezone.now()
    # Longer than one attempt can take, so a live sender never loses its claim.
    lease = timedelta(seconds=3 * policy.timeout + 30)
    # One conditional UPDATE is the claim: on PostgreSQL a second claimer waits on the row lock,
    # then finds the row no longer claimable; SQLite runs writes one at a time. No related-table
    # condition here: Django would move the whole WHERE into a subquery PostgreSQL does not
    # re-check after the lock wait.
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            _webhook_claimable(now, policy.max_attempts), pk=delivery_id
        ).update(
            status=WebhookDelivery.Status.SENDING,
            claim_token=token,
            claimed_until=now + lease,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
    if not claimed:
        return None
    # None if the endpoint (and with it the delivery) was removed just now.
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()


def webhook_delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """Send one due delivery if no other sender holds it; raise WebhookDeliveryRetry when it
    failed for a transient reason and has attempts left. None if it was not due (or gone)."""
    policy = webhook_policy()
    token = uuid.uuid4().hex
    delivery = _webhook_claim(delivery_id=delivery_id, token=token, policy=policy)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    owned = WebhookDelivery.objects.filter(
        pk=delivery.pk, claim_token=token, status=WebhookDelivery.Status.SENDING
    )
    done = {"claim_token": "", "claimed_until": None, "updated_at": timezone.now()}
    if not endpoint.is_active:
        owned.update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="the endpoint is disabled",
            **done,
        )
        return delivery
    body = webhook_body(
        event_type=delivery.event_type, timestamp=delivery.created_at, data=delivery.payload
    )
    honoured = (
        [endpoint.previous_secret]
        if endpoint.previous_secret
        and endpoint.previous_secret_until is not None
        and endpoint.previous_secret_until > timezone.now()
        else []
    )
    result = webhook_post(
        url=endpoint.url,
        secret=endpoint.secret,
        message_id=delivery.event_id,
        body=body,
        allow=endpoint_allow_list(),
        timeout=policy.timeout,
        also_sign_with=honoured,
    )
    now = timezone.now()
    done["updated_at"] = now
    logger.info(
        "webhook delivery %s (%s) attempt %s to endpoint %s: %s",
        delivery.pk,
        delivery.event_type,
        delivery.attempts,
        endpoint.pk,
        "delivered" if result.ok else (result.error.split(":", 1)[0] or "failed"),
    )
    outcome = {"last_status_code": result.status_code, "last_error": result.error}
    if result.ok:
        owned.update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=now,
            next_attempt_at=None,
            **outcome,
            **done,
        )
        return delivery
    if result.transient and delivery.attempts < policy.max_attempts:
        delay = webhook_backoff_delay(delivery.attempts, policy, result.retry_after)
        owned.update(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at=now + timedelta(seconds=delay),
            **outcome,
            **done,
        )
        raise WebhookDeliveryRetry(delay)
    if result.transient:
        outcome["last_error"] = f"{result.error} (gave up after {delivery.attempts} attempts)"[:500]
    owned.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None, **outcome, **done)
    return delivery


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Send again the deliveries that are due and not in flight, whose message was lost or whose
    sender died (beat); fail those whose sender died on their last attempt. How many were sent."""
    now = now or timezone.now()
    policy = webhook_policy()
    WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING,
        claimed_until__lt=now,
        attempts__gte=policy.max_attempts,
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        claim_token="",
        claimed_until=None,
        last_error=f"the sender stopped during the last attempt ({policy.max_attempts})",
        updated_at=now,
    )
    # A pending delivery's own message (or its retry) fires at next_attempt_at: only one left
    # untouched for the grace period after that was lost.
    grace = timedelta(seconds=float(settings.SEAL_WEBHOOK_SWEEP_GRACE_SECONDS))
    lost = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - grace) | Q(
        status=WebhookDelivery.Status.SENDING, claimed_until__lt=now
    )
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.filter(lost, attempts__lt=policy.max_attempts)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:1000]
        )
        for delivery_id in due:
            _webhook_enqueue(delivery_id)
    return len(due)


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> bool:
    """Staff: send a finished (delivered or failed) delivery again, with a fresh set of attempts.
    False when it is still pending or being sent."""
    now = timezone.now()
    with transaction.atomic():
        reset = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=[WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED],
        ).update(
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            delivered_at=None,
            claim_token="",
            claimed_until=None,
            updated_at=now,
        )
        if reset:
            _webhook_enqueue(delivery.pk)
    return bool(reset)
