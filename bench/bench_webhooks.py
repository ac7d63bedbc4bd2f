"""Webhook delivery speed: N events recorded and sent, signed, to a local verifying receiver.

The receiver is tests/fake_webhook_receiver.py in a process of its own; it verifies every message
with the `standardwebhooks` library and answers 400 to one that does not verify (which the
delivery then records as failed). The senders are the real service (`webhook_delivery_send`:
claim, guarded POST, result write) on T threads, as the thread-pool worker runs them. Every
delivery is sent by two threads at once (as a duplicated message would), so the claim is tested
under load too. Prints a Markdown table and counts every delivery not delivered, and every
request beyond one per event.

    python bench/bench_webhooks.py                    # PostgreSQL, database seal_bench_webhooks
    python bench/bench_webhooks.py --database sqlite  # a temporary SQLite file, one thread
    python bench/bench_webhooks.py --events 1000 --threads 16

It uses (and empties) its own database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402 - after the path insert
    bench_database_empty,
    postgres_database_ensure,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/seal_bench_webhooks"
    )
    args = parser.parse_args()
    if args.database == "postgres":
        postgres_database_ensure(args.postgres_url)
        os.environ["DATABASE_URL"] = args.postgres_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
        args.threads = 1  # SQLite has one writer; the embedded default sends from one thread
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["SEAL_ENDPOINT_ALLOWED_HOSTS"] = "127.0.0.1:*"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from seal.models import Lab, WebhookDelivery
    from seal.services import (
        webhook_delivery_send,
        webhook_endpoint_create,
        webhook_endpoint_update,
        webhook_event_emit,
    )
    from seal.services import webhooks as webhook_services

    call_command("migrate", verbosity=0)
    bench_database_empty()
    WebhookDelivery.objects.all().delete()
    # Sent below, timed, rather than by the task the emit enqueues.
    webhook_services.task_send_on_commit = lambda name, *args: None

    lab = Lab.objects.create(name="Bench lab", slug="bench-lab")
    probe = webhook_endpoint_create(lab=lab, url="https://bench.example.com/hook")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_webhook_receiver", "--secret", probe.secret],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        address = server.stdout.readline().strip()
        webhook_endpoint_update(endpoint=probe, url=f"http://{address}/ok")

        started = time.perf_counter()
        for n in range(args.events):
            webhook_event_emit(
                lab=lab,
                event_type="submission.completed",
                event_id=f"evt_bench_{n}",
                payload={"submission_id": n, "reason": "target_precision", "pad": "x" * 400},
            )
        emit_took = time.perf_counter() - started
        ids = list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True))

        latencies: list[float] = []

        def send(delivery_id: int) -> None:
            try:
                began = time.perf_counter()
                if webhook_delivery_send(delivery_id=delivery_id) is not None:
                    latencies.append(time.perf_counter() - began)
            finally:
                connections.close_all()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            # Each delivery twice, at once: the claim lets one of the two send it.
            list(pool.map(send, [pk for pk in ids for _ in range(2)]))
        send_took = time.perf_counter() - started
        with urllib.request.urlopen(f"http://{address}/stats") as answer:
            stats = json.load(answer)
    finally:
        server.terminate()
        server.wait(timeout=10)

    statuses = dict(
        WebhookDelivery.objects.values_list("status").annotate(n=django.db.models.Count("pk"))
    )
    delivered = statuses.get("delivered", 0)
    not_delivered = args.events - delivered
    extra_requests = stats["requests"] - stats["distinct_ids"]
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    print(
        f"\n{args.events} events to one endpoint, {args.threads} sender thread(s), each delivery "
        f"sent by two threads at once, database {connection.vendor}\n"
    )
    print(
        "| events | emit (record) | send wall time | deliveries/s | send p50 | send p95 "
        "| verified by receiver | not delivered | duplicate requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.events} | {emit_took:.2f} s ({args.events / emit_took:.0f}/s) | "
        f"{send_took:.2f} s | {delivered / send_took:.0f} | "
        f"{statistics.median(latencies) * 1000:.1f} ms | {p95 * 1000:.1f} ms | "
        f"{stats['verified']} of {stats['requests']} | {not_delivered} | {extra_requests} |"
    )
    if not_delivered or extra_requests or stats["verified"] != stats["requests"]:
        print(f"\nFAILURES: statuses {statuses}, receiver {stats}")
        sys.exit(1)


if __name__ == "__main__":
    main()
