"""Settings come from the environment; production refuses unsafe values, passes check --deploy."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.support import PROJECT_DIR


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_the_development_secret_key(settings_production_env):
    env = {**settings_production_env, "SECRET_KEY": settings.DEVELOPMENT_SECRET_KEY}
    result = run_manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a random value" in result.stderr


def test_production_refuses_a_missing_secret_key(settings_production_env):
    env = dict(settings_production_env)
    env.pop("SECRET_KEY")
    result = run_manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_debug(settings_production_env):
    result = run_manage({**settings_production_env, "DEBUG": "true"}, "check")
    assert result.returncode != 0
    assert "DEBUG must be off in production" in result.stderr


def test_check_deploy_is_clean_with_production_values(settings_production_env):
    result = run_manage(settings_production_env, "check", "--deploy", "--fail-level", "DEBUG")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_in_development():
    env = {key: value for key, value in os.environ.items() if key != "SEAL_ENV"}
    result = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0, "development settings should not pass the deployment check"


def test_a_malformed_boolean_is_named():
    env = {**os.environ, "DEBUG": "maybe"}
    result = run_manage(env, "check")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.skipif(bool(os.environ.get("CELERY_BROKER_URL")), reason="checks the embedded default")
def test_without_a_broker_url_tasks_run_eagerly():
    assert settings.CELERY_BROKER_URL is None
    assert settings.CELERY_TASK_ALWAYS_EAGER is True


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="checks the embedded default")
def test_the_default_database_is_a_sqlite_file_in_the_project():
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"


def test_celery_uses_json_and_time_limits():
    from seal.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit
    assert app.conf.task_soft_time_limit
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.task_acks_late is True


def test_every_beat_entry_names_a_registered_task():
    from seal.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names unknown task {entry['task']}"


def test_production_turns_on_transport_and_cookie_security(settings_production_env):
    script = (
        "import json; from django.conf import settings as s; print(json.dumps({name: "
        "getattr(s, name) for name in ('SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'CSRF_COOKIE_SECURE', 'X_FRAME_OPTIONS', 'SECURE_REFERRER_POLICY', "
        "'SECURE_CONTENT_TYPE_NOSNIFF', 'SESSION_COOKIE_AGE', 'AXES_FAILURE_LIMIT')}))"
    )
    result = run_manage(settings_production_env, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["SECURE_HSTS_SECONDS"] >= 60 * 60 * 24 * 365
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SESSION_COOKIE_AGE"] == 8 * 60 * 60
    assert values["AXES_FAILURE_LIMIT"] == 5


@pytest.mark.django_db
def test_every_response_carries_the_security_headers(client):
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    directives = {d.strip() for d in response["Content-Security-Policy"].split(";")}
    assert {"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} <= directives
