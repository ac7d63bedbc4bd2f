"""Recompute a SEAL leaderboard snapshot from its anonymised ratings file, without Django.

Usage (from a checkout of the repository, with numpy and pandas installed)::

    python docs/reproduce.py ratings.jsonl.gz            # OK, or every field that differs
    python docs/reproduce.py ratings.jsonl.gz --table    # and the recomputed boards

It runs the same ranking engine (leaderboards/stats) with the parameters and seed the file's
header records and compares every board with the published numbers the file carries (which are
the numbers on the public board of that snapshot). Exit code 0 when every field matches, 1 on a
mismatch, 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The engine lives in the repository's leaderboards/stats (pure numpy/pandas); importing it does
# not import Django.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaderboards.stats import StatsInputError
from leaderboards.stats.ratings_file import (
    ratings_file_parts,
    ratings_file_read,
    ratings_file_verify,
    reproduction_table,
)


def main(argv: list[str] | None = None) -> int:
    """Read, recompute, compare; print OK or the mismatches."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="the ratings file (ratings.jsonl.gz)")
    parser.add_argument("--table", action="store_true", help="print the recomputed boards")
    args = parser.parse_args(argv)
    try:
        ratings_file = ratings_file_read(args.file)
        reproduction, problems = ratings_file_verify(ratings_file)
    except (StatsInputError, FileNotFoundError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    header = ratings_file.header
    if args.table:
        print("\n".join(reproduction_table(reproduction)))
    checked = f"Checked: {', '.join(ratings_file_parts(ratings_file))}."
    for problem in problems:
        print(f"MISMATCH {problem}")
    if problems:
        print(f"snapshot {header.get('snapshot')}: {len(problems)} field(s) differ. {checked}")
        return 1
    n_entries = sum(len(board["entries"]) for board in reproduction.boards)
    print(
        f"OK snapshot {header.get('snapshot')} of {header.get('domain')} "
        f"(engine {header.get('engine_version')}, seed {header.get('seed')}, fingerprint "
        f"{str(header.get('fingerprint'))[:16]}…): {len(reproduction.boards)} boards, "
        f"{n_entries} entries, {reproduction.counts['n_ratings']} ratings reproduced exactly. "
        f"{checked}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
