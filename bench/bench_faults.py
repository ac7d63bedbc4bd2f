"""Faults: workers killed mid-task and Redis crashing with jobs queued, under a live workload;
then lab endpoints that hang or flood errors beside a healthy one.

Everything is real and local: PostgreSQL (database seal_bench_faults), a Redis of its own on port
6399 (no persistence, so a crash loses every queued message), Celery workers as deployed (a
process-pool worker for the default queue, a thread-pool collector for the collection queue), one
beat, and a chat-completions server on 127.0.0.1 (tests/fake_endpoint.py).

1. Chaos (default 60 s, then up to 240 s to settle). Reviewers in this process rate and approve
   comparisons through the services (each final approval asks for a recompute); labs submit a new
   model every few seconds (collection, then comparison scheduling). Meanwhile both workers are
   SIGKILLed and restarted twice, and Redis is killed and restarted empty once. A reader checks the
   published leaderboards all along. Afterwards: every submission collected once, one stored answer
   per model and prompt, its comparisons scheduled once, every approval in the final snapshot,
   no failed or duplicate recompute, and no public snapshot ever incomplete.
2. Bad endpoints. A healthy lab's submission is collected alone, then again while two labs whose
   endpoints hang and two whose endpoints answer 500 to everything submit at the same moment.

    python bench/bench_faults.py                  # both scenarios, about 5 minutes
    python bench/bench_faults.py --scenario chaos --seconds 60
    python bench/bench_faults.py --scenario endpoints

The sweeps and leases are shortened so recovery happens inside the run (printed with the
results); the deployment's defaults are minutes. It uses (and empties) its own database.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402 - after the path insert
    bench_database_empty,
    postgres_database_ensure,
)

QUEUE = "bench-faults"
# Recovery inside the run: sweeps every 3 s, a lost message noticed after 10 s, a dead
# collector's lease lapsing after 10 s, a dead recompute noticed after 30 s (above its time limit).
FAST_RECOVERY = {
    "SEAL_SWEEP_SECONDS": "3",
    "SEAL_LEADERBOARD_QUEUED_STALE_SECONDS": "10",
    "SEAL_COMPARISONS_SCHEDULE_STALE_SECONDS": "10",
    "SEAL_COLLECTION_LEASE_SECONDS": "10",
    "CELERY_TASK_SOFT_TIME_LIMIT": "20",
    "CELERY_TASK_TIME_LIMIT": "25",
    "SEAL_LEADERBOARD_JOB_TIMEOUT_SECONDS": "30",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class RedisServer:
    """A redis-server of the bench's own, without persistence: a crash loses every message."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1"]  # noqa: RUF005
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def crash(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True
        )
        return done.stdout.strip()

    def queued(self) -> int:
        """Messages waiting in the bench's queues plus those delivered and not yet acknowledged."""
        total = sum(int(self.cli("LLEN", q) or 0) for q in (QUEUE, f"{QUEUE}-collection"))
        return total + int(self.cli("HLEN", "unacked") or 0)


