"""Annotators under load over HTTP: many people asking for work and submitting for a fixed time.

Serves the site with gunicorn (production settings, PostgreSQL) and runs one thread per annotator,
each with its own session. Two scenarios:

- `work` (default): log in, then loop "Start next comparison" → open the comparison → submit a
  rating, until the time is up; then checks the database: no comparison with more than three
  live or approved assignments, nobody twice on one.
- `login-burst`: every client opens the login page, then all post their password at the same
  moment (a barrier), as a room of annotators starting a session does; then opens /work/.

Every client is counted: started, finished, timed out (the client's --timeout passed), failed
(connection errors, 5xx, a status the step does not expect, such as a login that did not log in),
or still running when the bench gave up on it. Reports latency percentiles per step and every
status, and exits 1 when any client did not finish. Loopback only; bounded in time.

    python bench/bench_load_http.py                         # 200 annotators for 60 s
    python bench/bench_load_http.py --annotators 50 --seconds 20
    python bench/bench_load_http.py --scenario login-burst  # 200 logins at once
    python bench/bench_load_http.py --scenario login-burst --annotators 100
    python bench/bench_load_http.py --scenario login-burst --hasher pbkdf2_sha256  # old hashes
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
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import comparison_world_build, postgres_database_ensure  # noqa: E402 - after the path insert

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD = "load-test-password-2026"  # noqa: S105 - a throwaway bench database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(url: str, tasks: int, annotators: int, hasher: str) -> None:
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
        password_hash=make_password(PASSWORD, hasher=hasher),
    )


class Unexpected(Exception):
    """A response the step does not expect (a 5xx, a login page instead of a redirect, ...)."""


class Recorder:
    STEPS = ("login page", "login", "work home", "next", "open", "submit")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {step: [] for step in self.STEPS}
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.clients: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def record(self, step: str, started: float, status: int) -> None:
        with self.lock:
            self.latency[step].append(time.perf_counter() - started)
            self.statuses[(step, status)] += 1

    def client_count(self, outcome: str, reason: str = "") -> None:
        with self.lock:
            self.clients[outcome] += 1
            if reason:
                self.failures[reason] += 1


def timed(
    recorder: Recorder, step: str, expected: int, send: Any, *args: Any, **kwargs: Any
) -> Any:
    """Send one request (`send(*args, **kwargs)`), record its latency and status; raise
    Unexpected on any status but `expected`. Returns the httpx response."""
    started = time.perf_counter()
    response = send(*args, **kwargs)
    recorder.record(step, started, response.status_code)
    if response.status_code != expected:
        raise Unexpected(f"{step}: HTTP {response.status_code}")
    return response


def log_in(client: Any, base: str, username: str, recorder: Recorder, ready: Any = None) -> None:
    """Open the login page, (wait for the others,) post the password; a login must redirect."""
    page = timed(recorder, "login page", 200, client.get, "/accounts/login/")
    token = CSRF.search(page.text)
    if token is None:
        raise Unexpected("login page: no CSRF token")
    if ready is not None:
        ready.wait()
    credentials = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
    headers = {"Referer": f"{base}/accounts/login/"}
    while True:
        started = time.perf_counter()
        answer = client.post("/accounts/login/", data=credentials, headers=headers)
        recorder.record("login", started, answer.status_code)
        if answer.status_code != 503 or "Retry-After" not in answer.headers:
            break
        # Too many logins waiting: as a person would, log in again after the Retry-After. Each
        # 503 is counted (statuses, and logins retried below); every request keeps its timeout.
        recorder.client_count("login retries")
        time.sleep(float(answer.headers["Retry-After"]))
    if answer.status_code != 302:
        raise Unexpected(f"login: HTTP {answer.status_code}")


RATING = {
    "action": "submit",
    "preference": "1",
    "score_left_correctness": "4",
    "score_left_overall": "4",
    "score_right_correctness": "3",
    "score_right_overall": "3",
    "justification": "Load test rating with a long enough justification.",
}


def work(client: Any, base: str, username: str, deadline: float, recorder: Recorder) -> None:
    """Log in, then take, open and rate comparisons until the deadline or the work runs out."""
    log_in(client, base, username, recorder)
    while time.perf_counter() < deadline:
        home = timed(recorder, "work home", 200, client.get, "/work/")
        token = CSRF.search(home.text)
        if token is None:
            raise Unexpected("work home: no CSRF token")
        lease = timed(
            recorder,
            "next",
            302,
            client.post,
            "/work/next/",
            data={"csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/work/"},
        )
        target = lease.headers.get("Location", "")
        if "/work/comparisons/" not in target:
            return  # no work left for this annotator
        form = timed(recorder, "open", 200, client.get, target)
        token = CSRF.search(form.text)
        if token is None:
            raise Unexpected("open: no CSRF token")
        timed(
            recorder,
            "submit",
            302,
            client.post,
            target,
            data={"csrfmiddlewaretoken": token[1], **RATING},
            headers={"Referer": f"{base}{target}"},
        )


def login_burst(client: Any, base: str, username: str, ready: Any, recorder: Recorder) -> None:
    """Log in at the same moment as every other client, then open the workspace."""
    log_in(client, base, username, recorder, ready=ready)
    timed(recorder, "work home", 200, client.get, "/work/")


def client_run(base: str, timeout: float, recorder: Recorder, scenario: Any, *args: Any) -> None:
    """One client: its own session; whatever happens to it is counted once."""
    import httpx

    recorder.client_count("started")
    try:
        with httpx.Client(base_url=base, timeout=timeout, follow_redirects=False) as client:
            scenario(client, base, *args)
    except httpx.TimeoutException as exc:
        recorder.client_count("timed out", f"timeout ({type(exc).__name__})")
    except httpx.TransportError as exc:
        recorder.client_count("failed", f"connection ({type(exc).__name__})")
    except Unexpected as exc:
        recorder.client_count("failed", str(exc))
    except threading.BrokenBarrierError:
        recorder.client_count("failed", "never reached the login barrier")
    except Exception as exc:
        recorder.client_count("failed", f"{type(exc).__name__}: {exc}")
    else:
        recorder.client_count("finished")


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
    parser.add_argument("--scenario", choices=["work", "login-burst"], default="work")
    parser.add_argument("--annotators", type=int, default=200, help="clients, one per annotator")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long `work` runs")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds a client waits for one response"
    )
    parser.add_argument(
        "--hasher",
        default="default",
        help="hash the annotators' passwords with this Django hasher (e.g. pbkdf2_sha256: accounts "
        "made before argon2id, re-hashed at this login); default: the first in PASSWORD_HASHERS",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per worker (default: gunicorn.conf.py)"
    )
    options = parser.parse_args()

    postgres_database_ensure(options.database_url)
    build(options.database_url, options.tasks, options.annotators, options.hasher)
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
    command = [str(Path(sys.executable).parent / "gunicorn"), "seal.wsgi", "--bind"]
    command.append(f"127.0.0.1:{port}")
    if options.workers is not None:
        command += ["--workers", str(options.workers)]
    if options.threads is not None:
        command += ["--threads", str(options.threads)]
    descriptor, log_name = tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")
    os.close(descriptor)
    server_log = Path(log_name)
    with server_log.open("wb") as log_file:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    recorder = Recorder()
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        started = time.perf_counter()
        deadline = started + options.seconds
        usernames = [f"load{i:03d}" for i in range(options.annotators)]
        jobs: list[tuple[Any, ...]]
        if options.scenario == "login-burst":
            # Everyone posts their password at once; a client that never gets there breaks it.
            ready = threading.Barrier(options.annotators, timeout=options.timeout * 2)
            jobs = [(login_burst, name, ready, recorder) for name in usernames]
            give_up = started + options.timeout * 4 + 60
        else:
            jobs = [(work, name, deadline, recorder) for name in usernames]
            give_up = deadline + options.timeout * 4 + 60
        threads = [
            threading.Thread(
                target=client_run,
                args=(base, options.timeout, recorder, scenario, *args),
                daemon=True,
            )
            for scenario, *args in jobs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, give_up - time.perf_counter()))
        elapsed = time.perf_counter() - started
        hung = sum(thread.is_alive() for thread in threads)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    worker_timeouts = server_log.read_text(errors="replace").count("WORKER TIMEOUT")
    server_log.unlink()

    print(
        f"scenario={options.scenario} clients={options.annotators} "
        + (f"seconds={options.seconds:.0f} " if options.scenario == "work" else "")
        + f"client timeout={options.timeout:.0f} s gunicorn workers={options.workers or 'conf'} "
        f"threads={options.threads or 'conf'} cores={os.cpu_count()} hasher={options.hasher}"
    )
    print()
    print("| step | requests | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for step, values in recorder.latency.items():
        if values:
            print(
                f"| {step} | {len(values)} | {statistics.median(values) * 1000:.1f} | "
                f"{percentile(values, 0.95):.1f} | {percentile(values, 0.99):.1f} | "
                f"{max(values) * 1000:.1f} |"
            )
    print()
    clients = recorder.clients
    print(
        f"clients: started {clients['started']}, finished {clients['finished']}, "
        f"timed out {clients['timed out']}, failed {clients['failed']}, still running {hung} "
        f"(of {options.annotators}) in {elapsed:.1f} s; logins retried after a 503 "
        f"(server busy, Retry-After): {clients['login retries']}"
    )
    for reason, n in recorder.failures.most_common():
        print(f"  {n} x {reason}")
    print(f"statuses: {dict(sorted(recorder.statuses.items()))}")
    print(f"gunicorn worker timeouts (workers killed mid-request): {worker_timeouts}")
    bad = clients["timed out"] + clients["failed"] + hung
    bad += options.annotators - clients["started"]
    if options.scenario == "work":
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
        print(
            f"ratings submitted: {len(recorder.latency['submit'])}; "
            f"tasks over three live assignments: {over}; annotator twice on a task: {twice}"
        )
        bad += over + twice
    if bad:
        print(f"FAILED: {bad} client(s) or check(s) did not pass")
        sys.exit(1)


if __name__ == "__main__":
    main()
