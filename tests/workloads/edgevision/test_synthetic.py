"""The synthetic product photos: shapes, ranges, balance, determinism, and that each defect really changes the
product (so the labels are learnable)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.edgevision.synthetic import LABELS, make_dataset, render, to_uint8


@settings(max_examples=40, deadline=None)
@given(label=st.integers(0, len(LABELS) - 1), seed=st.integers(0, 2**32 - 1), size=st.sampled_from([32, 64]))
def test_any_image_is_a_valid_rgb_picture(label: int, seed: int, size: int) -> None:
    img = render(label, np.random.default_rng(seed), size)
    assert img.shape == (size, size, 3) and img.dtype == np.float32
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0


@pytest.mark.parametrize("label", [-1, len(LABELS)])
def test_unknown_label_is_refused(label: int) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        render(label, np.random.default_rng(0))


def test_dataset_is_balanced_deterministic_and_seed_dependent() -> None:
    x1, y1 = make_dataset(200, seed=3)
    x2, y2 = make_dataset(200, seed=3)
    x3, _ = make_dataset(200, seed=4)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert np.bincount(y1).tolist() == [50, 50, 50, 50]
    assert to_uint8(x1).dtype == np.uint8


@pytest.mark.parametrize("label", [1, 2, 3])
def test_each_defect_changes_the_product(label: int) -> None:
    """Same product (same draws), no sensor noise: the defect changes a visible patch of it, never nothing."""
    for seed in range(30):
        ok = render(0, np.random.default_rng(seed), noise=0.0)
        bad = render(label, np.random.default_rng(seed), noise=0.0)
        changed = np.abs(ok - bad).max(axis=2) > 0.1
        assert changed.sum() >= 4, f"{LABELS[label]} (seed {seed}) changes only {changed.sum()} pixels"
