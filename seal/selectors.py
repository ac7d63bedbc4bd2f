"""Reads of the evaluation catalog, and who may see what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from seal.models import Domain, PromptSet, WorkerHeartbeat


def domain_list_public() -> QuerySet[Domain]:
    """Active domains with how many prompts their active set holds (a count, never the text)."""
    return Domain.objects.filter(is_active=True).annotate(
        active_prompt_count=Count(
            "prompt_sets__prompts", filter=Q(prompt_sets__status=PromptSet.Status.ACTIVE)
        ),
        category_count=Count("categories", distinct=True),
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
