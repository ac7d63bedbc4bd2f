"""Staff admin for annotators and their vetting."""

from __future__ import annotations

from django.contrib import admin

from annotation.models import AnnotatorProfile


@admin.register(AnnotatorProfile)
class AnnotatorProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "status",
        "is_layer1_reviewer",
        "is_layer2_reviewer",
        "qualification_score",
        "vetted_at",
    ]
    list_filter = ["status", "domains", "is_layer1_reviewer", "is_layer2_reviewer"]
    search_fields = ["user__username", "user__email"]
    filter_horizontal = ["domains", "affiliated_labs"]
    list_select_related = ["user"]
