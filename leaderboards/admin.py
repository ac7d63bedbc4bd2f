"""Staff admin for the leaderboards: trigger a recompute, hide or show a snapshot, follow jobs.

Snapshots and jobs are read-only here: snapshots are immutable and jobs belong to the workers.
The actions need the change permission on their model (superusers have it).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from annotation.selectors import domain_pool_capacity, domain_ratings_committed
from leaderboards.models import (
    DomainLeaderboard,
    EvaluationProgress,
    PublishedLeaderboard,
    RecomputeJob,
    SchedulingJob,
    Snapshot,
)
from leaderboards.services import (
    recompute_request,
    scheduling_request,
    snapshot_hide,
    snapshot_unhide,
)
from seal.errors import ApplicationError


def _staff(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


SCHEDULING_COLUMNS = ["budget_used", "pool_capacity", "queue_eta", "last_scheduling"]


@admin.register(DomainLeaderboard)
class DomainLeaderboardAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "public_snapshot",
        "last_job",
        "budget_used",
        "pool_capacity",
        "queue_eta",
        "last_scheduling",
    ]
    actions = ["recompute", "schedule"]
    fields = [
        "name",
        "slug",
        "budget_used",
        "pool_capacity",
        "queue_eta",
        "last_scheduling",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), *SCHEDULING_COLUMNS]

    @admin.display(description="Budget used")
    def budget_used(self, obj: DomainLeaderboard) -> str:
        used = domain_ratings_committed(domain_id=obj.pk)
        if obj.rating_budget is None:
            return f"{used} ratings (no budget set: no adaptive scheduling)"
        share = 100.0 * used / obj.rating_budget if obj.rating_budget else 100.0
        return f"{used} of {obj.rating_budget} ratings ({share:.0f}%)"

    @admin.display(description="Pool capacity")
    def pool_capacity(self, obj: DomainLeaderboard) -> str:
        capacity = domain_pool_capacity(domain=obj)
        source = "measured" if capacity.measured else "nominal"
        return (
            f"{capacity.annotators} vetted annotators, "
            f"{capacity.ratings_per_hour:.1f} ratings/hour ({source})"
        )

    @admin.display(description="Queue ETA")
    def queue_eta(self, obj: DomainLeaderboard) -> str:
        capacity = domain_pool_capacity(domain=obj)
        hours = capacity.hours_for(capacity.open_ratings)
        if hours is None:
            return f"{capacity.open_ratings} ratings open; the pool cannot finish them"
        return f"{capacity.open_ratings} ratings open, about {hours:.1f} h"

    @admin.display(description="Last scheduling")
    def last_scheduling(self, obj: DomainLeaderboard) -> str:
        job = SchedulingJob.objects.filter(domain_id=obj.pk).first()
        if job is None:
            return "never"
        return f"{job.get_status_display()}: {job.created_comparisons} comparisons added"

    @admin.action(description="Run adaptive scheduling now", permissions=["change"])
    def schedule(self, request: HttpRequest, queryset: QuerySet[DomainLeaderboard]) -> None:
        for domain in queryset:
            scheduling_request(domain=domain, trigger=SchedulingJob.Trigger.STAFF)
        messages.success(request, f"Scheduling requested for {queryset.count()} domain(s).")

    @admin.display(description="Public snapshot")
    def public_snapshot(self, obj: DomainLeaderboard) -> str:
        pointer = PublishedLeaderboard.objects.filter(domain_id=obj.pk).first()
        if pointer is None:
            return "none"
        snapshot = pointer.snapshot
        return (
            f"#{snapshot.pk} ({snapshot.n_ratings} ratings, {snapshot.created_at:%Y-%m-%d %H:%M})"
        )

    @admin.display(description="Last recompute")
    def last_job(self, obj: DomainLeaderboard) -> str:
        job = RecomputeJob.objects.filter(domain_id=obj.pk).first()
        return "never" if job is None else f"{job.get_status_display()} ({job.trigger})"

    @admin.action(description="Recompute leaderboards now", permissions=["change"])
    def recompute(self, request: HttpRequest, queryset: QuerySet[DomainLeaderboard]) -> None:
        for domain in queryset:
            recompute_request(
                domain=domain,
                trigger=RecomputeJob.Trigger.STAFF,
                requested_by=_staff(request),
            )
        messages.success(request, f"Recompute requested for {queryset.count()} domain(s).")


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["id", "domain", "created_at", "n_ratings", "n_models", "is_hidden", "public"]
    list_filter = ["domain", "is_hidden"]
    list_select_related = ["domain"]
    actions = ["hide", "unhide"]

    @admin.display(boolean=True, description="Public now")
    def public(self, obj: Snapshot) -> bool:
        return PublishedLeaderboard.objects.filter(snapshot_id=obj.pk).exists()

    @admin.action(
        description="Hide from the public (fall back to the previous one)", permissions=["change"]
    )
    def hide(self, request: HttpRequest, queryset: QuerySet[Snapshot]) -> None:
        for snapshot in queryset:
            try:
                snapshot_hide(snapshot=snapshot, by=_staff(request))
                messages.success(request, f"Snapshot #{snapshot.pk} is hidden.")
            except ApplicationError as exc:
                messages.error(request, f"Snapshot #{snapshot.pk}: {exc.message}")

    @admin.action(description="Show again", permissions=["change"])
    def unhide(self, request: HttpRequest, queryset: QuerySet[Snapshot]) -> None:
        for snapshot in queryset:
            try:
                snapshot_unhide(snapshot=snapshot, by=_staff(request))
                messages.success(request, f"Snapshot #{snapshot.pk} is visible again.")
            except ApplicationError as exc:
                messages.error(request, f"Snapshot #{snapshot.pk}: {exc.message}")


@admin.register(RecomputeJob)
class RecomputeJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "domain",
        "status",
        "trigger",
        "requested_at",
        "started_at",
        "finished_at",
        "attempts",
        "rerun_requested",
        "snapshot",
    ]
    list_filter = ["status", "trigger", "domain"]
    list_select_related = ["domain"]


@admin.register(SchedulingJob)
class SchedulingJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "domain",
        "status",
        "trigger",
        "requested_at",
        "finished_at",
        "attempts",
        "created_comparisons",
    ]
    list_filter = ["status", "trigger", "domain"]
    list_select_related = ["domain"]


@admin.register(EvaluationProgress)
class EvaluationProgressAdmin(ReadOnlyAdmin):
    list_display = [
        "submission",
        "domain",
        "ratings_done",
        "ratings_scheduled",
        "ratings_needed",
        "elo",
        "lower",
        "upper",
        "done_reason",
        "estimated_finish",
    ]
    list_filter = ["done_reason", "domain"]
    list_select_related = ["domain", "submission__model_version"]
