"""Recompute a published snapshot from its anonymised ratings file and compare, field by field."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboards.models import Snapshot, SnapshotBoard
from leaderboards.selectors import snapshot_published_numbers


class Command(BaseCommand):
    help = (
        "Recompute every board of a snapshot from its ratings file (same engine, parameters and "
        "seed) and compare with the numbers the file carries and, when the snapshot is in this "
        "database, with the published snapshot. Exit code 1 on any mismatch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the ratings file (ratings.jsonl.gz)")
        parser.add_argument("--table", action="store_true", help="also print the recomputed boards")

    def handle(self, *args: Any, **options: Any) -> None:
        from leaderboards.stats import StatsInputError
        from leaderboards.stats.ratings_file import (
            ratings_file_parts,
            ratings_file_read,
            ratings_file_verify,
            reproduction_table,
            snapshot_compare,
        )

        try:
            ratings_file = ratings_file_read(options["file"])
            reproduction, problems = ratings_file_verify(ratings_file)
        except (StatsInputError, FileNotFoundError) as exc:
            raise CommandError(f"{options['file']}: {exc}") from None
        header = ratings_file.header
        parts = ratings_file_parts(ratings_file)
        snapshot_id = header.get("snapshot")
        if options["table"]:
            for line in reproduction_table(reproduction):
                self.stdout.write(line)
        against = "the numbers in the file"
        published = (
            snapshot_published_numbers(snapshot_id=snapshot_id)
            if isinstance(snapshot_id, int)
            else None
        )
        if published is not None and isinstance(snapshot_id, int):
            snapshot = Snapshot.objects.get(pk=snapshot_id)
            against += " and the published snapshot in the database"
            if snapshot.input_fingerprint != header.get("fingerprint"):
                problems.append(
                    f"snapshot fingerprint: published {snapshot.input_fingerprint!r}, "
                    f"file {header.get('fingerprint')!r}"
                )
            if snapshot.config != header.get("config"):
                problems.append("snapshot config: the file's engine parameters differ")
            counts, agreement, boards = published
            # The boards' style views (coefficients with intervals) and findings are compared
            # too; the selector's published numbers leave them out.
            views = {
                key: {"style": style, "findings": findings}
                for key, style, findings in SnapshotBoard.objects.filter(
                    snapshot_id=snapshot_id
                ).values_list("key", "style", "data__findings")
            }
            boards = [board | views.get(board["key"], {}) for board in boards]
            problems.extend(
                f"database: {problem}"
                for problem in snapshot_compare(
                    published_counts=counts,
                    published_agreement=agreement,
                    published_boards=boards,
                    reproduction=reproduction,
                    parts=parts,
                )
            )
        else:
            self.stdout.write(
                f"Snapshot {snapshot_id} is not in this database: comparing with the file only."
            )
        n_entries = sum(len(board["entries"]) for board in reproduction.boards)
        if problems:
            for problem in problems:
                self.stdout.write(f"MISMATCH {problem}")
            self.stdout.write(f"Checked: {', '.join(parts)}.")
            raise CommandError(
                f"snapshot {snapshot_id}: {len(problems)} field(s) differ from {against}",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"OK snapshot {snapshot_id} of {header.get('domain')}: "
                f"{len(reproduction.boards)} boards, {n_entries} entries and "
                f"{reproduction.counts['n_ratings']} ratings reproduced exactly; matches "
                f"{against}. Checked: {', '.join(parts)}."
            )
        )
