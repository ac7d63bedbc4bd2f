"""Staff admin for annotators, comparisons and ratings, with the annotator quality view."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from simple_history.admin import SimpleHistoryAdmin

from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.selectors import annotator_quality_table, prompt_is_rated, response_is_rated
from annotation.services import (
    PROMPT_FROZEN_FIELDS,
    RESPONSE_EDITABLE_FIELDS,
    annotator_suspend,
    annotator_vet,
    prompt_edit,
    qualification_start,
    response_edit,
)
from seal.admin import PromptAdmin, ResponseAdmin
from seal.errors import ApplicationError
from seal.models import Prompt, Response

QUALITY_PERMISSION = "annotation.view_annotator_quality"


@admin.register(AnnotatorProfile)
class AnnotatorProfileAdmin(SimpleHistoryAdmin):
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
    actions = ["start_qualification", "vet", "suspend"]
    change_list_template = "admin/annotation/annotatorprofile/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        quality = self.admin_site.admin_view(self.quality_view)
        return [
            path("quality/", quality, name="annotation_annotatorprofile_quality"),
            *super().get_urls(),
        ]

    def has_quality_permission(self, request: HttpRequest) -> bool:
        """May see the quality table (superusers have every permission)."""
        return request.user.has_perm(QUALITY_PERMISSION)

    def has_suspend_permission(self, request: HttpRequest) -> bool:
        """May suspend annotators: a change to their profile."""
        return self.has_change_permission(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "can_view_quality": self.has_quality_permission(request)}
        return super().changelist_view(request, extra_context=extra)

    def quality_view(self, request: HttpRequest) -> HttpResponse:
        # admin_view lets in every active staff account; the table names people, so ask for more.
        if not self.has_quality_permission(request):
            raise PermissionDenied("The annotator quality view needs its own permission")
        if request.method == "POST":
            if not self.has_suspend_permission(request):
                raise PermissionDenied("Suspending needs permission to change annotator profiles")
            profile = AnnotatorProfile.objects.filter(pk=request.POST.get("profile_id", "")).first()
            if profile is not None:
                try:
                    annotator_suspend(
                        profile=profile,
                        reason=request.POST.get("reason", "") or "Suspended from the quality view",
                        by=request.user if request.user.is_authenticated else None,
                    )
                    messages.success(request, f"{profile.user.get_username()} is suspended.")
                except ApplicationError as exc:
                    messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("admin:annotation_annotatorprofile_quality"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Annotator quality",
            "rows": annotator_quality_table(),
            "can_suspend": self.has_suspend_permission(request),
        }
        return TemplateResponse(request, "admin/annotation/annotatorprofile/quality.html", context)

    # Without `permissions` an action is offered to anyone who may merely view the list.
    @admin.action(description="Start qualification (gold comparisons)", permissions=["change"])
    def start_qualification(
        self, request: HttpRequest, queryset: QuerySet[AnnotatorProfile]
    ) -> None:
        self._each(request, queryset, lambda p: qualification_start(profile=p))

    @admin.action(description="Vet the selected annotators", permissions=["change"])
    def vet(self, request: HttpRequest, queryset: QuerySet[AnnotatorProfile]) -> None:
        self._each(request, queryset, lambda p: annotator_vet(profile=p))

    @admin.action(description="Suspend the selected annotators", permissions=["suspend"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[AnnotatorProfile]) -> None:
        user = request.user if request.user.is_authenticated else None
        self._each(
            request,
            queryset,
            lambda p: annotator_suspend(profile=p, reason="Suspended by staff", by=user),
        )

    def _each(
        self, request: HttpRequest, queryset: QuerySet[AnnotatorProfile], action: Any
    ) -> None:
        for profile in queryset:
            try:
                action(profile)
            except ApplicationError as exc:
                self.message_user(request, f"{profile}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{profile.user.get_username()}: done")


@admin.register(ComparisonTask)
class ComparisonTaskAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "domain",
        "status",
        "active_slots",
        "approved_count",
        "is_gold",
        "created_at",
    ]
    list_filter = ["status", "is_gold", "domain"]
    search_fields = [
        "prompt__external_id",
        "response_a__model_version__name",
        "response_b__model_version__name",
    ]
    list_select_related = ["domain"]
    raw_id_fields = ["prompt", "response_a", "response_b"]
    readonly_fields = ["active_slots", "approved_count"]


@admin.register(Assignment)
class AssignmentAdmin(SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "task",
        "annotator",
        "slot",
        "status",
        "leased_at",
        "submitted_at",
        "approved_at",
    ]
    list_filter = ["status", "is_gold", "task__domain"]
    search_fields = ["annotator__user__username", "justification"]
    list_select_related = ["task", "annotator__user"]
    raw_id_fields = ["task", "annotator", "layer1_reviewer", "layer2_reviewer"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Workflow state changes go through the workspaces' services; a finally approved rating
        # is immutable in the database anyway.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovedRating)
class ApprovedRatingAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "domain",
        "model_a",
        "model_b",
        "preference",
        "outcome",
        "approved_at",
    ]
    list_filter = ["domain", "outcome"]
    list_select_related = ["domain", "model_a", "model_b"]
    search_fields = ["prompt__external_id", "model_a__name", "model_b__name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- The catalog's prompts and answers, frozen once a final rating cites them --------------------
# Registered here, not in seal: the rule is the annotation workflow's (the catalog knows nothing of
# ratings). The database refuses the same edits (migration 0004); the admin says so up front.

FROZEN_NOTE = (
    "A final rating cites this {noun}: {what} can no longer change, and it cannot be deleted."
)


def _edited(form: Any, obj: Any) -> dict[str, Any]:
    concrete = {field.name for field in obj._meta.concrete_fields}
    return {name: getattr(obj, name) for name in form.changed_data if name in concrete}


class _FrozenOnceRatedAdmin(admin.ModelAdmin):
    """A catalog object a final rating may cite: then its frozen fields are shown read-only with
    a note, it cannot be deleted, and every change goes through the service that refuses the
    same (`edit`). Subclasses name the object and say what is rated and what is frozen."""

    noun = ""
    what = ""

    def rated(self, object_id: int) -> bool:
        raise NotImplementedError

    def frozen_fields(self) -> list[str]:
        raise NotImplementedError

    def edit(self, obj: Any, changes: dict[str, Any]) -> None:
        raise NotImplementedError

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "GET" and str(object_id).isdigit() and self.rated(int(object_id)):
            messages.warning(request, FROZEN_NOTE.format(noun=self.noun, what=self.what))
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and self.rated(obj.pk):
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.rated(obj.pk):
            fields += [name for name in self.frozen_fields() if name not in fields]
        return fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        try:
            self.edit(obj, _edited(form, obj))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)


admin.site.unregister(Prompt)
admin.site.unregister(Response)


@admin.register(Prompt)
class RatedPromptAdmin(_FrozenOnceRatedAdmin, PromptAdmin):
    noun = "prompt"
    what = "its text and its prompt set"

    def rated(self, object_id: int) -> bool:
        return prompt_is_rated(prompt_id=object_id)

    def frozen_fields(self) -> list[str]:
        return list(PROMPT_FROZEN_FIELDS)

    def edit(self, obj: Any, changes: dict[str, Any]) -> None:
        prompt_edit(prompt=obj, changes=changes)


@admin.register(Response)
class RatedResponseAdmin(_FrozenOnceRatedAdmin, ResponseAdmin):
    noun = "answer"
    what = "nothing but its submission link"

    def rated(self, object_id: int) -> bool:
        return response_is_rated(response_id=object_id)

    def frozen_fields(self) -> list[str]:
        return [
            field.name
            for field in Response._meta.concrete_fields
            if field.editable and field.name not in RESPONSE_EDITABLE_FIELDS
        ]

    def edit(self, obj: Any, changes: dict[str, Any]) -> None:
        response_edit(response=obj, changes=changes)
