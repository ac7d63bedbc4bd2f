"""Endpoint secrets: one that cannot be a header value is refused where it is registered (API and
admin, one rule), and no spelling of a secret ever reaches a stored error or the log."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest
from django.core.management import call_command
from django.urls import reverse

from seal.endpoints import scrub_secret
from seal.models import ModelVersion, Response, Submission
from seal.services import submission_create
from tests.builders import domain_with_prompts, model_on
from tests.factories import LabFactory, ModelVersionFactory, ResponseFactory, UserFactory
from tests.seal.test_api_model_versions import URL, VALID

pytestmark = pytest.mark.django_db

CONTROL_SECRET = "s3cr3t-ctl\r\nX-Injected: 1"


def spellings(secret: str) -> list[str]:
    """How a secret may appear in a message: as is, escaped by repr/JSON/bytes, URL-encoded."""
    return [
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        repr(secret.encode())[2:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        # What an error excerpt typically keeps: the part before the first odd character.
        secret.split("\r")[0].split('"')[0],
    ]


def assert_nowhere(secret: str, *texts: str) -> None:
    for text in texts:
        for form in spellings(secret):
            assert form not in text, (form, text)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "seal", "celery"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.parametrize(
    "secret", [CONTROL_SECRET, "sk-tab\there", "sk-nul\x00x", "sk with space", "sk-é"]
)
def test_the_api_refuses_a_secret_a_header_cannot_carry(lab_client, secret):
    response = lab_client.client.post(URL, {**VALID, "api_secret": secret}, format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["api_secret"], fields
    assert not ModelVersion.objects.exists()


def test_the_admin_refuses_a_secret_a_header_cannot_carry_by_the_same_rule(client):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    lab = LabFactory.create()
    form = {
        "lab": lab.pk,
        "name": "Orca",
        "version": "1",
        "base_url": "https://api.lab.example/v1",
        "model_id": "orca",
        "generation_params": "{}",
        "api_secret": CONTROL_SECRET,
        "status": ModelVersion.Status.ACTIVE,
    }
    response = client.post(reverse("admin:seal_modelversion_add"), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["api_secret"]
    assert "visible ASCII" in errors["api_secret"][0]
    assert not ModelVersion.objects.exists()
    # Trailing line breaks are refused too, not silently trimmed off.
    response = client.post(reverse("admin:seal_modelversion_add"), {**form, "api_secret": "sk\r\n"})
    assert "api_secret" in response.context["adminform"].form.errors
    assert not ModelVersion.objects.exists()


def test_a_stored_secret_with_control_characters_never_leaves_in_errors_or_logs(
    fake_endpoint, logs, django_capture_on_commit_callbacks
):
    domain, _ = domain_with_prompts(3)
    # Stored before registration refused such secrets.
    model_version = model_on(fake_endpoint, "ok", api_secret=CONTROL_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(model_version=model_version, domains=[domain.slug])

    submission.refresh_from_db()
    errors = list(Response.objects.values_list("error", flat=True))
    assert set(Response.objects.values_list("status", flat=True)) == {Response.Status.FAILED}
    assert all(error.startswith("invalid_secret: ") for error in errors), errors
    assert submission.status == Submission.Status.FAILED
    assert "invalid_secret" in submission.status_detail
    assert fake_endpoint.calls_for("ok") == []  # no header was built from it
    assert_nowhere(CONTROL_SECRET, *errors, submission.status_detail, logs.text)


def test_an_endpoint_that_echoes_the_secret_has_every_spelling_scrubbed(
    fake_endpoint, logs, django_capture_on_commit_callbacks
):
    secret = 'sk-"quoted"/+&=%~tail'  # a valid secret whose JSON and URL spellings differ
    domain, _ = domain_with_prompts(2)
    model_version = model_on(fake_endpoint, "denied", api_secret=secret)
    with django_capture_on_commit_callbacks(execute=True):
        submission_create(model_version=model_version, domains=[domain.slug])

    errors = list(Response.objects.values_list("error", flat=True))
    assert len(errors) == 2
    assert all(error.startswith("http_401: HTTP 401: ") for error in errors), errors
    assert all("[secret]" in error for error in errors)
    assert {seen.authorization for seen in fake_endpoint.calls_for("denied")} == {
        f"Bearer {secret}"
    }
    assert_nowhere(secret, *errors, logs.text)


def test_the_http_librarys_own_quoting_of_a_bad_header_is_scrubbed(fake_endpoint):
    """What the old code stored: httpx's error quotes the header value as a bytes repr."""
    with pytest.raises(httpx.HTTPError) as raised:
        httpx.post(
            fake_endpoint.base_url + "/chat/completions",
            json={"model": "ok"},
            headers={"Authorization": f"Bearer {CONTROL_SECRET}"},
        )
    message = f"{type(raised.value).__name__}: {raised.value}"
    assert repr(CONTROL_SECRET.encode())[2:-1] in message
    scrubbed = scrub_secret(message, CONTROL_SECRET)
    assert "[secret]" in scrubbed
    assert_nowhere(CONTROL_SECRET, scrubbed)


def test_errors_stored_before_the_scrubbing_are_cleaned_by_the_command():
    """What the old code stored: the header value quoted as bytes, a control character in it."""
    model_version = ModelVersionFactory.create(api_secret=CONTROL_SECRET)
    leaked = ResponseFactory.create(
        model_version=model_version,
        status=Response.Status.FAILED,
        error="connect_error: LocalProtocolError: Illegal header value "
        + repr(f"Bearer {CONTROL_SECRET}".encode()),
    )
    clean = ResponseFactory.create(model_version=model_version, status=Response.Status.FAILED)
    clean.error = "http_500: HTTP 500"
    clean.save(update_fields=["error"])
    out = io.StringIO()
    call_command("response_errors_scrub", stdout=out)
    assert "1 stored error(s) scrubbed" in out.getvalue()
    leaked.refresh_from_db()
    assert "[secret]" in leaked.error
    assert_nowhere(CONTROL_SECRET, leaked.error)
    clean.refresh_from_db()
    assert clean.error == "http_500: HTTP 500"
