"""Annotators: vetted experts who rate comparisons and review each other's ratings."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from seal.models import Domain, Lab, TimeStamped


class AnnotatorProfile(TimeStamped):
    class Status(models.TextChoices):
        APPLICANT = "applicant", "Applicant"
        QUALIFYING = "qualifying", "Qualifying"
        VETTED = "vetted", "Vetted"
        SUSPENDED = "suspended", "Suspended"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_profile"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPLICANT)
    domains = models.ManyToManyField(Domain, blank=True, related_name="annotators")
    # Values equal Category values of the same facet (language, region): matching is a lookup.
    programming_languages = models.JSONField(default=list, blank=True)
    spoken_languages = models.JSONField(
        default=list, blank=True, help_text="ISO codes, e.g. en, es"
    )
    regional_varieties = models.JSONField(
        default=list, blank=True, help_text="Native varieties, e.g. Spain, Mexico, Latin America"
    )
    affiliated_labs = models.ManyToManyField(
        Lab,
        blank=True,
        related_name="affiliated_annotators",
        help_text="Labs this person is tied to: they never rate those labs' models.",
    )
    is_layer1_reviewer = models.BooleanField(default=False)
    is_layer2_reviewer = models.BooleanField(default=False)
    qualification_score = models.FloatField(null=True, blank=True)
    vetted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.status})"

    @property
    def is_vetted(self) -> bool:
        return self.status == self.Status.VETTED
