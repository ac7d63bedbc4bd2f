"""Connected components of the comparison graph (which models were compared, directly or not)."""

from __future__ import annotations

import numpy as np

from .data import BoolArray, IntArray


def connected_components(n_models: int, pair_i: IntArray, pair_j: IntArray) -> list[IntArray]:
    """Model codes of each connected component, largest first, ties by smallest code."""
    labels = np.arange(n_models, dtype=np.int64)
    if len(pair_i):
        while True:
            # Min-label propagation with pointer jumping: labels only fall, so this terminates.
            lowest = np.minimum(labels[pair_i], labels[pair_j])
            updated = labels.copy()
            np.minimum.at(updated, pair_i, lowest)
            np.minimum.at(updated, pair_j, lowest)
            updated = updated[updated]
            if np.array_equal(updated, labels):
                break
            labels = updated
    _, component = np.unique(labels, return_inverse=True)
    groups = [np.flatnonzero(component == c) for c in range(int(component.max()) + 1)]
    groups.sort(key=lambda group: (-len(group), int(group[0])))
    return groups


def reachability(n_models: int, source: IntArray, target: IntArray) -> BoolArray:
    """reach[i, j]: a directed path leads from model i to model j (every model reaches itself)."""
    reach = np.eye(n_models, dtype=np.float32)
    reach[source, target] = 1.0
    # Squaring doubles the path length covered; float32 products of 0/1 are exact enough to
    # test for > 0, and BLAS makes this fast for the few hundred models a board holds.
    for _ in range(max(1, int(np.ceil(np.log2(max(n_models, 2)))))):
        squared = (reach @ reach) > 0
        if np.array_equal(squared, reach > 0):
            break
        reach = squared.astype(np.float32)
    return np.asarray(reach > 0, dtype=np.bool_)
