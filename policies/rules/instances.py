"""Allocatable capacity of the EC2 instance types the stacks use, for the schedulability rules.

Each entry is (vCPUs, memory GiB, NVIDIA GPUs, GPU product as GPU feature discovery labels it,
ENIs, IPv4 addresses per ENI), from the EC2 instance-type documentation. Allocatable is capacity
minus what an EKS AL2023 node keeps for itself:
- max pods = ENIs x (IPs per ENI - 1) + 2 (VPC CNI without prefix delegation), capped at 110 below
  30 vCPUs and 250 above, as EKS's max-pods calculator recommends;
- kube-reserved memory = 255 MiB + 11 MiB per pod, plus the 100 MiB hard eviction threshold;
- kube-reserved CPU = 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above;
- 7.5% of nominal memory that the hypervisor and kernel never hand to the kubelet (the same
  allowance Karpenter's VM_MEMORY_OVERHEAD_PERCENT makes), so a pod sized to the nominal figure
  is not reported schedulable when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

# type: (vcpu, memory GiB, gpus, gpu product, enis, ips per eni)
_TABLE: dict[str, tuple[int, float, int, str | None, int, int]] = {
    # general purpose
    "t3.medium": (2, 4, 0, None, 3, 6), "t3.large": (2, 8, 0, None, 3, 12),
    "t3.xlarge": (4, 16, 0, None, 4, 15), "t3.2xlarge": (8, 32, 0, None, 4, 15),
    "t4g.medium": (2, 4, 0, None, 3, 6), "t4g.large": (2, 8, 0, None, 3, 12),
    "m5.large": (2, 8, 0, None, 3, 10), "m5.xlarge": (4, 16, 0, None, 4, 15),
    "m5.2xlarge": (8, 32, 0, None, 4, 15), "m5.4xlarge": (16, 64, 0, None, 8, 30),
    "m5.8xlarge": (32, 128, 0, None, 8, 30),
    "m5d.large": (2, 8, 0, None, 3, 10), "m5d.xlarge": (4, 16, 0, None, 4, 15),
    "m5d.2xlarge": (8, 32, 0, None, 4, 15),
    "m6i.large": (2, 8, 0, None, 3, 10), "m6i.xlarge": (4, 16, 0, None, 4, 15),
    "m6i.2xlarge": (8, 32, 0, None, 4, 15), "m6i.4xlarge": (16, 64, 0, None, 8, 30),
    "m6i.8xlarge": (32, 128, 0, None, 8, 30), "m6i.12xlarge": (48, 192, 0, None, 8, 30),
    "m6id.large": (2, 8, 0, None, 3, 10), "m6id.xlarge": (4, 16, 0, None, 4, 15),
    "m6id.2xlarge": (8, 32, 0, None, 4, 15), "m6id.4xlarge": (16, 64, 0, None, 8, 30),
    "m7i.large": (2, 8, 0, None, 3, 10), "m7i.xlarge": (4, 16, 0, None, 4, 15),
    "m7i.2xlarge": (8, 32, 0, None, 4, 15), "m7i.4xlarge": (16, 64, 0, None, 8, 30),
    "m6g.large": (2, 8, 0, None, 3, 10), "m6g.xlarge": (4, 16, 0, None, 4, 15),
    "m6g.2xlarge": (8, 32, 0, None, 4, 15),
    # compute optimised
    "c5.large": (2, 4, 0, None, 3, 10), "c5.xlarge": (4, 8, 0, None, 4, 15),
    "c5.2xlarge": (8, 16, 0, None, 4, 15), "c5.4xlarge": (16, 32, 0, None, 8, 30),
    "c6i.large": (2, 4, 0, None, 3, 10), "c6i.xlarge": (4, 8, 0, None, 4, 15),
    "c6i.2xlarge": (8, 16, 0, None, 4, 15), "c6i.4xlarge": (16, 32, 0, None, 8, 30),
    "c6id.xlarge": (4, 8, 0, None, 4, 15), "c6id.2xlarge": (8, 16, 0, None, 4, 15),
    "c6g.xlarge": (4, 8, 0, None, 4, 15),
    # memory optimised
    "r5.large": (2, 16, 0, None, 3, 10), "r5.xlarge": (4, 32, 0, None, 4, 15),
    "r5.2xlarge": (8, 64, 0, None, 4, 15), "r5.4xlarge": (16, 128, 0, None, 8, 30),
    "r6i.large": (2, 16, 0, None, 3, 10), "r6i.xlarge": (4, 32, 0, None, 4, 15),
    "r6i.2xlarge": (8, 64, 0, None, 4, 15), "r6i.4xlarge": (16, 128, 0, None, 8, 30),
    "r6id.xlarge": (4, 32, 0, None, 4, 15), "r6id.2xlarge": (8, 64, 0, None, 4, 15),
    # storage optimised (instance-store NVMe)
    "i3.large": (2, 15.25, 0, None, 3, 10), "i3.xlarge": (4, 30.5, 0, None, 4, 15),
    "i3.2xlarge": (8, 61, 0, None, 4, 15), "i3.4xlarge": (16, 122, 0, None, 8, 30),
    "i3en.large": (2, 16, 0, None, 3, 10), "i3en.xlarge": (4, 32, 0, None, 4, 15),
    "i3en.2xlarge": (8, 64, 0, None, 4, 15), "i3en.3xlarge": (12, 96, 0, None, 4, 15),
    "i4i.large": (2, 16, 0, None, 3, 10), "i4i.xlarge": (4, 32, 0, None, 4, 15),
    "i4i.2xlarge": (8, 64, 0, None, 4, 15), "i4i.4xlarge": (16, 128, 0, None, 8, 30),
    "i4i.8xlarge": (32, 256, 0, None, 8, 30),
    # GPU
    "g4dn.xlarge": (4, 16, 1, "Tesla-T4", 3, 10), "g4dn.2xlarge": (8, 32, 1, "Tesla-T4", 3, 10),
    "g4dn.4xlarge": (16, 64, 1, "Tesla-T4", 3, 10), "g4dn.8xlarge": (32, 128, 1, "Tesla-T4", 4, 15),
    "g4dn.12xlarge": (48, 192, 4, "Tesla-T4", 8, 30),
    "g5.xlarge": (4, 16, 1, "NVIDIA-A10G", 4, 15), "g5.2xlarge": (8, 32, 1, "NVIDIA-A10G", 4, 15),
    "g5.4xlarge": (16, 64, 1, "NVIDIA-A10G", 8, 30), "g5.8xlarge": (32, 128, 1, "NVIDIA-A10G", 8, 30),
    "g5.12xlarge": (48, 192, 4, "NVIDIA-A10G", 15, 50), "g5.48xlarge": (192, 768, 8, "NVIDIA-A10G", 7, 50),
    "g6.xlarge": (4, 16, 1, "NVIDIA-L4", 4, 15), "g6.2xlarge": (8, 32, 1, "NVIDIA-L4", 4, 15),
    "g6.4xlarge": (16, 64, 1, "NVIDIA-L4", 8, 30), "g6.12xlarge": (48, 192, 4, "NVIDIA-L4", 8, 30),
    "p3.2xlarge": (8, 61, 1, "Tesla-V100-SXM2-16GB", 4, 15), "p3.8xlarge": (32, 244, 4, "Tesla-V100-SXM2-16GB", 8, 30),
    "p4d.24xlarge": (96, 1152, 8, "NVIDIA-A100-SXM4-40GB", 15, 50),
}

_GIB = 2**30
_MIB = 2**20
VM_OVERHEAD = 0.075
EVICTION_HARD_MIB = 100


@dataclass(frozen=True)
class NodeShape:
    """What one node offers pods (allocatable), per resource."""

    cpu: float  # cores
    memory: float  # bytes
    gpu: int
    max_pods: int
    gpu_product: str | None = None
    source: str = ""  # "m6i.xlarge" or "declared capacity"


def known_instance_types() -> list[str]:
    return sorted(_TABLE)


def max_pods(vcpu: int, enis: int, ips: int) -> int:
    return min(enis * (ips - 1) + 2, 110 if vcpu < 30 else 250)


def reserved_cpu(vcpu: int) -> float:
    """EKS kube-reserved CPU in cores."""
    r = 0.06 * min(vcpu, 1) + 0.01 * max(min(vcpu, 2) - 1, 0) + 0.005 * max(min(vcpu, 4) - 2, 0)
    return r + 0.0025 * max(vcpu - 4, 0)


def shape(instance_type: str) -> NodeShape | None:
    """Allocatable of one node of `instance_type`; None when the type is not in the table."""
    entry = _TABLE.get(instance_type)
    if entry is None:
        return None
    vcpu, mem_gib, gpus, product, enis, ips = entry
    pods = max_pods(vcpu, enis, ips)
    memory = mem_gib * _GIB * (1 - VM_OVERHEAD) - (255 + 11 * pods + EVICTION_HARD_MIB) * _MIB
    return NodeShape(cpu=vcpu - reserved_cpu(vcpu), memory=memory, gpu=gpus, max_pods=pods, gpu_product=product,
                     source=instance_type)
