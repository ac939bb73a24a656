"""Node pools: EKS managed node groups (launch template + node group + autoscaler hints) and the
declaration of every pool of a stack, created or not, as the ConfigMap kube-system/pipeworks-node-pools."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.cluster.userdata import user_data_b64
from infra.config import NodePoolConfig, Provisioning
from infra.instances import is_arm_instance_type
from infra.placement import LABEL_EKS_COMPUTE_TYPE, NvmeMode, Role, pool_labels, pool_taints

POOLS_CONFIGMAP = "pipeworks-node-pools"
POOLS_NAMESPACE = "kube-system"


# The cluster-autoscaler's AWS provider treats a node (template) carrying this label as a GPU node
# (cloudprovider/aws/aws_cloud_provider.go, GPULabel): without it on the ASG's node-template tags,
# scale-from-zero cannot tell that a pending nvidia.com/gpu pod fits the pool.
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"


def labels_for(pool: NodePoolConfig) -> dict[str, str]:
    labels = pool_labels(pool.name, pool.role, nvme_mode=pool.nvme_mode, edge_location=pool.edge_location,
                         gpu_model=pool.gpu_model)
    if pool.role is Role.GPU:
        labels[ACCELERATOR_LABEL] = (pool.gpu_model or "nvidia").lower()
    return labels


def node_group_name_prefix(pool: NodePoolConfig) -> str:
    """EKS node-group names are unique per cluster; a prefix (the provider appends a 26-character unique
    suffix) lets a replacement group be created before the old one is deleted. A fixed name forces
    delete-before-create: every node of the pool gone at once. Pool names are at most 24 characters, so
    prefix + suffix stays within EKS's 63."""
    return f"{pool.name}-"


def protect_node_group(pool: NodePoolConfig, prod: bool) -> bool:
    """Raw-NVMe pools hold the Ceph OSDs' instance-store disks: in prod a replacement of the group (new
    instance type, AMI type, subnets...) would lose every replica on them, so Pulumi refuses to delete it;
    such a change goes through the blue/green migration in docs/ARCHITECTURE.md."""
    return prod and pool.role is Role.NVME and pool.nvme_mode is NvmeMode.RAW


def taints_for(pool: NodePoolConfig):
    return pool_taints(pool.role, edge_location=pool.edge_location, gpu_model=pool.gpu_model)


def ami_type(pool: NodePoolConfig) -> str:
    """AL2023 AMI type: the NVIDIA variant (driver, toolkit, nvidia runtime preinstalled) for GPU pools."""
    arm = any(is_arm_instance_type(t) for t in pool.instance_types)
    arch = "ARM_64" if arm else "x86_64"
    return f"AL2023_{arch}_NVIDIA" if pool.role is Role.GPU else f"AL2023_{arch}_STANDARD"


