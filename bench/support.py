"""Shared by the benchmark scripts: each works in a PostgreSQL database of its own."""

from __future__ import annotations


def postgres_database_ensure(url: str) -> None:
    """Create the database named at the end of `url` if it does not exist yet."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
