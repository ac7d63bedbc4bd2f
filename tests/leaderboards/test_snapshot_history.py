"""Every published snapshot by id and date, diffs, the changelog and feeds, downloads, citations."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta
from unittest import mock

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from leaderboards.models import Snapshot, SnapshotEntry
from leaderboards.selectors import DiffLine, DiffStatus, diff_rows
from leaderboards.services import leaderboards_publish_now, snapshot_hide
from tests.builders import PRIVATE_MARKER, leaderboard_world
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ANNOTATOR_MARKER = "ANNOTATOR-IDENTITY-5e8d"
ATOM = "{http://www.w3.org/2005/Atom}"


def _publish(world, *, days_ago: int = 0) -> Snapshot:
    field = Snapshot._meta.get_field("created_at")
    when = timezone.now() - timedelta(days=days_ago)
    with mock.patch.object(field, "_get_default", return_value=when):
        (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    return snapshot


@pytest.fixture
def history(db, settings):
    """Two snapshots of a domain three days apart: M2 newly ranked and M3 added in the second."""
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 20
    settings.SEAL_LEADERBOARD_FEW_RATINGS = 20
    world = leaderboard_world(n_models=4, categories={"language": ["Python", "SQL"]})
    for k, rater in enumerate(world.raters):
        User.objects.filter(pk=rater.user_id).update(
            username=f"{ANNOTATOR_MARKER}-{k}", email=f"{ANNOTATOR_MARKER}-{k}@example.com"
        )
    m0, m1, m2, m3 = world.models
    world.rate(pairs=[(m0, m1)])
    world.rate(prompts=world.prompts[:1], pairs=[(m0, m2)], seed=1)
    first = _publish(world, days_ago=3)
    world.rate(pairs=[(m0, m2), (m1, m2), (m3, m0), (m3, m1), (m3, m2)], seed=2)
    second = _publish(world)
    assert second.pk > first.pk
    return world, first, second


def _entries(snapshot: Snapshot, board: str = "overall") -> dict[int, SnapshotEntry]:
    return {
        e.model_version_id: e
        for e in SnapshotEntry.objects.filter(snapshot=snapshot, board_key=board)
    }


def test_every_snapshot_has_a_page_and_json_by_id(client, history):
    world, first, second = history
    slug = world.domain.slug
    for snapshot in (first, second):
        page = client.get(f"/leaderboards/{slug}/snapshots/{snapshot.pk}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert f"snapshot {snapshot.pk}" in html
        # The board navigation stays inside the snapshot.
        assert f"/leaderboards/{slug}/snapshots/{snapshot.pk}/python/" in html
        body = client.get(f"/api/v1/leaderboards/{slug}/snapshots/{snapshot.pk}/").json()
        assert body["snapshot"]["id"] == snapshot.pk
        entries = _entries(snapshot)
        assert {e["model_version_id"]: e["elo"] for e in body["entries"]} == {
            pk: e.elo for pk, e in entries.items()
        }
        assert all(
            link["url"].startswith(f"/api/v1/leaderboards/{slug}/snapshots/{snapshot.pk}/")
            for link in body["boards"]
        )
        board = client.get(f"/api/v1/leaderboards/{slug}/snapshots/{snapshot.pk}/python/")
        assert board.status_code == 200
        assert board.json()["board"]["key"] == "python"
        assert (
            client.get(f"/leaderboards/{slug}/snapshots/{snapshot.pk}/python/").status_code == 200
        )
    # The older snapshot says it is not the current one; the current one says it is.
    assert (
        "An earlier snapshot"
        in client.get(f"/leaderboards/{slug}/snapshots/{first.pk}/").content.decode()
    )
    assert (
        "shows now" in client.get(f"/leaderboards/{slug}/snapshots/{second.pk}/").content.decode()
    )
    assert client.get(f"/leaderboards/{slug}/snapshots/999999/").status_code == 404
    assert client.get(f"/api/v1/leaderboards/{slug}/snapshots/999999/").status_code == 404
    assert client.get(f"/api/v1/leaderboards/{slug}/snapshots/{first.pk}/nope/").status_code == 404
    # A snapshot is only found under its own domain.
    other = leaderboard_world(slug="math", n_models=2)
    assert client.get(f"/leaderboards/{other.domain.slug}/snapshots/{first.pk}/").status_code == 404


def test_a_date_opens_the_snapshot_public_that_day(client, history):
    world, first, second = history
    slug = world.domain.slug
    today = timezone.now().date()
    for days_ago, expected in ((0, second), (1, first), (3, first)):
        day = (today - timedelta(days=days_ago)).isoformat()
        page = client.get(f"/leaderboards/{slug}/snapshots/", {"date": day})
        assert page.status_code == 302, day
        assert page["Location"] == f"/leaderboards/{slug}/snapshots/{expected.pk}/"
        body = client.get(f"/api/v1/leaderboards/{slug}/snapshots/", {"date": day}).json()
        assert [item["snapshot"]["id"] for item in body["snapshots"]] == [expected.pk]
    before = (today - timedelta(days=4)).isoformat()
    assert client.get(f"/leaderboards/{slug}/snapshots/", {"date": before}).status_code == 404
    api = client.get(f"/api/v1/leaderboards/{slug}/snapshots/", {"date": before})
    assert api.status_code == 404
    bad = client.get(f"/api/v1/leaderboards/{slug}/snapshots/", {"date": "01/12/2026"})
    assert bad.status_code == 400
    assert "date" in bad.json()["error"]["fields"]
    assert client.get(f"/leaderboards/{slug}/snapshots/", {"date": "2026-13-01"}).status_code == 400


def test_a_hidden_snapshot_is_404_for_the_public_and_readable_by_staff(client, history):
    world, first, second = history
    slug = world.domain.slug
    paths = [
        f"/leaderboards/{slug}/snapshots/{first.pk}/",
        f"/leaderboards/{slug}/snapshots/{first.pk}/python/",
        f"/leaderboards/{slug}/snapshots/{first.pk}/download.csv",
        f"/leaderboards/{slug}/snapshots/{first.pk}/download.parquet",
        f"/leaderboards/{slug}/diff/?from={first.pk}&to={second.pk}",
        f"/api/v1/leaderboards/{slug}/snapshots/{first.pk}/",
        f"/api/v1/leaderboards/{slug}/snapshots/{first.pk}/python/",
        f"/api/v1/leaderboards/{slug}/diff/?from={first.pk}&to={second.pk}",
    ]
    for path in paths:  # cached while visible...
        assert client.get(path).status_code == 200, path
    snapshot_hide(snapshot=first)
    for path in paths:  # ...and gone the moment it is hidden
        assert client.get(path).status_code == 404, path
    changelog = client.get(f"/leaderboards/{slug}/snapshots/").content.decode()
    assert f"/snapshots/{first.pk}/" not in changelog
    api = client.get(f"/api/v1/leaderboards/{slug}/snapshots/").json()
    assert [item["snapshot"]["id"] for item in api["snapshots"]] == [second.pk]
    feed = client.get(f"/leaderboards/{slug}/feed.atom").content.decode()
    assert f"/snapshots/{first.pk}/" not in feed
    day = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert client.get(f"/leaderboards/{slug}/snapshots/", {"date": day}).status_code == 404

    staff = Client()
    staff.force_login(UserFactory.create(is_staff=True))
    for path in paths:
        response = staff.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "private, no-cache", path
    assert "Hidden snapshot" in staff.get(paths[0]).content.decode()
    assert (
        f"/snapshots/{first.pk}/" in staff.get(f"/leaderboards/{slug}/snapshots/").content.decode()
    )
    # A signed-in non-staff user is the public.
    member = Client()
    member.force_login(UserFactory.create())
    assert member.get(paths[0]).status_code == 404


def test_the_diff_gives_rank_and_elo_moves_and_who_came_and_went(client, history):
    world, first, second = history
    m0, m1, m2, m3 = world.models
    slug = world.domain.slug
    before, after = _entries(first), _entries(second)
    assert before[m2.pk].rank is None and after[m2.pk].rank is not None
    assert m3.pk not in before
    body = client.get(f"/api/v1/leaderboards/{slug}/diff/").json()  # defaults: latest vs previous
    assert (body["before"]["id"], body["after"]["id"]) == (first.pk, second.pk)
    rows = {row["model_version_id"]: row for row in body["rows"]}
    assert rows[m3.pk]["status"] == DiffStatus.ADDED
    assert rows[m2.pk]["status"] == DiffStatus.NEWLY_RANKED
    assert [m["model_version_id"] for m in body["added"]] == [m3.pk]
    assert [m["model_version_id"] for m in body["newly_ranked"]] == [m2.pk]
    assert body["removed"] == [] and body["newly_unranked"] == []
    for model in (m0, m1):
        row = rows[model.pk]
        assert row["status"] == DiffStatus.RANKED
        assert row["elo_before"] == before[model.pk].elo
        assert row["elo_after"] == after[model.pk].elo
        elo_before, elo_after = before[model.pk].elo, after[model.pk].elo
        rank_before, rank_after = before[model.pk].rank, after[model.pk].rank
        assert elo_before is not None and elo_after is not None
        assert rank_before is not None and rank_after is not None
        assert row["elo_change"] == pytest.approx(elo_after - elo_before)
        assert row["rank_change"] == rank_before - rank_after
    # The rows follow the board after, in its order.
    order = [e.model_version_id for e in sorted(after.values(), key=lambda e: e.position)]
    assert [row["model_version_id"] for row in body["rows"]] == order
    page = client.get(f"/leaderboards/{slug}/diff/", {"from": first.pk, "to": second.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert "newly ranked" in html and "added" in html
    assert f"{(after[m0.pk].elo or 0) - (before[m0.pk].elo or 0):+.1f}" in html
    # A category board, and bad input named.
    python = client.get(
        f"/api/v1/leaderboards/{slug}/diff/", {"from": first.pk, "to": second.pk, "board": "python"}
    ).json()
    assert python["board"] == "python"
    bad = client.get(f"/api/v1/leaderboards/{slug}/diff/", {"from": "x"})
    assert bad.status_code == 400 and "from" in bad.json()["error"]["fields"]
    assert client.get(f"/leaderboards/{slug}/diff/", {"to": "0"}).status_code == 400
    # The first snapshot has nothing before it: the page says so, the API is 404.
    nothing = client.get(f"/leaderboards/{slug}/diff/", {"to": first.pk})
    assert nothing.status_code == 200 and "Nothing to compare yet" in nothing.content.decode()
    assert client.get(f"/api/v1/leaderboards/{slug}/diff/", {"to": first.pk}).status_code == 404
    assert client.get(f"/leaderboards/{slug}/diff/", {"to": 999999}).status_code == 404


def test_diff_rows_mark_removed_and_newly_unranked_models():
    before = [
        DiffLine(1, 0, 1, 1, 1100.0),
        DiffLine(2, 1, 2, 1, 1050.0),
        DiffLine(3, 2, None, None, None),
    ]
    after = [
        DiffLine(2, 0, 1, 1, 1080.0),
        DiffLine(1, 1, None, None, 1090.0),
        DiffLine(4, 2, None, None, None),
    ]
    rows = {row.model_version_id: row for row in diff_rows(before, after, {})}
    assert rows[1].status == DiffStatus.NEWLY_UNRANKED
    assert rows[2].status == DiffStatus.RANKED and rows[2].rank_change == 1
    assert rows[2].elo_change == pytest.approx(30.0)
    assert rows[3].status == DiffStatus.REMOVED
    assert rows[4].status == DiffStatus.ADDED
    assert [row.model_version_id for row in diff_rows(before, after, {})] == [2, 1, 4, 3]


def test_the_changelog_lists_each_snapshot_with_what_changed(client, history):
    world, first, second = history
    m2, m3 = world.models[2], world.models[3]
    slug = world.domain.slug
    body = client.get(f"/api/v1/leaderboards/{slug}/snapshots/").json()
    assert body["count"] == 2
    latest, oldest = body["snapshots"]
    assert latest["snapshot"]["id"] == second.pk and latest["previous"] == first.pk
    assert [m["model_version_id"] for m in latest["models_added"]] == [m3.pk]
    assert [m["model_version_id"] for m in latest["newly_ranked"]] == [m2.pk]
    assert 1 <= len(latest["biggest_moves"]) <= 3
    moves = [abs(m["elo_change"]) for m in latest["biggest_moves"]]
    assert moves == sorted(moves, reverse=True)
    assert oldest["previous"] is None and oldest["snapshot"]["id"] == first.pk
    page = client.get(f"/leaderboards/{slug}/snapshots/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Added:" in html and "Newly ranked:" in html and "Biggest moves:" in html
    assert f"/leaderboards/{slug}/snapshots/{first.pk}/" in html
    assert client.get(f"/leaderboards/{slug}/snapshots/", {"page": 2}).status_code == 404


def _parse_atom(content: bytes) -> ET.Element:
    feed = ET.fromstring(content)  # noqa: S314 - this site's own feed
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    for entry in feed.findall(f"{ATOM}entry"):
        for required in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{required}") or "").strip(), required
        assert _href(entry)
    return feed


def _href(entry: ET.Element) -> str:
    link = entry.find(f"{ATOM}link")
    assert link is not None
    return link.get("href") or ""


def test_atom_feeds_per_domain_and_for_the_site(client, history):
    world, first, second = history
    other = leaderboard_world(slug="spanish", n_models=2)
    other.rate()
    (third,) = leaderboards_publish_now(domains=[other.domain], draw_charts=False)
    domain_feed = client.get(f"/leaderboards/{world.domain.slug}/feed.atom")
    assert domain_feed.status_code == 200
    assert domain_feed["Content-Type"].startswith("application/atom+xml")
    feed = _parse_atom(domain_feed.content)
    links = [_href(entry) for entry in feed.findall(f"{ATOM}entry")]
    assert links == [
        f"http://testserver/leaderboards/coding/snapshots/{second.pk}/",
        f"http://testserver/leaderboards/coding/snapshots/{first.pk}/",
    ]
    summary = feed.findall(f"{ATOM}entry")[0].findtext(f"{ATOM}summary") or ""
    assert "Added: M3" in summary
    site = _parse_atom(client.get("/leaderboards/feed.atom").content)
    site_links = [_href(entry) for entry in site.findall(f"{ATOM}entry")]
    assert site_links[0] == f"http://testserver/leaderboards/spanish/snapshots/{third.pk}/"
    assert len(site_links) == 3
    assert client.get("/leaderboards/nope/feed.atom").status_code == 404


def _numbers(value):
    """A cell as the JSON has it: None for an empty cell, numbers as numbers."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return value


