"""The OpenAPI schema, the offline documentation pages, and schemathesis against the schema.

Schemathesis runs over every operation the schema documents, once per role: anonymous, a lab with
a valid key, and refused keys (revoked, expired, unknown). Each role gets a world with a published
leaderboard, model versions and submissions of the lab and of another lab. Small generated ids
and slugs are pointed at those real objects, so answers are not all 404s and empty lists.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leaderboards.services import leaderboards_publish_now
from seal.models import LabAPIKey, ModelVersion, Submission
from seal.rest import api_not_found
from seal.services import (
    lab_api_key_create,
    lab_api_key_revoke,
    submission_create,
    webhook_endpoint_create,
    webhook_event_emit,
)
from tests.builders import PRIVATE_MARKER, leaderboard_world
from tests.factories import ModelVersionFactory

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
    ("/api/v1/webhooks/", "get"),
    ("/api/v1/webhooks/", "post"),
    ("/api/v1/webhooks/{id}/", "get"),
    ("/api/v1/webhooks/{id}/", "patch"),
    ("/api/v1/webhooks/{id}/", "delete"),
    ("/api/v1/webhooks/{id}/secret/", "get"),
    ("/api/v1/webhooks/{id}/secret/rotate/", "post"),
    ("/api/v1/webhooks/{id}/test/", "post"),
    ("/api/v1/webhook-deliveries/", "get"),
    ("/api/v1/webhook-deliveries/{id}/", "get"),
}
PUBLIC_OPERATIONS = {
    ("/api/v1/leaderboards/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/{board_key}/", "get"),
    ("/api/v1/leaderboards/models/{id}/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/seasons/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/seasons/{season}/{board_key}/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/snapshots/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/snapshots/{snapshot_id}/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/snapshots/{snapshot_id}/{board_key}/", "get"),
    ("/api/v1/leaderboards/{domain_slug}/diff/", "get"),
}
# Public operations with query parameters: a malformed one is a 400 naming it.
PUBLIC_WITH_QUERY = {
    "/api/v1/leaderboards/{domain_slug}/snapshots/",
    "/api/v1/leaderboards/{domain_slug}/diff/",
}
RESULTS_OPERATIONS = {("/api/v1/results/", "get")}


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
        and path.split("/")[3]
        in {"lab", "domains", "model-versions", "submissions", "webhooks", "webhook-deliveries"}
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


def test_the_schema_documents_public_operations_without_a_key_and_the_rest_with_one(client):
    paths = client.get("/api/v1/schema/", {"format": "json"}).json()["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item}
    assert documented == OPERATIONS | PUBLIC_OPERATIONS | RESULTS_OPERATIONS
    for path, method in documented:
        operation = paths[path][method]
        if (path, method) in PUBLIC_OPERATIONS:
            assert "security" not in operation, path
            assert "401" not in operation["responses"], path
        else:
            assert operation["security"] == [{"LabAPIKey": []}], path
            assert "401" in operation["responses"], path


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


# --- Schemathesis --------------------------------------------------------------------------------


def _schema_from_code() -> schemathesis.schemas.BaseSchema:
    """The schema as /api/v1/schema/ serves it, built at import so tests are one per operation."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = get_wsgi_application()  # calls go to the WSGI app in-process
    return loaded


schema = _schema_from_code()

# Every response must be what the schema documents: status, media type, headers and body.
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
REFUSED = {"not_authenticated", "authentication_failed"}
REFUSED_KEY_MESSAGES = {
    "revoked": "This API key has been revoked.",
    "expired": "This API key has expired.",
    "unknown": "Invalid API key.",
}


def fuzz(max_examples: int) -> Any:
    return hypothesis_settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


