"""Every write about annotators."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotation.models import AnnotatorProfile
from seal.errors import ApplicationError
from seal.models import Domain, Lab


def annotator_profile_upsert(
    *,
    user: AbstractBaseUser,
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
