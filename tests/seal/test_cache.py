"""The cache is optional: with Redis unreachable the public pages, the leaderboard JSON and the
lab API answer as they do with a cache, and the outage is logged once, not once per request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from leaderboards.services import leaderboards_publish_now
from tests.builders import leaderboard_world
from tests.seal.test_api_model_versions import URL as MODEL_VERSIONS_URL
from tests.seal.test_api_model_versions import VALID as MODEL_VERSION
from tests.seal.test_tasking import closed_port
from tests.support import PROJECT_DIR


def caches_for(cache_url: str) -> dict:
    """CACHES as seal/settings.py builds it from CACHE_URL (read in a fresh interpreter)."""
    result = subprocess.run(
        [sys.executable, "-c", "import json, seal.settings as s; print(json.dumps(s.CACHES))"],
        cwd=PROJECT_DIR,
        env={**os.environ, "CACHE_URL": cache_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache_down(settings) -> str:
    """The cache CACHE_URL=redis://... configures, its real Redis client pointed where nothing
    listens."""
    password = "cache-pass-not-for-logs"
    settings.CACHES = caches_for(f"redis://:{password}@127.0.0.1:{closed_port()}/0")
    # Every cache call tries Redis again, so "once" comes from the outage, not from the back-off.
    settings.SEAL_CACHE_RETRY_SECONDS = 0
    return password


def test_a_redis_outage_costs_the_cache_not_the_site_and_is_logged_once(
    client, lab_client, redis_cache_down, caplog
):
    world = leaderboard_world()
    world.rate()
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    slug = world.domain.slug
    caplog.set_level(logging.INFO)

    for attempt in range(3):
        for url in (
            "/leaderboards/",
            f"/leaderboards/{slug}/",
            "/methodology/",
            "/api/v1/leaderboards/",
            f"/api/v1/leaderboards/{slug}/",
        ):
            response = client.get(url)
            assert response.status_code == 200, (url, response.content[:300])
        response = lab_client.client.post(
            MODEL_VERSIONS_URL, {**MODEL_VERSION, "version": f"v{attempt}"}, format="json"
        )
        assert response.status_code == 201, response.content

    said = [r for r in caplog.records if r.name == "seal.cache"]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert "unreachable" in said[0].getMessage()
    assert "serving without a cache" in said[0].getMessage()
    assert redis_cache_down not in caplog.text