@dataclass
class ApiWorld:
    """A published board, and the objects of the lab under test and of another lab."""

    key: str
    refused_keys: dict[str, str]
    domains: list[str]
    boards: list[str]
    ranked: list[int]
    snapshots: list[int]
    our_model_versions: list[int]
    our_submissions: list[int]
    their_model_versions: list[int]
    their_submissions: list[int]
    our_hooks: list[int]
    their_hooks: list[int]
    our_deliveries: list[int]
    their_deliveries: list[int]
    seasons: list[str] = field(default_factory=list)

    @property
    def model_versions(self) -> list[int]:
        return self.our_model_versions + self.their_model_versions

    @property
    def submissions(self) -> list[int]:
        return self.our_submissions + self.their_submissions

    @property
    def hooks(self) -> list[int]:
        return self.our_hooks + self.their_hooks

    @property
    def deliveries(self) -> list[int]:
        return self.our_deliveries + self.their_deliveries


@pytest.fixture
def api_world(db, settings) -> Iterator[ApiWorld]:
    settings.SEAL_API_RATE_LIMIT = "100000/minute"
    settings.SEAL_LEADERBOARD_REPLICAS = 20
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    settings.SEAL_LEADERBOARD_FEW_RATINGS = 20
    cache.clear()
    world = leaderboard_world(n_prompts=6)
    world.rate()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    ours, theirs, _ = world.models
    our_next = ModelVersionFactory.create(lab=ours.lab, name="Ours-next")
    our_retired = ModelVersionFactory.create(
        lab=ours.lab, name="Ours-old", status=ModelVersion.Status.RETIRED
    )
    their_next = ModelVersionFactory.create(lab=theirs.lab, name="Theirs-next")
    our_submission = submission_create(model_version=ours, domains=[world.domain.slug])
    their_submission = submission_create(model_version=theirs, domains=[world.domain.slug])

    _, raw_key = lab_api_key_create(lab=ours.lab, name="schemathesis")
    revoked, revoked_raw = lab_api_key_create(lab=ours.lab, name="revoked")
    lab_api_key_revoke(key=revoked)
    expired, expired_raw = lab_api_key_create(
        lab=ours.lab, name="expired", expires_at=timezone.now() + timedelta(hours=1)
    )
    LabAPIKey.objects.filter(pk=expired.pk).update(expiry_date=timezone.now())
    unknown_raw = f"{raw_key.partition('.')[0]}.{secrets.token_urlsafe(24)}"
    hooks: dict[str, list[int]] = {"ours": [], "theirs": []}
    deliveries: dict[str, list[int]] = {"ours": [], "theirs": []}
    for side, lab in (("ours", ours.lab), ("theirs", theirs.lab)):
        for n in range(2):
            hook = webhook_endpoint_create(lab=lab, url=f"https://{side}-{n}.example.com/hook")
            hooks[side].append(hook.pk)
        # Recorded, never sent: the test's transaction never commits.
        for delivery in webhook_event_emit(
            lab=lab,
            event_type="submission.completed",
            event_id=f"evt_{side}",
            payload={"marker": PRIVATE_MARKER if side == "theirs" else "ours"},
        ):
            deliveries[side].append(delivery.pk)

    # Calls go straight to the WSGI app, not through Django's test client, so do what the
    # client does: keep the test transaction's connection open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield ApiWorld(
        key=raw_key,
        refused_keys={"revoked": revoked_raw, "expired": expired_raw, "unknown": unknown_raw},
        domains=[world.domain.slug],
        boards=["overall", *world.categories],
        ranked=[model.pk for model in world.models],
        snapshots=[snapshot.pk],
        our_model_versions=[ours.pk, our_next.pk, our_retired.pk],
        our_submissions=[our_submission.pk],
        their_model_versions=[theirs.pk, their_next.pk],
        their_submissions=[their_submission.pk],
        our_hooks=hooks["ours"],
        their_hooks=hooks["theirs"],
        our_deliveries=deliveries["ours"],
        their_deliveries=deliveries["theirs"],
        seasons=[world.prompt_set.version],
    )
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    cache.clear()


def _pick(generated: Any, real: Sequence[Any]) -> Any:
    """Usually one of `real`, picked by the generated value so Hypothesis explores the choice;
    otherwise, and for values of another type (negative cases), the generated value itself."""
    if isinstance(generated, bool) or not isinstance(generated, int | str) or not real:
        return generated
    index = (generated if isinstance(generated, int) else len(generated)) % (len(real) + 1)
    return real[index] if index < len(real) else generated


