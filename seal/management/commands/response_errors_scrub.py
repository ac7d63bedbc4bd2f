"""python manage.py response_errors_scrub: once, after upgrading to the release that scrubs
endpoint secrets from collection errors, to clean the errors stored before it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from seal.services import response_errors_scrub


class Command(BaseCommand):
    help = (
        "Remove every spelling of each model version's endpoint secret (raw, escaped, URL-encoded) "
        "from the collection errors already stored."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = response_errors_scrub()
        self.stdout.write(f"{count} stored error(s) scrubbed.")
