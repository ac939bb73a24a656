"""The `platform.storage` section: profile defaults per environment and every bad input named by key."""

import pytest

from infra.config import ClusterKind, StackConfigError, load_stack_config
from infra.config.storage import EKS_INSTANCE_STORE_FILTER, StorageConfig, quantity
from infra.placement import NvmeMode

DEV_EKS = {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}}


def load(platform, stack="dev", extra=None, secret=()):
    return load_stack_config({"pipeworks:platform": platform, **(extra or {})}, set(secret), stack=stack)


def problems(platform, **kw) -> str:
    with pytest.raises(StackConfigError) as e:
        load(platform, **kw)
    return str(e.value)


def test_profiles_small_dev_and_safe_prod():
    dev = load({"environment": "dev", "cluster": DEV_EKS}).platform.storage
    prod = load({"environment": "prod"}, stack="prod").platform.storage
    assert (dev.mon_count, dev.mgr_count, dev.replica_size, dev.allow_multiple_mons_per_node) == (1, 1, 1, True)
    assert (prod.mon_count, prod.mgr_count, prod.replica_size, prod.allow_multiple_mons_per_node) == (3, 2, 3, False)
    assert (dev.protect, dev.retain_on_delete) == (False, False)
    assert (prod.protect, prod.retain_on_delete) == (True, True)
    assert quantity(prod.resources.osd.memory_limit) > quantity(dev.resources.osd.memory_limit)
    assert [b.name for b in prod.buckets] == ["lake"]


def test_stack_file_overrides_profile_per_key():
    cfg = load({"environment": "prod", "storage": {"rgwInstances": 3, "buckets": []}}, stack="prod").platform.storage
    assert cfg.rgw_instances == 3 and cfg.buckets == [] and cfg.mon_count == 3


@pytest.mark.parametrize("override,expected", [
    ({"monCount": 1}, "pipeworks:platform.storage.monCount=1 is below 3"),
    ({"mgrCount": 1}, "pipeworks:platform.storage.mgrCount=1 is below 2"),
    ({"replicaSize": 2}, "pipeworks:platform.storage.replicaSize=2 is below 3"),
    ({"allowMultipleMonsPerNode": True}, "pipeworks:platform.storage.allowMultipleMonsPerNode=true is not allowed"),
])
def test_prod_refuses_unsafe_ceph(override, expected):
    assert expected in problems({"environment": "prod", "storage": override}, stack="prod")


def test_replicas_need_as_many_osd_hosts_and_mons_as_many_general_nodes():
    text = problems({"environment": "dev", "cluster": DEV_EKS, "storage": {"replicaSize": 2}})
    assert "storage.replicaSize=2 needs as many OSD hosts" in text and "guarantee 1" in text
    text = problems({"environment": "dev", "cluster": DEV_EKS,
                     "storage": {"monCount": 3, "allowMultipleMonsPerNode": False}})
    assert "storage.monCount=3 exceeds the 2 general nodes" in text


def test_zone_failure_domain_needs_as_many_zones_as_copies():
    """failureDomain zone with fewer zones than copies leaves PGs that CRUSH can never place (stuck undersized)."""
    prod = load({"environment": "prod"}, stack="prod").platform
    two_zones = prod.model_copy(update={"node_pools": [
        p.model_copy(update={"zones": ["us-east-1a", "us-east-1b"]}) if p.nvme_mode is NvmeMode.RAW else p
        for p in prod.node_pools]})
    ((key, value, msg),) = two_zones.storage.stack_problems(two_zones)
    assert (key, value) == ("storage.failureDomain", "zone")
    assert msg.startswith("needs the nvme pools with nvmeMode raw to span replicaSize=3 zones but they span 2")
    prod = load({"environment": "prod"}, stack="prod").platform
    assert prod.storage.failure_domain == "zone" and prod.storage.stack_problems(prod) == []
    dev = load({"environment": "dev", "cluster": DEV_EKS}).platform
    assert dev.storage.failure_domain == "host"
    text = problems({"environment": "dev", "cluster": DEV_EKS, "storage": {"failureDomain": "rack"}})
    assert "storage.failureDomain=rack" in text and "'host' or 'zone'" in text


