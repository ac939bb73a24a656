"""A seeded stream of klog lines built from the captured real corpus, with known injected anomalies, for the
benchmark and the tests (runs locally, never in the container).

Normal windows resample the real steady-state lines (after the API server's start-up, which is a one-off:
flag dumps, cache initialisation) with a Poisson-varying volume, at the real corpus's mix of files, levels and
statements. A seeded share of windows gets one anomaly of four kinds:

- `error_burst`: tens of E lines, drawn from the real error lines of the corpus;
- `new_template`: a few (2-6) lines of a statement never seen (at a known call site, level I, W or E);
- `new_source`: a few (2-5) lines from a file:line never seen (with an ordinary message);
- `latency_outlier`: request-log lines (httplog.go) whose latency is seconds instead of micro/milliseconds.

The ground truth is the set of windows with an injection and its kind."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, replace
from typing import Sequence

from workloads.loganomaly.klog import HTTPLOG_FILE, KlogParser, KlogRecord, record_time

KINDS = ("error_burst", "new_template", "new_source", "latency_outlier")
STARTUP_S = 10.0  # the first seconds of the capture are the API server's start-up
SHUTDOWN_MARK = 'name="ShutdownInitiated"'  # genericapiserver.go's first shutdown event


@dataclass(frozen=True)
class Stream:
    lines: list[tuple[dt.datetime, str]]  # (time, raw klog line), time-ordered
    labels: dict[int, str]  # window index -> injected kind
    window_s: float
    start: dt.datetime
    windows: int


def render(r: KlogRecord, at: dt.datetime) -> str:
    """A record as klog writes it: `Lmmdd hh:mm:ss.uuuuuu %7d file:line] msg`."""
    return f"{r.level}{at:%m%d %H:%M:%S.%f} {r.thread_id:7d} {r.file}:{r.line}] {r.message}"


def steady_state(records: Sequence[KlogRecord], year: int = 2026) -> list[KlogRecord]:
    """The records between start-up (its first STARTUP_S) and shutdown (from the API server's own
    `ShutdownInitiated` event on, when the capture stopped it): both are one-offs, not the normal stream."""
    t0 = record_time(records[0], year)
    out = []
    for r in records:
        if SHUTDOWN_MARK in r.message:
            break
        if (record_time(r, year) - t0).total_seconds() >= STARTUP_S:
            out.append(r)
    return out


# A new statement is a subject and a predicate never combined before (each injection gets its own), with
# variable parts (addresses, numbers, ids) that the template masks.
_SUBJECTS = ["etcd client", "webhook dispatcher", "token signer", "encryption provider", "watch cache",
             "admission chain", "flow-control dispatcher", "aggregator proxy"]
_PREDICATES = ["is unavailable: dial tcp {ip}:2379: connect: connection refused",
               "call failed after {n} attempts: context deadline exceeded",
               "rotated its key unexpectedly keyID={hex}",
               "failed to decrypt object rv={n}: cipher: message authentication failed",
               "dropped {n} events: buffer full"]
_NEW_FILES = ["authenticator.go", "kmsv2_envelope.go", "leaderelection_bad.go", "compactor_x.go", "admission_y.go"]


def generate(corpus_lines: Sequence[str], parser: KlogParser, *, seed: int = 14, windows: int = 240,
             window_s: float = 300.0, lines_per_window: int = 200, anomaly_share: float = 0.12,
             warmup_windows: int = 12, start: dt.datetime | None = None, subtle: bool = False) -> Stream:
    """`subtle`: smaller injections (a handful of errors, single new lines, sub-second latency), the edge of
    what the detector is meant to see; the benchmark reports both."""
    rng = random.Random(seed)
    parsed = [r for r in (parser.parse(line) for line in corpus_lines) if r is not None]
    steady = steady_state(parsed)
    errors = [r for r in parsed if r.level == "E"] or [replace(steady[0], level="E")]
    requests = [r for r in steady if r.file == HTTPLOG_FILE]
    known_sources = {r.source for r in parsed}
    unused_statements = [(s, p) for s in _SUBJECTS for p in _PREDICATES]
    start = start or dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.timezone.utc)
    out: list[tuple[dt.datetime, str]] = []
    labels: dict[int, str] = {}
    candidates = list(range(warmup_windows, windows))
    chosen = sorted(rng.sample(candidates, k=max(1, int(anomaly_share * len(candidates)))))
    for i, w in enumerate(chosen):
        labels[w] = KINDS[i % len(KINDS)]

    def at(w: int) -> dt.datetime:
        return start + dt.timedelta(seconds=w * window_s + rng.uniform(0, window_s - 1e-3))

    def poisson(mean: float) -> int:  # Knuth's method is slow for large means: normal approximation
        return max(0, int(round(rng.gauss(mean, mean ** 0.5))))

    for w in range(windows):
        batch = [(at(w), rng.choice(steady)) for _ in range(poisson(lines_per_window))]
        kind = labels.get(w)
        if kind == "error_burst":
            burst = rng.randint(4, 12) if subtle else rng.randint(20, 50)
            batch += [(at(w), rng.choice(errors)) for _ in range(burst)]
        elif kind == "new_template":
            host = rng.choice(steady)
            subject, predicate = unused_statements.pop(rng.randrange(len(unused_statements)))
            text = f"\"{subject.capitalize()} error\" detail=none; {subject} {predicate}"
            level = rng.choice(["I", "W", "E"])
            for _ in range(rng.randint(1, 2) if subtle else rng.randint(2, 6)):
                msg = text.format(ip=f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}", n=rng.randint(1, 99999),
                                  hex=f"{rng.getrandbits(64):016x}")
                batch.append((at(w), replace(host, level=level, message=msg)))
        elif kind == "new_source":
            host = rng.choice(steady)
            while True:
                src = (rng.choice(_NEW_FILES), rng.randint(40, 900))
                if f"{src[0]}:{src[1]}" not in known_sources:
                    known_sources.add(f"{src[0]}:{src[1]}")
                    break
            for _ in range(rng.randint(1, 2) if subtle else rng.randint(2, 5)):
                batch.append((at(w), replace(host, file=src[0], line=src[1])))
        elif kind == "latency_outlier":
            for _ in range(rng.randint(1, 3) if subtle else rng.randint(3, 10)):
                r = rng.choice(requests)
                slow = f'latency="{rng.uniform(0.2, 1.0) if subtle else rng.uniform(0.8, 5.0):.6f}s"'
                batch.append((at(w), replace(r, message=re.sub(r'latency="[^"]*"', slow, r.message, count=1))))
        out.extend((t, render(r, t)) for t, r in batch)
    out.sort(key=lambda x: x[0])
    return Stream(lines=out, labels=labels, window_s=window_s, start=start, windows=windows)
