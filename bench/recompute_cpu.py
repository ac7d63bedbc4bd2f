"""CPU seconds of one recompute-and-publish: this Python process plus its PostgreSQL backend.

    cd <tree> && OPENBLAS_NUM_THREADS=1 python /path/to/bench/recompute_cpu.py URL LABEL [ROUNDS]

Runs `leaderboards_publish_now` (no charts) on the domain "bench" of the database built by
bench_leaderboards.py, after emptying its snapshots, and prints wall time and CPU time of the
Python process (getrusage) and of the session's database backend (/proc/<pid>/stat; parallel
query workers are switched off so that all database work is in that backend). Wall time on a
shared machine says little; CPU time of both processes is what two versions are compared by.
It imports the project from the current directory, so one copy measures any version of the code
(e.g. an older commit unpacked with `git archive`) on the same database.

With ROUNDS > 1 the process publishes that many times (emptying the snapshots before each) and
prints one line per publish: the first also pays importing numpy/pandas and compiling the
lazily imported modules (1-2 s); the later ones are what a long-running worker pays.
"""

from __future__ import annotations

import os
import resource
import sys
import time


def main() -> None:
    """Measure ROUNDS publishes (default one) and print a RESULT line for each."""
    url, label = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    sys.path.insert(0, os.getcwd())
    os.environ["DATABASE_URL"] = url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from leaderboards.services import leaderboards_publish_now
    from seal.models import Domain

    domain = Domain.objects.get(slug="bench")
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    tick = os.sysconf("SC_CLK_TCK")

    def own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def database() -> float:
        with open(f"/proc/{backend}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    for number in range(1, rounds + 1):
        with transaction.atomic(), connection.cursor() as cursor:
            # Snapshots are append-only; this throwaway bench database opts out for the reset.
            cursor.execute("SET LOCAL seal.allow_truncate = 'on'")
            cursor.execute(
                "TRUNCATE leaderboards_publishedleaderboard, leaderboards_snapshot CASCADE"
            )
            cursor.execute("TRUNCATE leaderboards_recomputejob")
        wall, python, db = time.perf_counter(), own(), database()
        (snapshot,) = leaderboards_publish_now(domains=[domain], draw_charts=False)
        wall, python, db = time.perf_counter() - wall, own() - python, database() - db
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            if cursor.fetchone()[0] != backend:
                raise SystemExit("the database session changed during the publish: not measured")
        print(
            f"RESULT {label} wall {wall:.2f} python_cpu {python:.2f} db_cpu {db:.2f} "
            f"total_cpu {python + db:.2f} ratings {snapshot.n_ratings} "
            f"boards {snapshot.boards.count()}" + (f" publish {number}" if rounds > 1 else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