def _aim(case: Any, world: ApiWorld) -> list[str]:
    """Point the case's ids and slugs at the world's objects; say which now name another lab's
    objects (which must then never be served to this lab).

    Containers are replaced, not edited in place, so schemathesis sees the change and stops
    treating, say, a case generated without the header as one that must be sent without it."""
    aimed_at_theirs = []
    path = case.operation.path
    ids: list[int] = []
    theirs: list[int] = []
    if path.startswith("/api/v1/leaderboards/"):
        ids = world.ranked  # public: every lab's ranked models
    elif path.startswith("/api/v1/model-versions/"):
        ids, theirs = world.model_versions, world.their_model_versions
    elif path.startswith("/api/v1/submissions/"):
        ids, theirs = world.submissions, world.their_submissions
    elif path.startswith("/api/v1/webhooks/"):
        ids, theirs = world.hooks, world.their_hooks
    elif path.startswith("/api/v1/webhook-deliveries/"):
        ids, theirs = world.deliveries, world.their_deliveries
    if case.path_parameters:
        parameters = dict(case.path_parameters)
        if "id" in parameters:
            parameters["id"] = _pick(parameters["id"], ids)
            if parameters["id"] in theirs:
                aimed_at_theirs.append(f"path id {parameters['id']}")
        if "domain_slug" in parameters:
            parameters["domain_slug"] = _pick(parameters["domain_slug"], world.domains)
        if "board_key" in parameters:
            parameters["board_key"] = _pick(parameters["board_key"], world.boards)
        if "snapshot_id" in parameters:
            parameters["snapshot_id"] = _pick(parameters["snapshot_id"], world.snapshots)
        if "season" in parameters:
            parameters["season"] = _pick(parameters["season"], world.seasons)
        case.path_parameters = parameters
    if case.query:
        query = dict(case.query)
        if "model_version" in query:
            query["model_version"] = _pick(query["model_version"], world.model_versions)
        if "domain" in query:
            query["domain"] = _pick(query["domain"], world.domains)
        if "endpoint" in query:
            query["endpoint"] = _pick(query["endpoint"], world.hooks)
        for name in ("from", "to"):
            if name in query:
                query[name] = _pick(query[name], world.snapshots)
        if "board" in query:
            query["board"] = _pick(query["board"], world.boards)
        if "date" in query:
            query["date"] = _pick(query["date"], [timezone.now().date().isoformat()])
        case.query = query
    if path == "/api/v1/submissions/" and isinstance(case.body, dict):
        body = dict(case.body)
        if "model_version" in body:
            body["model_version"] = _pick(body["model_version"], world.model_versions)
            if body["model_version"] in world.their_model_versions:
                aimed_at_theirs.append(f"body model_version {body['model_version']}")
        if isinstance(body.get("domains"), list):
            body["domains"] = [_pick(slug, world.domains) for slug in body["domains"]]
        case.body = body
    if path.startswith("/api/v1/webhooks/") and isinstance(case.body, dict):
        body = dict(case.body)
        if "url" in body:
            body["url"] = _pick(body["url"], ["https://hooks.lab.example/seal"])
        case.body = body
    if path == "/api/v1/model-versions/" and isinstance(case.body, dict):
        body = dict(case.body)
        if "base_url" in body:
            body["base_url"] = _pick(body["base_url"], ["https://api.lab.example/v1"])
        case.body = body
    return aimed_at_theirs


def _routed(case: Any) -> bool:
    """Whether the generated path is an operation's URL (not, say, one with a negative id)."""
    return resolve(case.formatted_path).func is not api_not_found


def _is_public(case: Any) -> bool:
    return (case.operation.path, case.operation.method.lower()) in PUBLIC_OPERATIONS


