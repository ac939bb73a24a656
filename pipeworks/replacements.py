"""Which changes force a replacement: the create-only fields per resource type, kept next to their
sources, and the provider inputs whose change replaces every resource under that provider.

`pipeworks diff` marks a changed resource `+-` (replace) when its inputs differ in one of these fields
or its provider changed. The tables mirror what `pulumi preview --diff` decides:

* Kubernetes (pulumi-kubernetes v4.34.2): `provider/pkg/provider/diff.go` (`forceNew`,
  `metadataForceNewProperties`): `.metadata.name`/`.metadata.namespace` of every kind plus the kind's
  own list. Where that table has a gap the API server fills it: the provider's server-side dry run
  turns a "field is immutable" rejection into a replacement (`provider.go`, Diff), so the immutable
  fields of the Kubernetes API (DaemonSet selector, PVC storageClassName, ...) are listed too.
  ConfigMap `data` and Secret `data`/`stringData` replace unless the provider sets
  `enableConfigMapMutable`/`enableSecretMutable`.
* AWS (pulumi-aws 7.51.1, bridged from terraform-provider-aws): the `ForceNew` attributes of the
  schemas in `internal/service/eks/node_group.go`, `eks/cluster.go`, `ec2/vpc_.go`,
  `ec2/vpc_subnet.go`, `iam/role.go`, `kms/alias.go`.
* Providers: an AWS provider whose `region` changes, a Kubernetes provider whose cluster changes
  (`kubeconfig`, `context`, `cluster`, or `clusterIdentifier` when set: pulumi-kubernetes
  `provider_diffconfig_test.go` cases change-kubeconfig / change-cluster-identifier) is replaced, and
  with it every resource it manages. A resource that moves to another provider is replaced too.

Fields are dotted paths into the engine's inputs (camelCase, as in resources.json).
"""

from __future__ import annotations

from typing import Any

from policies.rules import model

_LABEL_SELECTOR = ("spec.selector",)

# (api group, kind) -> create-only fields besides metadata.name/namespace. Group "core" is the legacy "".
KUBERNETES: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): _LABEL_SELECTOR,
    ("apps", "DaemonSet"): _LABEL_SELECTOR,  # upstream table spells it "Daemonset"; the API's immutability catches it
    ("apps", "ReplicaSet"): _LABEL_SELECTOR,
    ("apps", "StatefulSet"): ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector",
                              "spec.serviceName", "spec.volumeClaimTemplates"),
    ("batch", "Job"): ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    ("core", "ConfigMap"): ("binaryData", "data"),
    ("core", "Secret"): ("type", "stringData", "data"),
    ("core", "Service"): ("spec.clusterIP",),
    ("core", "PersistentVolumeClaim"): ("spec.accessModes", "spec.selector", "spec.storageClassName",
                                        "spec.volumeName", "spec.volumeMode"),
    ("core", "ResourceQuota"): ("spec.scopes",),
    ("storage.k8s.io", "StorageClass"): ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
}
_KUBERNETES_ALL = ("metadata.name", "metadata.namespace")
# A Helm release cannot be renamed or moved: helm uninstalls and installs again.
_HELM_RELEASE = ("name", "namespace")
# ConfigMap/Secret contents replace only while the provider keeps them immutable.
_MUTABLE_FLAGS = {("core", "ConfigMap"): "enableConfigMapMutable", ("core", "Secret"): "enableSecretMutable"}

AWS: dict[str, tuple[str, ...]] = {
    "aws:eks/nodeGroup:NodeGroup": ("amiType", "capacityType", "clusterName", "diskSize", "instanceTypes",
                                    "nodeGroupName", "nodeGroupNamePrefix", "nodeRoleArn", "remoteAccess",
                                    "subnetIds", "launchTemplate.id", "launchTemplate.name"),
    "aws:eks/cluster:Cluster": ("name", "roleArn", "bootstrapSelfManagedAddons",
                                "kubernetesNetworkConfig.serviceIpv4Cidr", "kubernetesNetworkConfig.ipFamily"),
    "aws:eks/addon:Addon": ("addonName", "clusterName"),
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn", "type"),
    "aws:ec2/vpc:Vpc": ("cidrBlock", "instanceTenancy"),
    "aws:ec2/subnet:Subnet": ("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("name", "namePrefix"),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    "aws:kms/alias:Alias": ("name", "namePrefix"),
}

PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "pulumi:providers:aws": ("region",),
    "pulumi:providers:kubernetes": ("kubeconfig", "context", "cluster", "clusterIdentifier"),
}


def dig(obj: Any, path: str) -> Any:
    """obj at a dotted path ("spec.selector"), None when a step is missing (the policies' walker)."""
    return model.dig(obj, *path.split("."))


def kubernetes_kind(type_token: str) -> tuple[str, str] | None:
    """("apps", "Deployment") for "kubernetes:apps/v1:Deployment"; None for other providers' types."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    group = parts[1].split("/")[0]
    return (group or "core", parts[2])


def create_only_fields(type_token: str, provider_inputs: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The fields of a resource type whose change replaces the resource."""
    if type_token == "kubernetes:helm.sh/v3:Release":
        return _HELM_RELEASE
    kk = kubernetes_kind(type_token)
    if kk is not None:
        own = KUBERNETES.get(kk, ())
        flag = _MUTABLE_FLAGS.get(kk)
        if flag and (provider_inputs or {}).get(flag) in (True, "true"):
            own = tuple(f for f in own if f not in ("data", "binaryData", "stringData"))
        return _KUBERNETES_ALL + own
    if type_token in PROVIDER_FIELDS:
        return PROVIDER_FIELDS[type_token]
    return AWS.get(type_token, ())


def forced_fields(type_token: str, old: dict[str, Any], new: dict[str, Any],
                  provider_inputs: dict[str, Any] | None = None,
                  old_digests: dict[str, str] | None = None, new_digests: dict[str, str] | None = None) -> list[str]:
    """The create-only fields that differ between two input sets (secret values compared by digest)."""
    fields = create_only_fields(type_token, provider_inputs)
    if type_token == "pulumi:providers:kubernetes" and (dig(old, "clusterIdentifier") or dig(new, "clusterIdentifier")):
        fields = ("clusterIdentifier",)  # with an identifier, only a change of it means another cluster
    out = []
    for f in fields:
        if dig(old, f) != dig(new, f) or _digests_under(old_digests, f) != _digests_under(new_digests, f):
            out.append(f)
    return out


def _digests_under(digests: dict[str, str] | None, field: str) -> dict[str, str]:
    return {p: d for p, d in (digests or {}).items() if p == field or p.startswith((field + ".", field + "["))}
