"""Composes the platform components on top of the cluster, in dependency order: storage first (every
stateful service needs its classes), then the data and ML services, then monitoring that watches them.

Each component adds one block here; `program.py` calls `build_platform` once."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.cluster import PlatformCluster
from infra.config import StackConfig


@dataclass
class Platform:
    """Handles the workloads' declarations use (storage buckets, Kafka topics and users, ...)."""

    cluster: PlatformCluster


def build_platform(cfg: StackConfig, cluster: PlatformCluster) -> Platform:
    platform = Platform(cluster=cluster)
    pulumi.log.debug(f"platform composed for {cfg.stack}")
    return platform
