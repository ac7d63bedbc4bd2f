"""Model versions through the lab API, and what every endpoint shares: errors, paging, limits."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from seal.models import ModelVersion
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/model-versions/"
VALID = {
    "name": "Orca",
    "version": "2.1",
    "base_url": "https://api.lab.example/v1",
    "model_id": "orca-2.1",
    "generation_params": {"temperature": 0.2, "max_tokens": 512},
    "api_secret": "sk-write-only",
}


def test_urls_are_versioned():
    assert reverse("api-model-versions") == URL


def test_register_a_model_version_the_secret_is_write_only(lab_client):
    response = lab_client.client.post(URL, VALID, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "api_secret" not in body
    assert "sk-write-only" not in response.content.decode()
    assert body["has_api_secret"] is True
    assert body["generation_params"] == {"temperature": 0.2, "max_tokens": 512}
    stored = ModelVersion.objects.get(pk=body["id"])
    assert stored.lab == lab_client.lab
    assert stored.api_secret == "sk-write-only"

    detail = lab_client.client.get(f"{URL}{body['id']}/")
    assert detail.status_code == 200
    assert detail.json() == body


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "This field may not be blank."),
        ({"name": None}, "name", "This field may not be null."),
        ({"version": "x" * 51}, "version", "Ensure this field has no more than 50 characters."),
        ({"base_url": "ftp://files.example/v1"}, "base_url", "must be an http(s) URL"),
        (
            {"base_url": "https://user:pw@api.example/v1"},
            "base_url",
            "must not contain credentials; send the secret as api_secret",
        ),
        (
            {"base_url": "http://10.0.0.8/v1"},
            "base_url",
            "points to a private, loopback or reserved address",
        ),
        (
            {"base_url": "http://localhost:8000/v1"},
            "base_url",
            "points to a private, loopback or reserved address",
        ),
        ({"generation_params": {"temperature": 9}}, "generation_params.temperature", None),
        ({"generation_params": {"colour": 1}}, "generation_params.colour", None),
        ({"generation_params": {"stop": ["a"] * 5}}, "generation_params.stop", None),
        ({"generation_params": "hot"}, "generation_params", None),
    ],
)
def test_bad_fields_get_400_naming_the_field(lab_client, change, field, message):
    response = lab_client.client.post(URL, {**VALID, **change}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    if message:
        assert error["fields"][field] == [message]


def test_a_missing_field_is_named(lab_client):
    response = lab_client.client.post(URL, {"name": "Only"}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"version", "base_url", "model_id"}
    assert fields["model_id"] == ["This field is required."]


def test_a_duplicate_version_is_refused(lab_client):
    assert lab_client.client.post(URL, VALID, format="json").status_code == 201
    response = lab_client.client.post(URL, VALID, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "Orca 2.1 is already registered",
        "fields": {"version": ["taken"]},
    }


def test_list_is_paginated_filtered_and_ordered(lab_client):
    for i in range(5):
        ModelVersionFactory.create(lab=lab_client.lab, name=f"M{i}", version="1")
    ModelVersionFactory.create(lab=lab_client.lab, status=ModelVersion.Status.RETIRED)
    ModelVersionFactory.create()  # another lab's
    page = lab_client.client.get(URL, {"page_size": 2}).json()
    assert page["count"] == 6
    assert len(page["results"]) == 2
    assert page["next"].endswith("page=2&page_size=2")
    retired = lab_client.client.get(URL, {"status": "retired"}).json()
    assert retired["count"] == 1
    by_name = lab_client.client.get(URL, {"name": "m3"}).json()
    assert [m["name"] for m in by_name["results"]] == ["M3"]
    ordered = lab_client.client.get(URL, {"ordering": "name"}).json()["results"]
    assert [m["name"] for m in ordered][:2] == ["M0", "M1"]


def test_a_bad_filter_or_page_is_named(lab_client):
    response = lab_client.client.get(URL, {"status": "sleeping"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["status"]
    response = lab_client.client.get(URL, {"page": 99})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_bodies_that_are_not_json_or_too_large_are_refused(lab_client, settings):
    response = lab_client.client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    response = lab_client.client.post(
        URL, "name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    settings.SEAL_API_MAX_BODY_BYTES = 1024
    response = lab_client.client.post(URL, {**VALID, "name": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": "The request body is larger than 1024 bytes.",
        "fields": {},
    }
    assert not ModelVersion.objects.exists()


def test_a_body_over_djangos_upload_limit_is_413_in_the_error_shape(lab_client, settings):
    # DRF reads request.body before the parser, so Django's cap (RequestDataTooBig) fires first.
    body = b'{"name": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'
    response = lab_client.client.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 413
    limit = min(settings.SEAL_API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": f"The request body is larger than {limit} bytes.",
        "fields": {},
    }
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 20_000 + "]" * 20_000, "nested deeper than 32 levels"),
        ('{"generation_params": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001, "nested deeper"),
        (
            '{"name": "x", "generation_params": {"seed": ' + "9" * 5_000 + "}}",
            "a number 5000 characters long",
        ),
    ],
    ids=["deep array", "deep object", "5,000-digit number"],
)
def test_deep_json_or_huge_numbers_are_400_naming_the_problem(lab_client, body, message):
    response = lab_client.client.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error"
    assert message in error["message"]
    assert not ModelVersion.objects.exists()


def test_brackets_inside_json_strings_are_not_nesting(lab_client):
    body = {**VALID, "name": "[{" * 20 + '\\"' + "[" * 20}
    response = lab_client.client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()


def test_each_key_is_rate_limited_with_retry_after(make_lab_client, settings):
    settings.SEAL_API_RATE_LIMIT = "3/minute"
    first, second = make_lab_client(), make_lab_client()
    for _ in range(3):
        assert first.client.get(URL).status_code == 200
    response = first.client.get(URL)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"
    # The limit is per key: another lab is not slowed down.
    assert second.client.get(URL).status_code == 200


def test_unknown_api_paths_and_methods_answer_in_the_error_shape(lab_client):
    response = lab_client.client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = lab_client.client.delete(URL)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_paths_answer_404_to_writes_too_not_the_csrf_page(method, lab_client):
    # Schemathesis found POST /api/v1/submissions/-1/cancel/ answering 403 with an HTML page.
    client = Client(enforce_csrf_checks=True)
    headers = {"Authorization": f"Api-Key {lab_client.raw_key}"}
    response = getattr(client, method)("/api/v1/submissions/-1/cancel/", headers=headers)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
