"""The lab API (v1): model versions, submissions and their progress. Thin: serializers in and
out, a selector or a service in between. Everything is scoped to the key's lab; another lab's
objects answer 404. No endpoint ever returns prompt text or an endpoint secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.selectors import SubmissionEvaluation, submission_evaluation_many
from leaderboards.models import EvaluationProgress
from leaderboards.selectors import evaluation_progress_many
from seal.models import (
    Domain,
    Lab,
    LabAPIKey,
    ModelVersion,
    Submission,
    WebhookDelivery,
    WebhookEndpoint,
)
from seal.rest import (
    HasLabAPIKey,
    LabAPIKeyAuthentication,
    LabKeyRateThrottle,
    LabPagination,
    LimitedJSONParser,
    error_responses,
    list_error_responses,
)
from seal.selectors import (
    SubmissionProgress,
    domain_list_submittable,
    model_version_list,
    response_failure_kinds_many,
    submission_list,
    submission_progress_many,
    webhook_delivery_list,
    webhook_endpoint_list,
)
from seal.services import (
    model_version_create,
    submission_cancel,
    submission_create,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_test,
    webhook_endpoint_update,
)
from seal.webhooks import TEST_EVENT_TYPE

READ_ERRORS = error_responses(401, 429)
LIST_ERRORS = list_error_responses(400, 401, 429)
DETAIL_ERRORS = error_responses(401, 404, 429)
WRITE_ERRORS = error_responses(400, 401, 413, 415, 429)


class LabApi(GenericAPIView):
    """Base of every lab endpoint: API-key authentication, per-key rate limit, JSON only."""

    authentication_classes = [LabAPIKeyAuthentication]
    permission_classes = [HasLabAPIKey]
    throttle_classes = [LabKeyRateThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]
    pagination_class = LabPagination
    # OPTIONS would describe serializers these views do not declare; the schema does that.
    metadata_class = None

    @property
    def key(self) -> LabAPIKey:
        assert isinstance(self.request.auth, LabAPIKey)
        return self.request.auth

    @property
    def lab(self) -> Lab:
        return self.key.lab

    @property
    def for_schema(self) -> bool:
        return getattr(self, "swagger_fake_view", False)


# --- The lab itself ------------------------------------------------------------------------------


class LabDetailApi(LabApi):
    @extend_schema_serializer(component_name="Lab")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        slug = serializers.CharField()
        key_name = serializers.CharField()
        key_prefix = serializers.CharField()
        key_expires_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="lab_retrieve",
        summary="The lab behind the API key, and the key's expiry",
        responses={200: OutputSerializer, **READ_ERRORS},
        tags=["lab"],
    )
    def get(self, request: Request) -> Response:
        data = {
            "name": self.lab.name,
            "slug": self.lab.slug,
            "key_name": self.key.name,
            "key_prefix": self.key.prefix,
            "key_expires_at": self.key.expiry_date,
        }
        return Response(self.OutputSerializer(data).data)


# --- Domains -------------------------------------------------------------------------------------


class DomainListApi(LabApi):
    @extend_schema_serializer(component_name="Domain")
    class OutputSerializer(serializers.ModelSerializer):
        active_prompt_count = serializers.IntegerField(
            help_text="How many prompts the domain's active set holds (their text stays private)"
        )

        class Meta:
            model = Domain
            fields = ["slug", "name", "description", "answer_grading", "active_prompt_count"]

    def get_queryset(self) -> QuerySet[Domain]:
        return domain_list_submittable()

    @extend_schema(
        operation_id="domains_list",
        summary="Domains a model can be submitted for",
        responses={200: OutputSerializer(many=True), **list_error_responses(401, 429)},
        tags=["domains"],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)


# --- Model versions ------------------------------------------------------------------------------


@extend_schema_serializer(component_name="ModelVersion")
class ModelVersionOutputSerializer(serializers.ModelSerializer):
    has_api_secret = serializers.BooleanField(
        help_text="Whether an endpoint secret is stored (it is never returned)"
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "version",
            "base_url",
            "model_id",
            "generation_params",
            "status",
            "has_api_secret",
            "created_at",
        ]


class ModelVersionFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="iexact")
    version = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = ModelVersion
        fields = ["status", "name", "version"]


class ModelVersionListCreateApi(LabApi):
    filterset_class = ModelVersionFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["created_at", "name"]

    @extend_schema_serializer(component_name="ModelVersionCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        version = serializers.CharField(max_length=50)
        base_url = serializers.CharField(
            max_length=500,
            help_text="OpenAI-compatible base URL; SEAL POSTs to {base_url}/chat/completions",
        )
        model_id = serializers.CharField(max_length=200, help_text="The `model` sent")
        generation_params = serializers.DictField(
            required=False,
            help_text="temperature, top_p, max_tokens, seed, presence_penalty, "
            "frequency_penalty, stop",
        )
        api_secret = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=500,
            write_only=True,
            trim_whitespace=False,
            style={"input_type": "password"},
            help_text="Sent as `Authorization: Bearer <secret>`. Write-only: never returned.",
        )

    def get_queryset(self) -> QuerySet[ModelVersion]:
        if self.for_schema:
            return ModelVersion.objects.none()
        return model_version_list(lab=self.lab)

    @extend_schema(
        operation_id="model_versions_list",
        summary="The lab's model versions",
        responses={200: ModelVersionOutputSerializer(many=True), **LIST_ERRORS},
        tags=["model versions"],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ModelVersionOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="model_versions_create",
        summary="Register a model version and its endpoint",
        request=InputSerializer,
        responses={201: ModelVersionOutputSerializer, **WRITE_ERRORS},
        tags=["model versions"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model_version = model_version_create(lab=self.lab, **serializer.validated_data)
        return Response(
            ModelVersionOutputSerializer(model_version).data, status=status.HTTP_201_CREATED
        )


class ModelVersionDetailApi(LabApi):
    def get_queryset(self) -> QuerySet[ModelVersion]:
        if self.for_schema:
            return ModelVersion.objects.none()
        return model_version_list(lab=self.lab)

    @extend_schema(
        operation_id="model_versions_retrieve",
        summary="One model version",
        responses={200: ModelVersionOutputSerializer, **DETAIL_ERRORS},
        tags=["model versions"],
    )
    def get(self, request: Request, pk: int) -> Response:
        model_version = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(ModelVersionOutputSerializer(model_version).data)


# --- Submissions ---------------------------------------------------------------------------------


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Prompts the model is asked to answer")
    collected = serializers.IntegerField(help_text="Answers received")
    failed = serializers.IntegerField(
        help_text="Prompts whose calls failed for good; the submission's `failures` say why"
    )
    pending = serializers.IntegerField(help_text="Prompts not sent or not answered yet")
    comparisons_created = serializers.IntegerField(
        help_text="Comparisons of this model's answers with other models' in the domains"
    )
    ratings_approved = serializers.IntegerField(
        help_text="Expert ratings of those comparisons that passed both review layers"
    )


@extend_schema_serializer(component_name="SubmissionDomainEvaluation")
class DomainEvaluationSerializer(serializers.Serializer):
    domain = serializers.CharField(source="domain.slug", help_text="Domain slug")
    status = serializers.SerializerMethodField(help_text="`evaluating` or `done`")
    done_reason = serializers.CharField(
        help_text="Why it is done: `precision` (the interval reached the target width), "
        "`settled` (the interval no longer overlaps its neighbours'), `budget` (the domain's "
        "rating budget is spent), `no_comparisons`; empty while evaluating"
    )
    done_at = serializers.DateTimeField(allow_null=True)
    ratings_done = serializers.IntegerField(
        help_text="Expert ratings of this model's comparisons that passed both review layers"
    )
    ratings_scheduled = serializers.IntegerField(
        help_text="Ratings still to come on comparisons already scheduled"
    )
    ratings_needed = serializers.IntegerField(
        allow_null=True,
        help_text="Estimated further ratings before the interval reaches the target width "
        "(null until the model has an interval; 0 once done)",
    )
    elo = serializers.FloatField(allow_null=True, help_text="On the latest published board")
    lower = serializers.FloatField(allow_null=True, help_text="95% interval, lower end")
    upper = serializers.FloatField(allow_null=True, help_text="95% interval, upper end")
    half_width = serializers.FloatField(allow_null=True, help_text="Half the interval's width")
    target_half_width = serializers.FloatField(help_text="The half-width that ends evaluation")
    estimated_finish = serializers.DateTimeField(
        allow_null=True,
        help_text="When the needed ratings should be done at the pool's recent throughput "
        "(null when done or unknown)",
    )
    updated_at = serializers.DateTimeField(help_text="When the scheduler last assessed it")

    def get_status(self, row: EvaluationProgress) -> str:
        return "done" if row.is_done else "evaluating"


@extend_schema_serializer(component_name="SubmissionFailure")
class FailureSerializer(serializers.Serializer):
    kind = serializers.CharField(
        help_text="Why the calls failed for good: `http_<status>` (the endpoint answered with "
        "that status), `timeout`, `connect_error`, `connection_dropped`, `redirect`, "
        "`invalid_response` (not a chat completion), `response_too_large`, `blocked_address`, "
        "`unstorable` (an answer came back but could not be stored), `send_limit` (the prompt "
        "was sent SEAL_COLLECTION_MAX_SENDS_PER_PROMPT times, 5 by default, without an answer "
        "that could be stored, and is not sent again), `internal_error`, `unknown`"
    )
    count = serializers.IntegerField(help_text="How many of the submission's prompts failed so")


@extend_schema_serializer(component_name="Submission")
class SubmissionOutputSerializer(serializers.ModelSerializer):
    model_version_name = serializers.SerializerMethodField()
    domains = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    failures = serializers.SerializerMethodField()
    evaluation = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "model_version",
            "model_version_name",
            "domains",
            "status",
            "status_detail",
            "progress",
            "failures",
            "evaluation",
            "created_at",
            "updated_at",
            "collection_started_at",
            "collection_finished_at",
            "cancelled_at",
        ]

    def get_model_version_name(self, submission: Submission) -> str:
        return str(submission.model_version)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_domains(self, submission: Submission) -> list[str]:
        return sorted(domain.slug for domain in submission.domains.all())

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, submission: Submission) -> dict[str, int]:
        progress: SubmissionProgress = self.context["progress"][submission.pk]
        evaluation: SubmissionEvaluation = self.context["evaluation"][submission.pk]
        return {
            "total": progress.total,
            "collected": progress.collected,
            "failed": progress.failed,
            "pending": progress.pending,
            "comparisons_created": evaluation.comparisons_created,
            "ratings_approved": evaluation.ratings_approved,
        }

    @extend_schema_field(DomainEvaluationSerializer(many=True))
    def get_evaluation(self, submission: Submission) -> list[dict[str, Any]]:
        """Per domain: how far human evaluation is from done, once comparisons are scheduled."""
        rows = self.context["domain_evaluation"].get(submission.pk, [])
        return list(DomainEvaluationSerializer(rows, many=True).data)

    @extend_schema_field(FailureSerializer(many=True))
    def get_failures(self, submission: Submission) -> list[dict[str, Any]]:
        kinds: dict[str, int] = self.context["failures"][submission.pk]
        return [{"kind": kind, "count": count} for kind, count in kinds.items()]


def submissions_output(submissions: list[Submission], *, many: bool) -> Any:
    context = {
        "progress": submission_progress_many(submissions=submissions),
        "failures": response_failure_kinds_many(submissions=submissions),
        "evaluation": submission_evaluation_many(submissions=submissions),
        "domain_evaluation": evaluation_progress_many(
            submission_ids=[submission.pk for submission in submissions]
        ),
    }
    serializer = SubmissionOutputSerializer(
        submissions if many else submissions[0], many=many, context=context
    )
    return serializer.data


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 accepts offsets up to ±23:59, PostgreSQL only ±15:59: compare in UTC."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


def _own_model_versions(request: Request | None) -> QuerySet[ModelVersion]:
    """The choices of the model_version filter: the key's lab's only, so another lab's id is
    refused like a missing one instead of telling that it exists."""
    auth = getattr(request, "auth", None)
    if not isinstance(auth, LabAPIKey):
        return ModelVersion.objects.none()
    return model_version_list(lab=auth.lab)


class SubmissionFilter(django_filters.FilterSet):
    model_version = django_filters.ModelChoiceFilter(queryset=_own_model_versions)
    domain = django_filters.CharFilter(field_name="domains__slug", label="Domain slug")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Submission
        fields = ["status", "model_version", "domain", "created_after", "created_before"]


class SubmissionListCreateApi(LabApi):
    filterset_class = SubmissionFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["created_at", "updated_at"]

    @extend_schema_serializer(component_name="SubmissionCreate")
    class InputSerializer(serializers.Serializer):
        model_version = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
        domains = serializers.ListField(
            child=serializers.SlugField(max_length=50),
            min_length=1,
            max_length=20,
            help_text="Domain slugs, e.g. coding, math",
        )

    def get_queryset(self) -> QuerySet[Submission]:
        if self.for_schema:
            return Submission.objects.none()
        return submission_list(lab=self.lab)

    @extend_schema(
        operation_id="submissions_list",
        summary="The lab's submissions with their progress",
        responses={200: SubmissionOutputSerializer(many=True), **LIST_ERRORS},
        tags=["submissions"],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).distinct())
        return self.get_paginated_response(submissions_output(list(page or []), many=True))

    @extend_schema(
        operation_id="submissions_create",
        summary="Submit a model version for evaluation in some domains",
        description="Collection of the model's answers starts at once; follow it on the "
        "submission. The lab is never sent anything but the prompts themselves, through its "
        "own endpoint.",
        request=InputSerializer,
        responses={201: SubmissionOutputSerializer, **WRITE_ERRORS},
        tags=["submissions"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model_version = (
            model_version_list(lab=self.lab).filter(pk=serializer.validated_data["model_version"])
        ).first()
        if model_version is None:
            raise serializers.ValidationError({"model_version": ["No such model version."]})
        submission = submission_create(
            model_version=model_version, domains=serializer.validated_data["domains"]
        )
        fresh = submission_list(lab=self.lab).get(pk=submission.pk)
        return Response(submissions_output([fresh], many=False), status=status.HTTP_201_CREATED)


class SubmissionDetailApi(LabApi):
    def get_queryset(self) -> QuerySet[Submission]:
        if self.for_schema:
            return Submission.objects.none()
        return submission_list(lab=self.lab)

    @extend_schema(
        operation_id="submissions_retrieve",
        summary="One submission: status and progress (counts only)",
        responses={200: SubmissionOutputSerializer, **DETAIL_ERRORS},
        tags=["submissions"],
    )
    def get(self, request: Request, pk: int) -> Response:
        submission = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(submissions_output([submission], many=False))


class SubmissionCancelApi(LabApi):
    def get_queryset(self) -> QuerySet[Submission]:
        if self.for_schema:
            return Submission.objects.none()
        return submission_list(lab=self.lab)

    @extend_schema(
        operation_id="submissions_cancel",
        summary="Cancel a pending or collecting submission: no further prompt is sent",
        request=None,
        responses={200: SubmissionOutputSerializer, **error_responses(400, 401, 404, 429)},
        tags=["submissions"],
    )
    def post(self, request: Request, pk: int) -> Response:
        submission = get_object_or_404(self.get_queryset(), pk=pk)
        submission_cancel(submission=submission)
        fresh = self.get_queryset().get(pk=submission.pk)
        return Response(submissions_output([fresh], many=False))


# --- Webhooks ------------------------------------------------------------------------------------

WEBHOOK_TAGS = ["webhooks"]
SIGNING_KEY_HELP = (
    "The signing secret (`whsec_` + base64), as Standard Webhooks libraries take it: verify each "
    "message's `webhook-signature` with it. Keep it secret."
)


@extend_schema_serializer(component_name="WebhookEndpoint")
class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.EventType.choices)
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "created_at",
            "updated_at",
        ]


@extend_schema_serializer(component_name="WebhookEndpointWithSecret")
class WebhookEndpointSecretOutputSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(help_text=SIGNING_KEY_HELP)

    class Meta(WebhookEndpointOutputSerializer.Meta):
        fields = [*WebhookEndpointOutputSerializer.Meta.fields, "secret"]


@extend_schema_serializer(component_name="WebhookSecret")
class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text=SIGNING_KEY_HELP)


@extend_schema_serializer(component_name="WebhookDelivery")
class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    event_type = serializers.ChoiceField(
        choices=[*WebhookEndpoint.EventType.choices, (TEST_EVENT_TYPE, "Test event")]
    )
    payload = serializers.DictField(help_text="The message's `data`, as sent")
    last_error = serializers.CharField(
        help_text="Why the last attempt failed: `HTTP <status>: <start of your answer>`, "
        "`timeout`, `connect_error`, `blocked_address`, or empty"
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
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
            "created_at",
            "payload",
        ]


class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=500,
        help_text="Where SEAL POSTs the events: http(s), a public address, no credentials",
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.EventType.choices),
        min_length=1,
        max_length=10,
        required=False,
        help_text="The events to send here; all of them when left out",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, help_text="Disabled endpoints get nothing")


@extend_schema_serializer(component_name="WebhookEndpointCreate")
class WebhookEndpointCreateSerializer(WebhookEndpointInputSerializer):
    pass


@extend_schema_serializer(component_name="WebhookEndpointUpdate")
class WebhookEndpointUpdateSerializer(WebhookEndpointInputSerializer):
    pass


class WebhookEndpointListCreateApi(LabApi):
    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if self.for_schema:
            return WebhookEndpoint.objects.none()
        return webhook_endpoint_list(lab=self.lab)

    @extend_schema(
        operation_id="webhooks_list",
        summary="The lab's webhook endpoints",
        responses={200: WebhookEndpointOutputSerializer(many=True), **LIST_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookEndpointOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint; the answer holds its signing secret",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointSecretOutputSerializer, **WRITE_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def post(self, request: Request) -> Response:
        serializer = WebhookEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(lab=self.lab, **serializer.validated_data)
        return Response(
            WebhookEndpointSecretOutputSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


class WebhookEndpointDetailApi(LabApi):
    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if self.for_schema:
            return WebhookEndpoint.objects.none()
        return webhook_endpoint_list(lab=self.lab)

    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One webhook endpoint",
        responses={200: WebhookEndpointOutputSerializer, **DETAIL_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(WebhookEndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook endpoint's URL, events, description or active flag",
        request=WebhookEndpointUpdateSerializer(partial=True),
        responses={
            200: WebhookEndpointOutputSerializer,
            **error_responses(400, 401, 404, 413, 415, 429),
        },
        tags=WEBHOOK_TAGS,
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        serializer = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(WebhookEndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Remove a webhook endpoint and its delivery log",
        responses={204: None, **DETAIL_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def delete(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointSecretApi(LabApi):
    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if self.for_schema:
            return WebhookEndpoint.objects.none()
        return webhook_endpoint_list(lab=self.lab)

    @extend_schema(
        operation_id="webhooks_secret_retrieve",
        summary="The endpoint's signing secret",
        responses={200: WebhookSecretSerializer, **DETAIL_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(WebhookSecretSerializer({"secret": endpoint.secret}).data)


class WebhookEndpointSecretRotateApi(LabApi):
    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if self.for_schema:
            return WebhookEndpoint.objects.none()
        return webhook_endpoint_list(lab=self.lab)

    @extend_schema(
        operation_id="webhooks_secret_rotate",
        summary="Replace the endpoint's signing secret; messages from now on use the new one",
        request=None,
        responses={200: WebhookSecretSerializer, **DETAIL_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        endpoint = webhook_endpoint_secret_rotate(endpoint=endpoint)
        return Response(WebhookSecretSerializer({"secret": endpoint.secret}).data)


class WebhookEndpointTestApi(LabApi):
    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if self.for_schema:
            return WebhookEndpoint.objects.none()
        return webhook_endpoint_list(lab=self.lab)

    @extend_schema(
        operation_id="webhooks_test",
        summary="Send a `webhook.test` event to the endpoint; follow it in the delivery log",
        request=None,
        responses={202: WebhookDeliveryOutputSerializer, **error_responses(400, 401, 404, 429)},
        tags=WEBHOOK_TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        delivery = webhook_endpoint_test(endpoint=endpoint)
        fresh = webhook_delivery_list(lab=self.lab).get(pk=delivery.pk)
        return Response(
            WebhookDeliveryOutputSerializer(fresh).data, status=status.HTTP_202_ACCEPTED
        )


def _own_webhook_endpoints(request: Request | None) -> QuerySet[WebhookEndpoint]:
    """The endpoint filter's choices: the key's lab's only (another lab's id reads as missing)."""
    auth = getattr(request, "auth", None)
    if not isinstance(auth, LabAPIKey):
        return WebhookEndpoint.objects.none()
    return webhook_endpoint_list(lab=auth.lab)


class WebhookDeliveryFilter(django_filters.FilterSet):
    endpoint = django_filters.ModelChoiceFilter(queryset=_own_webhook_endpoints)
    event_type = django_filters.ChoiceFilter(
        choices=[*WebhookEndpoint.EventType.choices, (TEST_EVENT_TYPE, "Test event")]
    )
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "status", "event_type", "created_after"]


class WebhookDeliveryListApi(LabApi):
    filterset_class = WebhookDeliveryFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if self.for_schema:
            return WebhookDelivery.objects.none()
        return webhook_delivery_list(lab=self.lab)

    @extend_schema(
        operation_id="webhook_deliveries_list",
        summary="The delivery log of the lab's webhook endpoints, newest first",
        responses={200: WebhookDeliveryOutputSerializer(many=True), **LIST_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(WebhookDeliveryOutputSerializer(page, many=True).data)


class WebhookDeliveryDetailApi(LabApi):
    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if self.for_schema:
            return WebhookDelivery.objects.none()
        return webhook_delivery_list(lab=self.lab)

    @extend_schema(
        operation_id="webhook_deliveries_retrieve",
        summary="One delivery: its attempts and the last answer's status",
        responses={200: WebhookDeliveryOutputSerializer, **DETAIL_ERRORS},
        tags=WEBHOOK_TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        delivery = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(WebhookDeliveryOutputSerializer(delivery).data)
