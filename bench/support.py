"""Shared by the benchmark scripts: each works in a PostgreSQL database of its own."""

from __future__ import annotations

from typing import Any


def postgres_database_ensure(url: str) -> None:
    """Create the database named at the end of `url` if it does not exist yet."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def bench_database_empty() -> None:
    """Empty the throwaway bench database (Django's flush). The append-only tables refuse
    TRUNCATE unless the transaction opts in (leaderboards and annotation migrations 0004)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL seal.allow_truncate = 'on'")
        call_command("flush", interactive=False, verbosity=0)


def domain_with_open_comparisons(*, slug: str, models: list[Any], prompts: int) -> Any:
    """A domain (active prompt set) whose prompts the two models answered, one open comparison
    of the two per prompt."""
    from annotation.models import ComparisonTask
    from seal.models import Prompt, PromptSet, Response
    from seal.prompt_import import content_hash
    from seal.services import domain_upsert
    from tests.factories import DEFAULT_RUBRIC

    first, second = models
    domain = domain_upsert(slug=slug, name=slug.replace("-", " ").title(), rubric=DEFAULT_RUBRIC)
    prompt_set = PromptSet.objects.create(domain=domain, version=slug, status="active")
    texts = [f"{slug.title()} prompt {i}: explain it" for i in range(prompts)]
    made = Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, text=text, content_hash=content_hash(text)) for text in texts
    )
    responses = Response.objects.bulk_create(
        Response(
            model_version=m,
            prompt=p,
            status="ok",
            text=f"Answer of {m.name} to {p.pk}",
            html=f"<p>Answer of {m.name} to {p.pk}</p>\n",
        )
        for p in made
        for m in (first, second)
    )
    ComparisonTask.objects.bulk_create(
        ComparisonTask(
            domain=domain, prompt=p, response_a=responses[2 * i], response_b=responses[2 * i + 1]
        )
        for i, p in enumerate(made)
    )
    return domain


def two_models_of_two_labs(prefix: str) -> list[Any]:
    from seal.models import Lab, ModelVersion

    return [
        ModelVersion.objects.create(
            lab=Lab.objects.create(name=f"{prefix} lab {i}", slug=f"{prefix}-lab-{i}"),
            name=f"M{i}",
            version="1",
            base_url="https://x.example/v1",
            model_id=f"m{i}",
        )
        for i in range(2)
    ]


def comparison_world_build(
    *, slug: str, tasks: int, annotators: int, username_prefix: str, password_hash: str
) -> list[int]:
    """Empty the (Django-configured) database and fill it with one domain of open comparisons,
    each between two models of two labs, and vetted annotators; return their profile ids."""
    from django.core.management import call_command
    from django.db import connection

    from annotation.services import annotator_profile_upsert, annotator_vet
    from seal.services import demo_user_upsert

    call_command("migrate", verbosity=0)
    bench_database_empty()
    domain = domain_with_open_comparisons(
        slug=slug, models=two_models_of_two_labs(slug), prompts=tasks
    )
    profile_ids = []
    for i in range(annotators):
        user = demo_user_upsert(username=f"{username_prefix}{i:03d}", password_hash=password_hash)
        profile_ids.append(
            annotator_vet(profile=annotator_profile_upsert(user=user, domains=[domain])).pk
        )
    # Fresh tables have no planner statistics; autovacuum gives a live database these.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return profile_ids
