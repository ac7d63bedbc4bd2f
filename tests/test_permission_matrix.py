"""Who may use what: every URL of the project against every role, with other tenants' ids.

Roles: the public (no login), a lab (API key), an annotator, a layer-1 reviewer, a layer-2
reviewer and staff. The objects a role must not reach belong to someone else: the other lab's
model version and submission, another annotator's comparison. A URL added to the project without
a row here fails `test_every_url_is_in_the_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from annotation.models import Assignment
from annotation.services import assignment_next, rating_submit, review_approve
from leaderboards.models import Snapshot, SnapshotBoard
from leaderboards.services import leaderboards_publish_now, snapshot_hide
from seal.models import Submission, WebhookDelivery
from seal.services import lab_api_key_create, webhook_endpoint_create, webhook_event_emit
from tests.builders import World, build_world, good_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROLES = ("public", "lab", "annotator", "reviewer1", "reviewer2", "staff")
LOGIN = "login"  # a redirect to a login page
ANY_OK = {200}


@dataclass
class Matrix:
    world: World
    clients: dict[str, Client]
    ids: dict[str, Any]


def everyone(status: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ROLES, status)


def only(allowed: dict[str, int | str], others: int | str) -> dict[str, int | str]:
    return {role: allowed.get(role, others) for role in ROLES}


@pytest.fixture
def matrix(settings) -> Matrix:
    settings.SEAL_GOLD_RATE = 0.0
    settings.SEAL_LEADERBOARD_REPLICAS = 50
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 1
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 1
    cache.clear()
    world = build_world(task_count=4)
    own_model, other_model = world.models
    raters = [world.annotator(f"rater{i}") for i in range(3)]
    annotator = world.annotator("annotator")
    reviewer1, reviewer2 = world.reviewer("reviewer1", 1), world.reviewer("reviewer2", 2)

    # One comparison fully approved (so a snapshot exists), one rating waiting at each layer.
    # One rater calls it a tie: a model that never lost (or never won) would not be ranked,
    # and the board's charts exist only for a ranked board.
    for rater in raters:
        assignment = assignment_next(profile=rater)
        assert assignment is not None
        preference = 0 if rater is raters[0] else 1
        rating = good_rating(preference=preference)
        rating_submit(assignment_id=assignment.pk, profile=rater, rating=rating)
        review_approve(assignment_id=assignment.pk, reviewer=reviewer1, layer=1)
        review_approve(assignment_id=assignment.pk, reviewer=reviewer2, layer=2)
    waiting_l1 = assignment_next(profile=raters[0])
    assert waiting_l1 is not None
    rating_submit(assignment_id=waiting_l1.pk, profile=raters[0], rating=good_rating())
    waiting_l2 = assignment_next(profile=raters[1])
    assert waiting_l2 is not None
    rating_submit(assignment_id=waiting_l2.pk, profile=raters[1], rating=good_rating())
    review_approve(assignment_id=waiting_l2.pk, reviewer=reviewer1, layer=1)
    mine = assignment_next(profile=annotator)
    others = assignment_next(profile=raters[2])
    assert mine is not None
    assert others is not None
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    board = SnapshotBoard.objects.filter(snapshot__domain=world.domain, key="overall").latest("pk")
    # A second snapshot (another engine setting, the same ratings); the first is then hidden
    # by staff: the public may not read it, staff may.
    hidden = Snapshot.objects.get(domain=world.domain)
    settings.SEAL_LEADERBOARD_REPLICAS = 40
    (visible,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    snapshot_hide(snapshot=hidden)
    board = SnapshotBoard.objects.get(snapshot=visible, key="overall")

    own_submission = Submission.objects.create(model_version=own_model)
    own_submission.domains.add(world.domain)
    other_submission = Submission.objects.create(model_version=other_model)
    other_submission.domains.add(world.domain)
    _, raw_key = lab_api_key_create(lab=own_model.lab, name="matrix")
    hooks = {}
    for label, lab in [("own", own_model.lab), ("other", other_model.lab)]:
        hooks[label] = webhook_endpoint_create(lab=lab, url=f"https://{label}.example.com/hook")
        webhook_event_emit(
            lab=lab, event_type="submission.collected", event_id=f"evt_{label}", payload={}
        )
    deliveries = {
        label: WebhookDelivery.objects.get(endpoint=hook) for label, hook in hooks.items()
    }

    clients = {role: Client() for role in ROLES}
    clients["lab"] = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    clients["annotator"].force_login(annotator.user)
    clients["reviewer1"].force_login(reviewer1.user)
    clients["reviewer2"].force_login(reviewer2.user)
    clients["staff"].force_login(UserFactory.create(is_staff=True, is_superuser=True))
    ids = {
        "own_model": own_model.pk,
        "other_model": other_model.pk,
        "own_submission": own_submission.pk,
        "other_submission": other_submission.pk,
        "mine": mine.pk,
        "others": others.pk,
        "waiting_l1": waiting_l1.pk,
        "waiting_l2": waiting_l2.pk,
        "board": board.pk,
        "domain": world.domain.slug,
        "own_hook": hooks["own"].pk,
        "other_hook": hooks["other"].pk,
        "own_delivery": deliveries["own"].pk,
        "other_delivery": deliveries["other"].pk,
        "snapshot": visible.pk,
        "hidden_snapshot": hidden.pk,
        "season": board.snapshot.prompt_set.version if board.snapshot.prompt_set else "",
    }
    return Matrix(world=world, clients=clients, ids=ids)


def rows(ids: dict[str, Any]) -> list[tuple[str, str, str, dict[str, int | str]]]:
    """(url name, method, path, expected status per role)."""
    domain, board = ids["domain"], ids["board"]
    work = only({"annotator": 200, "reviewer1": 200, "reviewer2": 200, "staff": 403}, LOGIN)
    snapshots = f"/leaderboards/{domain}/snapshots/"
    snapshot, hidden = ids["snapshot"], ids["hidden_snapshot"]
    staff_only = only({"staff": 200}, 404)
    api_lab = only({"lab": 200}, 401)
    lab_404 = only({"lab": 404}, 401)
    return [
        ("home", "get", "/", everyone(200)),
        ("healthz", "get", "/healthz", everyone(200)),
        ("login", "get", "/accounts/login/", everyone(200)),
        ("leaderboards:index", "get", "/leaderboards/", everyone(200)),
        ("leaderboards:domain", "get", f"/leaderboards/{domain}/", everyone(200)),
        ("leaderboards:board", "get", f"/leaderboards/{domain}/overall/", everyone(200)),
        ("leaderboards:model", "get", f"/leaderboards/models/{ids['own_model']}/", everyone(200)),
        (
            "leaderboards:model-history-chart",
            "get",
            f"/leaderboards/models/{ids['own_model']}/history.svg",
            everyone(200),
        ),
        (
            "leaderboards:chart",
            "get",
            f"/leaderboards/charts/{board}/intervals.svg",
            everyone(200),
        ),
        (
            "leaderboards:ratings-file",
            "get",
            f"/leaderboards/{domain}/snapshots/{ids['snapshot']}/ratings.jsonl.gz",
            everyone(200),
        ),
        (
            "leaderboards:season",
            "get",
            f"/leaderboards/{domain}/seasons/{ids['season']}/",
            everyone(200),
        ),
        (
            "leaderboards:season-board",
            "get",
            f"/leaderboards/{domain}/seasons/{ids['season']}/overall/",
            everyone(200),
        ),
        (
            "api-leaderboard-seasons",
            "get",
            f"/api/v1/leaderboards/{domain}/seasons/",
            everyone(200),
        ),
        (
            "api-leaderboard-season-board",
            "get",
            f"/api/v1/leaderboards/{domain}/seasons/{ids['season']}/overall/",
            everyone(200),
        ),
        ("leaderboards:methodology", "get", "/methodology/", everyone(200)),
        ("leaderboards:feed", "get", "/leaderboards/feed.atom", everyone(200)),
        ("leaderboards:domain-feed", "get", f"/leaderboards/{domain}/feed.atom", everyone(200)),
        ("leaderboards:snapshots", "get", f"/leaderboards/{domain}/snapshots/", everyone(200)),
        ("leaderboards:snapshot", "get", f"{snapshots}{snapshot}/", everyone(200)),
        ("leaderboards:snapshot", "get", f"{snapshots}{hidden}/", staff_only),
        ("leaderboards:snapshot-board", "get", f"{snapshots}{snapshot}/overall/", everyone(200)),
        ("leaderboards:snapshot-board", "get", f"{snapshots}{hidden}/overall/", staff_only),
        (
            "leaderboards:snapshot-download",
            "get",
            f"{snapshots}{snapshot}/download.csv",
            everyone(200),
        ),
        ("leaderboards:snapshot-download", "get", f"{snapshots}{hidden}/download.csv", staff_only),
        (
            "leaderboards:snapshot-download",
            "get",
            f"{snapshots}{hidden}/download.parquet",
            staff_only,
        ),
        # Only one snapshot is visible: the public is told there is nothing to compare yet.
        ("leaderboards:diff", "get", f"/leaderboards/{domain}/diff/", everyone(200)),
        (
            "leaderboards:diff",
            "get",
            f"/leaderboards/{domain}/diff/?from={hidden}&to={snapshot}",
            staff_only,
        ),
        ("api-leaderboards", "get", "/api/v1/leaderboards/", everyone(200)),
        ("api-leaderboard-domain", "get", f"/api/v1/leaderboards/{domain}/", everyone(200)),
        (
            "api-leaderboard-board",
            "get",
            f"/api/v1/leaderboards/{domain}/overall/",
            everyone(200),
        ),
        (
            "api-leaderboard-model",
            "get",
            f"/api/v1/leaderboards/models/{ids['own_model']}/",
            everyone(200),
        ),
        ("api-leaderboard-snapshots", "get", f"/api/v1{snapshots}", everyone(200)),
        ("api-leaderboard-snapshot", "get", f"/api/v1{snapshots}{snapshot}/", everyone(200)),
        ("api-leaderboard-snapshot", "get", f"/api/v1{snapshots}{hidden}/", staff_only),
        (
            "api-leaderboard-snapshot-board",
            "get",
            f"/api/v1{snapshots}{snapshot}/overall/",
            everyone(200),
        ),
        (
            "api-leaderboard-snapshot-board",
            "get",
            f"/api/v1{snapshots}{hidden}/overall/",
            staff_only,
        ),
        ("api-leaderboard-diff", "get", f"/api/v1/leaderboards/{domain}/diff/", staff_only),
        ("api-schema", "get", "/api/v1/schema/", everyone(200)),
        ("api-docs", "get", "/api/v1/docs/", everyone(200)),
        ("api-lab", "get", "/api/v1/lab/", api_lab),
        ("api-domains", "get", "/api/v1/domains/", api_lab),
        ("api-results", "get", "/api/v1/results/", api_lab),
        ("api-model-versions", "get", "/api/v1/model-versions/", api_lab),
        (
            "api-model-version",
            "get",
            f"/api/v1/model-versions/{ids['own_model']}/",
            api_lab,
        ),
        (
            "api-model-version",
            "get",
            f"/api/v1/model-versions/{ids['other_model']}/",
            only({"lab": 404}, 401),
        ),
        ("api-submissions", "get", "/api/v1/submissions/", api_lab),
        ("api-submission", "get", f"/api/v1/submissions/{ids['own_submission']}/", api_lab),
        (
            "api-submission",
            "get",
            f"/api/v1/submissions/{ids['other_submission']}/",
            only({"lab": 404}, 401),
        ),
        (
            "api-submission-cancel",
            "post",
            f"/api/v1/submissions/{ids['other_submission']}/cancel/",
            only({"lab": 404}, 401),
        ),
        ("api-webhooks", "get", "/api/v1/webhooks/", api_lab),
        ("api-webhook", "get", f"/api/v1/webhooks/{ids['own_hook']}/", api_lab),
        ("api-webhook", "get", f"/api/v1/webhooks/{ids['other_hook']}/", lab_404),
        ("api-webhook", "patch", f"/api/v1/webhooks/{ids['other_hook']}/", lab_404),
        ("api-webhook", "delete", f"/api/v1/webhooks/{ids['other_hook']}/", lab_404),
        ("api-webhook-secret", "get", f"/api/v1/webhooks/{ids['own_hook']}/secret/", api_lab),
        ("api-webhook-secret", "get", f"/api/v1/webhooks/{ids['other_hook']}/secret/", lab_404),
        (
            "api-webhook-secret-rotate",
            "post",
            f"/api/v1/webhooks/{ids['other_hook']}/secret/rotate/",
            lab_404,
        ),
        ("api-webhook-test", "post", f"/api/v1/webhooks/{ids['other_hook']}/test/", lab_404),
        ("api-webhook-deliveries", "get", "/api/v1/webhook-deliveries/", api_lab),
        (
            "api-webhook-delivery",
            "get",
            f"/api/v1/webhook-deliveries/{ids['own_delivery']}/",
            api_lab,
        ),
        (
            "api-webhook-delivery",
            "get",
            f"/api/v1/webhook-deliveries/{ids['other_delivery']}/",
            lab_404,
        ),
        ("annotation:work_home", "get", "/work/", work),
        ("annotation:history", "get", "/work/history/", work),
        (
            "annotation:work_next",
            "post",
            "/work/next/",
            only({"annotator": 302, "reviewer1": 302, "reviewer2": 302, "staff": 403}, LOGIN),
        ),
        (
            "annotation:comparison",
            "get",
            f"/work/comparisons/{ids['mine']}/",
            only({"annotator": 200, "reviewer1": 404, "reviewer2": 404, "staff": 403}, LOGIN),
        ),
        (
            "annotation:comparison",
            "get",
            f"/work/comparisons/{ids['others']}/",
            only({"annotator": 404, "reviewer1": 404, "reviewer2": 404, "staff": 403}, LOGIN),
        ),
        (
            "annotation:review_home",
            "get",
            "/review/",
            only({"reviewer1": 200, "reviewer2": 200, "annotator": 403, "staff": 403}, LOGIN),
        ),
        (
            "annotation:review_list",
            "get",
            "/review/layer-1/",
            only({"reviewer1": 200, "reviewer2": 403, "annotator": 403, "staff": 403}, LOGIN),
        ),
        (
            "annotation:review_list",
            "get",
            "/review/layer-2/",
            only({"reviewer2": 200, "reviewer1": 403, "annotator": 403, "staff": 403}, LOGIN),
        ),
        (
            "annotation:review_item",
            "get",
            f"/review/layer-1/{ids['waiting_l1']}/",
            only({"reviewer1": 200, "reviewer2": 403, "annotator": 403, "staff": 403}, LOGIN),
        ),
        (
            "annotation:review_item",
            "get",
            f"/review/layer-2/{ids['waiting_l2']}/",
            only({"reviewer2": 200, "reviewer1": 403, "annotator": 403, "staff": 403}, LOGIN),
        ),
        (
            "annotation:review_item",
            "get",
            f"/review/layer-2/{ids['waiting_l1']}/",
            only({"reviewer2": 404, "reviewer1": 403, "annotator": 403, "staff": 403}, LOGIN),
        ),
        ("admin", "get", "/admin/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/seal/prompt/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/seal/modelversion/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/annotation/assignment/", only({"staff": 200}, LOGIN)),
        (
            "admin",
            "get",
            "/admin/annotation/annotatorprofile/quality/",
            only({"staff": 200}, LOGIN),
        ),
        ("admin", "get", "/admin/seal/promptset/import/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/leaderboards/snapshot/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/seal/webhookendpoint/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/seal/webhookdelivery/", only({"staff": 200}, LOGIN)),
        (
            "admin",
            "get",
            f"/admin/seal/webhookdelivery/{ids['own_delivery']}/change/",
            only({"staff": 200}, LOGIN),
        ),
        ("admin", "get", "/admin/leaderboards/domainleaderboard/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/leaderboards/schedulingjob/", only({"staff": 200}, LOGIN)),
        ("admin", "get", "/admin/leaderboards/evaluationprogress/", only({"staff": 200}, LOGIN)),
        ("api-fallback", "get", "/api/v2/anything/", everyone(404)),
        # Last: it ends the sessions the rows above use.
        ("logout", "post", "/accounts/logout/", everyone(302)),
    ]


def check(response: Any, expected: int | str) -> bool:
    if expected == LOGIN:
        location = response.get("Location", "")
        return response.status_code == 302 and "login" in location
    return bool(response.status_code == expected)


def test_every_role_gets_exactly_what_it_may(matrix: Matrix):
    failures = []
    for name, method, path, expected in rows(matrix.ids):
        for role, client in matrix.clients.items():
            response = getattr(client, method)(path)
            if not check(response, expected[role]):
                failures.append(
                    f"{role:9} {method.upper()} {path} ({name}): "
                    f"expected {expected[role]}, got {response.status_code}"
                )
    assert not failures, "\n".join(failures)


def test_staff_without_permissions_open_the_admin_index_and_nothing_else(matrix: Matrix):
    """Being staff only lets a person log in to the admin; every page of it needs a permission."""
    bare = Client()
    bare.force_login(UserFactory.create(is_staff=True))
    failures = []
    for name, method, path, _ in rows(matrix.ids):
        if name != "admin":
            continue
        expected = 200 if path == "/admin/" else 403
        response = getattr(bare, method)(path)
        if response.status_code != expected:
            failures.append(
                f"{method.upper()} {path}: expected {expected}, got {response.status_code}"
            )
    assert not failures, "\n".join(failures)


def test_every_admin_action_asks_for_a_permission():
    """An action without `permissions` is offered to staff who may only view the list."""
    missing = []
    for model, model_admin in admin.site._registry.items():
        if type(model_admin).__module__.split(".")[0] not in ("seal", "annotation", "leaderboards"):
            continue  # third-party admins (axes) are theirs to keep
        for action in model_admin.actions or ():
            function = getattr(model_admin, action) if isinstance(action, str) else action
            if not getattr(function, "allowed_permissions", None):
                missing.append(f"{model._meta.label}: {getattr(function, '__name__', action)}")
    assert not missing, f"Admin actions open to view-only staff: {missing}"


def test_the_lab_never_sees_the_other_labs_objects_in_lists(matrix: Matrix):
    lab = matrix.clients["lab"]
    models = [m["id"] for m in lab.get("/api/v1/model-versions/").json()["results"]]
    assert models == [matrix.ids["own_model"]]
    submissions = [s["id"] for s in lab.get("/api/v1/submissions/").json()["results"]]
    assert submissions == [matrix.ids["own_submission"]]
    hooks = [h["id"] for h in lab.get("/api/v1/webhooks/").json()["results"]]
    assert hooks == [matrix.ids["own_hook"]]
    deliveries = [d["id"] for d in lab.get("/api/v1/webhook-deliveries/").json()["results"]]
    assert deliveries == [matrix.ids["own_delivery"]]
    results = lab.get("/api/v1/results/").content.decode()
    assert matrix.world.models[1].name not in results
    assert Assignment.objects.exists()


def _url_names(patterns: list[Any], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern).startswith("admin/"):
                names.add("admin")
                continue
            inner = pattern.namespace or namespace
            names |= _url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            label = pattern.name or "api-fallback"
            names.add(f"{namespace}:{label}" if namespace else label)
    return names


def test_every_url_is_in_the_matrix():
    covered = {
        name
        for name, *_ in rows(
            dict.fromkeys(
                [
                    "own_model",
                    "other_model",
                    "own_submission",
                    "other_submission",
                    "mine",
                    "others",
                    "waiting_l1",
                    "waiting_l2",
                    "board",
                    "domain",
                    "own_hook",
                    "other_hook",
                    "own_delivery",
                    "other_delivery",
                    "snapshot",
                    "hidden_snapshot",
                    "season",
                ],
                1,
            )
        )
    }
    missing = _url_names(get_resolver().url_patterns) - covered
    assert not missing, f"URLs with no row in the permission matrix: {sorted(missing)}"
