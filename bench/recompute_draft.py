"""Dump what a recompute would publish (the whole snapshot draft) as JSON, to compare two versions.

    cd <source tree> && OPENBLAS_NUM_THREADS=1 python /path/to/bench/recompute_draft.py URL OUT.json
    cmp before.json after.json   # identical: no published number changed

Reads the inputs of the domain "bench" (`--domain` to change) of the database at URL and computes
the draft as the publishing service would, without writing anything: every board with its data,
style view and entries, the agreement, the fingerprint and the SHA-256 of the ratings file's body.
It imports the project from the current directory, so one copy dumps any version of the code on
the same database (run both versions against the same database state: the published snapshot
anchors the next one).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys


def main() -> None:
    """Compute the draft and write it as sorted JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--domain", default="bench")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    os.environ["DATABASE_URL"] = args.url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from leaderboards import services
    from seal.models import Domain

    domain = Domain.objects.get(slug=args.domain)
    inputs = services._inputs_read(domain)
    draft = services.snapshot_draft_compute(inputs)
    dumped = {field.name: getattr(draft, field.name) for field in dataclasses.fields(draft)}
    dumped["boards"] = [dataclasses.asdict(board) for board in draft.boards]
    body = dumped.pop("ratings_file_body", None)
    source = dumped.pop("ratings_file_source", None)
    if source is not None:
        # Since the file is formatted at its first download: the body it will be written with.
        from leaderboards.stats.ratings_file import ratings_file_body, ratings_source_unpack

        body = ratings_file_body(**ratings_source_unpack(source))
    dumped["ratings_file_body_sha256"] = None if body is None else hashlib.sha256(body).hexdigest()
    with open(args.out, "w") as out:
        json.dump(dumped, out, sort_keys=True, default=str, indent=0)
    file_body = dumped["ratings_file_body_sha256"]
    print(f"{args.out}: fingerprint {draft.fingerprint}, file body {file_body}")


if __name__ == "__main__":
    main()
