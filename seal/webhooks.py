"""Lab webhooks on the wire: Standard Webhooks messages, their signatures, one guarded POST.

https://www.standardwebhooks.com/ : the body is `{"type", "timestamp", "data"}`; the headers are
`webhook-id` (the event's id, the same on every attempt), `webhook-timestamp` (seconds, this
attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the
base64-decoded part of the `whsec_` secret). Signing is the `standardwebhooks` library's, the
reference implementation receivers verify with.

The URL comes from a lab, so a POST goes through the same address guard as the lab endpoints
(seal/endpoints.py): checked after DNS resolution, no redirect followed, no proxy from the
environment. Nothing here touches the database; seal/services/webhooks.py decides what to send
and records what came back.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from seal.endpoints import (
    AllowList,
    BlockedAddressError,
    GuardedTransport,
    endpoint_url_problems,
    retry_after_seconds,
    scrub_secret,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
USER_AGENT = "SEAL-webhooks/1.0"
# Sent to one endpoint on request, whatever it subscribes to; never emitted by the platform.
TEST_EVENT_TYPE = "webhook.test"
ERROR_CHARS = 500
# Read at most this much of a refusal's body, for the delivery log.
RESPONSE_EXCERPT_BYTES = 2048


def webhook_secret_generate() -> str:
    """A new signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def webhook_url_problems(url: str, *, allow: AllowList) -> list[str]:
    """What is wrong with a webhook URL: the lab endpoints' rules (no private address unless
    allow-listed, no credentials, no query string), checked without DNS at registration."""
    problems = endpoint_url_problems(url, allow=allow)
    return [
        "must not contain credentials; verify the webhook-signature header instead"
        if problem.startswith("must not contain credentials")
        else problem
        for problem in problems
    ]


def webhook_body(*, event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The message body, the same bytes on every attempt (compact, keys sorted, ASCII)."""
    stamp = timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event_type, "timestamp": stamp, "data": data},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=True,
    )


def webhook_headers(
    *, secret: str, message_id: str, body: str, at: datetime, also: Sequence[str] = ()
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt sent at `at`; one signature per
    secret (`also`: secrets still honoured during a rotation), space-separated."""
    at = at.astimezone(UTC)
    signatures = [
        Webhook(key).sign(msg_id=message_id, timestamp=at, data=body) for key in (secret, *also)
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


@dataclass(frozen=True)
class WebhookPolicy:
    timeout: float
    max_attempts: int
    backoff_base: float
    backoff_max: float


def webhook_backoff_delay(attempt: int, policy: WebhookPolicy, retry_after: float | None) -> float:
    """Seconds before the attempt after `attempt`: exponential, capped, with equal jitter (half
    fixed, half random) so endpoints that fail together are not retried together; a server's
    Retry-After is a floor, capped too."""
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** max(0, attempt - 1)))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max))
    return delay


@dataclass(frozen=True)
class SendResult:
    """What one POST came to. `transient` failures are retried; the others end the delivery."""

    ok: bool
    status_code: int | None = None
    transient: bool = False
    error: str = ""
    retry_after: float | None = field(default=None)


def _excerpt(response: httpx.Response, deadline: float) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_EXCERPT_BYTES or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")


def _clean(text: str, *secrets: str) -> str:
    """An error fit for the delivery log: no form of a secret, no control characters, cut.
    Scrubbed before it is cut, so no cut leaves a piece of a secret behind."""
    for secret in secrets:
        text = scrub_secret(text, secret)
        # The base64 part alone, as a receiver's error might quote the key it decoded.
        text = scrub_secret(text, secret.removeprefix(SECRET_PREFIX))
    text = "".join(char if char.isprintable() else " " for char in text)
    return text[:ERROR_CHARS]


@functools.lru_cache(maxsize=8)
def _client(allow: AllowList, timeout: float) -> httpx.Client:
    """One guarded client per allow list and timeout, shared by a process's sender threads:
    building its TLS contexts costs about 100 ms, more than a whole delivery. A kept-alive
    connection goes to an address that was checked when it was opened."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30)
    return httpx.Client(
        transport=GuardedTransport(allow=allow, limits=limits),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )


def webhook_post(
    *,
    url: str,
    secret: str,
    message_id: str,
    body: str,
    allow: AllowList,
    timeout: float,
    at: datetime | None = None,
    also_sign_with: Sequence[str] = (),
) -> SendResult:
    """POST one signed message; never raises. 2xx is delivered; connection errors, timeouts,
    408, 429 and 5xx are transient; anything else (a redirect, another 4xx, a blocked address)
    is not retried."""
    headers = {
        **webhook_headers(
            secret=secret,
            message_id=message_id,
            body=body,
            at=at or datetime.now(UTC),
            also=also_sign_with,
        ),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    deadline = time.monotonic() + timeout
    try:
        client = _client(allow, timeout)
        with client.stream("POST", url, content=body.encode(), headers=headers) as response:
            code = response.status_code
            if 200 <= code < 300:
                return SendResult(ok=True, status_code=code)
            if response.is_redirect:
                return SendResult(
                    ok=False, status_code=code, error=f"HTTP {code}: redirects are not followed"
                )
            excerpt = _excerpt(response, deadline)
            transient = code in {408, 429} or code >= 500
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            return SendResult(
                ok=False,
                status_code=code,
                transient=transient,
                error=_clean(f"HTTP {code}: {excerpt}".strip(), secret, *also_sign_with),
                retry_after=retry_after if transient else None,
            )
    except BlockedAddressError as exc:
        return SendResult(ok=False, error=_clean(f"blocked_address: {exc}", secret))
    except httpx.TimeoutException as exc:
        return SendResult(ok=False, transient=True, error=f"timeout ({type(exc).__name__})")
    except (httpx.TransportError, OSError) as exc:
        # Refused, reset, closed early, unresolvable: an endpoint restarting, worth another try.
        return SendResult(
            ok=False,
            transient=True,
            error=_clean(f"connect_error: {type(exc).__name__}: {exc}", secret),
        )
    except Exception as exc:  # a result for every call, whatever went wrong
        return SendResult(ok=False, transient=True, error=f"internal_error: {type(exc).__name__}")


__all__ = [
    "SECRET_PREFIX",
    "TEST_EVENT_TYPE",
    "SendResult",
    "WebhookPolicy",
    "webhook_backoff_delay",
    "webhook_body",
    "webhook_headers",
    "webhook_post",
    "webhook_secret_generate",
    "webhook_url_problems",
]
