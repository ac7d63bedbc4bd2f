"""python manage.py seed_demo: the demo platform, idempotent.

It lives in the top app because it seeds every layer: the catalog, then the people, then what the
leaderboards are drawn from.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.demo import DEMO_PASSWORD, demo_people_seed, demo_ratings_seed
from leaderboards.models import RecomputeJob
from leaderboards.services import leaderboards_publish_now, recompute_request
from seal.demo import demo_catalog_seed
from seal.models import Prompt, Response
from seal.services import demo_user_upsert

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Load the demo: domains, prompts, labs, models, responses and vetted demo experts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="seed even when SEAL_ENV=production (demo logins have a published password)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["allow_production"]:
            raise CommandError("Refusing to seed demo data in production (see --allow-production).")
        catalog = demo_catalog_seed()
        demo_user_upsert(
            username=ADMIN_USERNAME, password_hash=make_password(DEMO_PASSWORD), is_staff=True
        )
        people = demo_people_seed()
        # The seed approves some ratings through review_approve, which asks for a recompute of
        # the domain each time; a job queued first takes those requests in (recompute_request),
        # and the publish below runs it once, with every rating in.
        for domain in catalog.domains:
            recompute_request(domain=domain, trigger=RecomputeJob.Trigger.SEED, enqueue=False)
        ratings = demo_ratings_seed(
            strengths={m.model_version.pk: m.strength for m in catalog.models}
        )
        # Published in this process, so the leaderboards are filled even without a worker; the
        # charts are drawn when first viewed, which keeps the seed quick.
        snapshots = leaderboards_publish_now(domains=catalog.domains, draw_charts=False)

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(catalog.domains)} domains, "
                f"{Prompt.objects.filter(prompt_set__version=catalog.prompt_set_version).count()} "
                f"prompts, {len(catalog.models)} model versions, "
                f"{Response.objects.filter(status=Response.Status.OK).count()} responses; "
                f"this run added {ratings.tasks} comparisons ({ratings.gold} gold), "
                f"{ratings.approved} approved ratings, {ratings.awaiting_review} awaiting review, "
                f"{ratings.rejected} rejected and redone, {ratings.gold_answers} gold answers; "
                f"leaderboards published for {len(snapshots)} domains."
            )
        )
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        self.stdout.write(f"  {'staff':<36} {ADMIN_USERNAME:<14} /admin/")
        shown: set[str] = set()
        for person, _ in people:
            key = f"{person.role} {person.domains}"
            if key in shown and person.role == "annotator":
                continue
            shown.add(key)
            label = (
                f"{person.role} ({', '.join(person.domains)})"
                if person.role == "annotator"
                else person.role
            )
            self.stdout.write(f"  {label:<36} {person.username:<14}")
