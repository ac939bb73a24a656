"""Shared pytest fixtures: real local services (tests/harness) and the offline plans of the stacks."""
from tests.harness.ceph import ceph_rgw  # noqa: F401
