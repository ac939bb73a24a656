"""Pure helpers of the infra layer outside the cluster (tests/infra/cluster/ holds the cluster's): instance facts,
names, pod-security labels."""

import pytest

from infra.instances import has_instance_store_nvme, is_arm_instance_type, is_gpu_instance_type, split_instance_type
from infra.naming import join_dns_label


@pytest.mark.parametrize("t,gpu,nvme", [
    ("g5.xlarge", True, True), ("g4dn.2xlarge", True, True), ("p4d.24xlarge", True, True),
    ("m6i.xlarge", False, False), ("m6id.2xlarge", False, True), ("i4i.xlarge", False, True),
    ("c6gd.large", False, True), ("r6idn.4xlarge", False, True), ("t3.large", False, False), ("m5.xlarge", False, False),
])
def test_instance_facts(t, gpu, nvme):
    assert is_gpu_instance_type(t) is gpu
    assert has_instance_store_nvme(t) is nvme


def test_instance_type_parsing_and_arch():
    assert split_instance_type("m7gd.metal") == ("m7gd", "metal")
    assert is_arm_instance_type("c7g.large") and not is_arm_instance_type("c7i.large")
    for bad in ("xlarge", "m6i", "M6I.XLARGE", "m6i.huge"):
        with pytest.raises(ValueError, match="not an EC2 instance type"):
            split_instance_type(bad)


def test_dns_label():
    assert join_dns_label("Pipeworks", "DEV", "gpu_pool") == "pipeworks-dev-gpu-pool"
    long = join_dns_label("x" * 80, max_len=63)
    assert len(long) == 63 and long != join_dns_label("x" * 81, max_len=63)


def test_pod_security_labels():
    from infra.podsecurity import pod_security_labels
    assert pod_security_labels("baseline", "restricted") == {
        "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted"}
    assert set(pod_security_labels("restricted").values()) == {"restricted"}
