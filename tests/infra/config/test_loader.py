"""The typed stack config: defaults per environment, and every bad input reported with file, key and fix."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.config import StackConfigError, load_stack_config
from tests.stackfiles import shipped_platform_config


def load(platform, extra=None, secret=(), stack="dev"):
    values = {"pipeworks:platform": platform, **(extra or {})}
    return load_stack_config(values, set(secret), stack=stack)


def problems(platform, **kw):
    with pytest.raises(StackConfigError) as e:
        load(platform, **kw)
    return str(e.value).splitlines()


def test_profiles_fill_everything_but_the_environment():
    dev = load({"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}}})
    prod = load({"environment": "prod"}, stack="prod")
    assert dev.platform.cluster.eks.availability_zones == ["us-east-1a", "us-east-1b"]
    assert prod.platform.cluster.eks.availability_zones == ["us-east-1a", "us-east-1b", "us-east-1c"]
    # private everywhere (hybrid nodes: public or private, not both); the deployer network is the owner's value
    assert dev.platform.cluster.eks.endpoint_public_access is False
    assert prod.platform.cluster.eks.endpoint_public_access is False
    assert [k for k, _ in prod.placeholders] == ["pipeworks:platform.cluster.eks.deployerNetworks[0]"]
    assert dev.policy.enforcement.value == "advisory" and prod.policy.enforcement.value == "mandatory"
    gpu = [p for p in dev.platform.node_pools if p.role.value == "gpu"][0]
    assert gpu.min_size == 0  # dev GPU pool scales from zero


def test_stack_values_override_profile_and_objects_may_be_json():
    cfg = load(json.dumps({"environment": "dev", "cluster": {"eks": {"availabilityZones": ["us-east-1b", "us-east-1c"],
                                                                     "publicAccessCidrs": ["198.51.100.0/24"]}}}))
    assert cfg.platform.cluster.eks.availability_zones == ["us-east-1b", "us-east-1c"]
    # a region the instance-type offerings table does not cover is refused (its pools cannot be checked)
    text = "\n".join(problems({"environment": "dev", "cluster": {"eks": {"region": "eu-west-1"}}}))
    assert "pipeworks:platform.cluster.eks.region=eu-west-1 is not in infra/data/instance-type-offerings.json" in text


def test_pools_are_refused_where_their_type_is_not_offered_and_versions_need_pinned_addons():
    """infra/data/instance-type-offerings.json: us-east-1e (use1-az3 in most accounts) lacks the newer families."""
    pools = [{"name": "general", "role": "general", "instanceTypes": ["m5.xlarge", "m6i.xlarge"], "minSize": 1, "maxSize": 2},
             {"name": "osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i4i.xlarge"], "minSize": 1, "maxSize": 1},
             {"name": "scratch", "role": "nvme", "nvmeMode": "raid0", "instanceTypes": ["i3.xlarge"], "minSize": 1, "maxSize": 1}]
    base = {"environment": "dev", "nodePools": pools, "cluster": {"eks": {"availabilityZones": ["us-east-1a", "us-east-1e"]}}}
    text = "\n".join(problems(base))
    assert ("Pulumi.dev.yaml: pipeworks:platform.nodePools[0].instanceTypes[1]=m6i.xlarge is not offered in us-east-1e "
            "(infra/data/instance-type-offerings.json)") in text
    pools[0]["instanceTypes"] = ["m5.xlarge", "m5.2xlarge"]
    text = "\n".join(problems(base))
    assert "nodePools[1].instanceTypes[0]=i4i.xlarge is not offered in us-east-1e" in text
    pools[1]["zones"] = ["us-east-1a"]  # the pool narrowed to zones that offer its type
    assert load(base).platform.node_pools[1].zones == ["us-east-1a"]
    text = "\n".join(problems({"environment": "dev", "cluster": {"eks": {"version": "1.33"}}}))
    assert ("pipeworks:platform.cluster.eks.version=1.33 has no pinned EKS add-on versions in "
            "infra/data/eks-addon-versions.json; valid: 1.34") in text


def test_issue_example_message():
    pools = [{"name": "general", "role": "general", "instanceTypes": ["m6i.xlarge"], "minSize": 3, "maxSize": 3},
             {"name": "osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i4i.xlarge"], "minSize": 3, "maxSize": 3},
             {"name": "gpu", "role": "gpu", "instanceTypes": ["g5.xlarge"], "minSize": 3, "maxSize": 1}]
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": {"environment": "prod", "nodePools": pools}}, set(), stack="prod")
    assert "Pulumi.prod.yaml: pipeworks:platform.nodePools[2].maxSize=1 is below minSize=3" in str(e.value).splitlines()


def test_every_problem_is_reported_at_once():
    lines = problems({"environment": "dev", "cluster": {"eks": {"version": "1.20"}},
                      "nodePools": [{"name": "general", "role": "general", "instanceTypes": ["m6i.large"], "maxsize": 2},
                                    {"name": "g", "role": "gpu", "instanceTypes": ["m6i.large"]},
                                    {"name": "n", "role": "nvme", "instanceTypes": ["i4i.large"]},
                                    {"name": "x", "role": "storage"}]},
                     extra={"aws:region": "us-east-1"})
    text = "\n".join(lines)
    assert "pipeworks:platform.cluster.eks.version=1.20 is not supported; valid: 1.31 to 1.36" in text
    assert "pipeworks:platform.nodePools[0].maxsize is not a known key; valid keys here:" in text and "maxSize" in text
    assert "nodePools[1].instanceTypes=m6i.large has no NVIDIA GPU" in text
    assert "nodePools[2].nvmeMode=null is required for an nvme pool; valid: raw (Ceph OSDs) or raid0 (scratch)" in text
    assert "nodePools[3].role=storage is not valid; valid: 'general', 'gpu', 'nvme' or 'edge'" in text
    assert "aws:region is not a pipeworks setting" in text
    assert all(line.startswith("Pulumi.dev.yaml: ") for line in lines)


def test_prod_rules():
    base = {"environment": "prod",
            "nodePools": [{"name": "general", "role": "general", "instanceTypes": ["m6i.xlarge"], "minSize": 3, "maxSize": 3},
                          {"name": "osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i4i.xlarge", "i4i.2xlarge"],
                           "capacityType": "SPOT", "minSize": 1, "maxSize": 3}],
            "cluster": {"eks": {"availabilityZones": ["us-east-1a", "us-east-1b"]}}}
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": base}, set(), stack="prod")
    # the pool's own rules pass, so the stack-level rule reports the first stack-level problem
    assert "nodePools[1].capacityType=SPOT is not allowed for a stateful (nvme) pool in prod" in str(e.value)


def test_public_endpoint_needs_cidrs_and_never_the_world():
    public = {"endpointPublicAccess": True}
    assert any("eks.publicAccessCidrs=[] must list the CIDRs" in line
               for line in problems({"environment": "dev", "cluster": {"eks": public}}))
    text = "\n".join(problems({"environment": "dev", "cluster": {"eks": {**public, "publicAccessCidrs": ["0.0.0.0/0"]}}}))
    assert "contains 0.0.0.0/0" in text


def test_credentials_must_be_secure():
    plain = problems({"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["10.0.0.0/8"]}}},
                     extra={"pipeworks:kubeconfig": "apiVersion: v1"})
    assert any("pipeworks:kubeconfig is a credential" in line and "--secret" in line for line in plain)
    nested = problems({"environment": "dev", "grafanaAdminPassword": "hunter2",
                       "cluster": {"eks": {"publicAccessCidrs": ["10.0.0.0/8"]}}})
    assert any("platform.grafanaAdminPassword holds a plaintext credential" in line for line in nested)
    assert not any("hunter2" in line for line in nested)  # the value itself is never echoed
    unknown = problems({"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["10.0.0.0/8"]}}},
                       extra={"pipeworks:apiToken": "abc"})
    assert any("pipeworks:apiToken is not a known key and looks like a credential" in line for line in unknown)


# A stack of node pools alone: the components that need NVMe pools are switched off (the loader refuses a
# component without the pools it needs, see test_every_problem_in_one_run in tests/pipeworks/).
NO_NVME_COMPONENTS = {s: {"enabled": False} for s in ("storage", "kafka", "spark", "elk")}


def test_existing_cluster_needs_declared_pools_and_a_secret_kubeconfig():
    platform = {"environment": "dev", "cluster": {"kind": "existing", "existing": {"networkPolicyEnforcement": "cilium"}},
                **NO_NVME_COMPONENTS,
                "nodePools": [{"name": "general", "role": "general", "provisioning": "declared",
                               "capacity": {"cpu": "8", "memory": "32Gi"}},
                              {"name": "gpu", "role": "gpu", "instanceTypes": ["g5.xlarge"]}]}
    text = "\n".join(problems(platform))
    assert "nodePools[1].provisioning=managed is not possible on an existing cluster" in text
    platform["nodePools"].pop()
    assert any("pipeworks:kubeconfig is required for cluster.kind: existing" in line for line in problems(platform))
    cfg = load(platform, extra={"pipeworks:kubeconfig": "[secret]"}, secret=["pipeworks:kubeconfig"])
    assert cfg.platform.cluster.kind.value == "existing"


def test_declared_pools_need_capacity():
    text = "\n".join(problems({"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["10.0.0.0/8"],
                                                                         "remoteNodeNetworks": ["192.168.0.0/24"]}},
                               "nodePools": [{"name": "general", "role": "general", "instanceTypes": ["m6i.large"]},
                                             {"name": "e", "role": "edge", "provisioning": "declared",
                                              "edgeLocation": "s1"}]}))
    assert "nodePools[1].capacity=null is required for a declared pool" in text


# --- Hypothesis: arbitrary garbage never crashes the loader and always names the stack file -------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
pool_keys = st.sampled_from(["name", "role", "instanceTypes", "minSize", "maxSize", "nvmeMode", "capacityType",
                             "edgeLocation", "gpuModel", "provisioning", "capacity", "bogus"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(platform=st.dictionaries(st.sampled_from(["environment", "cluster", "nodePools", "tags", "oops"]), json_values,
                                max_size=4))
def test_garbage_platform_is_reported_not_crashed(platform):
    try:
        load_stack_config({"pipeworks:platform": platform}, set(), stack="dev")
    except StackConfigError as e:
        assert e.problems and all(line.startswith("Pulumi.dev.yaml: ") for line in str(e).splitlines())


@settings(max_examples=150, deadline=None)
@given(pool=st.dictionaries(pool_keys, json_values, max_size=6))
def test_garbage_pools_are_reported_with_their_index(pool):
    base = {"name": "general", "role": "general", "instanceTypes": ["m6i.large"]}
    try:
        load_stack_config({"pipeworks:platform": {"environment": "dev", "nodePools": [base, pool],
                                                  "cluster": {"eks": {"publicAccessCidrs": ["10.0.0.0/8"]}}}},
                          set(), stack="dev")
    except StackConfigError as e:
        assert any("nodePools[1]" in line or "nodePools=" in line or "nodePools[0].name" in line
                   for line in str(e).splitlines()), str(e)


@settings(max_examples=100, deadline=None)
@given(min_size=st.integers(0, 50), max_size=st.integers(0, 50))
def test_size_ordering_is_enforced_exactly(min_size, max_size):
    pools = [{"name": "general", "role": "general", "instanceTypes": ["m6i.large"], "minSize": min_size, "maxSize": max_size}]
    platform = {"environment": "dev", "nodePools": pools, "cluster": {"eks": {"publicAccessCidrs": ["10.0.0.0/8"]}},
                **NO_NVME_COMPONENTS}
    if max_size >= min_size:
        assert load(platform).platform.node_pools[0].max_size == max_size
    else:
        assert f"Pulumi.dev.yaml: pipeworks:platform.nodePools[0].maxSize={max_size} is below minSize={min_size}" in problems(platform)


# --- the path to a private API endpoint, hybrid-node networks, placeholders (issue 20) ------------------

PRIVATE = {"environment": "prod", "cluster": {"eks": {"deployerNetworks": ["10.99.0.0/24"],
                                                      "transitGatewayId": "tgw-0123456789abcdef0"}}}


def with_eks(**eks):
    return {"environment": "prod", "cluster": {"eks": {**PRIVATE["cluster"]["eks"], **eks}}}


def test_private_endpoint_needs_a_declared_path():
    """A stack whose API endpoint is private must name where `pulumi up` runs from, and a gateway to it when
    that network is outside the VPC: otherwise the deploy cannot reach the API."""
    text = "\n".join(problems(with_eks(deployerNetworks=[]), stack="prod"))
    assert "Pulumi.prod.yaml: pipeworks:platform.cluster.eks.deployerNetworks=[] must name the networks" in text
    text = "\n".join(problems(with_eks(transitGatewayId=None), stack="prod"))
    assert "eks.transitGatewayId=null: 10.99.0.0/24 lie outside vpcCidr" in text
    # a runner inside the VPC needs no gateway; a public endpoint needs no deployer network
    assert load(with_eks(transitGatewayId=None, deployerNetworks=["10.40.200.0/24"]), stack="prod")
    assert load({"environment": "dev", "cluster": {"eks": {"endpointPublicAccess": True, "deployerNetworks": [],
                                                           "publicAccessCidrs": ["198.51.100.0/24"]}}})


def test_hybrid_nodes_rules():
    text = "\n".join(problems(with_eks(endpointPublicAccess=True, publicAccessCidrs=["198.51.100.0/24"],
                                       remoteNodeNetworks=["192.168.0.0/24"], remotePodNetworks=["192.168.64.0/18"]),
                              stack="prod"))
    assert "eks.endpointPublicAccess=true with remoteNodeNetworks: for hybrid nodes AWS advises public or private" in text
    text = "\n".join(problems(with_eks(remoteNodeNetworks=["192.168.0.0/24"]), stack="prod"))
    assert "eks.remotePodNetworks=[] is required with remoteNodeNetworks" in text
    text = "\n".join(problems(with_eks(remoteNodeNetworks=["10.40.0.0/24"], remotePodNetworks=["192.168.64.0/18"]),
                              stack="prod"))
    assert "contains 10.40.0.0/24, which overlaps vpcCidr=10.40.0.0/16" in text
    text = "\n".join(problems(with_eks(vpnGatewayId="vgw-0123456789abcdef0"), stack="prod"))
    assert "are both set; name one gateway" in text
    text = "\n".join(problems(with_eks(transitGatewayId="vgw-0123"), stack="prod"))
    assert "eks.transitGatewayId=vgw-0123 is not a tgw id; valid: e.g. tgw-0123456789abcdef0" in text


def test_placeholders_plan_offline_but_are_refused_before_the_cloud():
    from infra.config.loader import refuse_placeholders
    cfg = load(with_eks(transitGatewayId="<your tgw>", deployerNetworks=["<your runner CIDR>"]), stack="prod")
    assert dict(cfg.placeholders) == {"pipeworks:platform.cluster.eks.transitGatewayId": "<your tgw>",
                                      "pipeworks:platform.cluster.eks.deployerNetworks[0]": "<your runner CIDR>"}
    with pytest.raises(StackConfigError) as e:
        refuse_placeholders(cfg)
    lines = str(e.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("Pulumi.prod.yaml: pipeworks:platform.cluster.eks.") for line in lines)
    assert "is a placeholder for a value only you know; set yours before `pulumi preview/up`" in lines[0]
    refuse_placeholders(load(PRIVATE, stack="prod"))  # nothing to refuse
    # a placeholder where none is meant (a pool name) is still invalid
    assert problems({"environment": "dev", "nodePools": [{"name": "<x>", "role": "general", "instanceTypes": ["m6i.large"]}]})


def test_shipped_stack_files_carry_placeholders_not_documentation_cidrs():
    """The owner's networks are `<...>` values `pulumi up` refuses; no RFC 5737 documentation CIDR ships."""
    import ipaddress

    from tests.infra.service_plans import shipped_stack
    doc_nets = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for stack in ("dev", "prod"):
        raw = shipped_stack(stack)["config"]
        eks = raw["pipeworks:platform"]["cluster"]["eks"]
        cfg = shipped_platform_config(stack)
        keys = {k for k, _ in cfg.placeholders}
        assert {"pipeworks:platform.cluster.eks.transitGatewayId",
                "pipeworks:platform.cluster.eks.deployerNetworks[0]"} <= keys
        for c in [*eks.get("publicAccessCidrs", []), *eks.get("remoteNodeNetworks", []), *eks.get("remotePodNetworks", [])]:
            assert not any(ipaddress.ip_network(c).subnet_of(d) for d in doc_nets), (stack, c)