@dataclass
class Deployment:
    """The worker, the collector and beat, as docker/compose.yaml runs them."""

    broker_url: str
    workdir: Path
    env: dict[str, str]
    worker: Any = None
    collector: Any = None
    beat: subprocess.Popen[bytes] | None = None

    def start_workers(self) -> None:
        from seal.celery import collection_queue
        from tests.support import WorkerProcess

        self.worker = WorkerProcess(self.broker_url, QUEUE, self.workdir / "worker.log")
        self.worker.start(concurrency=2, queues=[QUEUE], extra_env=self.env)
        self.collector = WorkerProcess(self.broker_url, QUEUE, self.workdir / "collector.log")
        self.collector.start(
            concurrency=16, pool="threads", queues=[collection_queue(QUEUE)], extra_env=self.env
        )

    def start_single_worker(self) -> None:
        from tests.support import WorkerProcess

        self.worker = WorkerProcess(self.broker_url, QUEUE, self.workdir / "single.log")
        self.worker.start(concurrency=2, extra_env=self.env)
        self.collector = None

    def kill_workers(self) -> None:
        self.worker.kill()
        self.collector.kill()

    def start_beat(self) -> None:
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "seal", "beat", "--loglevel", "INFO"]  # noqa: RUF005
            + ["--schedule", str(self.workdir / "beat-schedule")],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=(self.workdir / "beat.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        for worker in (self.worker, self.collector):
            if worker is not None:
                worker.stop()
        if self.beat is not None and self.beat.poll() is None:
            os.killpg(self.beat.pid, signal.SIGTERM)
            self.beat.wait(timeout=20)


# --- Scenario 1: chaos under a live workload ---------------------------------------------------


@dataclass
class PublicReads:
    checked: int = 0
    incomplete: list[str] = field(default_factory=list)
    snapshots_seen: set[int] = field(default_factory=set)


def public_leaderboards_check(slugs: list[str], reads: PublicReads, stop: threading.Event) -> None:
    """What the public reads, checked over and over: a published snapshot is always whole."""
    from django.db import connection, transaction

    from annotation.models import ApprovedRating
    from leaderboards.models import PublishedLeaderboard
    from leaderboards.selectors import board_view

    while not stop.is_set():
        for slug in slugs:
            view = board_view(domain_slug=slug)
            with transaction.atomic():
                # One consistent view of the database for the comparison below.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                pointer = (
                    PublishedLeaderboard.objects.select_related("snapshot")
                    .filter(domain__slug=slug)
                    .first()
                )
                if pointer is None:
                    continue
                snapshot = pointer.snapshot
                reads.snapshots_seen.add(snapshot.pk)
                reads.checked += 1
                covered = ApprovedRating.objects.filter(
                    domain_id=snapshot.domain_id, approved_at__lte=snapshot.ratings_through
                ).count()
                problems = []
                if snapshot.n_ratings != covered:
                    problems.append(f"{snapshot.n_ratings} ratings of {covered}")
                for board in snapshot.boards.all():
                    if board.status == "ranked" and board.entries.count() != board.n_models:
                        problems.append(f"board {board.key}: {board.entries.count()} entries")
                if view is not None and view.board.is_ranked and not view.entries:
                    problems.append("public board view without entries")
                if problems:
                    reads.incomplete.append(f"{slug} snapshot {snapshot.pk}: {problems}")
        connection.close()
        stop.wait(0.2)


def reviewers_work(domains: list[Any], stop: threading.Event, counts: Counter[str]) -> None:
    """Three raters per domain and two reviewers working through the comparisons."""
    from django.db import connection

    from annotation.services import (
        annotator_profile_upsert,
        annotator_vet,
        assignment_next,
        rating_submit,
        review_approve,
    )
    from seal.services import demo_user_upsert
    from tests.builders import good_rating

    def person(name: str, on: list[Any], layer: int = 0) -> Any:
        user = demo_user_upsert(username=name, password_hash="!")  # noqa: S106 - "!": no login
        profile = annotator_profile_upsert(
            user=user, domains=on, is_layer1_reviewer=layer == 1, is_layer2_reviewer=layer == 2
        )
        return annotator_vet(profile=profile)

    raters = [person(f"rater{d}-{i}", [dom]) for d, dom in enumerate(domains) for i in range(3)]
    layer1, layer2 = person("layer1", domains, layer=1), person("layer2", domains, layer=2)
    rng = random.Random(7)
    while not stop.is_set():
        idle = True
        for rater in raters:
            assignment = assignment_next(profile=rater)
            if assignment is None:
                continue
            idle = False
            rating = good_rating(rng.choice([-2, -1, 1, 2]))
            rating_submit(assignment_id=assignment.pk, profile=rater, rating=rating)
            review_approve(assignment_id=assignment.pk, reviewer=layer1, layer=1)
            review_approve(assignment_id=assignment.pk, reviewer=layer2, layer=2)
            counts["approvals"] += 1
            stop.wait(0.15)  # reviewers, not a load test: leave the cores to the workers
        if idle:
            stop.wait(0.5)
    connection.close()


