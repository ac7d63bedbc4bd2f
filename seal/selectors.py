"""Reads of the evaluation catalog, and who may see what."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from seal.models import (
    Category,
    CollectionLease,
    Domain,
    Lab,
    LabAPIKey,
    ModelVersion,
    Prompt,
    PromptSet,
    Response,
    Submission,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHeartbeat,
)

# A failure kind as the collector writes it: a short code such as http_503 or send_limit.
FAILURE_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _count_per_domain(rows: QuerySet[Any], domain_path: str) -> Coalesce:
    """A correlated COUNT of rows for the outer domain: one join per count, so two counts never
    multiply each other (two joins in one GROUP BY would count prompts x categories)."""
    counted = (
        rows.filter(**{domain_path: OuterRef("pk")})
        .order_by()
        .values(domain_path)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def domain_list_public() -> QuerySet[Domain]:
    """Active domains with how many prompts their active set holds (a count, never the text)."""
    return Domain.objects.filter(is_active=True).annotate(
        active_prompt_count=_count_per_domain(
            Prompt.objects.filter(prompt_set__status=PromptSet.Status.ACTIVE),
            "prompt_set__domain",
        ),
        category_count=_count_per_domain(Category.objects.all(), "domain"),
    )


def database_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def broker_ping(*, timeout: int = 2) -> None:
    from seal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)


def health_status() -> dict[str, Any]:
    """Database, broker and worker status for /healthz; `ok` is false when a dependency is down."""
    checks: dict[str, Any] = {}
    try:
        database_ping()
        checks["database"] = {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}

    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = {"ok": True, "mode": "eager (tasks run in the web process)"}
    else:
        try:
            broker_ping()
            checks["broker"] = {"ok": True, "mode": "broker"}
        except Exception as exc:
            checks["broker"] = {"ok": False, "mode": "broker", "error": type(exc).__name__}

    if checks["database"]["ok"] and not settings.CELERY_TASK_ALWAYS_EAGER:
        last_seen = WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]
        max_age = timedelta(seconds=settings.SEAL_WORKER_HEARTBEAT_MAX_AGE_SECONDS)
        checks["workers"] = {
            "alive": bool(last_seen and timezone.now() - last_seen <= max_age),
            "last_heartbeat": last_seen.isoformat() if last_seen else None,
        }
    # Workers being down does not make the web process unhealthy; it is reported, not failed.
    ok = checks["database"]["ok"] and checks["broker"]["ok"]
    return {"status": "ok" if ok else "unavailable", "checks": checks}


# --- The lab API: everything a key reaches is its own lab's. -------------------------------------


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of presenting a raw API key: the key, or why it was refused."""

    key: LabAPIKey | None
    problem: str = ""


def lab_api_key_check(*, raw_key: str) -> KeyCheck:
    """Find the usable key behind `raw_key`, or say why it is refused."""
    # Revoked and expired are told apart only once the full key has matched its hash.
    prefix, dot, _ = raw_key.strip().partition(".")
    if not dot or not prefix:
        return KeyCheck(None, "Invalid API key.")
    key = LabAPIKey.objects.select_related("lab").filter(prefix=prefix).first()
    if key is None or not key.is_valid(raw_key.strip()):
        return KeyCheck(None, "Invalid API key.")
    if key.revoked:
        return KeyCheck(None, "This API key has been revoked.")
    if key.has_expired:
        return KeyCheck(None, "This API key has expired.")
    if not key.lab.is_active:
        return KeyCheck(None, "This lab is not active.")
    return KeyCheck(key)


def domain_list_submittable() -> QuerySet[Domain]:
    """Active domains, with how many prompts their active set holds (a count, never the text)."""
    return domain_list_public().order_by("slug")


def model_version_list(*, lab: Lab) -> QuerySet[ModelVersion]:
    """The lab's model versions, newest first."""
    return ModelVersion.objects.filter(lab=lab).order_by("-created_at", "-pk")


