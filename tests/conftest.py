"""Shared pytest fixtures: real local services (tests/harness) and the offline plans of the stacks."""
from tests.harness.cassandra import cassandra_server  # noqa: F401
from tests.harness.ceph import ceph_rgw  # noqa: F401
from tests.harness.kafka import kafka_broker  # noqa: F401
from tests.harness.moto import moto_endpoint  # noqa: F401
from tests.harness.opensearch import opensearch  # noqa: F401
