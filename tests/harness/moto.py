"""A moto S3 server on a free loopback port: the fast stand-in for object storage in unit tests
(the real Ceph RGW of tests/harness/ceph.py serves the integration tests)."""

from __future__ import annotations

from typing import Iterator

import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """http://127.0.0.1:<port> of a moto server shared by the session (tests use fresh buckets)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
