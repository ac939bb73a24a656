"""The placement vocabulary as the policies read it, spelled here from docs/ARCHITECTURE.md.

Deliberately NOT imported from infra.placement: a bug in the placement helper must not pass its
own check. A test compares the two spellings so that a deliberate change is made in both places.
"""

from __future__ import annotations

LABEL_POOL = "pipeworks.io/pool"
LABEL_ROLE = "pipeworks.io/role"
LABEL_STORAGE = "pipeworks.io/storage"  # value "nvme"
LABEL_NVME_MODE = "pipeworks.io/nvme-mode"  # raw (Ceph OSD disks) | raid0 (scratch at /mnt/k8s-disks/0)
LABEL_EDGE_LOCATION = "edgeLocation"
LABEL_GPU_PRESENT = "nvidia.com/gpu.present"
LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"

TAINT_GPU = "nvidia.com/gpu"
TAINT_NVME = "pipeworks.io/storage"
TAINT_EDGE = "pipeworks.io/edge"

GPU_RESOURCE = "nvidia.com/gpu"
NVME_SCRATCH_PATH = "/mnt/k8s-disks/0"
SPARK_LOCAL_DIR_PREFIX = "spark-local-dir-"  # spark-operator: such volumes become SPARK_LOCAL_DIRS

ROLES = ("general", "gpu", "nvme", "edge")

NODE_POOLS_CONFIGMAP = ("kube-system", "pipeworks-node-pools")
NODE_POOLS_KEY = "pools.json"

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"

EXEMPT_PREFIX = "policy.pipeworks.io/exempt."

#: Namespaces of platform components and node agents: Pod Security "baseline" applies there;
#: every other namespace holds workloads and gets "restricted". Judged from the name alone so that
#: the per-resource policy in a pack and the offline check give the same answer.
PLATFORM_NAMESPACES = frozenset({
    "kube-system", "kube-public", "kube-node-lease",
    "rook-ceph", "strimzi", "kafka", "spark-operator", "elastic-system", "elastic", "logging",
    "gpu-operator", "monitoring", "cert-manager", "cluster-autoscaler", "jupyterhub", "gateway", "envoy-gateway-system",
})

#: Well-known StorageClasses that exist without the stack declaring them.
BUILTIN_STORAGE_CLASSES = frozenset({"gp2"})  # the EKS default class