def _with_authorization(case: Any, value: str | None) -> None:
    """Set (or drop) the header on the case itself: schemathesis generates one for operations
    that declare the key, and the case's own headers win over those passed to the call."""
    headers = CaseInsensitiveDict(case.headers or {})
    headers.pop("Authorization", None)
    if value is not None:
        headers["Authorization"] = value
    case.headers = headers


def _assert_refused(case: Any, response: Any) -> None:
    """A lab operation without a usable key: 401 and the error body, nothing else."""
    body = response.json()
    if not _routed(case):
        # The generated path is no URL of the API at all (say, a negative id).
        assert response.status_code == 404, response.text
        assert body["error"]["code"] == "not_found"
        return
    assert response.status_code == 401, response.text
    assert set(body) == {"error"}, body
    assert body["error"]["code"] in REFUSED, body
    assert response.headers["www-authenticate"] == ['Api-Key realm="api"']


def _other_method(case: Any) -> bool:
    """The coverage phase also tries the methods an operation does not have."""
    return bool(case.method.upper() != case.operation.method.upper())


def _assert_public(case: Any, response: Any) -> None:
    expected = {405} if _other_method(case) else {200, 404}
    if case.operation.path in PUBLIC_WITH_QUERY and not _other_method(case):
        expected.add(400)
    assert response.status_code in expected, response.text
    assert PRIVATE_MARKER not in response.text


@schema.parametrize()
@fuzz(max_examples=25)
def test_anonymous_callers_get_public_boards_and_401_from_lab_operations(case, api_world):
    _aim(case, api_world)
    _with_authorization(case, None)
    response = case.call_and_validate(checks=CONFORMANCE)
    if _is_public(case):
        _assert_public(case, response)
    else:
        _assert_refused(case, response)


@schema.parametrize()
@fuzz(max_examples=15)
def test_revoked_expired_and_unknown_keys_get_401_and_never_data(case, api_world):
    _aim(case, api_world)
    for problem, raw_key in api_world.refused_keys.items():
        _with_authorization(case, f"Api-Key {raw_key}")
        response = case.call_and_validate(checks=CONFORMANCE)
        if _is_public(case):
            _assert_public(case, response)  # a key, good or bad, does not matter here
        else:
            _assert_refused(case, response)
            if _routed(case):
                assert response.json()["error"]["message"] == REFUSED_KEY_MESSAGES[problem]


def _model_versions_in(path: str, body: Any) -> set[int]:
    """The model version ids a lab operation's response body names."""
    rows = body.get("results", [body]) if isinstance(body, dict) else []
    key = "id" if path.startswith("/api/v1/model-versions/") else "model_version"
    return {row[key] for row in rows if isinstance(row, dict) and key in row}


def _ids_in(path: str, prefix: str, key: str, body: Any) -> set[int]:
    """The `key` values of a response body's rows on paths under `prefix`."""
    if not path.startswith(prefix) or not isinstance(body, dict):
        return set()
    return {row[key] for row in body.get("results", [body]) if isinstance(row, dict) and key in row}


def _submissions_in(path: str, body: Any) -> set[int]:
    if not path.startswith("/api/v1/submissions/") or not isinstance(body, dict):
        return set()
    return {row["id"] for row in body.get("results", [body]) if "id" in row}


@schema.parametrize()
@fuzz(max_examples=50)
def test_a_lab_gets_answers_as_documented_and_never_another_labs_objects(case, api_world):
    aimed_at_theirs = _aim(case, api_world)
    _with_authorization(case, f"Api-Key {api_world.key}")
    response = case.call_and_validate(checks=CONFORMANCE)
    path = case.operation.path
    if _is_public(case):
        _assert_public(case, response)
        return
    assert PRIVATE_MARKER not in response.text
    if _other_method(case):
        assert response.status_code == 405, response.text
        return
    for aim in aimed_at_theirs:
        # Another lab's object reads as a missing one: 404 by id, refused input in a body.
        if aim.startswith("path"):
            assert response.status_code == 404, (aim, response.text)
        else:
            assert response.status_code in {400, 413, 415}, (aim, response.text)
    if response.status_code in {200, 201}:
        body = response.json()
        assert not _model_versions_in(path, body) & set(api_world.their_model_versions), body
        assert not _submissions_in(path, body) & set(api_world.their_submissions), body
        hooks = _ids_in(path, "/api/v1/webhooks/", "id", body)
        hooks |= _ids_in(path, "/api/v1/webhook-deliveries/", "endpoint", body)
        assert not hooks & set(api_world.their_hooks), body
        deliveries = _ids_in(path, "/api/v1/webhook-deliveries/", "id", body)
        assert not deliveries & set(api_world.their_deliveries), body


