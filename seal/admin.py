"""Staff admin for the evaluation catalog."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from rest_framework_api_key.models import APIKey

from seal.endpoints import endpoint_secret_problems, endpoint_url_problems
from seal.errors import ApplicationError
from seal.models import (
    Category,
    Domain,
    Lab,
    LabAPIKey,
    ModelVersion,
    Prompt,
    PromptExposure,
    PromptSet,
    Response,
    Submission,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHeartbeat,
)
from seal.services import (
    PromptImportError,
    endpoint_allow_list,
    lab_api_key_create,
    lab_api_key_revoke,
    prompt_set_activate,
    prompt_set_import,
    responses_retry_failed,
    submission_cancel,
    submission_create,
    user_deactivate,
    webhook_delivery_resend,
    webhook_endpoint_update,
)

admin.site.site_header = "SEAL administration"
admin.site.site_title = "SEAL administration"
admin.site.index_title = "Catalog, annotation and leaderboards"

# Keys not tied to a lab open nothing here; only lab keys are issued.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class CategoryInline(admin.TabularInline):
    model = Category
    extra = 0
    fields = ["facet", "value", "slug", "description"]
    prepopulated_fields = {"slug": ["facet", "value"]}


class PrettyJSONField(forms.JSONField):
    """JSON shown indented (2 spaces) so a rubric can be read and edited line by line; what is
    saved and how it is validated are unchanged (the model field's validate_rubric)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # the staff member's own text back, to fix
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class DomainAdminForm(forms.ModelForm):
    rubric = PrettyJSONField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 90, "class": "json-editor"}),
        help_text="Dimensions, issue tags and justification_min_chars; every problem is named "
        "by its path when you save.",
    )

    class Meta:
        model = Domain
        fields = [
            "slug",
            "name",
            "description",
            "rubric",
            "answer_grading",
            "is_active",
            "rating_budget",
            "target_half_width",
        ]


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    form = DomainAdminForm
    list_display = [
        "name",
        "slug",
        "answer_grading",
        "is_active",
        "rating_budget",
        "category_total",
    ]
    list_filter = ["is_active", "answer_grading"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CategoryInline]

    class Media:
        css = {"all": ["seal/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Domain]:
        return super().get_queryset(request).annotate(category_total=Count("categories"))

    @admin.display(description="Categories", ordering="category_total")
    def category_total(self, obj: Any) -> int:
        return int(obj.category_total)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["value", "facet", "domain", "slug"]
    list_filter = ["domain", "facet"]
    search_fields = ["value", "facet", "slug"]
    list_select_related = ["domain"]


class PromptImportForm(forms.Form):
    domain = forms.ModelChoiceField(queryset=Domain.objects.all())
    version = forms.CharField(max_length=50, help_text="e.g. 2026-11; a new draft set is created")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(help_text="JSON Lines, one prompt per line")
    activate = forms.BooleanField(required=False, help_text="Make this the domain's active set")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.SEAL_PROMPT_IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {settings.SEAL_PROMPT_IMPORT_MAX_BYTES} bytes."
            )
        return upload


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ["domain", "version", "status", "prompt_total", "created_at"]
    list_filter = ["status", "domain"]
    search_fields = ["version", "description"]
    list_select_related = ["domain"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    actions = ["activate_sets"]
    change_list_template = "admin/seal/promptset/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptSet]:
        return super().get_queryset(request).annotate(prompt_total=Count("prompts"))

    @admin.display(description="Prompts", ordering="prompt_total")
    def prompt_total(self, obj: Any) -> int:
        return int(obj.prompt_total)

    @admin.action(description="Activate the selected draft sets", permissions=["change"])
    def activate_sets(self, request: HttpRequest, queryset: QuerySet[PromptSet]) -> None:
        for prompt_set in queryset:
            try:
                prompt_set_activate(prompt_set=prompt_set)
            except ApplicationError as exc:
                self.message_user(request, f"{prompt_set}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{prompt_set.domain} {prompt_set.version} is active")

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="seal_promptset_import",
            )
        ]
        return custom + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied("Importing prompts needs permission to add prompt sets")
        form = PromptImportForm(request.POST or None, request.FILES or None)
        line_errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = prompt_set_import(
                    domain=data["domain"],
                    version=data["version"],
                    lines=data["file"].open("rb"),
                    created_by=request.user if request.user.is_authenticated else None,
                    description=data["description"],
                    activate=data["activate"],
                )
            except PromptImportError as exc:
                line_errors = [str(error) for error in exc.line_errors[:200]]
                messages.error(
                    request, f"Nothing was imported: {len(exc.line_errors)} problem(s) in the file."
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"Imported {result.created_count} prompts into "
                    f"{result.prompt_set.domain} {result.prompt_set.version}.",
                )
                return HttpResponseRedirect(
                    reverse("admin:seal_promptset_change", args=[result.prompt_set.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import prompts from JSONL",
            "form": form,
            "line_errors": line_errors,
        }
        return TemplateResponse(request, "admin/seal/promptset/import.html", context)


class PromptAdminForm(forms.ModelForm):
    """The model's rules (Prompt.problems, through clean) plus: categories of the set's domain."""

    class Meta:
        model = Prompt
        fields = [
            "prompt_set",
            "external_id",
            "text",
            "gold_answer",
            "categories",
            "is_public_sample",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        # Read-only once rated, the set is then not in the form: the stored one holds.
        prompt_set = cleaned.get("prompt_set") or (
            self.instance.prompt_set if self.instance.prompt_set_id else None
        )
        categories = cleaned.get("categories")
        if prompt_set is not None and categories is not None:
            problem = Prompt.categories_problem(prompt_set, categories)
            if problem:
                self.add_error("categories", problem)
        return cleaned


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    form = PromptAdminForm
    list_display = ["__str__", "prompt_set", "is_public_sample", "short_text", "created_at"]
    list_filter = ["prompt_set__domain", "prompt_set", "is_public_sample", "categories"]
    search_fields = ["external_id", "text", "content_hash"]
    list_select_related = ["prompt_set__domain"]
    readonly_fields = ["content_hash", "created_at"]
    filter_horizontal = ["categories"]

    @admin.display(description="Text")
    def short_text(self, obj: Prompt) -> str:
        return obj.text[:80] + ("…" if len(obj.text) > 80 else "")


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "contact_email", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}


class ModelVersionForm(forms.ModelForm):
    """The endpoint secret is write-only: never rendered back; left blank, it stays as it was."""

    base_url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="OpenAI-compatible base URL, e.g. https://api.example.com/v1",
    )
    api_secret = forms.CharField(
        required=False,
        # Refused, never trimmed: a secret is sent exactly as typed, or not at all.
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored secret.",
    )

    class Meta:
        model = ModelVersion
        fields = [
            "lab",
            "name",
            "version",
            "base_url",
            "model_id",
            "generation_params",
            "api_secret",
            "status",
        ]

    def clean_base_url(self) -> str:
        base_url: str = self.cleaned_data["base_url"]
        problems = endpoint_url_problems(base_url, allow=endpoint_allow_list())
        if problems:
            raise forms.ValidationError(problems)
        return base_url

    def clean_generation_params(self) -> Any:
        # Left empty: no parameters, as the API's default (the column holds an object, never null).
        params = self.cleaned_data.get("generation_params")
        return {} if params is None else params

    def clean_api_secret(self) -> str:
        secret: str = self.cleaned_data.get("api_secret", "")
        if not secret and self.instance.pk:
            return self.instance.api_secret
        problems = endpoint_secret_problems(secret)
        if problems:
            raise forms.ValidationError(problems)
        return secret


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    form = ModelVersionForm
    list_display = ["__str__", "lab", "model_id", "status", "has_api_secret", "created_at"]
    list_filter = ["status", "lab"]
    search_fields = ["name", "version", "model_id", "lab__name"]
    list_select_related = ["lab"]

    @admin.display(boolean=True, description="Secret set")
    def has_api_secret(self, obj: ModelVersion) -> bool:
        return obj.has_api_secret


class SubmissionAddForm(forms.ModelForm):
    """What `submission_create` takes. Validating the form runs the service, so each of its
    refusals (unknown or inactive domain, no active set, already submitted, retired model) shows on
    its field in the API's words, and a valid form has made exactly what the API's submit makes."""

    class Meta:
        model = Submission
        fields = ["model_version", "domains"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "At least one domain" is the service's rule; the form does not say it in other words.
        domains = self.fields["domains"]
        domains.required = False
        domains.help_text = "Submitted on each domain's active prompt set as of now."

    def full_clean(self) -> None:
        # Last, after every check of the form and the model: the service writes when it accepts.
        super().full_clean()
        if not self.is_bound or self.errors:
            return
        try:
            # The admin's view is one transaction: the submission and its collection task (sent
            # on commit) are kept only if the whole request succeeds.
            self.instance = submission_create(
                model_version=self.cleaned_data["model_version"],
                domains=sorted(domain.slug for domain in self.cleaned_data["domains"]),
            )
        except ApplicationError as exc:
            fields = {
                name: errors for name, errors in exc.field_errors.items() if name in self.fields
            }
            for name, errors in fields.items():
                self.add_error(name, errors)
            if not fields:
                self.add_error(None, exc.message)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    """Staff submit through `submission_create` and then only read: every field is the services'
    (the status moves through collection, scheduling and completion), and cancelling is an action
    that goes through `submission_cancel`."""

    list_display = ["__str__", "model_version", "status", "created_at", "updated_at"]
    list_filter = ["status", "domains", "model_version__lab"]
    search_fields = ["model_version__name", "model_version__lab__name"]
    list_select_related = ["model_version__lab"]
    filter_horizontal = ["domains"]
    add_fields = ["model_version", "domains"]
    fields = [
        "model_version",
        "domains",
        "prompt_sets",
        "status",
        "status_detail",
        "cancelled_at",
        "collection_started_at",
        "collection_finished_at",
        "comparisons_scheduled_at",
        "created_at",
        "updated_at",
    ]
    actions = ["cancel_submissions"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = SubmissionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every field is read-only here: no save button that would save nothing.
        no_save = {"show_save": False, "show_save_and_continue": False}
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **no_save}
        )

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any = None, change: bool = False
    ) -> None:
        # Nothing to write: the add form's validation created the submission through the
        # service, and on change every field is read-only.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The service set the domains and pinned the prompt sets.
        return

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A deleted submission would leave its answers and exposures unlinked and take its
        # evaluation progress with it; cancelling is the way to stop one.
        return False

    @admin.action(
        description="Cancel the selected pending or collecting submissions",
        permissions=["change"],
    )
    def cancel_submissions(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        cancelled = 0
        for submission in queryset:
            try:
                submission_cancel(submission=submission, by_staff=True)
            except ApplicationError as exc:
                self.message_user(request, f"{submission}: {exc.message}", messages.ERROR)
            else:
                cancelled += 1
        self.message_user(request, f"{cancelled} submission(s) cancelled.")


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "status",
        "finish_reason",
        "latency_ms",
        "attempts",
        "sends",
        "updated_at",
    ]
    # The answer is what the lab's endpoint sent, and its HTML was rendered from it when stored:
    # neither is edited by hand (an edited text would no longer match the HTML pages show).
    readonly_fields = ["text", "html", "sends"]
    actions = ["retry_failed"]

    @admin.action(description="Retry the selected failed responses", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Response]) -> None:
        outcome = responses_retry_failed(responses=queryset.filter(status=Response.Status.FAILED))
        self.message_user(
            request,
            f"{outcome.retried} failed response(s) will be collected again"
            + (
                f"; {outcome.skipped} skipped (their submission is cancelled or in evaluation)."
                if outcome.skipped
                else "."
            ),
        )

    list_filter = [
        "status",
        "lab_previously_exposed",
        "model_version__lab",
        "prompt__prompt_set__domain",
    ]
    search_fields = ["model_version__name", "prompt__external_id", "error"]
    list_select_related = ["model_version", "prompt"]
    raw_id_fields = ["prompt", "submission"]