def submission_list(*, lab: Lab) -> QuerySet[Submission]:
    """The lab's submissions, newest first, with what their output needs."""
    return (
        Submission.objects.filter(model_version__lab=lab)
        .select_related("model_version")
        .prefetch_related("domains", "prompt_sets")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class SubmissionProgress:
    """Counts only: a lab follows its submission without ever learning a prompt."""

    total: int
    collected: int
    failed: int

    @property
    def pending(self) -> int:
        return max(0, self.total - self.collected - self.failed)


def submission_progress_many(*, submissions: Sequence[Submission]) -> dict[int, SubmissionProgress]:
    """Progress of several submissions in two queries (prefetch their prompt_sets first).

    A prompt counts as collected once the model has an answer, whichever submission got it; it
    counts as failed for the submission whose collection gave up on it.
    """
    if not submissions:
        return {}
    sets_of = {s.pk: {ps.pk for ps in s.prompt_sets.all()} for s in submissions}
    all_sets = set().union(*sets_of.values())
    totals = dict(
        Prompt.objects.filter(prompt_set_id__in=all_sets)
        .values("prompt_set_id")
        .annotate(n=Count("id"))
        .values_list("prompt_set_id", "n")
    )
    rows = list(
        Response.objects.filter(
            model_version_id__in={s.model_version_id for s in submissions},
            prompt__prompt_set_id__in=all_sets,
            status__in=[Response.Status.OK, Response.Status.FAILED],
        )
        .values_list("model_version_id", "prompt__prompt_set_id", "status", "submission_id")
        .annotate(n=Count("id"))
    )
    progress = {}
    for submission in submissions:
        sets = sets_of[submission.pk]
        collected = failed = 0
        for model_version_id, set_id, status, submission_id, n in rows:
            if model_version_id != submission.model_version_id or set_id not in sets:
                continue
            if status == Response.Status.OK:
                collected += n
            elif submission_id == submission.pk:
                failed += n
        progress[submission.pk] = SubmissionProgress(
            total=sum(totals.get(set_id, 0) for set_id in sets),
            collected=collected,
            failed=failed,
        )
    return progress


def submission_progress(*, submission: Submission) -> SubmissionProgress:
    return submission_progress_many(submissions=[submission])[submission.pk]


# --- Response collection ------------------------------------------------------------------------


def submission_prompt_ids_to_send(*, submission: Submission) -> list[int]:
    """Prompts of the submission still to send: not answered, not already given up on by it."""
    settled = Response.objects.filter(
        model_version_id=submission.model_version_id, prompt_id=OuterRef("pk")
    ).filter(
        Q(status=Response.Status.OK) | Q(status=Response.Status.FAILED, submission_id=submission.pk)
    )
    return list(
        Prompt.objects.filter(prompt_set__in=submission.prompt_sets.all())
        .filter(~Exists(settled))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lab_collecting_submission_ids(*, lab: Lab) -> list[int]:
    """The lab's submissions that still wait for responses, oldest first."""
    return list(
        Submission.objects.filter(
            model_version__lab=lab,
            status__in=[Submission.Status.PENDING, Submission.Status.COLLECTING],
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def lab_ids_needing_collection(*, now: Any = None) -> list[int]:
    """Labs with submissions waiting for responses and no live collector."""
    now = now or timezone.now()
    waiting = set(
        Submission.objects.filter(
            status__in=[Submission.Status.PENDING, Submission.Status.COLLECTING]
        ).values_list("model_version__lab_id", flat=True)
    )
    busy = set(
        CollectionLease.objects.filter(lab_id__in=waiting, expires_at__gt=now).values_list(
            "lab_id", flat=True
        )
    )
    return sorted(waiting - busy)


def response_failure_kinds_many(*, submissions: Sequence[Submission]) -> dict[int, dict[str, int]]:
    """How often each kind of failure ended each submission's calls, most frequent first.

    The kind is the code before the colon of the stored error (http_500, timeout, send_limit,
    ...); anything that is not such a code counts as "unknown", so no error text leaks out."""
    counts: dict[int, dict[str, int]] = {submission.pk: {} for submission in submissions}
    errors: Iterable[tuple[int, str]] = Response.objects.filter(
        submission__in=list(counts), status=Response.Status.FAILED
    ).values_list("submission_id", "error")
    for submission_id, error in errors:
        kind = error.split(":", 1)[0].strip()
        if not FAILURE_KIND.fullmatch(kind):
            kind = "unknown"
        counts[submission_id][kind] = counts[submission_id].get(kind, 0) + 1
    return {
        pk: dict(sorted(kinds.items(), key=lambda item: (-item[1], item[0])))
        for pk, kinds in counts.items()
    }


def response_failure_kinds(*, submission: Submission) -> dict[str, int]:
    """How often each kind of failure (the code before the colon) ended this submission's calls."""
    return response_failure_kinds_many(submissions=[submission])[submission.pk]


def webhook_endpoint_list(*, lab: Lab) -> QuerySet[WebhookEndpoint]:
    """The lab's webhook endpoints (another lab's are not there: they read as missing)."""
    return WebhookEndpoint.objects.filter(lab=lab).order_by("pk")


def webhook_delivery_list(*, lab: Lab) -> QuerySet[WebhookDelivery]:
    """Deliveries to the lab's own webhook endpoints, newest first."""
    return WebhookDelivery.objects.filter(endpoint__lab=lab).order_by("-created_at", "-pk")
