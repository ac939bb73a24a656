"""The rules of the pipeworks policy packs: one validator per rule, each a pure function over the
resources the engine hands an analyzer (see model.py), named, described and assigned to a pack.

A rule is either resource-scoped (judges one resource; runs as a ResourceValidationPolicy, which
the engine applies before the resource is created) or stack-scoped (needs other resources: the
node pools, PDBs, the Kafka a node pool belongs to; runs as a StackValidationPolicy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from policies.rules import (aws, operations, placement, reliability, schedulability, secrets, security,
                            storage_capacity)
from policies.rules.model import CONCERNS, Context, Finding, Resource
from policies.rules.pools import POOL_CONSISTENCY
from policies.rules.stackfile import STACK_FILE_SECRETS

ResourceCheck = Callable[[Resource, Context], Iterable[Finding]]
StackCheck = Callable[[Context], Iterable[Finding]]

PACKS = ("placement", "secrets", "guardrails")


@dataclass(frozen=True)
class Rule:
    name: str
    concern: str
    pack: str  # placement | secrets | guardrails | offline (not in a pack: needs the plan or stack file)
    description: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    needs_pools: bool = False
    # The parts of the rule a finding can name (its `control`), each with what it forbids: rule ids
    # `<name>/<control>` and per-control exemptions. Empty for rules judged as a whole.
    controls: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def scope(self) -> str:
        return "resource" if self.resource_check is not None else "stack"

    def run(self, ctx: Context) -> Iterable[Finding]:
        if self.needs_pools and ctx.pools is None:
            return
        if self.resource_check is not None:
            for r in ctx.resources:
                yield from self.resource_check(r, ctx)
        elif self.stack_check is not None:
            yield from self.stack_check(ctx)


def _pool_consistency(ctx: Context) -> Iterable[Finding]:
    return list(ctx.pool_notes)


RULES: tuple[Rule, ...] = (
    # placement pack
    Rule(placement.GPU_PLACEMENT, "placement", "placement",
         "Pods that request nvidia.com/gpu select a GPU pool and tolerate its taint; no other pod tolerates the "
         "GPU taint or selects a GPU pool.", stack_check=placement.gpu_placement),
    Rule(placement.NVME_PLACEMENT, "placement", "placement",
         "Storage-heavy stateful pods (Kafka brokers and controllers, Elasticsearch hot data nodes, Cassandra nodes, "
         "Ceph OSDs, Spark executors with local dirs) land only on NVMe pools of the right mode.", stack_check=placement.nvme_placement),
    Rule(placement.EDGE_PLACEMENT, "placement", "placement",
         "Edge pods select an edge location the stack declares, tolerate its taint, and select the GPU model when "
         "they request a GPU.", stack_check=placement.edge_placement),
    Rule(POOL_CONSISTENCY, "placement", "placement",
         "The node-pools ConfigMap describes the node groups that really get created, and GPU model labels match "
         "the instance types.", stack_check=_pool_consistency),
    Rule(placement.REPLICA_SPREAD, "spread", "placement",
         "Replicated stateful sets spread across hosts (pod anti-affinity or topology spread), and across zones in "
         "prod.", stack_check=placement.replica_spread),
    Rule(schedulability.POD_SCHEDULABLE, "schedulability", "placement",
         "Every pod template can be placed: a declared pool matches its selector and required affinity, it "
         "tolerates that pool's taints, and its requests fit one node's allocatable.",
         stack_check=schedulability.pod_schedulable, needs_pools=True),
    Rule(schedulability.POOL_CAPACITY, "schedulability", "placement",
         "The pods that land on a pool fit its maximum capacity together, and every instance type is in the "
         "capacity table.", stack_check=schedulability.pool_capacity, needs_pools=True),
    Rule(operations.ZONE_SPREAD_AUTOSCALING, "schedulability", "placement",
         "No hard zone spread (DoNotSchedule, required zone anti-affinity) on pods whose node group spans several "
         "zones and autoscales: the cluster-autoscaler cannot scale up a chosen zone of such a group.",
         stack_check=operations.zone_spread_autoscaling, needs_pools=True),
    # secrets pack
    Rule(secrets.NO_LITERAL_CREDENTIALS, "secrets", "secrets",
         "No credential-looking literal in container env values, args or command, ConfigMap data, custom resource "
         "specs or Helm release values.", resource_check=secrets.no_literal_credentials),
    Rule(secrets.CREDENTIALS_FROM_SECRETS, "secrets", "secrets",
         "Credential env vars come from a Secret (secretKeyRef), never from a ConfigMap or field reference.",
         resource_check=secrets.credentials_from_secret_refs),
    Rule(secrets.CASSANDRA_AUTHENTICATION, "secrets", "secrets",
         "A CassandraDatacenter keeps password authentication and role authorization (never AllowAllAuthenticator "
         "or AllowAllAuthorizer), so its superuser and role Secrets guard the data.",
         resource_check=secrets.cassandra_authentication),
    Rule(secrets.SECRET_PROVENANCE, "secrets", "offline",
         "Every Kubernetes Secret's data comes from Pulumi secret outputs (checked on the offline plan).",
         stack_check=secrets.secret_provenance),
    Rule(STACK_FILE_SECRETS, "secrets", "offline",
         "Credential keys in the stack file are secure: values, and prod uses a KMS secrets provider."),
    # guardrails pack
    Rule(security.PSS_BASELINE, "privileged", "guardrails",
         "Pod Security baseline everywhere, outside the reasoned allow-list (Ceph OSD and CSI, the GPU operator, "
         "Filebeat, node exporter).", resource_check=security.pod_security_baseline,
         controls=security.BASELINE_CONTROLS),
    Rule(security.PSS_RESTRICTED, "privileged", "guardrails",
         "Pod Security restricted for the workloads in workload (non-platform) namespaces.",
         resource_check=security.pod_security_restricted, controls=security.RESTRICTED_CONTROLS),
    Rule(reliability.CONTAINER_RESOURCES, "limits", "guardrails",
         "Every container requests cpu and memory and has a memory limit.",
         stack_check=reliability.container_resources),
    Rule(reliability.CONTAINER_PROBES, "probes", "guardrails",
         "Long-running services have liveness and readiness probes.", resource_check=reliability.container_probes),
    Rule(reliability.IMAGE_TAG, "image-tag", "guardrails",
         "No :latest or untagged images.", resource_check=reliability.image_tag),
    Rule(reliability.PDB, "pdb", "guardrails",
         "Replicated services have a PodDisruptionBudget, and none blocks every eviction.",
         stack_check=reliability.pod_disruption_budget),
    Rule(reliability.PROD_REPLICATION, "replicas", "guardrails",
         "Prod replicates: Kafka replication factor >= 3 and min ISR 2, Ceph pool size 3, Elasticsearch replicas "
         ">= 1 on at least two data nodes, quorum-sized control planes.", stack_check=reliability.prod_replication),
    Rule(reliability.STORAGE_CLASS, "storage-class", "guardrails",
         "Persistent storage names a StorageClass the stack declares; no ephemeral storage for stateful data in "
         "prod.", stack_check=reliability.storage_class),
    Rule(storage_capacity.STORAGE_CAPACITY, "storage-class", "guardrails",
         "Ceph is not oversubscribed: every claim on a Ceph class (and bucket quota) times its pool's copies fits "
         "below the nearfull ratio of the raw NVMe OSD nodes at the OSD pools' minSize.",
         stack_check=storage_capacity.storage_capacity, needs_pools=True),
    Rule(operations.ALERT_RECEIVER, "alerting", "guardrails",
         "Prod's Alertmanager delivers alerts: a config Secret or an inline receiver with a notifier, never only "
         "the chart's null receiver.", stack_check=operations.alert_receiver),
    Rule(aws.EKS_PRIVATE_ENDPOINT, "network", "guardrails",
         "The EKS API endpoint is private (or public only to named CIDRs).", resource_check=aws.eks_private_endpoint),
    Rule(aws.EKS_SECRETS_ENCRYPTION, "encryption", "guardrails",
         "EKS envelope-encrypts Kubernetes Secrets with a KMS key.", resource_check=aws.eks_secrets_encryption),
    Rule(aws.ENCRYPTED_VOLUMES, "encryption", "guardrails",
         "Node root volumes, EBS volumes and EBS StorageClasses are encrypted.", resource_check=aws.encrypted_volumes),
    Rule(aws.IMDSV2, "network", "guardrails",
         "Nodes require IMDSv2 (launch template metadataOptions.httpTokens: required).",
         resource_check=aws.imdsv2_required),
    Rule(aws.IMDS_HOP_LIMIT, "network", "guardrails",
         "Launch templates set the IMDS hop limit to 1, so pods cannot reach the node role's credentials.",
         resource_check=aws.imds_hop_limit),
    Rule(aws.VPC_FLOW_LOGS, "network", "guardrails",
         "Every VPC has a flow log.", stack_check=aws.vpc_flow_logs),
    Rule(aws.STATEFUL_NODE_GROUP_NAMES, "replicas", "guardrails",
         "Node groups of stateful (nvme) pools use nodeGroupNamePrefix, not a fixed nodeGroupName, so a replacement "
         "creates the new group before deleting the old.", resource_check=aws.stateful_node_group_names),
)

BY_NAME = {r.name: r for r in RULES}
assert all(r.concern in CONCERNS for r in RULES)
assert len(BY_NAME) == len(RULES)


def rules_of_pack(pack: str) -> list[Rule]:
    return [r for r in RULES if r.pack == pack]
assert all(c in CONCERNS for r in RULES for c in r.controls)
