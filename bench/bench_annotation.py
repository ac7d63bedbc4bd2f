"""Annotation hand-out under load: next-task and submit latency with concurrent annotators.

Each annotator is its own process (as behind gunicorn workers), talking to PostgreSQL through the
real services: `assignment_next` (row locks with SKIP LOCKED) then `rating_submit`. Prints a
Markdown table and checks the invariants afterwards (at most three live slots per task, nobody
twice on a task).

    python bench/bench_annotation.py                      # 50 annotators, 100 ms think time
    python bench/bench_annotation.py --think-ms 0         # closed loop, no pause: a stress test

It uses (and empties) its own database, `seal_bench` by default.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import comparison_world_build, postgres_database_ensure


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()


def build(tasks: int, annotators: int) -> list[int]:
    # Annotators here call the services directly, so their logins need no usable password.
    return comparison_world_build(
        slug="bench",
        tasks=tasks,
        annotators=annotators,
        username_prefix="bench",
        password_hash="!",  # noqa: S106 - Django's marker for "no usable password"
    )


def annotate(args: tuple[str, int, int, float, int]) -> list[tuple[float, float]]:
    url, profile_id, rounds, think, seed = args
    setup_django(url)
    from annotation.models import AnnotatorProfile
    from annotation.services import RatingInput, assignment_next, rating_submit

    rng = random.Random(seed)
    # Connect and warm up first, then start at a random point of the think time, as people do.
    profile = AnnotatorProfile.objects.get(pk=profile_id)
    list(profile.domains.all())
    time.sleep(think * rng.random())
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        assignment = assignment_next(profile=profile)
        leased = time.perf_counter()
        if assignment is None:
            break
        time.sleep(think * rng.uniform(0.5, 1.5))
        submit_start = time.perf_counter()
        rating_submit(
            assignment_id=assignment.pk,
            profile=profile,
            rating=RatingInput(
                preference=rng.choice([-2, -1, 0, 1, 2]),
                scores_left={"correctness": 4, "overall": 4},
                scores_right={"correctness": 3, "overall": 3},
                justification="Benchmark rating with a long enough justification.",
            ),
        )
        done = time.perf_counter()
        timings.append((leased - start, done - submit_start))
        time.sleep(think * rng.uniform(0.5, 1.5))
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/seal_bench")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=20, help="next+submit cycles per annotator")
    parser.add_argument("--think-ms", type=float, default=100.0, help="pause around each step")
    options = parser.parse_args()

    postgres_database_ensure(options.database_url)
    os.environ["SEAL_GOLD_RATE"] = "0"  # measure real comparisons only
    setup_django(options.database_url)
    from django.db import connections

    profile_ids = build(options.tasks, options.annotators)
    connections.close_all()

    started = time.perf_counter()
    jobs = [
        (options.database_url, pid, options.rounds, options.think_ms / 1000, i)
        for i, pid in enumerate(profile_ids)
    ]
    with mp.get_context("fork").Pool(len(jobs)) as pool:
        results = pool.map(annotate, jobs)
    elapsed = time.perf_counter() - started

    from django.db.models import Count

    from annotation.models import Assignment, ComparisonTask

    nexts = [n for timings in results for n, _ in timings]
    submits = [s for timings in results for _, s in timings]
    per_task = Assignment.objects.values("task").annotate(n=Count("pk")).order_by("-n").first() or {
        "n": 0
    }
    duplicates = (
        Assignment.objects.values("task", "annotator")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    over = ComparisonTask.objects.filter(active_slots__gt=3).count()
    print(
        f"annotators={options.annotators} rounds={options.rounds} think={options.think_ms:.0f} ms "
        f"tasks={options.tasks} cores={os.cpu_count()}"
    )
    print()
    print("| step | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for label, values in (("next task", nexts), ("submit", submits)):
        print(
            f"| {label} | {len(values)} | {statistics.median(values) * 1000:.1f} | "
            f"{percentile(values, 0.95):.1f} | {percentile(values, 0.99):.1f} | "
            f"{max(values) * 1000:.1f} |"
        )
    print()
    print(
        f"throughput: {len(submits) / elapsed:.1f} ratings/s over {elapsed:.1f} s; "
        f"max assignments on one task: {per_task['n']}; annotator twice on a task: {duplicates}; "
        f"tasks over three live slots: {over}"
    )


if __name__ == "__main__":
    main()
