"""Response collection speed: 1,000 prompts against a local endpoint with 100 ms latency.

The lab endpoint is tests/fake_endpoint.py in a process of its own (so its threads do not share
this process's interpreter lock); the collector is the real service (`lab_responses_collect`:
claims, exposures, the guarded HTTP client, result writes). With 16 calls in flight and 100 ms
per call the floor is 1000 / 16 x 0.1 s = 6.25 s. Several rounds run back to back, each with a
new model version, to show that memory stays flat. Prints a Markdown table.

    python bench/bench_collection.py                    # PostgreSQL, database seal_bench_collection
    python bench/bench_collection.py --database sqlite  # a temporary SQLite file
    python bench/bench_collection.py --prompts 1000 --concurrency 16 --latency-ms 100 --rounds 3

It uses (and empties) its own database.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402 - after the path insert
    bench_database_empty,
    postgres_database_ensure,
)


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MiB."""
    current_pages = int(Path("/proc/self/statm").read_text().split()[1])
    current = current_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/seal_bench_collection"
    )
    args = parser.parse_args()

    if args.database == "postgres":
        postgres_database_ensure(args.postgres_url)
        os.environ["DATABASE_URL"] = args.postgres_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["SEAL_ENDPOINT_ALLOWED_HOSTS"] = "127.0.0.1:*"
    os.environ["SEAL_COLLECTION_CONCURRENCY_PER_LAB"] = str(args.concurrency)
    os.environ["LOG_LEVEL"] = "WARNING"
    # As deployed: with DEBUG on, Django keeps every query in memory, which is not collection's.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from seal.models import Lab, Response, Submission
    from seal.services import (
        collection,
        lab_responses_collect,
        model_version_create,
        submission_create,
    )
    from seal.services import webhooks as webhook_services
    from tests.builders import domain_with_prompts

    call_command("migrate", verbosity=0)
    bench_database_empty()
    # Timed directly below, not through the task the submission would enqueue; and the
    # annotation layer's hand-over is not part of collection.
    collection._lab_collection_enqueue = lambda *, lab_id: None
    collection.task_send_on_commit = lambda name, *args: None
    webhook_services.task_send_on_commit = lambda name, *args: None

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_endpoint", "--latency", str(args.latency_ms / 1000)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        domain_with_prompts(
            args.prompts, slug="bench", text="Bench prompt {i}: " + "lorem ipsum " * 40
        )
        lab = Lab.objects.create(name="Bench lab", slug="bench-lab")
        ideal = args.prompts / args.concurrency * args.latency_ms / 1000
        rows = []
        for round_number in range(1, args.rounds + 1):
            model_version = model_version_create(
                lab=lab,
                name="Bench",
                version=str(round_number),
                base_url=base_url,
                model_id=f"ok-{round_number}",
                api_secret="sk-bench",  # noqa: S106 - a dummy for the fake endpoint
            )
            submission = submission_create(model_version=model_version, domains=["bench"])
            before = rss_mib()
            started = time.perf_counter()
            report = lab_responses_collect(lab=lab)
            took = time.perf_counter() - started
            after = rss_mib()
            submission.refresh_from_db()
            collected = Response.objects.filter(
                model_version=model_version, status=Response.Status.OK
            ).count()
            assert submission.status == Submission.Status.COLLECTED, submission.status_detail
            assert collected == args.prompts == report.collected, (collected, report)
            rows.append((round_number, took, before, after))
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(
        f"\n{args.prompts} prompts, concurrency {args.concurrency}, endpoint latency "
        f"{args.latency_ms:.0f} ms, database {connection.vendor}; ideal {ideal:.2f} s\n"
    )
    print("| round | wall time | prompts/s | vs ideal | RSS before | RSS after | peak RSS after |")
    print("|---|---|---|---|---|---|---|")
    for round_number, took, before, after in rows:
        print(
            f"| {round_number} | {took:.2f} s | {args.prompts / took:.0f} | "
            f"{took / ideal:.2f}x | {before[0]:.0f} MiB | {after[0]:.0f} MiB | {after[1]:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