def autoscaler_tags(cluster_name: str, pool: NodePoolConfig) -> dict[str, str]:
    """Auto-discovery tags, plus node-template hints so the cluster-autoscaler can scale a pool up from
    zero for a pod that needs its labels and tolerates its taints (it cannot read a node that does not exist)."""
    tags = {"k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
    for k, v in labels_for(pool).items():
        tags[f"k8s.io/cluster-autoscaler/node-template/label/{k}"] = v
    for t in taints_for(pool):
        tags[f"k8s.io/cluster-autoscaler/node-template/taint/{t.key}"] = f"{t.value}:{t.effect}"
    return tags


def pool_descriptor(pool: NodePoolConfig, zones: list[str], hybrid: bool = False) -> dict[str, Any]:
    """One entry of pools.json: what policies and capacity tools need to know about a pool. `hybrid`: the
    stack is on EKS, where declared (edge) pools are EKS hybrid nodes and carry the label EKS gives them."""
    labels = labels_for(pool)
    if hybrid and pool.provisioning is Provisioning.DECLARED:
        labels[LABEL_EKS_COMPUTE_TYPE] = "hybrid"
    return {
        "name": pool.name,
        "role": pool.role.value,
        "provisioning": pool.provisioning.value,
        "labels": labels,
        "taints": [t.k8s() for t in taints_for(pool)],
        "instanceTypes": list(pool.instance_types),
        "minSize": pool.min_size,
        "maxSize": pool.max_size,
        "capacityType": pool.capacity_type.value,
        "zones": list(pool.zones or zones),
        "capacity": pool.capacity.model_dump() if pool.capacity else None,
    }


@dataclass
class NodePoolArgs:
    pool: NodePoolConfig
    cluster_name: pulumi.Input[str]
    cluster_name_plain: str
    node_role_arn: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    """Private subnets of the zones this pool spans."""
    kubernetes_version: pulumi.Input[str]
    """The cluster's version: a control-plane upgrade moves the nodes (and their AMI release) along."""
    prod: bool = False
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """The node role's policy attachments and the add-ons nodes need: EKS cannot drain and delete
    instances and their ENIs once the role has lost its policies."""
    tags: dict[str, str] = field(default_factory=dict)


class NodePool(pulumi.ComponentResource):
    """One EKS managed node group with its launch template: encrypted root volume, IMDSv2 only,
    AL2023 nodeadm user data, labels and taints from its role."""

    node_group: aws.eks.NodeGroup

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:NodePool", name, None, opts)
        pool = args.pool
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "pipeworks.io/pool": pool.name}
        lt = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"pipeworks node pool {pool.name} ({pool.role.value})",
            block_device_mappings=[{
                "device_name": "/dev/xvda",
                "ebs": {"volume_size": pool.root_volume_gib, "volume_type": "gp3", "encrypted": "true",
                        "delete_on_termination": "true"},
            }],
            # IMDSv2 only, hop limit 1: a token answer cannot cross the extra hop into a pod's network
            # namespace, so pods cannot read the node role's credentials (they use IRSA). Host-network
            # agents (VPC CNI, kube-proxy) make no extra hop and still reach IMDS.
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            user_data=user_data_b64(pool.nvme_mode),
            tag_specifications=[{"resource_type": "instance", "tags": tags}, {"resource_type": "volume", "tags": tags}],
            update_default_version=True,
            tags=tags,
            opts=child,
        )
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_group_name_prefix=node_group_name_prefix(pool),
            version=args.kubernetes_version,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            ami_type=ami_type(pool),
            capacity_type=pool.capacity_type.value,
            instance_types=pool.instance_types,
            scaling_config={"min_size": pool.min_size, "max_size": pool.max_size,
                            "desired_size": pool.desired_size if pool.desired_size is not None else pool.min_size},
            labels=labels_for(pool),
            taints=[t.eks() for t in taints_for(pool)],
            launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
            update_config={"max_unavailable": 1},
            tags={**tags, **autoscaler_tags(args.cluster_name_plain, pool)},
            # The cluster-autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"],
                                        protect=protect_node_group(pool, args.prod), depends_on=args.depends_on),
        )
        # Node-group tags do not reach the Auto Scaling group, where the autoscaler reads its
        # scale-from-zero hints: tag the ASG itself.
        asg_name = self.node_group.resources.apply(lambda r: r[0]["autoscaling_groups"][0]["name"])
        for key, value in autoscaler_tags(args.cluster_name_plain, pool).items():
            if "/node-template/" in key:
                suffix = key.rsplit("/node-template/", 1)[1].replace("/", "-").replace(".", "-")
                aws.autoscaling.Tag(f"{name}-asg-{suffix}", autoscaling_group_name=asg_name,
                                    tag={"key": key, "value": value, "propagate_at_launch": False}, opts=child)
        self.register_outputs({"nodeGroupName": self.node_group.node_group_name})


class NodePoolDeclarations(pulumi.ComponentResource):
    """Every pool of the stack as data inside the cluster (ConfigMap kube-system/pipeworks-node-pools):
    policies, `pipeworks capacity` and in-cluster tools read the pools from here, also on existing
    clusters where nothing creates them."""

    def __init__(self, name: str, pools: list[NodePoolConfig], zones: list[str], provider: k8s.Provider,
                 hybrid: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:NodePoolDeclarations", name, None, opts)
        descriptors = [pool_descriptor(p, zones, hybrid) for p in pools]
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-pools",
            metadata={"name": POOLS_CONFIGMAP, "namespace": POOLS_NAMESPACE,
                      "labels": {"app.kubernetes.io/managed-by": "pipeworks"}},
            data={"pools.json": json.dumps(descriptors, indent=1, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.register_outputs({"pools": [p.name for p in pools]})
