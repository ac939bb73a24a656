"""The typed stack configuration: one pydantic model tree, validated before any resource is registered."""

from infra.config.base import ConfigModel
from infra.config.cluster import ClusterConfig, ClusterKind, EksSettings, ExistingSettings
from infra.config.loader import (
    CREDENTIAL_NAME,
    PROJECT,
    SECRET_KEYS,
    Problem,
    StackConfig,
    StackConfigError,
    from_pulumi,
    load_stack_config,
)
from infra.config.nodepools import Capacity, CapacityType, NodePoolConfig, Provisioning
from infra.config.platform import ClusterAutoscalerConfig, Environment, PlatformConfig
from infra.config.policy import EnforcementLevel, PolicySettings

__all__ = [
    "CREDENTIAL_NAME", "PROJECT", "SECRET_KEYS", "Capacity", "CapacityType", "ClusterAutoscalerConfig",
    "ClusterConfig", "ClusterKind", "ConfigModel", "EksSettings", "EnforcementLevel", "Environment",
    "ExistingSettings", "NodePoolConfig", "PlatformConfig", "PolicySettings", "Problem", "Provisioning",
    "StackConfig", "StackConfigError", "from_pulumi", "load_stack_config",
]
