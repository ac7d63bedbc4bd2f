"""python manage.py import_prompts FILE.jsonl --domain coding --set-version 2026-11"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from seal.errors import ApplicationError
from seal.models import Domain
from seal.services import PromptImportError, prompt_set_import


class Command(BaseCommand):
    help = (
        "Import a JSONL prompt file into a domain's draft prompt set. Every line is validated "
        "first; one bad line means nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="JSON Lines file, one prompt per line")
        parser.add_argument("--domain", required=True, help="domain slug, e.g. coding")
        parser.add_argument("--set-version", required=True, help="prompt set version, e.g. 2026-11")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--activate", action="store_true", help="make the set the domain's active one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            domain = Domain.objects.get(slug=options["domain"])
        except Domain.DoesNotExist as exc:
            known = ", ".join(Domain.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"Unknown domain {options['domain']!r} (known: {known})") from exc
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with path.open("rb") as handle:
                result = prompt_set_import(
                    domain=domain,
                    version=options["set_version"],
                    lines=handle,
                    description=options["description"],
                    activate=options["activate"],
                )
        except PromptImportError as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created_count} prompts into {domain.slug} "
                f"{result.prompt_set.version} ({result.prompt_set.status})."
            )
        )
