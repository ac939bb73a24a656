"""Synthetic ratings and clicks with a known structure, for tests and benchmarks.

Users and products fall into ``groups`` latent taste groups. A user rates mostly products of their own group,
highly (4-5), and some of other groups, poorly (1-2); which products a user picks follows a Zipf popularity. So
the structure is known: a product's mean rating mixes both kinds of users (the item-mean baseline cannot tell
them apart), the most popular products belong to every group (the popularity baseline hits about 1/groups of a
user's taste), while a rank >= groups factorisation separates the groups. ALS must beat both baselines on this
data; the tests and the benchmark rely on it. Application-side (standard library only).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .ratings import Click, Rating

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: timestamps start here


@dataclass(frozen=True)
class Structure:
    """Who belongs to which group (user id -> group, product id -> group)."""

    user_group: dict[int, int]
    item_group: dict[int, int]

    def likes(self, user: int, item: int) -> bool:
        return self.user_group[user] == self.item_group[item]


def structure(users: int, items: int, groups: int, seed: int = 0) -> Structure:
    if groups < 1 or users < groups or items < groups:
        raise ValueError(f"need users >= groups and items >= groups >= 1 (got users={users}, items={items}, "
                         f"groups={groups})")
    rng = random.Random(seed)
    # ids start at 1 (the report's data does); groups assigned round-robin then shuffled, so every group is used
    ug = [i % groups for i in range(users)]
    ig = [i % groups for i in range(items)]
    rng.shuffle(ug)
    rng.shuffle(ig)
    return Structure({u + 1: g for u, g in enumerate(ug)}, {i + 1: g for i, g in enumerate(ig)})


def ratings(users: int = 200, items: int = 100, groups: int = 4, per_user: int = 30, own_share: float = 0.8,
            seed: int = 0) -> tuple[list[Rating], Structure]:
    """``per_user`` distinct ratings per user (capped by the catalogue), ``own_share`` of them from the user's group."""
    s = structure(users, items, groups, seed)
    rng = random.Random(seed + 1)
    by_group: dict[int, list[int]] = {}
    for item, g in s.item_group.items():
        by_group.setdefault(g, []).append(item)
    popularity = {item: 1.0 / (rank + 1) for rank, item in enumerate(rng.sample(sorted(s.item_group), items))}
    out: list[Rating] = []
    t = EPOCH
    for user, g in s.user_group.items():
        own = by_group[g]
        other = [i for i in s.item_group if s.item_group[i] != g]
        n_own = min(len(own), round(per_user * own_share))
        n_other = min(len(other), per_user - n_own)
        chosen = _weighted_sample(rng, own, popularity, n_own) + _weighted_sample(rng, other, popularity, n_other)
        for item in chosen:
            liked = s.item_group[item] == g
            value = rng.choice((4, 5, 5)) if liked else rng.choice((1, 1, 2))
            t += rng.randint(1, 120)
            out.append(Rating(user, item, float(value), t))
    return out, s


def clicks(s: Structure, count: int, seed: int = 0, own_share: float = 0.9) -> list[Click]:
    """``count`` clicks, mostly on products of the clicking user's group."""
    rng = random.Random(seed)
    users = sorted(s.user_group)
    by_group: dict[int, list[int]] = {}
    for item, g in s.item_group.items():
        by_group.setdefault(g, []).append(item)
    everything = sorted(s.item_group)
    out = []
    for n in range(count):
        user = rng.choice(users)
        pool = by_group[s.user_group[user]] if rng.random() < own_share else everything
        out.append(Click(user, rng.choice(pool), EPOCH + n))
    return out


def _weighted_sample(rng: random.Random, population: list[int], weight: dict[int, float], k: int) -> list[int]:
    """k distinct items, each draw proportional to popularity (Efraimidis-Spirakis keys)."""
    keyed = sorted(population, key=lambda i: rng.random() ** (1.0 / weight[i]), reverse=True)
    return keyed[:k]
