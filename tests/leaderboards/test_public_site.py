"""The public site and JSON: what they show, how they cache, and that private prompts never leak."""

from __future__ import annotations

import gzip
import io
import json
import re
from urllib.parse import urlparse

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leaderboards.models import Snapshot, SnapshotBoard
from leaderboards.services import leaderboards_publish_now, snapshot_hide
from seal.models import Prompt
from seal.prompt_import import content_hash
from tests.builders import PRIVATE_MARKER, SAMPLE_MARKER, leaderboard_world
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

PUBLIC_PREFIXES = ("/leaderboards/", "/methodology/", "/api/v1/leaderboards/")


@pytest.fixture
def published(db):
    world = leaderboard_world(categories={"language": ["Python", "SQL", "Go"]})
    go = world.prompts_in("go")
    world.rate(prompts=[p for p in world.prompts if p not in go])
    sample_text = f"{SAMPLE_MARKER}: write a function that reverses a list. `reverse([1, 2])`"
    sample = Prompt.objects.create(
        prompt_set=world.prompt_set,
        text=sample_text,
        content_hash=content_hash(sample_text),
        external_id="sample-1",
        is_public_sample=True,
    )
    sample.categories.add(world.categories["python"])
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    return world, snapshot


def _links(response) -> list[str]:
    if response["Content-Type"].startswith("application/json"):
        return re.findall(r'"url":\s*"([^"]+)"', response.content.decode())
    if response["Content-Type"].startswith("text/html"):
        return re.findall(r'(?:href|src)="([^"#?]+)', response.content.decode())
    return []


def test_no_public_page_or_json_ever_shows_a_private_prompt(client, published):
    world, snapshot = published
    start = ["/", "/leaderboards/", "/methodology/", "/api/v1/leaderboards/"]
    start += [f"/api/v1/leaderboards/models/{m.pk}/" for m in world.models]
    seen: dict[str, int] = {}
    queue = list(start)
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = response.status_code
        # Downloads are scanned as a reader sees them: the ratings files decompressed, the
        # Parquet files cell by cell as text.
        content = response.content
        if response.get("Content-Type") == "application/gzip":
            content = gzip.decompress(content)
        if response.get("Content-Type") == "application/vnd.apache.parquet":
            body = pd.read_parquet(io.BytesIO(content)).to_csv()
        else:
            body = content.decode()
        assert PRIVATE_MARKER not in body, url
        assert "solve it" not in body, url
        for link in _links(response):
            path = urlparse(link).path
            if path.startswith(PUBLIC_PREFIXES) and path not in seen:
                queue.append(path)
    crawled = set(seen)
    boards = SnapshotBoard.objects.filter(snapshot=snapshot)
    assert {f"/leaderboards/coding/{b.key}/" for b in boards if b.key != "overall"} <= crawled
    ranked = boards.filter(status=SnapshotBoard.Status.RANKED)
    assert {f"/leaderboards/charts/{b.pk}/win-rates.svg" for b in ranked} <= crawled
    assert {f"/leaderboards/models/{m.pk}/history.svg" for m in world.models} <= crawled
    assert f"/leaderboards/coding/snapshots/{snapshot.pk}/ratings.jsonl.gz" in crawled
    assert all(status == 200 for status in seen.values()), seen
    assert len(crawled) > 20

    methodology = client.get("/methodology/").content.decode()
    assert SAMPLE_MARKER in methodology
    assert "<code>reverse([1, 2])</code>" in methodology  # rendered as Markdown


def test_the_domain_page_shows_ranks_intervals_and_categories(client, published):
    world, snapshot = published
    page = client.get(reverse("leaderboards:domain", args=["coding"]))
    html = page.content.decode()
    assert page.status_code == 200
    for model in world.models:
        assert f"{model.name} {model.version}" in html and model.lab.name in html
    assert html.count('class="lb-rank"') == 3
    assert "95% CI" in html and "+" in html and "−" in html
    assert "Language" in html and "Python" in html and "not ranked" in html
    overall = snapshot.boards.get(key="overall")
    assert f"/leaderboards/charts/{overall.pk}/intervals.svg" in html
    assert "Rater agreement" in html and "Separability" in html
    go = client.get(reverse("leaderboards:board", args=["coding", "go"])).content.decode()
    assert "Not ranked yet" in go and "0 approved ratings" in go
    assert client.get("/leaderboards/coding/no-such-board/").status_code == 404
    assert client.get("/leaderboards/unknown/").status_code == 404
    assert "Coding" in client.get(reverse("leaderboards:index")).content.decode()
    assert reverse("leaderboards:index") in client.get("/").content.decode()


def test_an_anonymous_page_is_served_from_cache_with_one_query(client, published):
    url = reverse("leaderboards:domain", args=["coding"])
    first = client.get(url)
    with CaptureQueriesContext(connection) as queries:
        second = client.get(url)
    assert second.content == first.content
    # The pointer is read fresh (a moved pointer is served at once); the page is remembered.
    assert len(queries) == 1
    assert second["Cache-Control"] == "public, max-age=60"
    assert client.get(url, HTTP_IF_NONE_MATCH=second["ETag"]).status_code == 304


def test_signed_in_users_get_their_own_uncached_page(client, published):
    user = User.objects.create_user("visitor", password="x-visitor-1")
    client.force_login(user)
    page = client.get(reverse("leaderboards:domain", args=["coding"]))
    assert "Log out visitor" in page.content.decode()
    assert page["Cache-Control"] == "private, no-cache"
    client.logout()
    assert (
        "Log out"
        not in client.get(reverse("leaderboards:domain", args=["coding"])).content.decode()
    )