@admin.register(PromptExposure)
class PromptExposureAdmin(admin.ModelAdmin):
    list_display = ["lab", "prompt", "model_version", "first_exposed_at"]
    list_filter = ["lab", "prompt__prompt_set__domain"]
    search_fields = ["lab__name", "prompt__external_id"]
    list_select_related = ["lab", "prompt", "model_version"]
    raw_id_fields = ["prompt", "submission"]
    date_hierarchy = "first_exposed_at"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at"]
    readonly_fields = ["hostname", "seen_at"]


class LabAPIKeyForm(forms.ModelForm):
    class Meta:
        model = LabAPIKey
        fields = ["lab", "name", "expiry_date", "revoked"]

    def clean_expiry_date(self) -> Any:
        expiry = self.cleaned_data.get("expiry_date")
        # A new key's rule, as lab_api_key_create's; an issued key's expiry may be moved to now
        # or before, to end it.
        if not self.instance.pk and (problem := LabAPIKey.expiry_problem(expiry)):
            raise forms.ValidationError(problem)
        return expiry


@admin.register(LabAPIKey)
class LabAPIKeyAdmin(admin.ModelAdmin):
    """Staff issue a lab's keys here; the key is shown once, on creation, and stored hashed."""

    form = LabAPIKeyForm
    list_display = ["prefix", "name", "lab", "created", "expiry_date", "_has_expired", "revoked"]
    list_filter = ["lab", "revoked", "created"]
    search_fields = ["name", "prefix", "lab__name"]
    list_select_related = ["lab"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields: tuple[str, ...] = ("prefix",)
        if obj is not None:
            # The lab of an issued key never changes; a revoked key stays revoked.
            fields += ("lab",)
            if obj.revoked:
                fields += ("name", "revoked", "expiry_date")
        return fields

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any = None, change: bool = False
    ) -> None:
        if change:
            obj.save()
            return
        key, raw_key = lab_api_key_create(lab=obj.lab, name=obj.name, expires_at=obj.expiry_date)
        # The admin goes on with `obj` (change message, redirect): make it the stored key.
        for model_field in LabAPIKey._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(key, model_field.attname))
        obj._state.adding = False
        obj._state.db = key._state.db
        messages.warning(
            request,
            f"The API key for {key.lab} ({key.name}) is: {raw_key} — copy it now: it is stored "
            "hashed and will not be shown again.",
        )

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[LabAPIKey]) -> None:
        for key in queryset:
            lab_api_key_revoke(key=key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.")


class SealUserAdmin(UserAdmin):
    """Django's user admin plus an action that locks an account out at once."""

    actions = ["deactivate_and_end_sessions"]

    @admin.action(description="Deactivate and end sessions", permissions=["change"])
    def deactivate_and_end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = sum(user_deactivate(user=user) for user in queryset)
        self.message_user(
            request, f"{queryset.count()} account(s) deactivated, {ended} session(s) ended."
        )


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, SealUserAdmin)


