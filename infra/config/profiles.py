"""Per-environment defaults, merged under a stack file's values before validation.

Stack files hold only what differs from these. Mappings merge key by key; a list in the stack file
replaces the default list whole (a stack that names its node pools names all of them).
dev is small and cheap (2 zones, one NAT gateway, small instances, GPU from zero, spot where a lost
node loses nothing); prod is highly available (3 zones, private API endpoint, on-demand stateful
pools with minimums that hold Ceph/Kafka quorum).

The one rule: a model's default is the dev value. The prod profile states every value where prod differs;
the dev profile states only what no model defaults (the cluster's endpoint and NAT choices, the node pools,
the policy enforcement), which the prod profile states too. docs/CONFIG.md shows both environments' values.
"""

from __future__ import annotations

import copy
from typing import Any

# The network `pulumi up` runs from can only be the owner's: a stack with a private API endpoint (both
# profiles) that does not name its deployerNetworks gets this placeholder (loader), so it plans offline
# but `pulumi preview/up` refuses it by key.
DEPLOYER_PLACEHOLDER = "<CIDR of the network pulumi up runs from (deploy runner, VPN)>"

_DEV: dict[str, Any] = {
    # Private like prod: with hybrid nodes AWS advises public or private endpoint access, not both; a dev
    # stack without edge pools may open a public endpoint to its own publicAccessCidrs.
    "cluster": {"eks": {"endpointPublicAccess": False, "singleNatGateway": True}},
    "nodePools": [
        {"name": "general", "role": "general", "instanceTypes": ["m6i.xlarge", "m5.xlarge"], "capacityType": "SPOT",
         "minSize": 2, "maxSize": 4},
        {"name": "nvme-osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i4i.xlarge"],
         "capacityType": "ON_DEMAND", "minSize": 1, "maxSize": 1},
        {"name": "nvme-scratch", "role": "nvme", "nvmeMode": "raid0", "instanceTypes": ["i4i.xlarge"],
         "capacityType": "ON_DEMAND", "minSize": 1, "maxSize": 3},
        {"name": "gpu", "role": "gpu", "instanceTypes": ["g5.xlarge", "g5.2xlarge"], "gpuModel": "NVIDIA-A10G",
         "capacityType": "SPOT", "minSize": 0, "maxSize": 2},
    ],
    "policy": {"enforcement": "advisory", "allowExemptions": True},
}

