"""A free loopback port for a server a test starts (the kernel hands out an unused ephemeral port; the tiny
window before the server binds it is acceptable for tests, and ephemeral ports never overlap Ceph's own
6800-7300 bind range)."""
from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
