"""Helpers shared by the workloads' application code (never imports pulumi or infra)."""

from workloads.common.objectstore import (
    AccessDenied,
    ConfigError,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    S3Settings,
    deny_other_users_policy,
    rgw_user_arn,
)

__all__ = [
    "AccessDenied",
    "ConfigError",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "S3Settings",
    "deny_other_users_policy",
    "rgw_user_arn",
]