_PROD: dict[str, Any] = {
    "cluster": {"eks": {"endpointPublicAccess": False, "singleNatGateway": False}},
    "nodePools": [
        {"name": "general", "role": "general", "instanceTypes": ["m6i.2xlarge"], "capacityType": "ON_DEMAND",
         "minSize": 3, "maxSize": 9},
        # Ceph OSDs: 6 x i3en.3xlarge (7.5 TB instance store each) = 40.9 TiB raw, two per zone; sized by the
        # storage-capacity policy (claims x 3 copies below nearfull at minSize; `pipeworks capacity prod`).
        {"name": "nvme-osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i3en.3xlarge"],
         "capacityType": "ON_DEMAND", "minSize": 6, "maxSize": 9},
        {"name": "nvme-scratch", "role": "nvme", "nvmeMode": "raid0", "instanceTypes": ["i4i.2xlarge"],
         "capacityType": "ON_DEMAND", "minSize": 3, "maxSize": 12},
        {"name": "gpu", "role": "gpu", "instanceTypes": ["g5.2xlarge"], "gpuModel": "NVIDIA-A10G",
         "capacityType": "ON_DEMAND", "minSize": 0, "maxSize": 4},
    ],
    "policy": {"enforcement": "mandatory", "allowExemptions": False},
    # 3 mons, 2 mgrs, 3 copies (one per OSD host); protected and retained, Retain reclaim on data classes.
    # failureDomain zone: each copy in another zone (the OSD pool spans three).
    "storage": {"monCount": 3, "mgrCount": 2, "allowMultipleMonsPerNode": False, "replicaSize": 3, "rgwInstances": 2,
                "failureDomain": "zone", "protect": True, "retainOnDelete": True,
                "resources": {"mon": {"cpu": "500m", "memory": "1Gi", "memoryLimit": "2Gi"},
                              "mgr": {"cpu": "500m", "memory": "1Gi", "memoryLimit": "2Gi"},
                              "osd": {"cpu": "2", "memory": "4Gi", "memoryLimit": "8Gi"},
                              "mds": {"cpu": "500m", "memory": "2Gi", "memoryLimit": "4Gi"},
                              "rgw": {"cpu": "500m", "memory": "1Gi", "memoryLimit": "2Gi"}},
                "buckets": [{"name": "lake", "namespace": "data-lake", "maxSize": "4Ti"}]},
    # Three controllers (quorum survives one loss), three brokers spread over three zones, RF 3 / min ISR 2,
    # Cruise Control to rebalance partitions when brokers are added or replaced.
    "kafka": {"replicationFactor": 3, "minInsyncReplicas": 2, "cruiseControl": True,
              "controllers": {"replicas": 3, "storageSize": "20Gi",
                              "resources": {"cpu": "500m", "memory": "2Gi"}},
              "brokers": {"replicas": 3, "storageSize": "500Gi",
                          "resources": {"cpu": "2", "memory": "8Gi"}}},
    # Three Cassandra nodes, one rack per zone, three copies of every row (QUORUM survives a zone's loss);
    # a 6G heap in 24Gi (the rest off-heap: memtables, page cache), so each zone's scratch node (i4i.2xlarge, 58Gi)
    # still holds a Kafka broker and an Elasticsearch hot node beside it: racks are pinned to zones, and the
    # autoscaler cannot add a node in a chosen zone of a multi-zone group.
    "cassandra": {"size": 3, "racks": 3, "replicationFactor": 3, "storageSize": "500Gi", "heapSize": "6G",
                  "resources": {"cpu": "2", "memory": "24Gi"}},
    "spark": {"operatorReplicas": 2, "standalone": {"minWorkers": 2, "maxWorkers": 10}},
    "gateway": {"controllerReplicas": 2},
    # Three masters (quorum), three hot nodes over three zones, two warm; one replica of every shard.
    "elk": {"elasticsearch": {
        "master": {"count": 3, "storageSize": "20Gi", "resources": {"cpu": "500m", "memory": "4Gi"}},
        "hot": {"count": 3, "storageSize": "500Gi", "resources": {"cpu": "2", "memory": "16Gi"}},
        "warm": {"count": 2, "storageSize": "1Ti", "resources": {"cpu": "1", "memory": "8Gi"}},
        "indexReplicas": 1},
        "ilm": {"deleteAfterDays": 90},
        "kibana": {"count": 2, "resources": {"cpu": "500m", "memory": "2Gi"}},
        "logstash": {"count": 2, "resources": {"cpu": "1", "memory": "4Gi"}}},
    # An HA Prometheus pair with a month of samples and a three-node Alertmanager cluster.
    "monitoring": {"prometheus": {"replicas": 2, "retention": "30d", "storageSize": "200Gi",
                                  "resources": {"cpu": "1", "memory": "8Gi"}},
                   "alertmanagerReplicas": 3},
    # g5.2xlarge GPU nodes: notebooks get most of one.
    "jupyterhub": {"storageSize": "50Gi", "hubResources": {"cpu": "250m", "memory": "1Gi"},
                   "gpuProfile": {"image": "quay.io/jupyter/pytorch-notebook:cuda12-2025-08-18",
                                  "resources": {"cpu": "4", "memory": "20Gi", "cpuLimit": "7"}}},
}

PROFILES = {"dev": _DEV, "prod": _PROD}


def zones_default(region: str, environment: str) -> list[str]:
    """The first 2 (dev) or 3 (prod) zones of a region; stack files may name others."""
    count = 3 if environment == "prod" else 2
    return [f"{region}{letter}" for letter in "abc"[:count]]


def deep_merge(base: Any, override: Any) -> Any:
    """override wins; mappings merge recursively; anything else (lists included) replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = copy.deepcopy(base)
        for k, v in override.items():
            out[k] = deep_merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def defaults_for(environment: str) -> dict[str, Any]:
    return copy.deepcopy(PROFILES.get(environment, {}))
