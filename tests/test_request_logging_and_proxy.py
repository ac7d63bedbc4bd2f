"""What reaches the logs about a request, and whom the deployment believes about https.

Staff searches (?q=) carry private prompt text: no log line names a query string (gunicorn's
access log: tests/integration/test_deployment.py). The docker files publish gunicorn on the host's
loopback only, and X-Forwarded-Proto counts only from a configured proxy."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.contrib.auth.models import User

from tests.integration.test_deployment import fetch, free_port
from tests.seal.test_settings import run_manage
from tests.support import PROJECT_DIR, wait_for

SEARCH = "private-prompt-words"


def test_runserver_request_lines_have_no_query_string(tmp_path: Path):
    port = free_port()
    log = tmp_path / "runserver.log"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("CELERY_BROKER_URL", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "Quit the server" in log.read_text(errors="replace"), timeout=60)
        fetch(f"http://127.0.0.1:{port}/admin/seal/prompt/?q={SEARCH}")
        wait_for(lambda: "GET /admin/seal/prompt/ " in log.read_text(errors="replace"), timeout=10)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert SEARCH not in text, text[-2000:]


@pytest.mark.django_db
def test_django_request_and_security_logs_have_no_query_string(client, caplog):
    caplog.set_level(logging.INFO)
    security = logging.getLogger("seal.security")  # does not propagate to the root
    security.addHandler(caplog.handler)
    try:
        # Staff without permission to see prompts, searching them: refused and logged.
        client.force_login(User.objects.create_user("clerk", is_staff=True))
        assert client.get(f"/admin/seal/prompt/?q={SEARCH}").status_code == 403
        assert client.get(f"/no-such-page/?q={SEARCH}").status_code == 404
    finally:
        security.removeHandler(caplog.handler)
    names = {record.name for record in caplog.records}
    assert {"seal.security", "django.request"} <= names, names
    for record in caplog.records:
        assert SEARCH not in record.getMessage()
        assert SEARCH not in json.dumps(vars(record), default=str)


def compose() -> dict:
    return yaml.safe_load((PROJECT_DIR / "docker" / "compose.yaml").read_text())


def test_compose_publishes_the_web_port_on_the_hosts_loopback_only():
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"web"}, published
    for port in published["web"]:
        assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+", str(port)), port


def test_no_docker_file_tells_gunicorn_to_trust_every_client():
    environment = compose()["x-app"]["environment"]
    assert "*" not in str(environment.get("FORWARDED_ALLOW_IPS", ""))
    assert "SEAL_TRUST_FORWARDED_PROTO" not in environment
    dockerfile = (PROJECT_DIR / "docker" / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    arguments = json.loads(cmd.removeprefix("CMD "))
    assert arguments[:2] == ["gunicorn", "seal.wsgi"]
    assert "--forwarded-allow-ips" not in arguments, shlex.join(arguments)
    assert "--access-logformat" not in arguments  # gunicorn.conf.py's format applies


@pytest.mark.parametrize(
    ("trust", "expected"), [("", None), ("true", ["HTTP_X_FORWARDED_PROTO", "https"])]
)
def test_django_believes_x_forwarded_proto_only_when_told_to(
    settings_production_env, trust, expected
):
    env = {**settings_production_env, "SEAL_TRUST_FORWARDED_PROTO": trust}
    script = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps(s.SECURE_PROXY_SSL_HEADER))"
    )
    result = run_manage(env, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
