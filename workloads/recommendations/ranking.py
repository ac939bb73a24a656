"""Re-ranking the batch top-N by recent interest (the streaming job's step), pure.

A product's score is its ALS score plus ``boost`` per recent click on it by the user; a clicked product the
batch list does not hold is not added (ALS judged it less relevant than the N it kept, and a click on an item
is often the end of the interest: the user has seen it). Ties keep the batch order, so with no clicks the
batch list comes back unchanged. Application code: never imports pulumi or infra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def rerank(batch: Sequence[tuple[int, float]], recent: Mapping[int, int], boost: float,
           n: int | None = None) -> list[tuple[int, float]]:
    """``batch``: (item, ALS score) best first; ``recent``: clicks per item; returns (item, new score) best first."""
    if boost < 0:
        raise ValueError(f"boost={boost}: use a non-negative number")
    scored = [(item, score + boost * recent.get(item, 0), pos) for pos, (item, score) in enumerate(batch)]
    scored.sort(key=lambda t: (-t[1], t[2]))
    out = [(item, score) for item, score, _ in scored]
    return out if n is None else out[:n]