def labs_submit(
    base_url: str, slugs: list[str], times: list[float], started: float, stop: threading.Event
) -> None:
    """Labs register and submit a new model at the given offsets into the run."""
    from django.db import connection

    from seal.models import Lab
    from seal.services import model_version_create, submission_create

    labs = [Lab.objects.create(name=f"Lab {i}", slug=f"lab-{i}") for i in range(3)]
    for number, at in enumerate(times):
        if stop.wait(max(0.0, started + at - time.monotonic())):
            break
        model_version = model_version_create(
            lab=labs[number % len(labs)],
            name=f"Model {number}",
            version="1",
            base_url=base_url,
            model_id=f"ok-{number}",
            api_secret=f"sk-bench-{number}",
        )
        submission_create(model_version=model_version, domains=slugs)
        log(f"lab submitted model {number}")
    connection.close()


def chaos_world(*, domains: int, prompts: int) -> list[Any]:
    """Domains whose prompts two established models answered, each pair open for comparison."""
    from bench.support import domain_with_open_comparisons, two_models_of_two_labs

    established = two_models_of_two_labs("established")
    return [
        domain_with_open_comparisons(slug=f"domain-{d}", models=established, prompts=prompts)
        for d in range(domains)
    ]


def settled(domain_ids: list[int], submissions: int) -> bool:
    from annotation.models import ApprovedRating
    from leaderboards.models import PublishedLeaderboard, RecomputeJob
    from seal.models import Response, Submission

    if Submission.objects.count() < submissions:
        return False
    if Submission.objects.exclude(status=Submission.Status.COMPARING).exists():
        return False
    if Response.objects.filter(status=Response.Status.PENDING).exists():
        return False
    if RecomputeJob.objects.filter(status__in=RecomputeJob.ACTIVE_STATUSES).exists():
        return False
    for domain_id in domain_ids:
        pointer = PublishedLeaderboard.objects.filter(domain_id=domain_id).first()
        approved = ApprovedRating.objects.filter(domain_id=domain_id).count()
        if (pointer.snapshot.n_ratings if pointer else 0) != approved:
            return False
    return True