def test_csv_and_parquet_downloads_equal_the_json_numbers(client, history):
    world, _first, second = history
    slug = world.domain.slug
    snapshot = second
    boards = client.get(f"/api/v1/leaderboards/{slug}/snapshots/{snapshot.pk}/").json()["boards"]
    expected = []
    for link in boards:
        body = client.get(link["url"]).json()
        for entry in body["entries"]:
            expected.append({"board_key": body["board"]["key"], **entry})
    assert expected
    # Every scalar field of the JSON rows is a column; nested ones (what experts found) are not.
    columns = [
        name
        for name in expected[0]
        if all(not isinstance(row[name], dict | list) for row in expected)
    ]

    response = client.get(f"/leaderboards/{slug}/snapshots/{snapshot.pk}/download.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == len(expected)
    types = {"int": int, "float": float}
    for row, want in zip(rows, expected, strict=True):
        for name in columns:
            value = want[name]
            cell = row[name]
            if value is None:
                assert cell == "", name
            elif isinstance(value, bool):
                assert cell == str(value), name
            elif isinstance(value, int | float):
                assert types[type(value).__name__](cell) == value, name
            else:
                assert cell == value, name

    response = client.get(f"/leaderboards/{slug}/snapshots/{snapshot.pk}/download.parquet")
    assert response.status_code == 200
    frame = pd.read_parquet(io.BytesIO(response.content))
    assert list(frame.columns) == ["board_key", "board_title", *columns[1:]]
    records = frame.to_dict(orient="records")
    for row, want in zip(records, expected, strict=True):
        for name in columns:
            assert _numbers(row[name]) == want[name], name

    one = client.get(
        f"/leaderboards/{slug}/snapshots/{snapshot.pk}/download.csv", {"board": "python"}
    )
    python_rows = list(csv.DictReader(io.StringIO(one.content.decode())))
    assert {row["board_key"] for row in python_rows} == {"python"}
    assert len(python_rows) == sum(1 for row in expected if row["board_key"] == "python")
    missing = client.get(
        f"/leaderboards/{slug}/snapshots/{snapshot.pk}/download.csv", {"board": "nope"}
    )
    assert missing.status_code == 404
    assert (
        client.get(f"/leaderboards/{slug}/snapshots/{snapshot.pk}/download.xlsx").status_code == 404
    )


def test_every_snapshot_has_a_citation(client, history):
    world, first, _second = history
    slug = world.domain.slug
    body = client.get(f"/api/v1/leaderboards/{slug}/snapshots/{first.pk}/").json()
    citation = body["citation"]
    url = f"http://testserver/leaderboards/{slug}/snapshots/{first.pk}/"
    assert citation["url"] == url
    day = first.created_at.strftime("%Y-%m-%d")
    assert citation["bibtex"].startswith(f"@misc{{seal-{slug}-snapshot-{first.pk},")
    assert f"\\url{{{url}}}" in citation["bibtex"]
    assert f"Snapshot {first.pk} of {day}" in citation["bibtex"]
    assert first.input_fingerprint[:16] in citation["bibtex"]
    assert f"snapshot {first.pk}" in citation["text"] and url in citation["text"]
    html = client.get(f"/leaderboards/{slug}/snapshots/{first.pk}/").content.decode()
    assert "Cite this snapshot" in html and f"seal-{slug}-snapshot-{first.pk}" in html


def test_no_history_output_shows_prompt_text_or_who_rated(client, history):
    world, first, second = history
    slug = world.domain.slug
    cache.clear()
    paths = [
        f"/leaderboards/{slug}/snapshots/",
        f"/leaderboards/{slug}/diff/",
        f"/leaderboards/{slug}/feed.atom",
        "/leaderboards/feed.atom",
        f"/api/v1/leaderboards/{slug}/snapshots/",
        f"/api/v1/leaderboards/{slug}/diff/",
    ]
    for snapshot in (first, second):
        base = f"/leaderboards/{slug}/snapshots/{snapshot.pk}"
        paths += [f"{base}/", f"{base}/python/", f"{base}/download.csv", f"{base}/download.parquet"]
        paths += [f"/api/v1{base}/", f"/api/v1{base}/sql/"]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        content = response.content
        if path.endswith(".parquet"):
            # Every string in the file, decoded, as a reader would see it.
            frame = pd.read_parquet(io.BytesIO(content))
            content = frame.to_csv().encode()
        for marker in (PRIVATE_MARKER, ANNOTATOR_MARKER, "prompt 0 of"):
            assert marker.encode() not in content, (path, marker)
    assert PRIVATE_MARKER in world.prompts[0].text  # the marker is planted


def test_the_current_board_links_to_its_history(client, history):
    world, _first, second = history
    html = client.get(f"/leaderboards/{world.domain.slug}/").content.decode()
    assert f"/leaderboards/{world.domain.slug}/snapshots/{second.pk}/" in html
    assert f"/leaderboards/{world.domain.slug}/snapshots/" in html
    assert f"/leaderboards/{world.domain.slug}/feed.atom" in html


def test_cached_json_is_served_without_drf_or_rendering_and_byte_identical(client, history):
    """The speed fix: a body rendered once per ETag is served as stored bytes, before DRF."""
    world, _first, second = history
    slug = world.domain.slug
    for path in (
        "/api/v1/leaderboards/",
        f"/api/v1/leaderboards/{slug}/",
        f"/api/v1/leaderboards/{slug}/python/",
        f"/api/v1/leaderboards/{slug}/snapshots/{second.pk}/",
        f"/api/v1/leaderboards/{slug}/snapshots/{second.pk}/sql/",
    ):
        rendered = client.get(path)
        assert rendered.status_code == 200, path
        with (
            mock.patch.object(JSONRenderer, "render", side_effect=AssertionError("rendered")),
            mock.patch.object(APIView, "initial", side_effect=AssertionError("through DRF")),
        ):
            served = client.get(path)
            not_modified = client.get(path, HTTP_IF_NONE_MATCH=rendered["ETag"])
        assert served.status_code == 200, path
        assert served.content == rendered.content, path
        same = ("Content-Type", "ETag", "Cache-Control", "Allow", "Content-Length")
        assert {h: served.get(h) for h in same} == {h: rendered.get(h) for h in same}, path
        assert not_modified.status_code == 304, path
        assert not_modified["ETag"] == rendered["ETag"]
        assert not_modified.content == b""
