"""The anonymised ratings file of a snapshot: it reproduces every published number, it leaks no
prompt text or annotator identity, a tampered file is caught, and it is append-only."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, transaction

from leaderboards.models import (
    Snapshot,
    SnapshotBoard,
    SnapshotEntry,
    SnapshotRatingsFile,
    SnapshotRatingsSource,
)
from leaderboards.recompute import _rater_pseudonyms, prompt_hash
from leaderboards.services import (
    leaderboards_publish_now,
    snapshot_hide,
    snapshot_ratings_file_ensure,
)
from leaderboards.stats import StatsInputError
from leaderboards.stats.board import STYLE_ENTRY_FIELDS
from leaderboards.stats.ratings_file import (
    ratings_file_body,
    ratings_file_header,
    ratings_file_parts,
    ratings_file_read,
    ratings_file_verify,
    ratings_source_pack,
    ratings_source_unpack,
)
from seal.models import Response, ResponseStyle
from tests.builders import PRIVATE_MARKER, LeaderboardWorld, leaderboard_world
from tests.leaderboards.test_recompute import publish
from tests.leaderboards.test_style_control import STYLE_MARKER, _styled_world

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
IDENTITY_MARKER = "RATER-IDENTITY-5d0c"


def stored(snapshot: Snapshot) -> bytes:
    """The snapshot's ratings file, formatted from its kept source on first use."""
    found = snapshot_ratings_file_ensure(snapshot_id=snapshot.pk)
    assert found is not None
    return bytes(found.content)


def records(content: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(content).decode().splitlines()]


def write(tmp_path: Path, lines: list[dict], name: str = "ratings.jsonl.gz") -> Path:
    path = tmp_path / name
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_bytes(gzip.compress(text.encode()))
    return path