def test_existing_clusters_name_what_enforces_network_policies():
    pools = [{"name": "general", "role": "general", "provisioning": "declared", "capacity": {"cpu": "8", "memory": "32Gi"}}]
    extra = {"pipeworks:kubeconfig": "[secret]"}
    for value, why in ((None, "=null is required for kind: existing"), ("none", "=none is refused")):
        existing = {} if value is None else {"networkPolicyEnforcement": value}
        text = "\n".join(problems({"environment": "dev", "nodePools": pools,
                                   "cluster": {"kind": "existing", "existing": existing}},
                                  extra=extra, secret=["pipeworks:kubeconfig"]))
        assert f"Pulumi.dev.yaml: pipeworks:platform.cluster.existing.networkPolicyEnforcement{why}" in text
        assert "valid: calico, cilium, antrea, ovn-kubernetes, openshift-sdn, kube-router, vpc-cni" in text
    text = "\n".join(problems({"environment": "dev", "nodePools": pools,
                               "cluster": {"kind": "existing", "existing": {"networkPolicyEnforcement": "weave"}}},
                              extra=extra, secret=["pipeworks:kubeconfig"]))
    assert "pipeworks:platform.cluster.existing.networkPolicyEnforcement=weave is not valid; valid:" in text


def test_deployer_placeholder_only_for_private_endpoints():
    private = load({"environment": "prod"}, stack="prod")
    assert [k for k, _ in private.placeholders] == ["pipeworks:platform.cluster.eks.deployerNetworks[0]"]
    public = load({"environment": "dev", "cluster": {"eks": {"endpointPublicAccess": True,
                                                             "publicAccessCidrs": ["198.51.100.0/24"]}}})
    assert public.placeholders == () and public.platform.cluster.eks.deployer_networks == []
