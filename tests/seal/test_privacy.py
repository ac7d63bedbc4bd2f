"""Private prompts and endpoint secrets never leave through the API, and never reach the logs."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from seal.services import lab_responses_collect
from tests.builders import api_client, domain_with_prompts

pytestmark = pytest.mark.django_db

PROMPT_MARKER = "QUOKKA-PRIVATE-7731"
SECRET = "sk-live-SECRET-MARKER-4242"


def test_no_response_body_or_log_line_carries_prompt_text_or_the_secret(
    lab_client, make_lab_client, fake_endpoint, caplog, client
):
    caplog.set_level(logging.DEBUG)
    for noisy in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=noisy)
    domain_with_prompts(
        5, slug="coding", text=f"Private prompt {{i}} {PROMPT_MARKER}: write a parser."
    )
    domain_with_prompts(2, slug="math", text=f"{PROMPT_MARKER} math {{i}}")
    api = lab_client.client
    bodies: list[tuple[str, bytes]] = []

    def keep(label, response):
        bodies.append((label, response.content))
        return response

    created = keep(
        "create model",
        api.post(
            "/api/v1/model-versions/",
            {
                "name": "Quokka",
                "version": "1",
                "base_url": fake_endpoint.base_url,
                "model_id": "ok",
                "api_secret": SECRET,
            },
            format="json",
        ),
    ).json()
    broken = keep(
        "create broken model",
        api.post(
            "/api/v1/model-versions/",
            {
                "name": "Quokka",
                "version": "2",
                "base_url": fake_endpoint.base_url,
                "model_id": "error",
                "api_secret": SECRET,
            },
            format="json",
        ),
    ).json()
    for bad in (
        {"api_secret": SECRET + "x" * 600},
        {"api_secret": SECRET, "base_url": f"https://{SECRET}@evil.example/v1"},
        {"api_secret": SECRET, "generation_params": {"temperature": "hot"}},
        {"api_secret": SECRET, "version": "1"},  # a duplicate
    ):
        payload: dict[str, object] = {"name": "Quokka", "version": "3", "model_id": "m"}
        payload.update({"base_url": "https://a.example/v1", **bad})
        response = keep(
            "invalid model", api.post("/api/v1/model-versions/", payload, format="json")
        )
        assert response.status_code == 400

    submission = keep(
        "submit",
        api.post(
            "/api/v1/submissions/",
            {"model_version": created["id"], "domains": ["coding", "math"]},
            format="json",
        ),
    ).json()
    failing = keep(
        "submit broken",
        api.post(
            "/api/v1/submissions/",
            {"model_version": broken["id"], "domains": ["coding"]},
            format="json",
        ),
    ).json()
    lab_responses_collect(lab=lab_client.lab)
    to_cancel = keep(
        "submit again",
        api.post(
            "/api/v1/submissions/",
            {"model_version": broken["id"], "domains": ["math"]},
            format="json",
        ),
    ).json()
    keep("cancel", api.post(f"/api/v1/submissions/{to_cancel['id']}/cancel/"))
    keep("cancel refused", api.post(f"/api/v1/submissions/{submission['id']}/cancel/"))
    keep(
        "submit refused",
        api.post(
            "/api/v1/submissions/",
            {"model_version": created["id"], "domains": ["coding", "nope"]},
            format="json",
        ),
    )
    for path in (
        "/api/v1/lab/",
        "/api/v1/domains/",
        "/api/v1/model-versions/",
        f"/api/v1/model-versions/{created['id']}/",
        f"/api/v1/model-versions/{broken['id']}/",
        "/api/v1/submissions/",
        f"/api/v1/submissions/{submission['id']}/",
        f"/api/v1/submissions/{failing['id']}/",
        "/api/v1/submissions/?status=collected",
        "/api/v1/nowhere/",
    ):
        keep(path, api.get(path))
    stranger = make_lab_client().client
    keep("other lab", stranger.get(f"/api/v1/submissions/{submission['id']}/"))
    keep("no key", api_client().get("/api/v1/submissions/"))
    keep("schema", client.get("/api/v1/schema/"))
    keep("schema json", client.get("/api/v1/schema/", {"format": "json"}))
    keep("docs", client.get("/api/v1/docs/"))

    # The prompts did go out, to the lab's endpoint only, with the secret as its bearer token.
    sent = fake_endpoint.calls_for("ok")
    assert len(sent) == 7
    assert all(PROMPT_MARKER in seen.prompt for seen in sent)
    assert {seen.authorization for seen in sent} == {f"Bearer {SECRET}"}
    detail = api.get(f"/api/v1/submissions/{submission['id']}/").json()
    assert detail["progress"]["collected"] == 7

    for label, content in bodies:
        text = content.decode()
        assert PROMPT_MARKER not in text, label
        assert SECRET not in text, label
    assert len(bodies) > 25
    assert caplog.records, "the log capture saw nothing"
    assert SECRET not in caplog.text
    assert PROMPT_MARKER not in caplog.text


def test_the_admin_lists_hold_no_secret(admin_client, lab_client, fake_endpoint):
    api = lab_client.client
    api.post(
        "/api/v1/model-versions/",
        {"name": "Q", "version": "1", "base_url": fake_endpoint.base_url, "model_id": "ok"}
        | {"api_secret": SECRET},
        format="json",
    )
    for name in ("seal_modelversion", "seal_labapikey", "seal_submission"):
        page = admin_client.get(reverse(f"admin:{name}_changelist")).content.decode()
        assert SECRET not in page
