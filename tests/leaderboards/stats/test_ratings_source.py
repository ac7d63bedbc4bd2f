"""A kept ratings-file source gives back exactly the arrays it was given, however narrowly its
integers are stored, and sources kept before the narrowing still unpack."""

from __future__ import annotations

import json
import zlib

import numpy as np

from leaderboards.stats.ratings_file import ratings_source_pack, ratings_source_unpack


def _pack(ratings: dict[str, np.ndarray]) -> bytes:
    return ratings_source_pack(
        boards=[], categories=[], prompt_hashes=[], prompt_categories=[], ratings=ratings, raters=[]
    )


def test_every_integer_width_and_the_floats_come_back_as_given():
    ratings = {
        "tiny": np.array([-2, -1, 0, 1, 2], dtype=np.int64),
        "short": np.array([0, 300, -300, 5, 6], dtype=np.int64),
        "int": np.array([0, 70_000, -70_000, 1, 2], dtype=np.int64),
        "long": np.array([0, 2**40, -(2**40), 2**63 - 1, -(2**63)], dtype=np.int64),
        "empty": np.zeros(0, dtype=np.int64),
        "outcome": np.array([0.0, 0.5, 1.0, 0.25, 1e-300]),
    }
    unpacked = ratings_source_unpack(_pack(ratings))["ratings"]
    for name, values in ratings.items():
        assert unpacked[name].dtype == values.dtype, name
        assert np.array_equal(unpacked[name], values), name


def test_a_source_kept_before_the_narrowing_still_unpacks():
    # The layout then had four fields and every integer array stored as int64.
    prompt = np.array([3, 1, 2], dtype=np.int64)
    outcome = np.array([1.0, 0.5, 0.0])
    meta = {
        "boards": [],
        "categories": [],
        "prompt_hashes": [],
        "prompt_categories": [],
        "raters": [],
        "layout": [["ratings", "prompt", "<i8", 3], ["ratings", "outcome", "<f8", 3]],
    }
    packed = zlib.compress(
        json.dumps(meta).encode() + b"\n" + prompt.astype("<i8").tobytes() + outcome.tobytes()
    )
    unpacked = ratings_source_unpack(packed)["ratings"]
    assert np.array_equal(unpacked["prompt"], prompt)
    assert np.array_equal(unpacked["outcome"], outcome)
