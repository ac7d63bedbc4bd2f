"""The OpenAPI schema, the offline documentation pages, and schemathesis against the schema."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from seal.services import lab_api_key_create
from tests.factories import LabFactory, ModelVersionFactory
from tests.seal.conftest import domain_with_prompts

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/lab/", "get"),
    ("/api/v1/domains/", "get"),
    ("/api/v1/model-versions/", "get"),
    ("/api/v1/model-versions/", "post"),
    ("/api/v1/model-versions/{id}/", "get"),
    ("/api/v1/submissions/", "get"),
    ("/api/v1/submissions/", "post"),
    ("/api/v1/submissions/{id}/", "get"),
    ("/api/v1/submissions/{id}/cancel/", "post"),
}


def test_the_schema_is_openapi_3_and_documents_every_lab_operation(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    lab_operations = {
        (path, method)
        for path, item in schema["paths"].items()
        for method in item
        if path.startswith("/api/v1/")
        and path.split("/")[3] in {"lab", "domains", "model-versions", "submissions"}
    }
    assert lab_operations == OPERATIONS
    assert schema["components"]["securitySchemes"]["LabAPIKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Your lab's key, sent as `Authorization: Api-Key <key>`.",
    }
    create = schema["paths"]["/api/v1/model-versions/"]["post"]
    assert {"201", "400", "401", "413", "415", "429"} <= set(create["responses"])
    request_schema = schema["components"]["schemas"]["ModelVersionCreateRequest"]
    assert "api_secret" in request_schema["properties"]
    output_schema = schema["components"]["schemas"]["ModelVersion"]
    assert "api_secret" not in output_schema["properties"]
    assert set(schema["components"]["schemas"]["Progress"]["properties"]) == {
        "total",
        "collected",
        "failed",
        "pending",
        "comparisons_created",
        "ratings_approved",
    }


def test_the_docs_page_loads_its_assets_from_this_site(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(not s.startswith(("http:", "https:", "//")) for s in sources), sources
    assert "/static/drf_spectacular_sidecar/" in html
    for asset in {s for s in sources if s.startswith("/static/")}:
        assert client.get(asset).status_code == 200, asset


def _schema_from_code() -> schemathesis.schemas.BaseSchema:
    """The schema as /api/v1/schema/ serves it, built at import so tests are one per operation."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = get_wsgi_application()  # calls go to the WSGI app in-process
    return loaded


schema = _schema_from_code()


@pytest.fixture
def lab_key(db, settings) -> Iterator[str]:
    settings.SEAL_API_RATE_LIMIT = "100000/minute"
    # Calls go straight to the WSGI app, not through Django's test client, so do what the
    # client does: keep the test transaction's connection open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    lab = LabFactory.create()
    _, raw_key = lab_api_key_create(lab=lab, name="schemathesis")
    ModelVersionFactory.create(lab=lab)
    domain_with_prompts(2, slug="coding")
    yield raw_key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_request_the_schema_allows_makes_the_server_fail(case, lab_key):
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {lab_key}"}, checks=[not_a_server_error]
    )
