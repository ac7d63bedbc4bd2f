import pytest
from django.urls import reverse
from django.utils import timezone

from seal.celery import app as celery_app
from seal.services import worker_heartbeat_record
from tests.support import require_broker

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_broker(settings, monkeypatch):
    """Point the app at a broker URL (Celery reads CELERY_BROKER_URL from the environment first)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def point_at(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        monkeypatch.setitem(celery_app.conf, "broker_url", url)
        celery_app.close()

    yield point_at
    celery_app.close()


def test_healthz_is_ok_in_the_embedded_default(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["mode"].startswith("eager")
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_is_503_when_the_broker_is_unreachable(client, use_broker):
    use_broker("redis://127.0.0.1:1/0")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_healthz_reports_worker_heartbeats(client, use_broker):
    use_broker("redis://127.0.0.1:1/0")
    worker_heartbeat_record(hostname="worker-a")
    body = client.get(reverse("healthz")).json()
    assert body["checks"]["workers"]["alive"] is True
    assert body["checks"]["workers"]["last_heartbeat"] <= timezone.now().isoformat()


@pytest.mark.integration
def test_healthz_is_ok_against_the_real_redis(client, use_broker):
    use_broker(require_broker())
    response = client.get(reverse("healthz"))
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == {"ok": True, "mode": "broker"}


def test_healthz_only_answers_get(client):
    assert client.post(reverse("healthz")).status_code == 405
