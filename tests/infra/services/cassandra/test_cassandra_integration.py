"""The Cassandra harness and the platform's role statements against a real Cassandra 5.0.9 (tests/harness/
cassandra.py): password authentication is on, the CQL the role Job runs (infra/services/cassandra/roles.py) is
valid and idempotent, and the role it creates can work in its keyspace and nowhere else."""

from __future__ import annotations

import time

import pytest

from infra.config.cassandra import CassandraConfig
from infra.services.cassandra import roles

pytestmark = pytest.mark.integration


def _run_role_job(server, role: str, password: str, keyspace: str) -> None:
    """What the role Job does: its statements as the superuser, then ALTER ROLE only if the role cannot log in
    with the Secret's password (Cassandra refuses two password changes of a role within 5 s)."""
    from cassandra.cluster import NoHostAvailable

    cfg = CassandraConfig(datacenter="datacenter1")  # the harness's SimpleSnitch names its DC datacenter1

    def run(cql: str) -> None:
        cluster = server.cluster()
        try:
            session = cluster.connect()
            for stmt in filter(None, (s.strip() for s in cql.replace("${ROLE_PASSWORD}", password).split(";"))):
                session.execute(stmt)
        finally:
            cluster.shutdown()

    run(roles.role_cql(cfg, role, keyspace))
    probe = server.cluster(role, password)
    try:
        probe.connect()
    except NoHostAvailable:
        time.sleep(6)
        run(roles.password_cql(role))
    finally:
        probe.shutdown()


def test_authentication_is_required(cassandra_server):
    from cassandra.cluster import NoHostAvailable

    cluster = cassandra_server.cluster(password="wrong-password")
    with pytest.raises(NoHostAvailable):
        cluster.connect()
    cluster.shutdown()


def test_role_statements_run_twice_and_scope_the_role_to_its_keyspace(cassandra_server):
    from cassandra import Unauthorized

    _run_role_job(cassandra_server, "harness_app", "first-password-1", "harness_app")
    _run_role_job(cassandra_server, "harness_app", "second-password-2", "harness_app")  # rotated password
    cluster = cassandra_server.cluster("harness_app", "second-password-2")
    try:
        s = cluster.connect("harness_app")
        s.execute("CREATE TABLE IF NOT EXISTS t (k text PRIMARY KEY, v int)")
        s.execute("INSERT INTO t (k, v) VALUES ('a', 1)")
        s.execute("INSERT INTO t (k, v) VALUES ('a', 2)")  # same key: the row overwrites itself
        assert [tuple(r) for r in s.execute("SELECT k, v FROM t")] == [("a", 2)]
        with pytest.raises(Unauthorized):
            s.execute("CREATE KEYSPACE other WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    finally:
        cluster.shutdown()
    old = cassandra_server.cluster("harness_app", "first-password-1")
    from cassandra.cluster import NoHostAvailable
    with pytest.raises(NoHostAvailable):
        old.connect()
    old.shutdown()
