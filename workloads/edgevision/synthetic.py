"""Synthetic product photos with known defects (no data set is downloaded): a product (a disc or a rounded
square of a random colour, position and size) on a noisy background, either intact or with exactly one defect:

- ``scratch``: a thin dark line across the product;
- ``missing_part``: a wedge of the product cut away (background shows through);
- ``discoloration``: a blotch of shifted colour on the product.

Small images (32x32 RGB by default) so the CPU trains a CNN on them in seconds. Deterministic for a seed.
Application code (runs in the trainer's container, numpy only)."""

from __future__ import annotations

import numpy as np

LABELS = ("ok", "scratch", "missing_part", "discoloration")
"""Class index -> label; index 0 is the only non-defective class."""
DEFAULT_SIZE = 32


def _product_mask(size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float, float]]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(0.4, 0.6, 2) * size
    r = rng.uniform(0.25, 0.34) * size
    if rng.random() < 0.5:  # disc
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    else:  # rounded square
        mask = np.maximum(np.abs(yy - cy), np.abs(xx - cx)) <= r * 0.9
    return mask, (float(cy), float(cx), float(r))


def render(label: int, rng: np.random.Generator, size: int = DEFAULT_SIZE, noise: float = 0.03) -> np.ndarray:
    """One image (size, size, 3) float32 in [0, 1] of class ``label``; ``noise``: sensor noise (std dev)."""
    if not 0 <= label < len(LABELS):
        raise ValueError(f"label {label} is not one of 0..{len(LABELS) - 1} ({', '.join(LABELS)})")
    background = rng.uniform(0.05, 0.3, 3)
    colour = rng.uniform(0.55, 0.95, 3)
    img = np.broadcast_to(background, (size, size, 3)).astype(np.float32).copy()
    mask, (cy, cx, r) = _product_mask(size, rng)
    img[mask] = colour
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    name = LABELS[label]
    if name == "scratch":
        angle = rng.uniform(0, np.pi)
        dist = np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle))
        line = (dist <= rng.uniform(0.5, 1.0)) & mask
        img[line] = colour * rng.uniform(0.1, 0.3)
    elif name == "missing_part":
        angle = rng.uniform(0, 2 * np.pi)
        width = rng.uniform(0.5, 0.9)
        theta = np.arctan2(yy - cy, xx - cx)
        wedge = (np.abs(np.angle(np.exp(1j * (theta - angle)))) <= width / 2) & mask
        wedge &= (yy - cy) ** 2 + (xx - cx) ** 2 >= (0.2 * r) ** 2
        img[wedge] = background
    elif name == "discoloration":
        by, bx = cy + rng.uniform(-0.5, 0.5) * r, cx + rng.uniform(-0.5, 0.5) * r
        br = rng.uniform(0.3, 0.5) * r
        blob = ((yy - by) ** 2 + (xx - bx) ** 2 <= br * br) & mask
        shift = rng.permutation(colour) * rng.uniform(0.4, 0.7)
        img[blob] = shift
    if noise:
        img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def make_dataset(n: int, seed: int, size: int = DEFAULT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, size, size, 3) float32, labels (n,) int32), the classes balanced and shuffled."""
    if n < 1:
        raise ValueError(f"n={n}: need at least one image")
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int32) % len(LABELS)
    rng.shuffle(labels)
    images = np.stack([render(int(y), rng, size) for y in labels])
    return images, labels


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images as the camera sends them (uint8 pixels)."""
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
