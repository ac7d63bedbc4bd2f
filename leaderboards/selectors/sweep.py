"""What the recompute sweep reads: approvals whose recompute request was lost."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, Subquery

from annotation.models import ApprovedRating
from leaderboards.models import (
    RecomputeJob,
)
from seal.models import (
    Domain,
)


def domains_with_unrequested_approvals() -> list[Domain]:
    """Active domains with a final approval newer than their last recompute request and no job
    queued or running: the approval's request message was lost."""
    last_approval = (
        ApprovedRating.objects.filter(domain=OuterRef("pk"))
        .order_by("-approved_at")
        .values("approved_at")[:1]
    )
    last_request = (
        RecomputeJob.objects.filter(domain=OuterRef("pk"))
        .order_by("-requested_at")
        .values("requested_at")[:1]
    )
    active_job = RecomputeJob.objects.filter(
        domain=OuterRef("pk"), status__in=RecomputeJob.ACTIVE_STATUSES
    )
    return list(
        Domain.objects.filter(is_active=True)
        .annotate(last_approval=Subquery(last_approval), last_request=Subquery(last_request))
        .filter(last_approval__isnull=False)
        .filter(Q(last_request__isnull=True) | Q(last_request__lt=F("last_approval")))
        .exclude(Exists(active_job))
    )