def test_existing_cluster_needs_a_device_filter():
    # The rule itself, on the dev stack turned into an existing cluster (model_copy skips the other
    # sections' rules, which would otherwise report first).
    dev = load({"environment": "dev", "cluster": DEV_EKS}).platform
    existing = dev.model_copy(update={"cluster": dev.cluster.model_copy(update={"kind": ClusterKind.EXISTING})})
    (problem,) = existing.storage.stack_problems(existing)
    assert problem[0] == "storage.devicePathFilter" and problem[2].startswith("is required on an existing cluster")
    with_filter = existing.model_copy(update={"storage": StorageConfig(
        device_path_filter="^/dev/disk/by-id/nvme-Samsung_.*", mon_count=1, replica_size=1, failure_domain="host")})
    assert with_filter.storage.stack_problems(with_filter) == []
    assert with_filter.storage.osd_device_filter(ClusterKind.EXISTING) == "^/dev/disk/by-id/nvme-Samsung_.*"
    assert StorageConfig().osd_device_filter(ClusterKind.EKS) == EKS_INSTANCE_STORE_FILTER
    with pytest.raises(ValueError, match="devicePathFilter is required on an existing cluster"):
        StorageConfig().osd_device_filter(ClusterKind.EXISTING)
    assert dev.storage.stack_problems(dev) == []  # EKS: the instance-store default applies


@pytest.mark.parametrize("storage,expected", [
    ({"monCount": 2, "allowMultipleMonsPerNode": True}, "storage.monCount=2 is even"),
    ({"devicePathFilter": "nvme["}, "storage.devicePathFilter=\"nvme[\" is not a valid regular expression"),
    ({"devicePathFilter": "nvme.*"}, "storage.devicePathFilter=\"nvme.*\" must be anchored at a device path"),
    ({"resources": {"osd": {"cpu": "1", "memory": "4Gi", "memoryLimit": "2Gi"}}},
     "storage.resources.osd.memoryLimit=2Gi is below the memory request 4Gi"),
    ({"resources": {"mon": {"cpu": "lots", "memory": "1Gi", "memoryLimit": "1Gi"}}},
     "storage.resources.mon.cpu=lots is not a Kubernetes quantity"),
    ({"buckets": [{"name": "Lake", "namespace": "data"}]}, "storage.buckets[0].name=Lake is not a DNS label"),
    ({"buckets": [{"name": "a", "namespace": "data"}, {"name": "a", "namespace": "data"}]},
     "storage.buckets[1].name=a is declared twice in namespace data"),
    ({"buckets": [{"name": "a", "namespace": "rook-ceph"}]}, "storage.buckets[0].namespace=rook-ceph is the storage"),
    ({"buckets": [{"name": "a", "namespace": "d", "bucketName": "x_y"}]},
     "storage.buckets[0].bucketName=x_y is not an S3 bucket name"),
    ({"replicaSze": 3}, "storage.replicaSze is not a known key; valid keys here:"),
])
def test_bad_storage_input_names_the_key(storage, expected):
    assert expected in problems({"environment": "dev", "cluster": DEV_EKS, "storage": storage})


def test_storage_off_skips_the_stack_rules():
    cfg = load({"environment": "prod", "storage": {"enabled": False, "replicaSize": 1}}, stack="prod")
    assert cfg.platform.storage.enabled is False


def test_quantity_parses_binary_and_decimal_suffixes():
    assert quantity("500m") == quantity("0.5")
    assert quantity("1Gi") == 1024 ** 3 and quantity("1G") == 10 ** 9
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity("1 GB")
