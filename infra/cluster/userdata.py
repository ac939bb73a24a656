"""Pure rendering of EC2 user data for AL2023 nodes: a MIME multipart with a nodeadm NodeConfig part.

With an EKS AMI type (no custom AMI) EKS merges its own part carrying the cluster fields, so ours is
partial: it only sets what differs per pool (upstream.md §8).
"""

from __future__ import annotations

import base64

import yaml

from infra.placement import NvmeMode

BOUNDARY = "//pipeworks-nodeadm//"


def node_config(nvme_mode: NvmeMode | None, max_pods: int | None = None) -> dict:
    """The NodeConfig for a pool. RAID0 scratch pools get nodeadm's localStorage; raw (Ceph OSD) pools
    must NOT: localStorage runs mkfs.xfs on every instance-store disk and OSDs need raw devices."""
    spec: dict = {}
    if nvme_mode is NvmeMode.RAID0:
        spec["instance"] = {"localStorage": {"strategy": "RAID0"}}
    if max_pods is not None:
        spec["kubelet"] = {"config": {"maxPods": max_pods}}
    return {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": spec}


def mime_user_data(config: dict) -> str:
    body = yaml.safe_dump(config, sort_keys=False)
    return (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
        f"--{BOUNDARY}\n"
        "Content-Type: application/node.eks.aws\n\n"
        f"{body}\n"
        f"--{BOUNDARY}--\n"
    )


def user_data_b64(nvme_mode: NvmeMode | None, max_pods: int | None = None) -> str:
    """Launch templates take user data base64-encoded."""
    return base64.b64encode(mime_user_data(node_config(nvme_mode, max_pods)).encode()).decode()
