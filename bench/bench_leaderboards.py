"""Leaderboard pipeline benchmark: a full recompute and publish, then the public page under load.

    python bench/bench_leaderboards.py              # 300,000 ratings, 50 models, 20 x 200 prompts
    python bench/bench_leaderboards.py --skip-build # reuse the data of the previous run

1. Build (unless --skip-build): a domain with 20 categories of 200 prompts each, 50 model
   versions from 10 labs, and 300,000 approved ratings (100,000 comparisons x 3 raters, outcomes
   drawn from Bradley-Terry strengths with ties), written with COPY. The ApprovedRating rows are
   the recompute's whole input; their links to the workflow tables (assignment, task, annotator)
   are not read by it, so the load skips those rows and disables foreign-key checks for the COPY
   (session_replication_role = replica; the database is a throwaway bench database).
2. Recompute: `leaderboards_publish_now` (the service the workers run) with 1,000 replicas:
   both grouped queries, 21 boards, the snapshot with its entries and the pointer, in one
   transaction; then the charts (42 SVGs). Each phase is also timed on its own.
3. Web: gunicorn with production settings (2 sync workers) serves the domain page and the
   domain's board JSON (`/api/v1/leaderboards/bench/`) from the published snapshot and, side by
   side in the same run, a trivial Django view (same middleware, no database). A small load
   generator (processes with one connection each) alternates rounds between the URLs and
   reports requests per second and latency percentiles. `--port` picks the server's port.

It uses (and empties) its own database, `seal_bench_leaderboards` by default.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import queue as queue_module
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402 - after the path insert
    bench_database_empty,
    postgres_database_ensure,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/seal_bench_leaderboards"
# A coding-style rubric: five dimensions and six issue tags, as the seeded coding domain has.
BENCH_RUBRIC: dict[str, Any] = {
    "dimensions": [
        {"key": key, "label": label, "scale": {"min": 1, "max": 5}}
        for key, label in (
            ("correctness", "Correctness / functionality"),
            ("readability", "Readability / documentation"),
            ("efficiency", "Efficiency"),
            ("adherence", "Adherence to the request"),
            ("overall", "Overall"),
        )
    ],
    "issue_tags": [
        {"key": key, "label": label}
        for key, label in (
            ("bug", "Bug"),
            ("incomplete", "Incomplete"),
            ("inefficient", "Inefficient"),
            ("insecure", "Insecure"),
            ("off_request", "Ignores the request"),
            ("hallucinated_api", "Hallucinated API"),
        )
    ],
    "justification_min_chars": 10,
}


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("CELERY_BROKER_URL", None)  # eager: nothing leaves this process
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()


def build(
    *,
    ratings: int,
    models: int,
    categories: int,
    prompts_per_category: int,
    with_answers: bool = True,
) -> int:
    import numpy as np
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from seal.models import Category, Lab, ModelVersion, Prompt, PromptSet
    from seal.prompt_import import content_hash
    from seal.services import domain_upsert
    from seal.simulation import preferences_draw, preferences_outcome, win_probability

    call_command("migrate", verbosity=0)
    bench_database_empty()
    domain = domain_upsert(slug="bench", name="Bench", rubric=BENCH_RUBRIC)
    prompt_set = PromptSet.objects.create(domain=domain, version="bench", status="active")
    cats = Category.objects.bulk_create(
        Category(domain=domain, facet="topic", value=f"Topic {k:02d}", slug=f"topic-{k:02d}")
        for k in range(categories)
    )
    texts = [f"Bench prompt {i}" for i in range(categories * prompts_per_category)]
    prompts = Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, text=t, content_hash=content_hash(t)) for t in texts
    )
    through = Prompt.categories.through
    through.objects.bulk_create(
        through(prompt_id=p.pk, category_id=cats[i // prompts_per_category].pk)
        for i, p in enumerate(prompts)
    )
    labs = [Lab.objects.create(name=f"Bench lab {k}", slug=f"bench-lab-{k}") for k in range(10)]
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(
            lab=labs[k % len(labs)],
            name=f"Bench-{k:02d}",
            version="1.0",
            base_url="https://api.example.com/v1",
            model_id=f"bench-{k}",
        )
        for k in range(models)
    )

    rng = np.random.default_rng(2026)
    strength = rng.normal(0.0, 0.8, models)
    comparisons = ratings // 3
    prompt_ids = np.array([p.pk for p in prompts])[rng.integers(0, len(prompts), comparisons)]
    a = rng.integers(0, models, comparisons)
    b = (a + rng.integers(1, models, comparisons)) % models
    p_a = win_probability(strength[a] - strength[b])
    model_ids = np.array([v.pk for v in versions])
    now = timezone.now().isoformat()
    # What experts found: every answer scored on each dimension (1-5, better models higher)
    # and tagged with each issue at a rate that falls with the model's strength.
    dimensions = [d["key"] for d in BENCH_RUBRIC["dimensions"]]
    tags = [t["key"] for t in BENCH_RUBRIC["issue_tags"]]
    tag_rate = 0.25 / (1.0 + np.exp(strength))

    def answer_json(model: np.ndarray) -> tuple[list[str], list[str]]:
        noise = rng.normal(0, 1, (len(model), len(dimensions)))
        scores = np.clip(np.rint(3.0 + strength[model][:, None] + noise), 1, 5).astype(int)
        tagged = rng.random((len(model), len(tags))) < tag_rate[model][:, None]
        score_text = [
            json.dumps(dict(zip(dimensions, row.tolist(), strict=True))) for row in scores
        ]
        tag_text = [
            json.dumps([tag for tag, on in zip(tags, row, strict=True) if on]) for row in tagged
        ]
        return score_text, tag_text

    buffer = io.StringIO()
    assignment = 0
    for rater in range(3):
        preference = preferences_draw(rng, p_a, tie_rate=0.12, strong_rate=0.4)
        outcome = preferences_outcome(preference)
        scores_a, tags_a = answer_json(a)
        scores_b, tags_b = answer_json(b)
        for c in range(comparisons):
            assignment += 1
            buffer.write(
                f"{assignment}\t1\t{domain.pk}\t{prompt_ids[c]}\t{model_ids[a[c]]}\t"
                f"{model_ids[b[c]]}\t{rater + 1}\t{preference[c]}\t{outcome[c]}\t"
                f"{tags_a[c]}\t{tags_b[c]}\t{scores_a[c]}\t{scores_b[c]}\t{now}\n"
            )
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(
            "COPY annotation_approvedrating (assignment_id, task_id, domain_id, prompt_id, "
            "model_a_id, model_b_id, annotator_id, preference, outcome, issue_tags_a, "
            "issue_tags_b, scores_a, scores_b, approved_at) FROM STDIN"
        ) as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        cursor.execute("SET session_replication_role = DEFAULT")
    # Final approval keeps per (prompt, model) score and tag totals beside each copy; the COPY
    # bypassed it, so they are counted here (as the migration does for existing ratings).
    from annotation.services import approved_answer_sums_rebuild

    approved_answer_sums_rebuild(domain_id=domain.pk)
    if with_answers:
        _answers_load(rng, prompt_ids=prompt_ids, a=model_ids[a], b=model_ids[b], now=now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return domain.pk


def _answers_load(rng, *, prompt_ids, a, b, now: str) -> None:
    """One collected answer per rated (model, prompt) and its stored style counts, by COPY.

    The style control reads the counts stored per answer (seal.ResponseStyle), never the text,
    so the answers' text is a stub and the counts are drawn: each model has its own habits
    (longer or shorter, more or less Markdown), varied per answer."""
    import numpy as np
    from django.db import connection

    keys = np.unique(np.concatenate([a * 1_000_000 + prompt_ids, b * 1_000_000 + prompt_ids]))
    model, prompt = np.divmod(keys, 1_000_000)
    buffer = io.StringIO()
    for m, p in zip(model.tolist(), prompt.tolist(), strict=True):
        buffer.write(f"{now}\t{now}\t{m}\t{p}\tok\tBench answer\t\tstop\t0\t0\tf\t\t\n")
    buffer.seek(0)
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY seal_response (created_at, updated_at, model_version_id, prompt_id, status, "
            "text, error, finish_reason, attempts, sends, lab_previously_exposed, html, "
            "submission_id) FROM STDIN WITH (NULL '\\N')"
        ) as copy:
            copy.write(buffer.getvalue().replace("\t\t\n", "\t\t\\N\n"))
        cursor.execute("SELECT id, model_version_id FROM seal_response ORDER BY id")
        rows = np.array(cursor.fetchall(), dtype=np.int64)
        models = np.unique(rows[:, 1])
        habit = dict(zip(models.tolist(), rng.uniform(0.5, 2.0, (len(models), 5)), strict=True))
        mean = np.array([300.0, 2.0, 6.0, 4.0, 0.5]) * np.stack(
            [habit[m] for m in rows[:, 1].tolist()]
        )
        counts = rng.poisson(mean)
        styles = io.StringIO()
        for response_id, row in zip(rows[:, 0].tolist(), counts.tolist(), strict=True):
            styles.write(f"{response_id}\t" + "\t".join(map(str, row)) + "\t1\n")
        with cursor.copy(
            "COPY seal_responsestyle (response_id, tokens, headers, list_items, bold, "
            "code_blocks, version) FROM STDIN"
        ) as copy:
            copy.write(styles.getvalue())
    print(f"stored {len(rows):,} answers with their style counts")


def recompute(domain_id: int) -> dict[str, float]:
    from django.db import connection, transaction

    from leaderboards.models import Snapshot
    from leaderboards.recompute import _answer_stats, snapshot_draft_compute
    from leaderboards.recompute_inputs import _answer_sums, _rubric_meta, recompute_inputs_load
    from leaderboards.services import leaderboards_publish_now, snapshot_charts_render
    from seal.models import Domain

    domain = Domain.objects.get(pk=domain_id)
    with transaction.atomic(), connection.cursor() as cursor:
        # Published snapshots are append-only; this throwaway database opts out for the reset.
        cursor.execute("SET LOCAL seal.allow_truncate = 'on'")
        cursor.execute("TRUNCATE leaderboards_publishedleaderboard, leaderboards_snapshot CASCADE")
        cursor.execute("TRUNCATE leaderboards_recomputejob")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    (snapshot,) = leaderboards_publish_now(domains=[domain], draw_charts=False)
    timings["recompute and publish (service)"] = time.perf_counter() - start
    start = time.perf_counter()
    charts = snapshot_charts_render(snapshot=snapshot)
    timings[f"charts ({charts} SVGs)"] = time.perf_counter() - start
    timings["total with charts"] = sum(timings.values())
    # The phases again, on their own (no publish: the snapshot exists).
    start = time.perf_counter()
    inputs = recompute_inputs_load(domain=domain)
    timings["  of which: read + group + fingerprint"] = time.perf_counter() - start
    start = time.perf_counter()
    draft = snapshot_draft_compute(inputs)
    timings[f"  of which: engine on {len(draft.boards)} boards"] = time.perf_counter() - start
    # What experts found, on its own: the grouped score/tag query, then every board's bootstrap.
    start = time.perf_counter()
    _answer_sums(domain.pk, _rubric_meta(domain))
    timings["  of which: findings query (scores and tags per prompt and model)"] = (
        time.perf_counter() - start
    )
    start = time.perf_counter()
    for category in [None, *inputs.categories]:
        _answer_stats(inputs, category)
    timings[f"  of which: findings bootstrap on {len(draft.boards)} boards"] = (
        time.perf_counter() - start
    )
    assert Snapshot.objects.count() == 1
    assert draft.fingerprint == snapshot.input_fingerprint
    ranked = sum(board.status == "ranked" for board in draft.boards)
    print(f"snapshot #{snapshot.pk}: {snapshot.n_ratings:,} ratings, {ranked} ranked boards")
    return timings


# --- Web -----------------------------------------------------------------------------------------


def _client(url: str, port: int, seconds: float, queue: mp.Queue) -> None:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", url, headers={"Host": "127.0.0.1"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
        except (OSError, HTTPException) as exc:
            # Timeouts and dropped connections are counted, never left out of the numbers.
            failures[type(exc).__name__] += 1
            continue
        if response.status != 200 or not body:
            failures[f"HTTP {response.status}" if body else "empty body"] += 1
            continue
        latencies.append(time.perf_counter() - start)
    queue.put((latencies, dict(failures)))


def load(url: str, port: int, *, clients: int, seconds: float) -> tuple[list[float], Counter[str]]:
    """Every client's latencies of answered requests, and every failed request by kind."""
    queue: mp.Queue = mp.Queue()
    workers = [mp.Process(target=_client, args=(url, port, seconds, queue)) for _ in range(clients)]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    for _ in workers:
        try:
            answered, failed = queue.get(timeout=seconds + 60)
        except queue_module.Empty:
            failures["client process gave no result"] += 1
            continue
        latencies.extend(answered)
        failures.update(failed)
    for worker in workers:
        worker.join(timeout=10)
        if worker.exitcode != 0:
            failures[f"client process exit {worker.exitcode}"] += 1
    return latencies, failures


