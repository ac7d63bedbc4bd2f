"""What the anonymised ratings file costs a recompute of 300,000 ratings; what reproducing costs.

    python bench/bench_ratings_file.py --database-url postgres://postgres@127.0.0.1:5432/seal_x
    python bench/bench_ratings_file.py --skip-build ...   # reuse the data of the previous run

Builds the data of bench/bench_leaderboards.py (one domain, 20 categories x 200 prompts, 50
models, 300,000 approved ratings) in its own database, then, in one process and alternating
`--rounds` times so that machine load hits both alike:
- the input read before this change: the database's two GROUP BY queries (overall and per
  category), sorted and split per category as recompute_inputs_load did;
- the input read now: the ratings one by one (one query) grouped in numpy, overall and per
  category (asserted equal to the GROUP BY rows, every field);
- writing the file (hashing, formatting, gzip) from the loaded inputs and computed boards;
- the whole recompute and publish through the service (`leaderboards_publish_now`), the engine
  alone, and reproducing the snapshot from its file (read + every board), which must match.
Every mismatch is counted and reported; the run exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_leaderboards import build, setup_django  # noqa: E402 - after the path insert
from bench.support import postgres_database_ensure  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/seal_bench_ratings_file"


def _old_read(domain_id: int) -> dict[int, object]:
    """The grouped input as the recompute read it before: two GROUP BY queries."""
    import numpy as np

    from leaderboards.recompute_inputs import approved_counts, approved_counts_by_category

    overall = approved_counts(domain_id=domain_id).sorted()
    rows, ids = approved_counts_by_category(domain_id=domain_id)
    by_category: dict[int, object] = {0: overall}
    order = np.argsort(ids, kind="stable")
    bounds = np.flatnonzero(np.diff(ids[order])) + 1
    for chunk in np.split(order, bounds):
        by_category[int(ids[chunk[0]])] = rows.take(chunk).sorted()
    return by_category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--ratings", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    postgres_database_ensure(args.database_url)
    setup_django(args.database_url)
    from django.db import connection, transaction

    from leaderboards.recompute import _ratings_file_parts, snapshot_draft_compute
    from leaderboards.recompute_inputs import recompute_inputs_load
    from leaderboards.services import leaderboards_publish_now, snapshot_ratings_file_ensure
    from leaderboards.stats.ratings_file import ratings_file_read, ratings_file_verify
    from seal.models import Domain

    if args.skip_build:
        domain_id = Domain.objects.get(slug="bench").pk
    else:
        start = time.perf_counter()
        domain_id = build(ratings=args.ratings, models=50, categories=20, prompts_per_category=200)
        print(f"built {args.ratings:,} approved ratings in {time.perf_counter() - start:.1f} s")
    domain = Domain.objects.get(pk=domain_id)
    failures: list[str] = []
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn, *a, **kw):
        start = time.perf_counter()
        result = fn(*a, **kw)
        timings.setdefault(name, []).append(time.perf_counter() - start)
        return result

    for _ in range(args.rounds):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL seal.allow_truncate = 'on'")
            cursor.execute(
                "TRUNCATE leaderboards_publishedleaderboard, leaderboards_snapshot CASCADE"
            )
            cursor.execute("TRUNCATE leaderboards_recomputejob")
        old = timed("read before: 2 GROUP BY queries + split", _old_read, domain_id)
        inputs = timed(
            "read now: 1 query + numpy grouping + fingerprint", recompute_inputs_load, domain=domain
        )
        for category_id, expected in old.items():
            got = inputs.overall if category_id == 0 else inputs.by_category.get(category_id)
            for name in expected.FIELDS:
                if got is None or getattr(got, name).tolist() != getattr(expected, name).tolist():
                    failures.append(f"grouped rows of category {category_id} differ in {name}")
        draft = snapshot_draft_compute(inputs)
        timed("ratings file source at publish: hash + sort", _ratings_file_parts, inputs, draft)
        (snapshot,) = timed(
            "recompute and publish (service, no charts)",
            leaderboards_publish_now,
            domains=[domain],
            draw_charts=False,
        )
        stored = timed(
            "first download: format + gzip the kept source",
            snapshot_ratings_file_ensure,
            snapshot_id=snapshot.pk,
        )
        content = bytes(stored.content)
        parsed = timed("reproduce: read file", ratings_file_read, content)
        _, problems = timed("reproduce: every board", ratings_file_verify, parsed)
        failures.extend(problems)
    print(
        f"file: {len(content):,} bytes gzip ({stored.n_ratings:,} ratings, "
        f"{len(content) / stored.n_ratings:.1f} bytes per rating)"
    )
    print("\n| phase | mean s | min s |\n|---|---|---|")
    for name, values in timings.items():
        print(f"| {name} | {statistics.mean(values):.2f} | {min(values):.2f} |")
    print(f"\nfailures: {len(failures)}")
    for failure in failures[:20]:
        print(f"  {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
