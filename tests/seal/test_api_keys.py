"""Lab API keys: hashed, shown once, revocable, expiring; every endpoint scoped to the key's lab.

No key, or a key the platform refuses (wrong, revoked, expired, inactive lab): 401 with a
`WWW-Authenticate: Api-Key` challenge. Another lab's object: 404, the same as a missing one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from seal.errors import ApplicationError
from seal.models import LabAPIKey, Submission
from seal.services import lab_api_key_create, lab_api_key_revoke
from tests.builders import api_client, domain_with_prompts
from tests.factories import LabFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


def endpoints(model_version_pk: int, submission_pk: int) -> list[tuple[str, str, dict | None]]:
    """Every lab endpoint: (method, path, body)."""
    return [
        ("get", reverse("api-lab"), None),
        ("get", reverse("api-domains"), None),
        ("get", reverse("api-model-versions"), None),
        (
            "post",
            reverse("api-model-versions"),
            {"name": "M", "version": "9", "base_url": "https://a.example/v1", "model_id": "m"},
        ),
        ("get", reverse("api-model-version", args=[model_version_pk]), None),
        ("get", reverse("api-submissions"), None),
        ("post", reverse("api-submissions"), {"model_version": model_version_pk, "domains": []}),
        ("get", reverse("api-submission", args=[submission_pk]), None),
        ("post", reverse("api-submission-cancel", args=[submission_pk]), None),
    ]


@pytest.fixture
def objects_of_a_lab():
    model_version = ModelVersionFactory.create()
    submission = Submission.objects.create(model_version=model_version)
    return model_version, submission


def call(client, method: str, path: str, body: dict | None):
    if method == "get":
        return client.get(path)
    return client.post(path, body, format="json")


def test_a_key_is_returned_once_and_stored_only_hashed():
    lab = LabFactory.create()
    key, raw_key = lab_api_key_create(lab=lab, name="ci")
    stored = LabAPIKey.objects.get(pk=key.pk)
    assert raw_key.startswith(f"{stored.prefix}.")
    assert raw_key not in {stored.pk, stored.hashed_key, stored.name}
    assert stored.hashed_key.startswith("sha512$$")
    assert api_client(raw_key).get(reverse("api-lab")).json()["slug"] == lab.slug
    with pytest.raises(ApplicationError):
        lab_api_key_create(lab=lab, name="old", expires_at=timezone.now() - timedelta(days=1))


@pytest.mark.parametrize(
    ("credentials", "code", "message"),
    [
        (None, "not_authenticated", "Authentication credentials were not provided."),
        ("Bearer abc", "not_authenticated", "Authentication credentials were not provided."),
        ("Api-Key nodot", "authentication_failed", "Invalid API key."),
        ("Api-Key abcdefgh.wrongsecret", "authentication_failed", "Invalid API key."),
    ],
)
def test_missing_or_bad_keys_get_401_with_a_challenge(credentials, code, message):
    client = api_client()
    if credentials:
        client.credentials(HTTP_AUTHORIZATION=credentials)
    response = client.get(reverse("api-model-versions"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'
    assert response.json() == {"error": {"code": code, "message": message, "fields": {}}}


def test_revoked_expired_and_inactive_lab_keys_are_refused(lab_client):
    lab = lab_client.lab
    revoked, revoked_raw = lab_api_key_create(lab=lab, name="revoked")
    lab_api_key_revoke(key=revoked)
    expiring, expiring_raw = lab_api_key_create(
        lab=lab, name="expiring", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert api_client(expiring_raw).get(reverse("api-lab")).status_code == 200
    LabAPIKey.objects.filter(pk=expiring.pk).update(expiry_date=timezone.now())

    for raw, message in (
        (revoked_raw, "This API key has been revoked."),
        (expiring_raw, "This API key has expired."),
    ):
        response = api_client(raw).get(reverse("api-lab"))
        assert response.status_code == 401
        assert response.json()["error"]["message"] == message

    lab.is_active = False
    lab.save()
    assert lab_client.client.get(reverse("api-lab")).status_code == 401


def test_every_endpoint_refuses_no_key_and_refused_keys(objects_of_a_lab, lab_client):
    model_version, submission = objects_of_a_lab
    revoked, revoked_raw = lab_api_key_create(lab=model_version.lab, name="revoked")
    lab_api_key_revoke(key=revoked)
    expired, expired_raw = lab_api_key_create(
        lab=model_version.lab, name="expired", expires_at=timezone.now() + timedelta(hours=1)
    )
    LabAPIKey.objects.filter(pk=expired.pk).update(expiry_date=timezone.now())
    for method, path, body in endpoints(model_version.pk, submission.pk):
        for client in (api_client(), api_client(revoked_raw), api_client(expired_raw)):
            response = call(client, method, path, body)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] in {
                "not_authenticated",
                "authentication_failed",
            }


def test_another_labs_objects_answer_404_like_missing_ones(objects_of_a_lab, lab_client):
    model_version, submission = objects_of_a_lab
    other = lab_client.client
    for path in (
        reverse("api-model-version", args=[model_version.pk]),
        reverse("api-submission", args=[submission.pk]),
        reverse("api-model-version", args=[987654]),
    ):
        response = other.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "error": {"code": "not_found", "message": "Not found.", "fields": {}}
        }
    response = other.post(reverse("api-submission-cancel", args=[submission.pk]))
    assert response.status_code == 404
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.PENDING
    # Lists hold only the caller's own objects.
    assert other.get(reverse("api-model-versions")).json()["count"] == 0
    assert other.get(reverse("api-submissions")).json()["count"] == 0
    # Submitting another lab's model reads as a missing model version.
    domain, _ = domain_with_prompts(1)
    response = other.post(
        reverse("api-submissions"),
        {"model_version": model_version.pk, "domains": [domain.slug]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"model_version": ["No such model version."]}


def test_staff_issue_a_key_in_the_admin_and_see_it_once(admin_client):
    lab = LabFactory.create()
    response = admin_client.post(
        reverse("admin:seal_labapikey_add"), {"lab": lab.pk, "name": "prod"}, follow=True
    )
    assert response.status_code == 200
    key = LabAPIKey.objects.get(lab=lab)
    page = response.content.decode()
    shown = [m.message for m in response.context["messages"] if " is: " in m.message]
    assert len(shown) == 1
    raw_key = shown[0].split(" is: ", 1)[1].split(" ", 1)[0]
    assert raw_key in page
    assert api_client(raw_key).get(reverse("api-lab")).status_code == 200
    # Never again: not on the change page, not in the list.
    change = admin_client.get(reverse("admin:seal_labapikey_change", args=[key.pk]))
    assert raw_key not in change.content.decode()
    listing = admin_client.get(reverse("admin:seal_labapikey_changelist"))
    assert raw_key not in listing.content.decode()

    admin_client.post(
        reverse("admin:seal_labapikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    assert api_client(raw_key).get(reverse("api-lab")).status_code == 401


def test_the_admin_refuses_a_key_that_expires_in_the_past(admin_client):
    lab = LabFactory.create()
    past = timezone.now() - timedelta(days=1)
    response = admin_client.post(
        reverse("admin:seal_labapikey_add"),
        {
            "lab": lab.pk,
            "name": "old",
            "expiry_date_0": past.strftime("%Y-%m-%d"),
            "expiry_date_1": past.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert "The expiry must be in the future." in response.content.decode()
    assert not LabAPIKey.objects.exists()
