"""What docker/ runs, run here: collectstatic + gunicorn in production mode; beat + worker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from seal.models import WorkerHeartbeat
from tests.support import PROJECT_DIR, require_broker, require_postgres, wait_for

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextmanager
def gunicorn_serving(
    tmp_path: Path, env: dict[str, str], *, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """gunicorn serving production settings on an empty SQLite file, as the web container does:
    started in the project folder, so it reads gunicorn.conf.py; its access log in tmp_path."""
    env = {
        **env,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        **(extra_env or {}),
    }
    env.pop("CELERY_BROKER_URL", None)
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=PROJECT_DIR,
            env=env,
            check=True,
            timeout=180,
        )
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "seal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(tmp_path / "access.log"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


@pytest.fixture
def production_server(tmp_path: Path, settings_production_env) -> Iterator[str]:
    """The web container's gunicorn, with a TLS proxy on this host (gunicorn's default trust)."""
    with gunicorn_serving(tmp_path, settings_production_env) as base:
        yield base


def test_gunicorn_serves_production_settings_with_hashed_static_files(production_server):
    status, _, body = fetch(f"{production_server}/healthz")
    assert status == 200, body
    status, headers, body = fetch(f"{production_server}/", {"X-Forwarded-Proto": "https"})
    assert status == 200
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    stylesheet = re.search(rb'href="(/static/seal/site\.[0-9a-f]{12}\.css)"', body)
    assert stylesheet, "production pages must link the hashed stylesheet"
    status, headers, _ = fetch(f"{production_server}{stylesheet.group(1).decode()}")
    assert status == 200
    assert "immutable" in headers["Cache-Control"]
    # The API docs page works under the CSP: its own styles and init script are separate files.
    status, headers, body = fetch(
        f"{production_server}/api/v1/docs/", {"X-Forwarded-Proto": "https"}
    )
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert re.search(rb'href="/static/seal/swagger\.[0-9a-f]{12}\.css"', body), body
    assert b'src="/api/v1/docs/?script=' in body


def test_the_access_log_names_paths_never_query_strings_or_referrers(production_server, tmp_path):
    search = "private-prompt-words"
    # Anonymous: redirected to the login page (which urllib follows); both are logged.
    fetch(
        f"{production_server}/admin/seal/prompt/?q={search}",
        {"Referer": f"{production_server}/admin/seal/response/?q={search}-referred"},
    )
    log = tmp_path / "access.log"
    wait_for(lambda: log.exists() and "/admin/seal/prompt/" in log.read_text(), timeout=10)
    text = log.read_text()
    assert '"GET /admin/seal/prompt/ HTTP/1.1" 302' in text, text
    assert search not in text
    assert "?" not in text


def test_x_forwarded_proto_counts_only_from_the_configured_proxy(tmp_path, settings_production_env):
    # The TLS proxy is elsewhere; this client (127.0.0.1) claiming https must not be believed.
    with gunicorn_serving(
        tmp_path, settings_production_env, extra_env={"FORWARDED_ALLOW_IPS": "10.9.8.7"}
    ) as base:
        status, headers, _ = fetch(f"{base}/", {"X-Forwarded-Proto": "https"})
    assert status == 200
    # HSTS and secure cookies go only with requests Django believes came over https.
    assert "Strict-Transport-Security" not in headers


def test_gunicorn_refuses_to_trust_everyone(tmp_path):
    env = {**os.environ, "FORWARDED_ALLOW_IPS": "*"}
    result = subprocess.run(
        [str(BIN / "gunicorn"), "--check-config", "seal.wsgi"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "name the TLS proxy's addresses" in result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_beat_schedules_work_that_a_worker_runs(celery_worker_process, tmp_path: Path):
    require_postgres()
    require_broker()
    env = {
        **os.environ,
        "CELERY_TASK_DEFAULT_QUEUE": celery_worker_process.queue,
        "SEAL_HEARTBEAT_SECONDS": "1",
    }
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "seal",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(tmp_path / f"beat-{uuid.uuid4().hex}"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=45)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
