"""Fixtures for the leaderboard tests; the leaderboard world is built in tests/builders.py."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.builders import LeaderboardWorld, leaderboard_world


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Pages and JSON are cached per snapshot; every test starts with an empty cache."""
    settings.SEAL_LEADERBOARD_REPLICAS = 60
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    settings.SEAL_LEADERBOARD_FEW_RATINGS = 20
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lb_world(db) -> LeaderboardWorld:
    """The default leaderboard world (three models, twelve prompts), rated once."""
    world = leaderboard_world()
    world.rate()
    return world
