"""The lab API, version 1, with its OpenAPI schema and documentation pages (served locally)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from seal import apis

urlpatterns = [
    # Public leaderboards and a lab's own results live with the leaderboards (a higher layer).
    path("", include("leaderboards.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's init script as a file: the CSP allows no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="seal/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("lab/", apis.LabDetailApi.as_view(), name="api-lab"),
    path("domains/", apis.DomainListApi.as_view(), name="api-domains"),
    path("model-versions/", apis.ModelVersionListCreateApi.as_view(), name="api-model-versions"),
    path(
        "model-versions/<int:pk>/",
        apis.ModelVersionDetailApi.as_view(),
        name="api-model-version",
    ),
    path("submissions/", apis.SubmissionListCreateApi.as_view(), name="api-submissions"),
    path("submissions/<int:pk>/", apis.SubmissionDetailApi.as_view(), name="api-submission"),
    path(
        "submissions/<int:pk>/cancel/",
        apis.SubmissionCancelApi.as_view(),
        name="api-submission-cancel",
    ),
    path("webhooks/", apis.WebhookEndpointListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", apis.WebhookEndpointDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<int:pk>/secret/",
        apis.WebhookEndpointSecretApi.as_view(),
        name="api-webhook-secret",
    ),
    path(
        "webhooks/<int:pk>/secret/rotate/",
        apis.WebhookEndpointSecretRotateApi.as_view(),
        name="api-webhook-secret-rotate",
    ),
    path("webhooks/<int:pk>/test/", apis.WebhookEndpointTestApi.as_view(), name="api-webhook-test"),
    path(
        "webhook-deliveries/",
        apis.WebhookDeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhook-deliveries/<int:pk>/",
        apis.WebhookDeliveryDetailApi.as_view(),
        name="api-webhook-delivery",
    ),
]