def reproduce(path: Path) -> tuple[int, str]:
    """Run the management command: its exit code and output."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("reproduce_snapshot", str(path), stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def mark_identities(world: LeaderboardWorld) -> None:
    for number, rater in enumerate(world.raters):
        user = rater.user
        user.username = f"{IDENTITY_MARKER}-user-{number}"
        user.email = f"{IDENTITY_MARKER}-{number}@example.org"
        user.first_name = IDENTITY_MARKER
        user.save()


def test_the_file_reproduces_every_published_number_exactly(db, tmp_path, settings):
    # Three snapshots: the second anchored on the first, a board too small to rank, a model
    # too rarely rated to be ranked, so every branch of a board is in the file.
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 20
    world = leaderboard_world(n_models=4, categories={"language": ["Python", "SQL", "Go"]})
    a, b, c, d = world.models
    go = world.prompts_in("go")
    others = [p for p in world.prompts if p not in go]
    world.rate(prompts=others, pairs=[(a, b), (b, c), (a, c)])
    first = publish(world)
    world.rate(prompts=go[:1], pairs=[(a, b), (b, c), (a, c)], seed=4)
    world.rate(prompts=others[:2], pairs=[(a, d)], seed=5)
    second = publish(world)
    assert second.pk != first.pk

    for snapshot in (first, second):
        path = tmp_path / f"{snapshot.pk}.jsonl.gz"
        path.write_bytes(stored(snapshot))
        code, output = reproduce(path)
        assert code == 0, output
        assert output.startswith(f"OK snapshot {snapshot.pk} of coding")
        assert "published snapshot in the database" in output

        # Not only "no mismatch": the recomputed floats are the stored ones, bit for bit.
        reproduction, problems = ratings_file_verify(ratings_file_read(str(path)))
        assert problems == []
        got = {
            (board["key"], entry["model"]): entry
            for board in reproduction.boards
            for entry in board["entries"]
        }
        entries = SnapshotEntry.objects.filter(snapshot=snapshot)
        assert len(got) == entries.count()
        for entry in entries:
            line = got[(entry.board_key, entry.model_version_id)]
            assert (line["elo"], line["lower"], line["upper"], line["rank"]) == (
                entry.elo,
                entry.lower,
                entry.upper,
                entry.rank,
            )
            assert line["rank_with_uncertainty"] == entry.rank_with_uncertainty
            assert (line["n_ratings"], line["wins"], line["ties"], line["losses"]) == (
                entry.n_ratings,
                entry.wins,
                entry.ties,
                entry.losses,
            )
            assert line["not_ranked_reason"] == entry.not_ranked_reason
    header = records(stored(second))[0]
    # The second snapshot was anchored on the first, and the file says so.
    assert header["anchor"]["snapshot"] == first.pk
    assert header["anchor"]["boards"]["overall"]
    boards = {board.key: board for board in second.boards.all()}
    assert boards["go"].status == "insufficient"
    assert SnapshotEntry.objects.get(board=boards["overall"], model_version=d).rank is None
    assert header["seed"] == second.config["ranking"]["seed"]
    assert header["fingerprint"] == second.input_fingerprint
    assert header["counts"]["n_ratings"] == second.n_ratings
    assert header["engine_version"] == second.config["engine_version"]


def test_accuracy_and_contamination_are_reproduced_too(db, tmp_path):
    world = leaderboard_world(
        slug="math", numeric=True, answers={1: "I think {i}. Final answer: 3"}
    )
    Response.objects.filter(model_version=world.models[2], prompt__in=world.prompts[:2]).update(
        lab_previously_exposed=True
    )
    world.rate()
    snapshot = publish(world)
    path = tmp_path / "math.jsonl.gz"
    path.write_bytes(stored(snapshot))
    code, output = reproduce(path)
    assert code == 0, output
    overall = {
        e.model_version_id: e
        for e in SnapshotEntry.objects.filter(snapshot=snapshot, board_key="overall")
    }
    assert overall[world.models[0].pk].accuracy == 1.0
    assert overall[world.models[1].pk].accuracy == 0.0
    assert overall[world.models[2].pk].contaminated
    kinds = {record["record"] for record in records(stored(snapshot))}
    assert {"grade", "exposure"} <= kinds


def test_the_file_holds_no_prompt_text_and_no_annotator_identity(db):
    world = leaderboard_world()
    mark_identities(world)
    world.rate()
    snapshot = publish(world)
    content = stored(snapshot)
    text = gzip.decompress(content).decode()
    assert PRIVATE_MARKER not in text and IDENTITY_MARKER not in text
    for prompt in world.prompts:
        assert prompt.text not in text
        assert prompt.content_hash not in text
        assert prompt.external_id not in text
        assert hashlib.sha256(prompt.text.encode()).hexdigest()[:32] not in text
    lines = records(content)
    ratings = [line for line in lines if line["record"] == "rating"]
    assert len(ratings) == snapshot.n_ratings == 108
    assert {tuple(sorted(line)) for line in ratings} == {
        ("model_a", "model_b", "outcome", "preference", "prompt", "rater", "record")
    }
    identities = {str(r.pk) for r in world.raters} | {str(r.user_id) for r in world.raters}
    identities |= {r.user.username for r in world.raters} | {r.user.email for r in world.raters}
    assert {line["rater"] for line in ratings} == {"r1", "r2", "r3"}
    assert not {line["rater"] for line in ratings} & identities
    # Prompt hashes are keyed by the server's secret: the prompt's id or text alone does not
    # give them, and a different secret gives different ones.
    prompts = [line for line in lines if line["record"] == "prompt"]
    assert len(prompts) == 12
    known = {prompt_hash(domain_id=world.domain.pk, prompt_id=p.pk) for p in world.prompts}
    assert {line["prompt"] for line in prompts} == known


def test_hashes_are_stable_per_domain_and_rater_pseudonyms_are_not(db, settings):
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:6])
    first = records(stored(publish(world)))
    world.rate(prompts=world.prompts[6:], seed=1)
    second = records(stored(publish(world)))
    hashes = [{r["prompt"] for r in lines if r["record"] == "prompt"} for lines in (first, second)]
    assert hashes[0] < hashes[1]
    ids = list(range(100, 108))
    assert _rater_pseudonyms("a" * 64, ids) != _rater_pseudonyms("b" * 64, ids)
    before = prompt_hash(domain_id=world.domain.pk, prompt_id=world.prompts[0].pk)
    settings.SEAL_RATINGS_FILE_SECRET = "another secret"
    assert prompt_hash(domain_id=world.domain.pk, prompt_id=world.prompts[0].pk) != before


def _tampered(lines: list[dict], kind: str) -> list[dict]:
    lines = [dict(line) for line in lines]
    if kind == "outcome":
        for line in lines:
            if line["record"] == "rating" and line["outcome"] == 1:
                line["outcome"], line["preference"] = 0, -line["preference"]
                break
    elif kind == "dropped rating":
        index = next(i for i, line in enumerate(lines) if line["record"] == "rating")
        del lines[index]
    elif kind == "seed":
        lines[0]["config"] = {
            **lines[0]["config"],
            "ranking": {**lines[0]["config"]["ranking"], "seed": 1 + lines[0]["seed"]},
        }
    elif kind == "published elo":
        board = next(line for line in lines if line["record"] == "board")
        board["entries"][0]["elo"] += 0.001
    elif kind == "published rank spread":
        board = next(line for line in lines if line["record"] == "board")
        board["entries"][0]["rank_upper"] += 1
    return lines


@pytest.mark.parametrize(
    "kind", ["outcome", "dropped rating", "seed", "published elo", "published rank spread"]
)
def test_a_tampered_file_is_reported_field_by_field(lb_world, tmp_path, kind):
    snapshot = publish(lb_world)
    path = write(tmp_path, _tampered(records(stored(snapshot)), kind))
    code, output = reproduce(path)
    assert code == 1
    assert "MISMATCH" in output and "differ" in output
    if kind.startswith("published"):
        # The file contradicts itself, not the database.
        assert "MISMATCH board overall model" in output
        if kind == "published rank spread":
            assert "rank_upper" in output and "database" not in output.split("Checked")[0]
    else:
        assert (
            "MISMATCH database: board overall model" in output
            or "MISMATCH database: snapshot" in output
        )


def test_the_rank_spread_is_in_the_file_and_checked(lb_world, tmp_path):
    snapshot = publish(lb_world)
    lines = records(stored(snapshot))
    overall = next(line for line in lines if line["record"] == "board" and line["key"] == "overall")
    ranked = [entry for entry in overall["entries"] if entry["rank"] is not None]
    assert ranked
    for entry in ranked:
        stored_entry = SnapshotEntry.objects.get(
            snapshot=snapshot, board_key="overall", model_version_id=entry["model"]
        )
        assert (entry["rank_lower"], entry["rank_upper"]) == (
            stored_entry.rank_lower,
            stored_entry.rank_upper,
        )
        assert entry["rank_lower"] <= entry["rank_upper"]
    path = write(tmp_path, lines)
    code, output = reproduce(path)
    assert code == 0, output
    assert "Checked: boards, rank spread, style control, findings." in output


def _before_spread_and_style(lines: list[dict]) -> list[dict]:
    """A file as written before the rank spread, style control and findings were in it."""
    kept = []
    for line in lines:
        if line["record"] in ("answer_style", "answer_sums"):
            continue
        if line["record"] == "snapshot":
            del line["rubric"]
        if line["record"] == "board":
            del line["style"], line["findings"]
            for entry in line["entries"]:
                for name in ("rank_lower", "rank_upper", "diagnostics", *STYLE_ENTRY_FIELDS):
                    del entry[name]
        kept.append(line)
    return kept


def test_a_file_written_before_the_rank_spread_and_style_still_reproduces(lb_world, tmp_path):
    # Files (and kept sources) from before lack them: reproduce checks what they carry, says so,
    # and does not hold them to the database's spread and style view.
    snapshot = publish(lb_world)
    code, output = reproduce(write(tmp_path, _before_spread_and_style(records(stored(snapshot)))))
    assert code == 0, output
    assert "Checked: boards." in output


def test_a_source_kept_before_style_counts_still_formats(lb_world):
    snapshot = publish(lb_world)
    source = SnapshotRatingsSource.objects.get(snapshot=snapshot)
    arguments = ratings_source_unpack(bytes(source.packed))
    assert arguments["styles"] is not None
    # What a source kept before this change holds: no style counts, no spread, no style view.
    old = {
        name: value for name, value in arguments.items() if name not in ("styles", "answer_sums")
    }
    old["boards"] = [
        {name: value for name, value in board.items() if name not in ("style", "findings")}
        | {
            "entries": [
                {
                    name: value
                    for name, value in entry.items()
                    if name not in ("rank_lower", "rank_upper", "diagnostics", *STYLE_ENTRY_FIELDS)
                }
                for entry in board["entries"]
            ]
        }
        for board in arguments["boards"]
    ]
    unpacked = ratings_source_unpack(ratings_source_pack(**old))
    assert unpacked["styles"] is None and unpacked["answer_sums"] is None
    body = ratings_file_body(**unpacked)
    header = {name: value for name, value in source.header.items() if name != "rubric"}
    ratings_file = ratings_file_read(ratings_file_header(header) + body)
    assert ratings_file.styles is None
    assert ratings_file_parts(ratings_file) == ["boards"]
    assert ratings_file_verify(ratings_file)[1] == []


def _styled_snapshot():
    world = _styled_world()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    return world, snapshot


def test_the_style_view_is_in_the_file_and_reproduced_exactly(db, tmp_path):
    _world, snapshot = _styled_snapshot()
    content = stored(snapshot)
    # Style counts are integers per rated answer, never the answer's text.
    assert STYLE_MARKER.encode() not in gzip.decompress(content)
    lines = records(content)
    styles = [line for line in lines if line["record"] == "answer_style"]
    assert len(styles) == ResponseStyle.objects.count()
    for line in styles:
        assert set(line) == {"record", "prompt", "model", "counts"}
        assert len(line["counts"]) == 5 and all(isinstance(c, int) for c in line["counts"])
    overall = next(line for line in lines if line["record"] == "board" and line["key"] == "overall")
    assert overall["style"] == SnapshotBoard.objects.get(snapshot=snapshot, key="overall").style
    assert overall["style"]["coefficients"]
    for entry in overall["entries"]:
        stored_entry = SnapshotEntry.objects.get(
            snapshot=snapshot, board_key="overall", model_version_id=entry["model"]
        )
        assert entry["style_elo"] is not None
        for name in STYLE_ENTRY_FIELDS:
            assert entry[name] == getattr(stored_entry, name)
    path = write(tmp_path, lines)
    code, output = reproduce(path)
    assert code == 0, output
    assert "Checked: boards, rank spread, style control, findings." in output
    reproduction, problems = ratings_file_verify(ratings_file_read(str(path)))
    assert problems == []
    got = next(board for board in reproduction.boards if board["key"] == "overall")
    assert got["style"] == overall["style"]


@pytest.mark.parametrize(
    "kind",
    ["answer style", "coefficient", "style elo", "style rank spread"],
)
def test_a_tampered_style_view_is_reported(db, tmp_path, kind):
    _world, snapshot = _styled_snapshot()
    lines = records(stored(snapshot))
    overall = next(line for line in lines if line["record"] == "board" and line["key"] == "overall")
    if kind == "answer style":
        for line in lines:
            if line["record"] == "answer_style":
                line["counts"][0] = 10 * line["counts"][0] + 50
        # The published view, in the file and in the database, is not what these counts give.
        expected = "MISMATCH database: board overall style.coefficients[0]"
    elif kind == "coefficient":
        overall["style"]["coefficients"][0]["coefficient"] += 0.001
        expected = "MISMATCH board overall style.coefficients[0].coefficient"
    elif kind == "style elo":
        overall["entries"][0]["style_elo"] += 0.001
        expected = "style_elo"
    else:
        overall["entries"][0]["style_rank_upper"] += 1
        expected = "style_rank_upper"
    code, output = reproduce(write(tmp_path, lines))
    assert code == 1, output
    assert expected in output


def _scored_snapshot() -> Snapshot:
    """A snapshot whose ratings carry rubric scores and issue tags."""
    world = leaderboard_world()
    world.rate(
        scores_a={"correctness": 4, "overall": 3},
        scores_b={"correctness": 2, "overall": 2},
        tags_b=["correctness"],
    )
    return publish(world)


def test_findings_are_in_the_file_and_reproduced(db, tmp_path):
    snapshot = _scored_snapshot()
    lines = records(stored(snapshot))
    sums = [line for line in lines if line["record"] == "answer_sums"]
    assert sums
    for line in sums:
        assert set(line) == {
            "record",
            "prompt",
            "model",
            "answers",
            "score_sum",
            "score_n",
            "tag_count",
        }
    assert lines[0]["rubric"]["dimensions"]
    overall = next(line for line in lines if line["record"] == "board" and line["key"] == "overall")
    board = SnapshotBoard.objects.get(snapshot=snapshot, key="overall")
    assert overall["findings"] == board.data["findings"]
    assert overall["entries"][0]["diagnostics"]["dimensions"][0]["mean"] is not None
    assert any(line["score_n"][0] for line in sums)
    code, output = reproduce(write(tmp_path, lines))
    assert code == 0, output
    assert "findings." in output


@pytest.mark.parametrize("kind", ["answer sums", "board findings", "entry findings"])
def test_tampered_findings_are_reported(db, tmp_path, kind):
    snapshot = _scored_snapshot()
    lines = records(stored(snapshot))
    overall = next(line for line in lines if line["record"] == "board" and line["key"] == "overall")
    if kind == "answer sums":
        for line in lines:
            if line["record"] == "answer_sums":
                line["score_sum"][0] += line["score_n"][0]
        expected = "MISMATCH database: board overall model"
    elif kind == "board findings":
        overall["findings"]["answers"] += 1
        expected = "MISMATCH board overall findings.answers"
    else:
        overall["entries"][0]["diagnostics"]["answers"] += 1
        expected = "diagnostics.answers"
    code, output = reproduce(write(tmp_path, lines))
    assert code == 1, output
    assert expected in output


def test_the_standalone_script_reproduces_without_django(lb_world, tmp_path):
    snapshot = publish(lb_world)
    good = tmp_path / "good.jsonl.gz"
    good.write_bytes(stored(snapshot))
    bad = write(tmp_path, _tampered(records(stored(snapshot)), "outcome"), "bad.jsonl.gz")
    check = (
        "import runpy, sys; sys.argv = ['reproduce.py', sys.argv[1], '--table']\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / 'docs' / 'reproduce.py')!r}, run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert 'django' not in sys.modules, 'the script imported Django'\n"
        "    raise\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", check, str(good)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK snapshot {snapshot.pk} of coding" in result.stdout
    assert "Checked: boards, rank spread, style control, findings." in result.stdout
    assert "[overall] ranked" in result.stdout
    result = subprocess.run(
        [sys.executable, "-c", check, str(bad)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH" in result.stdout


def test_unreadable_files_are_refused_with_the_line(lb_world, tmp_path):
    snapshot = publish(lb_world)
    lines = records(stored(snapshot))
    not_gzip = tmp_path / "plain.jsonl"
    not_gzip.write_text("{}\n")
    code, output = reproduce(not_gzip)
    assert code == 1 and "not a gzip-compressed ratings file" in output
    broken = [dict(line) for line in lines]
    index = next(i for i, line in enumerate(broken) if line["record"] == "rating")
    broken[index]["outcome"] = 0.7
    with pytest.raises(StatsInputError, match=f"line {index + 1}: outcome"):
        ratings_file_read(str(write(tmp_path, broken)))
    with pytest.raises(StatsInputError, match="line 1"):
        ratings_file_read(str(write(tmp_path, lines[1:])))


def test_the_file_is_served_for_visible_snapshots_only(lb_world, client):
    snapshot = publish(lb_world)
    url = f"/leaderboards/coding/snapshots/{snapshot.pk}/ratings.jsonl.gz"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert response.content == stored(snapshot)
    assert "attachment" in response["Content-Disposition"]
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert (
        client.get(f"/leaderboards/other/snapshots/{snapshot.pk}/ratings.jsonl.gz").status_code
        == 404
    )
    board = client.get("/leaderboards/coding/")
    assert url in board.content.decode()
    snapshot_hide(snapshot=snapshot)
    assert client.get(url).status_code == 404


def test_a_published_snapshots_file_cannot_be_changed_deleted_or_added(lb_world, monkeypatch):
    snapshot = publish(lb_world)
    # Publishing keeps the file's source; the file is written once, at its first download.
    assert not SnapshotRatingsFile.objects.filter(snapshot=snapshot).exists()
    sources = SnapshotRatingsSource.objects.filter(snapshot=snapshot)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sources.update(packed=b"forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sources.delete()
    content = stored(snapshot)
    assert stored(snapshot) == content  # written once, read back after
    rows = SnapshotRatingsFile.objects.filter(snapshot=snapshot)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.update(content=b"forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        SnapshotRatingsFile.objects.create(
            snapshot=snapshot, content=b"x", sha256="0" * 64, size=1, n_ratings=0
        )
    assert bytes(rows.get().content) == content
    # A snapshot published without a file (as those before files were kept) gets none later.
    monkeypatch.setattr("leaderboards.services._ratings_file_insert", lambda *args: None)
    world = leaderboard_world(slug="later")
    world.rate()
    bare = publish(world)
    assert not SnapshotRatingsFile.objects.filter(snapshot=bare).exists()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        SnapshotRatingsFile.objects.create(
            snapshot=bare, content=b"x", sha256="0" * 64, size=1, n_ratings=0
        )