def serve_and_measure(url: str, *, clients: int, seconds: float, rounds: int, port: int) -> None:
    static_root = tempfile.mkdtemp(prefix="seal-bench-static-")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SEAL_ENV": "production",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": static_root,
        "DJANGO_SETTINGS_MODULE": "bench.bench_web_settings",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "seal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    all_failures: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/bench/trivial/", headers={"Host": "127.0.0.1"})
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        pages = {
            "trivial Django view": "/bench/trivial/",
            "domain page": "/leaderboards/bench/",
            "board JSON API": "/api/v1/leaderboards/bench/",
        }
        failed: dict[str, Counter[str]] = {name: Counter() for name in pages}
        for name, path in pages.items():
            # Warms both workers' caches; a failure here counts like any other.
            failed[name].update(load(path, port, clients=clients, seconds=1.0)[1])
        results: dict[str, list[float]] = {name: [] for name in pages}
        rates: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(rounds):
            for name, path in pages.items():
                latencies, failures = load(path, port, clients=clients, seconds=seconds)
                results[name].extend(latencies)
                failed[name].update(failures)
                rates[name].append(len(latencies) / seconds)
        print(
            f"\n{clients} client processes, {rounds} alternating rounds of {seconds:.0f} s per "
            "URL, gunicorn 2 sync workers, production settings\n"
        )
        print("| URL | requests/s (mean of rounds) | p50 | p95 | p99 | failed |")
        print("|---|---|---|---|---|---|")
        for name, path in pages.items():
            ordered = sorted(results[name])
            ms = [
                1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]
                for q in (0.5, 0.95, 0.99)
            ]
            print(
                f"| {name} `{path}` | {statistics.mean(rates[name]):.0f} | "
                f"{ms[0]:.1f} ms | {ms[1]:.1f} ms | {ms[2]:.1f} ms | "
                f"{sum(failed[name].values())} |"
            )
        trivial = statistics.mean(rates["trivial Django view"])
        for name in pages:
            if name != "trivial Django view":
                ratio = statistics.mean(rates[name]) / trivial
                # Each round measures every URL back to back: its ratio shares the round's load.
                per_round = [
                    rate / base
                    for rate, base in zip(rates[name], rates["trivial Django view"], strict=True)
                ]
                print(
                    f"\n{name} / trivial view throughput: {ratio:.0%} "
                    f"(rounds: {', '.join(f'{r:.0%}' for r in per_round)})"
                )
        all_failures = sum((failures for failures in failed.values()), Counter())
        if all_failures:
            print(f"\nFAILED requests: {dict(all_failures)}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    if all_failures:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--ratings", type=int, default=300_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--prompts-per-category", type=int, default=200)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-web", action="store_true")
    parser.add_argument(
        "--without-answers",
        action="store_true",
        help="build no answers (and so no style counts): the boards get no style-controlled view",
    )
    parser.add_argument(
        "--skip-recompute",
        action="store_true",
        help="with --skip-build: serve the snapshot already published (web part only)",
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    postgres_database_ensure(args.database_url)
    setup_django(args.database_url)
    from django.conf import settings

    from seal.models import Domain

    if args.skip_build:
        domain_id = Domain.objects.get(slug="bench").pk
    else:
        start = time.perf_counter()
        domain_id = build(
            ratings=args.ratings,
            models=args.models,
            categories=args.categories,
            prompts_per_category=args.prompts_per_category,
            with_answers=not args.without_answers,
        )
        print(f"built {args.ratings:,} approved ratings in {time.perf_counter() - start:.1f} s")
    if not (args.skip_build and args.skip_recompute):
        print(f"replicas per board: {settings.SEAL_LEADERBOARD_REPLICAS}")
        timings = recompute(domain_id)
        print("\n| phase | seconds |\n|---|---|")
        for name, seconds in timings.items():
            print(f"| {name} | {seconds:.2f} |")
    if not args.skip_web:
        serve_and_measure(
            args.database_url,
            clients=args.clients,
            seconds=args.seconds,
            rounds=args.rounds,
            port=args.port,
        )


if __name__ == "__main__":
    main()
