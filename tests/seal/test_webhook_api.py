"""The lab API's webhooks: register, read the secret, change, remove, test, read the delivery log;
another lab's ids read as missing. Test events go to a real verifying receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from standardwebhooks import Webhook

from seal.models import WebhookDelivery, WebhookEndpoint
from seal.services import webhook_endpoint_create, webhook_event_emit
from tests.factories import UserFactory
from tests.fake_webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings) -> Iterator[WebhookReceiver]:
    settings.SEAL_WEBHOOK_TIMEOUT_SECONDS = 2.0
    with WebhookReceiver() as server:
        settings.SEAL_ENDPOINT_ALLOWED_HOSTS = [server.address]
        yield server


def test_a_lab_registers_an_endpoint_gets_its_secret_and_sends_a_test_event(
    lab_client, receiver, django_capture_on_commit_callbacks
):
    api = lab_client.client
    created = api.post(
        "/api/v1/webhooks/",
        {"url": receiver.url("/ok"), "description": "CI hook"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert sorted(body["event_types"]) == sorted(WebhookEndpoint.EventType.values)
    assert body["is_active"] is True
    hook_id = body["id"]
    receiver.secrets["/ok"] = secret

    # Listed and read without the secret; the secret only on its own URL.
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert [row["id"] for row in listed] == [hook_id]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"/api/v1/webhooks/{hook_id}/").json()
    assert api.get(f"/api/v1/webhooks/{hook_id}/secret/").json() == {"secret": secret}

    with django_capture_on_commit_callbacks(execute=True):
        tested = api.post(f"/api/v1/webhooks/{hook_id}/test/")
    assert tested.status_code == 202, tested.content
    assert tested.json()["event_type"] == "webhook.test"
    [got] = receiver.to("/ok")
    assert got.verified
    message = Webhook(secret).verify(got.body, got.headers)
    assert message["type"] == "webhook.test"
    assert message["data"]["endpoint_id"] == hook_id

    log = api.get("/api/v1/webhook-deliveries/", {"event_type": "webhook.test"}).json()
    [delivery] = log["results"]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 204
    assert delivery["event_id"] == got.webhook_id
    detail = api.get(f"/api/v1/webhook-deliveries/{delivery['id']}/").json()
    assert detail["payload"] == message["data"]
    assert api.get("/api/v1/webhook-deliveries/", {"status": "failed"}).json()["results"] == []
    assert (
        api.get("/api/v1/webhook-deliveries/", {"event_type": "results.published"}).json()[
            "results"
        ]
        == []
    )


def test_a_lab_changes_rotates_and_removes_its_endpoint(lab_client, receiver):
    api = lab_client.client
    hook_id = api.post("/api/v1/webhooks/", {"url": receiver.url("/a")}, format="json").json()["id"]
    changed = api.patch(
        f"/api/v1/webhooks/{hook_id}/",
        {"url": receiver.url("/b"), "event_types": ["results.published"], "is_active": False},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["url"] == receiver.url("/b")
    assert changed.json()["event_types"] == ["results.published"]
    assert changed.json()["is_active"] is False
    old = api.get(f"/api/v1/webhooks/{hook_id}/secret/").json()["secret"]
    rotated = api.post(f"/api/v1/webhooks/{hook_id}/secret/rotate/").json()["secret"]
    assert rotated != old
    assert api.get(f"/api/v1/webhooks/{hook_id}/secret/").json()["secret"] == rotated
    # A disabled endpoint cannot be tested.
    refused = api.post(f"/api/v1/webhooks/{hook_id}/test/")
    assert refused.status_code == 400
    assert "disabled" in refused.json()["error"]["message"]
    assert api.delete(f"/api/v1/webhooks/{hook_id}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_bad_urls_and_event_types_are_refused_naming_the_field(lab_client, settings):
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = []
    api = lab_client.client
    for url in ["http://127.0.0.1:8000/hook", "http://10.1.2.3/", "http://localhost/x"]:
        refused = api.post("/api/v1/webhooks/", {"url": url}, format="json")
        assert refused.status_code == 400, (url, refused.content)
        assert "private" in refused.json()["error"]["fields"]["url"][0]
    refused = api.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.com/x", "event_types": ["submission.exploded"]},
        format="json",
    )
    assert refused.status_code == 400
    assert "event_types.0" in refused.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()
    ok = api.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/x"}, format="json")
    assert ok.status_code == 201


def test_another_labs_endpoints_and_deliveries_read_as_missing(make_lab_client, settings):
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = []
    ours, theirs = make_lab_client("Ours"), make_lab_client("Theirs")
    their_hook = webhook_endpoint_create(lab=theirs.lab, url="https://theirs.example.com/hook")
    webhook_event_emit(
        lab=theirs.lab,
        event_type="submission.completed",
        event_id="evt_theirs",
        payload={"secret_result": "THEIRS-ONLY"},
    )
    their_delivery = WebhookDelivery.objects.get()
    api = ours.client
    for method, path in [
        ("get", f"/api/v1/webhooks/{their_hook.pk}/"),
        ("patch", f"/api/v1/webhooks/{their_hook.pk}/"),
        ("delete", f"/api/v1/webhooks/{their_hook.pk}/"),
        ("get", f"/api/v1/webhooks/{their_hook.pk}/secret/"),
        ("post", f"/api/v1/webhooks/{their_hook.pk}/secret/rotate/"),
        ("post", f"/api/v1/webhooks/{their_hook.pk}/test/"),
        ("get", f"/api/v1/webhook-deliveries/{their_delivery.pk}/"),
    ]:
        response = getattr(api, method)(path, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert api.get("/api/v1/webhooks/").json()["results"] == []
    assert api.get("/api/v1/webhook-deliveries/").json()["results"] == []
    filtered = api.get("/api/v1/webhook-deliveries/", {"endpoint": their_hook.pk})
    assert filtered.status_code == 400
    assert b"THEIRS-ONLY" not in filtered.content
    their_hook.refresh_from_db()
    assert their_hook.is_active
    assert WebhookDelivery.objects.count() == 1


def test_staff_resend_a_delivery_from_the_admin_with_the_change_permission(
    receiver, django_capture_on_commit_callbacks, lab_client
):
    hook = webhook_endpoint_create(lab=lab_client.lab, url=receiver.url("/ok"))
    receiver.secrets["/ok"] = hook.secret
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = webhook_event_emit(
            lab=lab_client.lab, event_type="submission.completed", event_id="evt_a", payload={}
        )
    viewer = UserFactory.create(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client = Client()
    client.force_login(viewer)
    page = client.get("/admin/seal/webhookdelivery/")
    assert page.status_code == 200
    assert b"resend" not in page.content  # offered only with the change permission
    assert hook.secret.encode() not in client.get("/admin/seal/webhookendpoint/").content

    admin_user = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    assert hook.secret.encode() not in (
        client.get(f"/admin/seal/webhookendpoint/{hook.pk}/change/").content
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/seal/webhookdelivery/",
            {"action": "resend", "_selected_action": [delivery.pk]},
        )
    assert response.status_code == 302
    assert [seen.webhook_id for seen in receiver.to("/ok")] == ["evt_a", "evt_a"]
