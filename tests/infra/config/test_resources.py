"""One Kubernetes-quantity rule for every config section (infra/config/resources.py).

The accepted grammar is the one documented above `type Quantity` in
k8s.io/apimachinery/pkg/api/resource/quantity.go (kubernetes/apimachinery), minus signs and the undocumented
n/u suffixes; sizes must also be at least one byte."""

import pathlib
import re
from decimal import Decimal

import pytest

from infra.config import StackConfigError, load_stack_config
from infra.config.resources import PodResources, parse_quantity
from policies.rules.quantities import parse_quantity as policy_parse_quantity

DEV_EKS = {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}}

ACCEPTED = {
    "0": Decimal(0), "2": Decimal(2), "500m": Decimal("0.5"), "1.5": Decimal("1.5"), "2.": Decimal(2),
    ".5": Decimal("0.5"), "1k": Decimal(1000), "1M": Decimal(10**6), "1G": Decimal(10**9), "1T": Decimal(10**12),
    "1P": Decimal(10**15), "1E": Decimal(10**18), "1Ki": Decimal(1024), "512Mi": Decimal(512 * 2**20),
    "4Gi": Decimal(4 * 2**30), "1.5Gi": Decimal(3 * 2**29), "1Ti": Decimal(2**40), "1Pi": Decimal(2**50),
    "1Ei": Decimal(2**60), "1e3": Decimal(1000), "1E3": Decimal(1000), "12e-1": Decimal("1.2"), "1e+2": Decimal(100),
}
REFUSED = [
    "", " ", "1 Gi", " 1Gi", "1Gi ", "-1", "+1", "-500m", "1GB", "1gi", "1KI", "1K", "1mi", "1b", "1n", "1u",
    ".", "1..2", "1.2.3", "Gi", "1Gi1", "1e", "1e1.5", "1ee3", "0x10", "1_000", "lots", "∞", "１", "1Gi\n",  # a full-width 1; a trailing newline
    "1e999",
]


@pytest.mark.parametrize("text,value", ACCEPTED.items())
def test_accepted_quantities_and_their_values(text, value):
    assert parse_quantity(text) == value
    # the policy packs read plans with their own parser (policies never import infra): they agree on all we accept
    assert policy_parse_quantity(text) == pytest.approx(float(value))


@pytest.mark.parametrize("text", REFUSED)
def test_refused_quantities(text):
    with pytest.raises(ValueError, match="is not a Kubernetes quantity|exponent"):
        parse_quantity(text)


@pytest.mark.parametrize("value", [2, 2.0, None, b"2"])
def test_non_strings_are_refused(value):
    with pytest.raises(ValueError):
        parse_quantity(value)


def test_pod_resources_refuse_bad_quantities_and_a_cpu_limit_below_the_request():
    assert PodResources(cpu="500m", memory="1Gi", cpu_limit="2").k8s() == {
        "requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi", "cpu": "2"}}
    for bad in ({"cpu": "-1", "memory": "1Gi"}, {"cpu": "1", "memory": "500m"}, {"cpu": "1", "memory": "0"},
                {"cpu": "2", "memory": "1Gi", "cpuLimit": "1"}):
        with pytest.raises(ValueError):
            PodResources.model_validate(bad)


def _problems(platform: dict) -> list[str]:
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": {"environment": "dev", "cluster": DEV_EKS, **platform}}, set(),
                          stack="dev")
    return str(e.value).splitlines()


@pytest.mark.parametrize("platform,expected", [
    ({"kafka": {"brokers": {"replicas": 1, "storageSize": "50GB", "resources": {"cpu": "1", "memory": "2Gi"}}}},
     "kafka.brokers.storageSize=50GB is not a Kubernetes quantity of at least one byte"),
    ({"kafka": {"brokers": {"replicas": 1, "storageSize": "50Gi", "resources": {"cpu": "-1", "memory": "2Gi"}}}},
     "kafka.brokers.resources.cpu=-1 is not a Kubernetes quantity"),
    ({"elk": {"elasticsearch": {"hot": {"count": 1, "storageSize": "100 Gi",
                                        "resources": {"cpu": "1", "memory": "2Gi"}}}}},
     'elk.elasticsearch.hot.storageSize="100 Gi" is not a Kubernetes quantity of at least one byte'),
    ({"monitoring": {"prometheus": {"storageSize": "0"}}}, "monitoring.prometheus.storageSize=0 is not a Kubernetes quantity of at least one byte"),
    ({"jupyterhub": {"storageSize": "10gi"}}, "jupyterhub.storageSize=10gi is not a Kubernetes quantity of at least one byte"),
    ({"jupyterhub": {"hubResources": {"cpu": "1", "memory": "1Gi", "cpuLimit": "500m"}}},
     "jupyterhub.hubResources.cpuLimit=500m is below the CPU request 1"),
    ({"storage": {"monStorageSize": "10G B"}}, 'storage.monStorageSize="10G B" is not a Kubernetes quantity of at least one byte'),
    ({"spark": {"operatorResources": {"cpu": "1n", "memory": "1Gi"}}},
     "spark.operatorResources.cpu=1n is not a Kubernetes quantity"),
])
def test_every_section_applies_the_same_rule_and_names_the_key(platform, expected):
    found = _problems(platform)
    assert any(expected in line for line in found), found


def test_sizes_every_section_accepts_alike():
    """The rule is one: what was refused by the binary-only sections (elk, monitoring, jupyterhub) but accepted by
    Kafka ('100G', a decimal size) is now accepted by all of them, as Kubernetes does."""
    cfg = load_stack_config({"pipeworks:platform": {
        "environment": "dev", "cluster": DEV_EKS, "monitoring": {"prometheus": {"storageSize": "100G"}},
        "jupyterhub": {"storageSize": "1e10"}}}, set(), stack="dev")
    assert cfg.platform.monitoring.prometheus.storage_size == "100G"
    assert cfg.platform.jupyterhub.storage_size == "1e10"


def test_no_other_quantity_pattern_in_infra():
    """The class of defect (a quantity rule written again with different rules): no module under infra/ but
    resources.py spells a quantity suffix pattern."""
    root = pathlib.Path(__file__).resolve().parents[3] / "infra"
    suffix_pattern = re.compile(r"Ki\|Mi\|Gi|Mi\|Gi")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "resources.py" and suffix_pattern.search(p.read_text())]
    assert offenders == []