def test_the_json_api_caches_by_snapshot_and_answers_304(client, published):
    world, snapshot = published
    url = reverse("api-leaderboard-board", args=["coding", "python"])
    response = client.get(url)
    assert response.status_code == 200
    assert response["ETag"].startswith(f'"{snapshot.pk}-{snapshot.input_fingerprint[:16]}-')
    assert response["ETag"].endswith('-python"')
    assert response["Cache-Control"] == "public, max-age=60"
    data = response.json()
    assert data["board"]["key"] == "python" and len(data["entries"]) == 3
    assert data["win_rates"]["models"] == [e["model_version_id"] for e in data["entries"]]
    assert data["snapshot"]["fingerprint"] == snapshot.input_fingerprint
    assert {b["key"] for b in data["boards"]} == {"overall", "go", "python", "sql"}
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert (
        client.get(reverse("api-leaderboard-domain", args=["coding"])).json()["board"]["key"]
        == "overall"
    )
    missing = client.get("/api/v1/leaderboards/coding/nope/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    index = client.get(reverse("api-leaderboards")).json()
    assert index["domains"][0]["top"][0]["model_version_id"] == world.models[0].pk


def test_charts_are_svg_served_as_images(client, published):
    _, snapshot = published
    board = snapshot.boards.get(key="overall")
    for kind in ("intervals", "win-rates"):
        response = client.get(reverse("leaderboards:chart", args=[board.pk, kind]))
        svg = response.content.decode()
        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml"
        assert "default-src 'none'" in response["Content-Security-Policy"]
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert "<script" not in svg.lower() and "onload" not in svg.lower()
        assert "M0 1.0" in svg  # the model labels are text in the SVG
    assert board.charts.count() == 2  # drawn once on first request, then stored
    go = snapshot.boards.get(key="go")
    assert client.get(reverse("leaderboards:chart", args=[go.pk, "intervals"])).status_code == 404
    assert client.get(f"/leaderboards/charts/{board.pk}/bogus.svg").status_code == 404


def test_a_hidden_snapshot_disappears_from_the_site(client, published):
    world, snapshot = published
    board = snapshot.boards.get(key="overall")
    client.get(reverse("leaderboards:domain", args=["coding"]))
    snapshot_hide(snapshot=snapshot)
    assert client.get(reverse("leaderboards:domain", args=["coding"])).status_code == 404
    assert (
        client.get(reverse("leaderboards:chart", args=[board.pk, "intervals"])).status_code == 404
    )
    assert client.get(reverse("leaderboards:model", args=[world.models[0].pk])).status_code == 404
    assert client.get(reverse("api-leaderboard-domain", args=["coding"])).status_code == 404


def test_the_model_page_shows_every_board_and_history(client, published):
    world, snapshot = published
    model = world.models[0]
    page = client.get(reverse("leaderboards:model", args=[model.pk])).content.decode()
    assert "Overall" in page and "Language: Python" in page
    chart = client.get(reverse("leaderboards:model-history-chart", args=[model.pk]))
    assert chart["Content-Type"] == "image/svg+xml" and b"<svg" in chart.content
    data = client.get(reverse("api-leaderboard-model", args=[model.pk])).json()
    assert data["history"]["Coding"][0]["snapshot_id"] == snapshot.pk
    assert {s["board"] for s in data["standings"]} == {"overall", "python", "sql"}
    # A registered model that is on no public board stays private.
    unlisted = ModelVersionFactory.create(name="Secret-Unreleased")
    assert client.get(reverse("leaderboards:model", args=[unlisted.pk])).status_code == 404
    assert client.get(reverse("api-leaderboard-model", args=[unlisted.pk])).status_code == 404


def test_the_leaderboard_api_is_public_and_in_the_schema(client, published):
    schema = client.get("/api/v1/schema/?format=json")
    paths = json.loads(schema.content)["paths"]
    for path in (
        "/api/v1/leaderboards/",
        "/api/v1/leaderboards/{domain_slug}/",
        "/api/v1/leaderboards/{domain_slug}/{board_key}/",
        "/api/v1/leaderboards/models/{id}/",
        "/api/v1/results/",
    ):
        assert path in paths, path
    assert not paths["/api/v1/leaderboards/"]["get"].get("security")  # no key needed
    assert paths["/api/v1/results/"]["get"]["security"] == [{"LabAPIKey": []}]
    assert Snapshot.objects.count() == 1


def test_the_board_and_its_json_say_why_a_model_is_not_ranked(client, db):
    world = leaderboard_world(n_models=5, categories={})
    a, b, c, d, e = world.models
    world.rate(pairs=[(a, b), (a, c), (b, c)])
    world.rate(pairs=[(d, e)], seed=1)
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)

    page = client.get(reverse("leaderboards:domain", args=["coding"]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("not ranked yet: not connected to the main group") == 2
    data = client.get(reverse("api-leaderboard-domain", args=["coding"])).json()
    reasons = {entry["model_version_id"]: entry["not_ranked_reason"] for entry in data["entries"]}
    assert reasons == {
        a.pk: None,
        b.pk: None,
        c.pk: None,
        d.pk: "not connected to the main group",
        e.pk: "not connected to the main group",
    }
    assert data["board"]["status"] == "ranked"
    assert data["anchor"] == {"shift": 0.0, "models": [], "reference_mean": None, "snapshot": None}


def test_the_methodology_states_the_prior_the_interval_the_rules_and_the_anchor(client, db):
    text = re.sub(r"\s+", " ", client.get("/methodology/").content.decode())
    assert "standard deviation of 500 Elo points" in text
    assert "<em>basic</em> (pivotal) bootstrap interval" in text
    assert "not ranked yet" in text and "no losses yet" in text
    assert "not connected to the main group" in text
    assert "<strong>anchored</strong> on the previously published snapshot" in text
