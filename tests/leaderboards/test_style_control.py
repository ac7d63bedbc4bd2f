"""Style control and rank spread through the recompute, the snapshot, the pages and the JSON."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from leaderboards.models import SnapshotBoard, SnapshotEntry
from leaderboards.recompute_inputs import recompute_inputs_load
from leaderboards.services import leaderboards_publish_now
from seal.answer_style import answer_style
from seal.models import Response, ResponseStyle
from tests.builders import PRIVATE_MARKER, leaderboard_world

pytestmark = pytest.mark.django_db

STYLE_MARKER = "ANSWER-TEXT-c41d"


def _styled_answer(rng: random.Random, *, verbose: float) -> str:
    """An answer whose length and Markdown vary by prompt, more of both when `verbose` is high."""
    lines = [f"{STYLE_MARKER} " + " ".join(["word"] * rng.randint(5, int(10 + 80 * verbose)))]
    if rng.random() < verbose:
        lines.insert(0, "## Answer")
    lines += [f"- point {k}" for k in range(rng.randint(0, int(1 + 6 * verbose)))]
    if rng.random() < verbose:
        lines.append("**Note:** check it.")
    if rng.random() < 0.3:
        lines += ["```", "code()", "```"]
    return "\n".join(lines)


def _styled_world(*, n_models: int = 4, n_prompts: int = 24):
    world = leaderboard_world(n_models=n_models, n_prompts=n_prompts)
    rng = random.Random(7)
    # Answers are frozen once a final rating cites them; before rating they may be rewritten.
    for (model_id, _prompt_id), response in world.responses.items():
        k = next(i for i, m in enumerate(world.models) if m.pk == model_id)
        text = _styled_answer(rng, verbose=0.2 + 0.2 * k)
        Response.objects.filter(pk=response.pk).update(text=text)
    world.rate()
    return world


@pytest.fixture
def styled(db):
    world = _styled_world()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    return world, snapshot


def test_a_recompute_counts_missing_styles_and_publishes_the_style_view(styled):
    world, snapshot = styled
    # The world's answers were written behind the services' back: the recompute counted them.
    assert ResponseStyle.objects.count() == len(world.responses)
    one: Any = Response.objects.select_related("style").first()
    assert one.style.tokens == answer_style(one.text).tokens
    overall = SnapshotBoard.objects.get(snapshot=snapshot, key="overall")
    assert overall.style is not None
    coefficients = {c["feature"]: c for c in overall.style["coefficients"]}
    assert set(coefficients) == {"length", "headers", "lists", "bold", "code_blocks"}
    for c in coefficients.values():
        assert c["coefficient"] is not None
        assert c["lower"] <= c["coefficient"] <= c["upper"]
    assert overall.style["replicas"] == snapshot.config["ranking"]["replicas"]
    assert overall.style["n_ratings"] == overall.n_ratings
    assert overall.style["n_ratings_without_style"] == 0
    entries: list[Any] = list(SnapshotEntry.objects.filter(board=overall, rank__isnull=False))
    assert len(entries) == 4
    for entry in entries:
        assert entry.style_lower <= entry.style_elo <= entry.style_upper
        assert entry.rank_lower <= entry.rank <= entry.rank_upper
        assert entry.style_rank_lower <= entry.style_rank_upper
    # Both views are on the same scale: the mean Elo of the ranked models is the same.
    mean = sum(e.elo for e in entries) / 4
    assert sum(e.style_elo for e in entries) / 4 == pytest.approx(mean, abs=1e-6)


def test_style_counts_enter_the_fingerprint(styled):
    world, _ = styled
    before = recompute_inputs_load(domain=world.domain).fingerprint
    style: Any = ResponseStyle.objects.first()
    ResponseStyle.objects.filter(pk=style.pk).update(tokens=style.tokens + 1)
    assert recompute_inputs_load(domain=world.domain).fingerprint != before


def test_published_style_numbers_are_append_only(styled):
    _, snapshot = styled
    entry: Any = SnapshotEntry.objects.filter(snapshot=snapshot, style_elo__isnull=False).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        SnapshotEntry.objects.filter(pk=entry.pk).update(style_elo=0.0)
    board = SnapshotBoard.objects.get(snapshot=snapshot, key="overall")
    with pytest.raises(IntegrityError), transaction.atomic():
        SnapshotBoard.objects.filter(pk=board.pk).update(style=None)


def test_the_board_page_shows_rank_spreads_and_the_style_control_section(client, styled):
    world, snapshot = styled
    html = client.get(reverse("leaderboards:domain", args=[world.domain.slug])).content.decode()
    assert 'id="style-control"' in html and "Style coefficients" in html
    for label in ("Length (tokens)", "Markdown headers", "List items", "Bold spans", "Code blocks"):
        assert label in html
    assert "Style-controlled Elo" in html
    # The rank cells carry no bare "=" any more: rank, then the spread in brackets if any.
    cells = re.findall(r'<td class="lb-rank">(.*?)</td>', html, flags=re.S)
    assert cells and not any("=" in re.sub(r"<[^>]+>", "", cell) for cell in cells)
    assert "rank spread" in html
    entries = SnapshotEntry.objects.filter(board__snapshot=snapshot, board_key="overall")
    spread = [e for e in entries if e.rank_lower is not None and e.rank_lower != e.rank_upper]
    for entry in spread:
        assert f"({entry.rank_lower}–{entry.rank_upper})" in html
    # Answer text never reaches a public page, and neither does prompt text.
    assert STYLE_MARKER not in html and PRIVATE_MARKER not in html
    methodology = client.get(reverse("leaderboards:methodology")).content.decode()
    assert 'id="style-control"' in methodology and "What it does not" in methodology
    assert 'id="rank-spread"' in methodology and "(marked =)" not in methodology
    model_page = client.get(reverse("leaderboards:model", args=[world.models[0].pk]))
    assert "Style-controlled" in model_page.content.decode()


def test_the_board_json_carries_style_control_and_rank_spreads(client, styled):
    world, _ = styled
    body = client.get(f"/api/v1/leaderboards/{world.domain.slug}/overall/").json()
    style = body["style_control"]
    assert [c["feature"] for c in style["coefficients"]] == [
        "length",
        "headers",
        "lists",
        "bold",
        "code_blocks",
    ]
    assert all(c["title"] and c["elo"] is not None for c in style["coefficients"])
    ranked = [entry for entry in body["entries"] if entry["rank"] is not None]
    assert ranked
    for entry in ranked:
        for key in ("rank_lower", "rank_upper", "style_elo", "style_lower", "style_upper"):
            assert entry[key] is not None, key
        assert entry["style_rank"] >= 1
    assert STYLE_MARKER not in json.dumps(body) and PRIVATE_MARKER not in json.dumps(body)
    schema = client.get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    assert "style_control" in schema["LeaderboardBoard"]["properties"]
    assert "coefficients" in schema["LeaderboardStyleControl"]["properties"]
    for key in ("rank_lower", "rank_upper", "style_elo", "style_rank"):
        assert key in schema["LeaderboardEntry"]["properties"]


def test_identical_answer_styles_publish_no_coefficients_and_no_style_table(client, db):
    world = leaderboard_world()
    world.rate()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    board = SnapshotBoard.objects.get(snapshot=snapshot, key="overall")
    assert board.style is not None
    assert all(c["coefficient"] is None for c in board.style["coefficients"])
    entries = SnapshotEntry.objects.filter(board=board, rank__isnull=False)
    for entry in entries:
        assert entry.style_elo == pytest.approx(entry.elo, abs=1e-3)
    html = client.get(reverse("leaderboards:domain", args=[world.domain.slug])).content.decode()
    assert "nothing to control for" in html and "Style coefficients" not in html
