"""Annotators and vetting: expertise profiles, vetting and suspension, the gold qualification."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotation.models import AnnotatorProfile, Assignment, ComparisonTask
from annotation.services.scheduling import _assignment_release
from seal.errors import ApplicationError
from seal.models import Domain, Lab


def annotator_profile_upsert(
    *,
    user: User,
    domains: Iterable[Domain],
    programming_languages: Sequence[str] = (),
    spoken_languages: Sequence[str] = ("en",),
    regional_varieties: Sequence[str] = (),
    affiliated_labs: Iterable[Lab] = (),
    is_layer1_reviewer: bool = False,
    is_layer2_reviewer: bool = False,
) -> AnnotatorProfile:
    """Create or update a person's expertise profile; a new profile starts as an applicant."""
    with transaction.atomic():
        profile, _ = AnnotatorProfile.objects.update_or_create(
            user=user,
            defaults={
                "programming_languages": list(programming_languages),
                "spoken_languages": list(spoken_languages),
                "regional_varieties": list(regional_varieties),
                "is_layer1_reviewer": is_layer1_reviewer,
                "is_layer2_reviewer": is_layer2_reviewer,
            },
        )
        profile.domains.set(list(domains))
        profile.affiliated_labs.set(list(affiliated_labs))
    return profile


def annotator_vet(*, profile: AnnotatorProfile, score: float | None = None) -> AnnotatorProfile:
    """Mark an annotator as vetted, keeping the qualification score that earned it."""
    if profile.status == AnnotatorProfile.Status.SUSPENDED:
        raise ApplicationError("A suspended annotator must be reinstated by staff before vetting")
    profile.status = AnnotatorProfile.Status.VETTED
    profile.qualification_score = score if score is not None else profile.qualification_score
    profile.vetted_at = profile.vetted_at or timezone.now()
    profile.save(update_fields=["status", "qualification_score", "vetted_at", "updated_at"])
    return profile


def annotator_suspend(
    *, profile: AnnotatorProfile, reason: str, by: User | None = None
) -> AnnotatorProfile:
    """Stop giving an annotator work; their live leases go back to the pool."""
    if not reason.strip():
        raise ApplicationError("A reason is required", field_errors={"reason": ["required"]})
    with transaction.atomic():
        profile = AnnotatorProfile.objects.select_for_update().get(pk=profile.pk)
        profile.status = AnnotatorProfile.Status.SUSPENDED
        profile.suspended_reason = reason.strip()
        profile._history_user = by  # type: ignore[attr-defined]
        profile.save(update_fields=["status", "suspended_reason", "updated_at"])
        for assignment in Assignment.objects.filter(
            annotator=profile, status=Assignment.Status.LEASED
        ):
            _assignment_release(assignment_id=assignment.pk, status=Assignment.Status.EXPIRED)
    return profile


def qualification_start(*, profile: AnnotatorProfile) -> AnnotatorProfile:
    """Let an applicant start rating the gold comparisons of their domains."""
    if profile.status not in (
        AnnotatorProfile.Status.APPLICANT,
        AnnotatorProfile.Status.QUALIFYING,
    ):
        raise ApplicationError(f"Only applicants can qualify; this profile is {profile.status}")
    if not ComparisonTask.objects.filter(is_gold=True, domain__in=profile.domains.all()).exists():
        raise ApplicationError("There are no gold comparisons in this person's domains yet")
    profile.status = AnnotatorProfile.Status.QUALIFYING
    profile.save(update_fields=["status", "updated_at"])
    return profile


def _qualification_evaluate(profile: AnnotatorProfile) -> None:
    results = [
        bool(correct)
        for correct in Assignment.objects.filter(
            annotator=profile, is_gold=True, gold_correct__isnull=False
        ).values_list("gold_correct", flat=True)
    ]
    available = ComparisonTask.objects.filter(
        is_gold=True, domain__in=profile.domains.all()
    ).count()
    needed = min(settings.SEAL_QUALIFICATION_SIZE, available)
    if len(results) < needed:
        return
    score = sum(results) / len(results)
    profile.qualification_score = score
    if score >= settings.SEAL_QUALIFICATION_PASS_RATE:
        profile.status = AnnotatorProfile.Status.VETTED
        profile.vetted_at = timezone.now()
    else:
        # Failing keeps them out of real work, with the score kept for staff to see.
        profile.status = AnnotatorProfile.Status.APPLICANT
    profile.save(update_fields=["status", "qualification_score", "vetted_at", "updated_at"])
