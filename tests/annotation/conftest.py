"""Fixtures for the annotation tests; the world they stand on is built in tests/builders.py."""

from __future__ import annotations

import pytest

from tests.builders import World, build_world


@pytest.fixture
def world(db) -> World:
    """A small evaluation world: one domain, two labs, answered prompts, open comparisons."""
    return build_world()