# --- The same world, call by call: what the fuzzing above is meant to reach ----------------------


def _call(path: str, method: str, key: str | None, **kwargs: Any) -> Any:
    case = schema[path][method].Case(**kwargs)
    _with_authorization(case, f"Api-Key {key}" if key else None)
    return case.call_and_validate(checks=CONFORMANCE)


def test_the_lab_reads_its_own_objects_and_never_another_labs(api_world):
    """Not left to chance: the lab reads its own objects; another lab's answer like missing ones,
    anonymous callers get 401; every answer as the schema documents it."""
    world = api_world
    for path, objects in (
        ("/api/v1/model-versions/{id}/", world.our_model_versions),
        ("/api/v1/submissions/{id}/", world.our_submissions),
    ):
        for pk in objects:
            ok = _call(path, "GET", world.key, path_parameters={"id": pk})
            assert ok.status_code == 200 and ok.json()["id"] == pk
            refused = _call(path, "GET", None, path_parameters={"id": pk})
            assert refused.status_code == 401 and set(refused.json()) == {"error"}
    theirs = [("/api/v1/model-versions/{id}/", "GET", pk) for pk in world.their_model_versions]
    theirs += [
        (path, method, pk)
        for path, method in (
            ("/api/v1/submissions/{id}/", "GET"),
            ("/api/v1/submissions/{id}/cancel/", "POST"),
        )
        for pk in world.their_submissions
    ]
    for path, method, pk in theirs:
        response = _call(path, method, world.key, path_parameters={"id": pk})
        assert response.status_code == 404, (path, pk)
        assert response.json() == {
            "error": {"code": "not_found", "message": "Not found.", "fields": {}}
        }
    assert not Submission.objects.filter(
        pk__in=world.their_submissions, status=Submission.Status.CANCELLED
    ).exists()

    listed = _call("/api/v1/model-versions/", "GET", world.key).json()["results"]
    assert {row["id"] for row in listed} == set(world.our_model_versions)
    listed = _call("/api/v1/submissions/", "GET", world.key).json()["results"]
    assert {row["id"] for row in listed} == set(world.our_submissions)
    filtered = _call(
        "/api/v1/submissions/",
        "GET",
        world.key,
        query={"model_version": world.their_model_versions[0]},
    )
    assert filtered.status_code == 400  # as for an id that does not exist
    results = _call("/api/v1/results/", "GET", world.key).json()["results"]
    assert {row["model_version"] for row in results} == {world.our_model_versions[0]}
    assert {row["board"] for row in results} == set(world.boards)
    assert all(row["elo"] is not None for row in results)
    filtered = _call(
        "/api/v1/results/", "GET", world.key, query={"model_version": world.their_model_versions[0]}
    )
    assert filtered.json()["results"] == []

    # The public board is published and names every ranked model, for anyone, key or not.
    board = _call(
        "/api/v1/leaderboards/{domain_slug}/{board_key}/",
        "GET",
        None,
        path_parameters={"domain_slug": world.domains[0], "board_key": "overall"},
    ).json()
    assert {entry["model_version_id"] for entry in board["entries"]} == set(world.ranked)
    model = _call(
        "/api/v1/leaderboards/models/{id}/",
        "GET",
        world.refused_keys["revoked"],
        path_parameters={"id": world.ranked[1]},
    )
    assert model.status_code == 200 and model.json()["standings"]