class _WebhookReadOnlyAdmin(admin.ModelAdmin):
    """Labs manage their endpoints through the API; staff read, and act through the actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [str(name) for name in self.fields or []]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_WebhookReadOnlyAdmin):
    list_display = ["__str__", "lab", "url", "event_types", "is_active", "created_at"]
    list_filter = ["is_active", "lab"]
    list_select_related = ["lab"]
    # Never the signing secret: only the lab reads it, through its own API key.
    fields = ["lab", "url", "description", "event_types", "is_active", "created_at", "updated_at"]
    actions = ["disable", "enable"]

    @admin.action(description="Disable the selected endpoints", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, is_active=False)
        self.message_user(request, f"{queryset.count()} endpoint(s) disabled.")

    @admin.action(description="Enable the selected endpoints", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, is_active=True)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_WebhookReadOnlyAdmin):
    list_display = [
        "__str__",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "endpoint__lab"]
    list_select_related = ["endpoint"]
    search_fields = ["event_id"]
    fields = [
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "claimed_until",
        "created_at",
        "payload",
    ]
    actions = ["resend"]

    @admin.action(
        description="Send the selected delivered or failed deliveries again", permissions=["change"]
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        sent = sum(webhook_delivery_resend(delivery=delivery) for delivery in queryset)
        skipped = queryset.count() - sent
        self.message_user(
            request,
            f"{sent} delivery(ies) will be sent again"
            + (f"; {skipped} skipped (still pending or being sent)." if skipped else "."),
        )
