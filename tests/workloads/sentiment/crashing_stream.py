"""The speed layer killed mid-batch, for the fault test: runs workloads.sentiment.stream unchanged except that
the Cassandra write of micro-batch CRASH_BATCH writes half its rows and then SIGKILLs the driver (no cleanup, no
offset commit), as a node loss or an OOM kill would."""

from __future__ import annotations

import os
import signal

from workloads.sentiment import results, stream

CRASH_BATCH = int(os.environ["CRASH_BATCH"])
_write = results.ResultStore.write
_batches = {"n": 0}


def write_then_die(self, rows, concurrency=32):
    batch = _batches["n"]
    _batches["n"] += 1
    if batch == CRASH_BATCH and rows:
        _write(self, rows[: len(rows) // 2], concurrency)
        os.kill(os.getpid(), signal.SIGKILL)
    return _write(self, rows, concurrency)


results.ResultStore.write = write_then_die

if __name__ == "__main__":
    raise SystemExit(stream.main())