def chaos(args: argparse.Namespace, deployment: Deployment, redis: RedisServer) -> list[str]:
    from django.db import connection
    from django.db.models import Count, Q

    from annotation.models import ApprovedRating, ComparisonTask
    from leaderboards.models import PublishedLeaderboard, RecomputeJob, Snapshot
    from seal.models import Response, Submission
    from tests.fake_endpoint import FakeEndpoint

    domains = chaos_world(domains=args.domains, prompts=args.prompts)
    slugs = [d.slug for d in domains]
    seconds = args.seconds
    submission_times = [1.0 + i * seconds / args.submissions for i in range(args.submissions)]
    kill_times = [submission_times[2] + 0.5, submission_times[-3] + 0.5]
    redis_crash_at, redis_down_for = 0.45 * seconds, 5.0

    endpoint = FakeEndpoint(latency=args.latency_ms / 1000).start()
    deployment.start_workers()
    deployment.start_beat()
    stop = threading.Event()
    counts: Counter[str] = Counter()
    reads = PublicReads()
    started = time.monotonic()
    threads = [
        threading.Thread(target=reviewers_work, args=(domains, stop, counts)),
        threading.Thread(
            target=labs_submit, args=(endpoint.base_url, slugs, submission_times, started, stop)
        ),
        threading.Thread(target=public_leaderboards_check, args=(slugs, reads, stop)),
    ]
    for thread in threads:
        thread.start()

    faults = []
    running_at_kill = []
    lost_in_crash = 0
    events = sorted([(t, "kill") for t in kill_times] + [(redis_crash_at, "redis")])
    for at, kind in events:
        time.sleep(max(0.0, started + at - time.monotonic()))
        if kind == "kill":
            # Mid-task: wait (a few seconds at most) for a recompute and a collection to be running.
            wait_until = time.monotonic() + 8
            while time.monotonic() < wait_until:
                running = RecomputeJob.objects.filter(status=RecomputeJob.Status.RUNNING).count()
                collecting = Submission.objects.filter(status=Submission.Status.COLLECTING).count()
                if running and collecting:
                    break
                time.sleep(0.05)
            running_at_kill.append((running, collecting))
            deployment.kill_workers()
            log(f"SIGKILL both workers ({running} recomputes running, {collecting} collecting)")
            deployment.start_workers()
            faults.append(f"workers SIGKILLed at {at:.0f} s and restarted")
        else:
            lost_in_crash = redis.queued()
            redis.crash()
            log(f"Redis killed with {lost_in_crash} messages in it")
            time.sleep(redis_down_for)
            redis.start()
            log("Redis restarted, empty")
            faults.append(f"Redis killed at {at:.0f} s, down {redis_down_for:.0f} s")
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    stop.set()
    for thread in threads[:2]:
        thread.join()
    chaos_ended = time.monotonic()
    log(f"workload stopped after {chaos_ended - started:.0f} s; waiting for the platform to settle")
    checker_stop = threading.Event()
    checker = threading.Thread(target=public_leaderboards_check, args=(slugs, reads, checker_stop))
    threads[2].join()
    checker.start()
    domain_ids = [d.pk for d in domains]
    deadline = chaos_ended + args.settle_seconds
    while time.monotonic() < deadline and not settled(domain_ids, len(submission_times)):
        time.sleep(0.5)
    settled_after = time.monotonic() - chaos_ended
    is_settled = settled(domain_ids, len(submission_times))
    # Nothing more may happen once settled: two more rounds of every sweep.
    snapshots_before = Snapshot.objects.count()
    time.sleep(2 * float(FAST_RECOVERY["SEAL_SWEEP_SECONDS"]) + 1)
    checker_stop.set()
    checker.join()
    endpoint.stop()
    connection.close()

    sent = Counter((seen.model, seen.prompt) for seen in endpoint.requests)
    stored = Response.objects.filter(model_version__model_id__startswith="ok-")
    per_pair = Counter(stored.values_list("model_version_id", "prompt_id"))
    jobs = Counter(RecomputeJob.objects.values_list("status", flat=True))
    triggers = Counter(RecomputeJob.objects.values_list("trigger", flat=True))
    rerun_jobs = RecomputeJob.objects.filter(attempts__gt=1).count()
    fingerprints = Snapshot.objects.values("domain_id", "input_fingerprint").annotate(n=Count("pk"))
    duplicate_inputs = sum(1 for row in fingerprints if row["n"] > 1)
    approved = ApprovedRating.objects.count()
    in_final = sum(
        PublishedLeaderboard.objects.filter(domain_id__in=domain_ids).values_list(
            "snapshot__n_ratings", flat=True
        )
    )
    expected_pairs = len(submission_times) * args.domains * args.prompts
    new_tasks = ComparisonTask.objects.filter(
        Q(response_a__model_version__model_id__startswith="ok-")
        | Q(response_b__model_version__model_id__startswith="ok-")
    ).count()
    scheduled_twice = (
        ComparisonTask.objects.values("response_a_id", "response_b_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    stale_submissions = Submission.objects.exclude(status=Submission.Status.COMPARING).count()
    pairings = Counter(
        response_id
        for pair in ComparisonTask.objects.values_list("response_a_id", "response_b_id")
        for response_id in pair
    )
    underpaired = sum(
        1
        for pk in stored.filter(status=Response.Status.OK).values_list("pk", flat=True)
        if pairings[pk] < 2
    )

    lines = [
        f"Chaos: {seconds:.0f} s of work on {args.domains} domains × {args.prompts} prompts, "
        f"{len(submission_times)} lab submissions (endpoint latency {args.latency_ms:.0f} ms), "
        f"three raters per domain and two reviewers approving as they go.",
        "",
        "Faults: " + "; ".join(faults) + ".",
        f"Redis held {lost_in_crash} messages when it was killed (all lost: no persistence). "
        f"Recomputes running / submissions collecting at each kill: "
        + ", ".join(f"{r} / {c}" for r, c in running_at_kill)
        + ".",
        "",
        "| check | result |",
        "|---|---|",
        f"| settled after the workload stopped | {'yes' if is_settled else 'NO'}, "
        f"in {settled_after:.1f} s |",
        f"| submissions collected and paired | {len(submission_times) - stale_submissions} of "
        f"{len(submission_times)} |",
        f"| answers stored per (model, prompt) | {len(per_pair)} pairs of {expected_pairs} "
        f"expected, max {max(per_pair.values(), default=0)} per pair |",
        f"| prompts sent more than once (answer in flight when a worker died) | "
        f"{sum(1 for n in sent.values() if n > 1)} of {len(sent)} |",
        f"| comparison tasks with a new model | {new_tasks} (at most {expected_pairs * 2}: two "
        f"per answer, fewer where two new models met), {scheduled_twice} duplicated, "
        f"{underpaired} collected answers in fewer than two |",
        f"| final approvals / in the published snapshots | {approved} / {in_final} |",
        f"| recompute jobs | {dict(jobs)}; triggers {dict(triggers)}; re-run after a kill: "
        f"{rerun_jobs} |",
        f"| snapshots with the same input published twice | {duplicate_inputs} |",
        f"| snapshots published after settling (two more sweep rounds) | "
        f"{Snapshot.objects.count() - snapshots_before} |",
        f"| public reads checked / incomplete | {reads.checked} / {len(reads.incomplete)} "
        f"({len(reads.snapshots_seen)} snapshots seen) |",
        f"| reviewers' approvals during the run | {counts['approvals']} |",
    ]
    for problem in reads.incomplete[:5]:
        lines.append(f"INCOMPLETE: {problem}")
    return lines


# --- Scenario 2: bad endpoints beside a healthy one --------------------------------------------


def endpoints(args: argparse.Namespace, deployment: Deployment) -> list[str]:
    from django.db import connection

    from seal.models import Lab, Submission
    from seal.services import model_version_create, submission_cancel, submission_create
    from tests.builders import domain_with_prompts
    from tests.fake_endpoint import FakeEndpoint

    bench_database_empty()
    domain, _ = domain_with_prompts(args.endpoint_prompts, slug="bench")
    endpoint = FakeEndpoint(latency=0.1, hang_seconds=600).start()
    deployment.start_workers()
    counter = iter(range(1000))

    def submit(kind: str) -> Submission:
        number = next(counter)
        lab = Lab.objects.create(name=f"{kind} lab {number}", slug=f"{kind}-{number}")
        model_version = model_version_create(
            lab=lab,
            name=kind,
            version=str(number),
            base_url=endpoint.base_url,
            model_id=f"{kind}-{number}",  # the fake endpoint acts on the part before "-"
            api_secret="sk-bench",  # noqa: S106 - a dummy for the fake endpoint
        )
        return submission_create(model_version=model_version, domains=[domain.slug])

    def healthy_collection_seconds() -> float:
        started = time.monotonic()
        submission = submit("ok")
        while True:
            submission.refresh_from_db()
            if submission.status != Submission.Status.PENDING and not submission.is_collecting:
                break
            if time.monotonic() - started > 600:
                raise RuntimeError("the healthy lab's collection did not finish in 10 minutes")
            time.sleep(0.05)
        assert submission.status == Submission.Status.COLLECTED, submission.status_detail
        return time.monotonic() - started

    def bad_labs_submit() -> list[Submission]:
        bad = [submit("hang"), submit("hang"), submit("error"), submit("error")]
        time.sleep(3.0)  # the bad labs' collectors are running and holding their slots
        return bad

    alone = [healthy_collection_seconds() for _ in range(2)]
    log(f"healthy lab alone: {alone}")
    bad = bad_labs_submit()
    flood_before = sum(1 for seen in endpoint.requests if seen.model.startswith("error"))
    flood_started = time.monotonic()
    beside = [healthy_collection_seconds() for _ in range(2)]
    flood_rate = (
        sum(1 for seen in endpoint.requests if seen.model.startswith("error")) - flood_before
    ) / (time.monotonic() - flood_started)
    log(f"healthy lab beside the bad ones: {beside}")
    in_flight = {
        kind: max(v for k, v in endpoint.max_in_flight.items() if k.startswith(kind))
        for kind in ("hang", "error", "ok")
    }
    for submission in bad:
        submission_cancel(submission=submission)

    # For contrast: one process-pool worker (2 processes) serving both queues, as `make worker`.
    deployment.stop()
    deployment.start_single_worker()
    bad = bad_labs_submit()
    single = healthy_collection_seconds()
    log(f"healthy lab beside the bad ones, one 2-process worker for everything: {single}")
    for submission in bad:
        submission_cancel(submission=submission)
    endpoint.stop()
    connection.close()
    ideal = args.endpoint_prompts / 16 * 0.1
    return [
        f"Bad endpoints: a healthy lab's {args.endpoint_prompts} prompts (100 ms per answer, "
        f"16 in flight: ideal {ideal:.1f} s), alone and then while two labs whose endpoints "
        "hang and two whose endpoints answer 500 to everything are being collected (collector: "
        "thread pool, 16 threads; a collection task's budget is 15 s, after which it queues "
        "itself again).",
        "",
        "| healthy lab's collection | run 1 | run 2 |",
        "|---|---|---|",
        f"| alone | {alone[0]:.2f} s | {alone[1]:.2f} s |",
        f"| beside 2 hanging + 2 erroring labs | {beside[0]:.2f} s | {beside[1]:.2f} s |",
        f"| the same, one 2-process worker for both queues (`make worker`) | {single:.2f} s | |",
        "",
        f"Calls in flight at most to one lab: hanging {in_flight['hang']}, erroring "
        f"{in_flight['error']}, healthy {in_flight['ok']} (the per-lab bound is 16). "
        f"The erroring labs were sent {flood_rate:.0f} requests/s "
        "between them (each prompt retried with exponential backoff).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", choices=["all", "chaos", "endpoints"], default="all")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle-seconds", type=float, default=240)
    parser.add_argument("--domains", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--submissions", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=400)
    parser.add_argument("--endpoint-prompts", type=int, default=320)
    parser.add_argument("--redis-port", type=int, default=6399)
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/seal_bench_faults"
    )
    args = parser.parse_args()

    postgres_database_ensure(args.postgres_url)
    broker_url = f"redis://127.0.0.1:{args.redis_port}/0"
    env = {
        "DATABASE_URL": args.postgres_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "SEAL_ENDPOINT_ALLOWED_HOSTS": "127.0.0.1:*",
        "SEAL_GOLD_RATE": "0",
        "SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD": "1",
        "SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL": "1",
        # Recomputes of a second or two, so a kill finds some running.
        "SEAL_LEADERBOARD_REPLICAS": "4000",
        "SEAL_COLLECTION_TIMEOUT_SECONDS": "20",
        # A collector hands its slot back (and queues itself again) after this long.
        "SEAL_COLLECTION_TASK_BUDGET_SECONDS": "15",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        **FAST_RECOVERY,
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench_database_empty()

    redis = RedisServer(args.redis_port)
    redis.start()
    workdir = Path(tempfile.mkdtemp(prefix="seal-bench-faults-"))
    deployment = Deployment(broker_url=broker_url, workdir=workdir, env=env)
    report: list[str] = []
    try:
        if args.scenario in {"all", "chaos"}:
            report += chaos(args, deployment, redis)
            deployment.stop()
            report.append("")
        if args.scenario in {"all", "endpoints"}:
            report += endpoints(args, deployment)
    finally:
        deployment.stop()
        redis.crash()
    print("\n" + "\n".join(report))
    print(f"\nRecovery settings: {FAST_RECOVERY}. Logs: {workdir}")


if __name__ == "__main__":
    main()
