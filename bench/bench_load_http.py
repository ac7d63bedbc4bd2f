"""Annotators under load over HTTP: many people asking for work and submitting for a fixed time.

Serves the site with gunicorn (production settings, PostgreSQL) and runs one thread per annotator,
each with its own session: log in, then loop "Start next comparison" → open the comparison → submit
a rating, until the time is up. Reports latency percentiles per step and every non-2xx/3xx status,
then checks the database: no comparison with more than three live or approved assignments, nobody
twice on one. Loopback only; bounded in time.

    python bench/bench_load_http.py                         # 200 annotators for 60 s
    python bench/bench_load_http.py --annotators 50 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import comparison_world_build, postgres_database_ensure  # noqa: E402 - after the path insert

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD = "load-test-password-2026"  # noqa: S105 - a throwaway bench database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(url: str, tasks: int, annotators: int) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password

    comparison_world_build(
        slug="load",
        tasks=tasks,
        annotators=annotators,
        username_prefix="load",
        password_hash=make_password(PASSWORD),
    )


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {"next": [], "open": [], "submit": []}
        self.statuses: Counter[tuple[str, int]] = Counter()

    def record(self, step: str, started: float, status: int) -> None:
        with self.lock:
            self.latency[step].append(time.perf_counter() - started)
            self.statuses[(step, status)] += 1


def annotator(base: str, username: str, deadline: float, recorder: Recorder) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=30.0, follow_redirects=False) as client:
        page = client.get("/accounts/login/")
        token = CSRF.search(page.text)
        assert token, f"no CSRF token on the login page ({page.status_code})"
        client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"Referer": f"{base}/accounts/login/"},
        )
        while time.perf_counter() < deadline:
            home = client.get("/work/")
            token = CSRF.search(home.text)
            if token is None:
                recorder.record("next", time.perf_counter(), home.status_code)
                return
            started = time.perf_counter()
            lease = client.post(
                "/work/next/",
                data={"csrfmiddlewaretoken": token.group(1)},
                headers={"Referer": f"{base}/work/"},
            )
            recorder.record("next", started, lease.status_code)
            target = lease.headers.get("Location", "")
            if "/work/comparisons/" not in target:
                return  # no work left for this annotator
            started = time.perf_counter()
            form = client.get(target)
            recorder.record("open", started, form.status_code)
            token = CSRF.search(form.text)
            if token is None:
                continue
            started = time.perf_counter()
            submitted = client.post(
                target,
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "action": "submit",
                    "preference": "1",
                    "score_left_correctness": "4",
                    "score_left_overall": "4",
                    "score_right_correctness": "3",
                    "score_right_overall": "3",
                    "justification": "Load test rating with a long enough justification.",
                },
                headers={"Referer": f"{base}{target}"},
            )
            recorder.record("submit", started, submitted.status_code)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/seal_bench_load"
    )
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    options = parser.parse_args()

    postgres_database_ensure(options.database_url)
    build(options.database_url, options.tasks, options.annotators)
    from django.db import connections

    connections.close_all()

    port = free_port()
    # Production's cookies are Secure, which a plain-HTTP client on loopback cannot send back; the
    # rest is as deployed: gunicorn, DEBUG off, PostgreSQL, persistent connections.
    env = {
        **os.environ,
        "SEAL_ENV": "development",
        "DEBUG": "false",
        "DATABASE_CONN_MAX_AGE": "60",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": options.database_url,
        "SEAL_GOLD_RATE": "0",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "seal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(options.workers),
            "--threads",
            "4",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        recorder = Recorder()
        started = time.perf_counter()
        deadline = started + options.seconds
        threads = [
            threading.Thread(
                target=annotator, args=(base, f"load{i:03d}", deadline, recorder), daemon=True
            )
            for i in range(options.annotators)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=options.seconds + 120)
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    from django.db.models import Count, Q

    from annotation.models import Assignment

    live = Q(status__in=["leased", "submitted", "layer1_approved", "approved"])
    over = (
        Assignment.objects.filter(live)
        .values("task")
        .annotate(n=Count("pk"))
        .filter(n__gt=3)
        .count()
    )
    twice = (
        Assignment.objects.values("task", "annotator")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    errors = {key: n for key, n in recorder.statuses.items() if key[1] >= 500}
    print(
        f"annotators={options.annotators} seconds={options.seconds:.0f} "
        f"gunicorn workers={options.workers}x4 threads, cores={os.cpu_count()}"
    )
    print()
    print("| step | requests | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for step, values in recorder.latency.items():
        if values:
            print(
                f"| {step} | {len(values)} | {statistics.median(values) * 1000:.1f} | "
                f"{percentile(values, 0.95):.1f} | {percentile(values, 0.99):.1f} |"
            )
    print()
    print(
        f"ratings submitted: {len(recorder.latency['submit'])} in {elapsed:.1f} s; "
        f"statuses: {dict(sorted(recorder.statuses.items()))}; 5xx: {sum(errors.values())}; "
        f"tasks over three live assignments: {over}; annotator twice on a task: {twice}"
    )


if __name__ == "__main__":
    main()
