"""How good is the log-anomaly detector, and what does the grok twin cost? Side by side, on the captured corpus.

    .venv/bin/python benchmarks/loganomaly.py [--seeds 3] [--windows 240] [--parse-lines 60000]

Quality: for each seed, a stream of five-minute windows built from the real kube-apiserver/controller-manager
lines captured by scripts/capture_klog.py (tests/workloads/loganomaly/data/apiserver.klog) with injected
anomalies of four kinds (workloads/loganomaly/synthetic.py: error bursts, new templates, new call sites, latency
outliers in the request log; at the standard size and `subtle`, the edge of what it should see), scored by the detector's offline path (the same window step the CronJob runs);
per window: precision and recall overall and recall per kind. Target: recall >= 0.9 at precision >= 0.8.

Parse rate: lines/s of the Python twin of the platform's klog grok (workloads/loganomaly/grok.py, compiled from
infra/services/elk/spec.py KLOG_GROK) against a bare hand-written regex over the same lines, the ratio, and
whether both parse the same fields; Oniguruma (the C engine Logstash's Joni ports) running the same expanded
grok is printed beside them for reference. JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from infra.services.elk.spec import KLOG_GROK  # noqa: E402
from workloads.loganomaly import detect, grok, synthetic  # noqa: E402
from workloads.loganomaly.klog import KlogParser  # noqa: E402

CORPUS = REPO / "tests" / "workloads" / "loganomaly" / "data" / "apiserver.klog"
WARMUP = 12
# What a hand-written parser would use: level, month, day, time, thread, file, line, message.
BARE = re.compile(r"^([IWEF])(\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d{6})\s+(\d+) ([^:\]\s]+):(\d+)\] (.*)$")


def quality(lines: list[str], parser: KlogParser, seeds: int, windows: int, subtle: bool) -> dict[str, object]:
    per_seed = []
    kinds: dict[str, list[int]] = {k: [0, 0] for k in synthetic.KINDS}  # found, injected
    seconds = []
    for seed in range(seeds):
        stream = synthetic.generate(lines, parser, seed=100 + seed, windows=windows, warmup_windows=WARMUP,
                                    subtle=subtle)
        t0 = time.perf_counter()
        results = detect.offline(stream.lines, parser, stream.start, stream.window_s, stream.windows)
        seconds.append(time.perf_counter() - t0)
        flagged = {i for i, r in enumerate(results) if i >= WARMUP and r.score.anomalous}
        truth = set(stream.labels)
        tp = len(flagged & truth)
        for w, kind in stream.labels.items():
            kinds[kind][1] += 1
            kinds[kind][0] += w in flagged
        per_seed.append({"seed": 100 + seed, "windows": windows - WARMUP, "injected": len(truth),
                         "flagged": len(flagged), "true_positives": tp,
                         "precision": tp / len(flagged) if flagged else 1.0, "recall": tp / len(truth),
                         "lines": len(stream.lines)})
    tp = sum(s["true_positives"] for s in per_seed)
    flagged = sum(s["flagged"] for s in per_seed)
    injected = sum(s["injected"] for s in per_seed)
    return {"per_seed": per_seed, "precision": tp / flagged if flagged else 1.0, "recall": tp / injected,
            "recall_by_kind": {k: f / n if n else None for k, (f, n) in kinds.items()},
            "detect_seconds_per_stream": statistics.median(seconds)}


def rate(fn, lines: list[str], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for line in lines:
            fn(line)
        best = min(best, time.perf_counter() - t0)
    return len(lines) / best


def parse_rates(lines: list[str], n: int) -> dict[str, object]:
    sample = (lines * (n // len(lines) + 1))[:n]
    twin = grok.compile_grok(KLOG_GROK)
    out: dict[str, object] = {"lines": n, "twin_lines_per_s": rate(twin.regex.search, sample),
                              "bare_regex_lines_per_s": rate(BARE.search, sample)}
    out["twin_vs_bare_ratio"] = out["twin_lines_per_s"] / out["bare_regex_lines_per_s"]  # type: ignore[operator]
    agree = 0
    for line in lines:
        a, b = twin.match(line), BARE.search(line)
        if a is not None and b is not None and [a[f] for f in ("level", "month", "day", "time", "thread_id", "file",
                                                                  "line", "klog_message")] == list(b.groups()):
            agree += 1
    out["same_fields_share"] = agree / len(lines)
    try:
        import onigurumacffi
    except ImportError:  # a test dependency: the reference column is left out without it
        out["oniguruma_lines_per_s"] = None
    else:
        onig = onigurumacffi.compile(grok.expand(KLOG_GROK)[0])
        out["oniguruma_lines_per_s"] = rate(onig.search, sample, repeats=1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=240)
    ap.add_argument("--parse-lines", type=int, default=60000)
    args = ap.parse_args()
    lines = CORPUS.read_text().splitlines()
    parser = KlogParser(KLOG_GROK)
    qualities = {mode: quality(lines, parser, args.seeds, args.windows, subtle=mode == "subtle")
                 for mode in ("standard", "subtle")}
    p = parse_rates(lines, args.parse_lines)
    print(f"corpus: {len(lines)} real klog lines ({CORPUS.relative_to(REPO)})")
    for mode, q in qualities.items():
        print(f"\n{mode} injections")
        print(f"{'seed':>6} {'windows':>8} {'injected':>9} {'flagged':>8} {'precision':>10} {'recall':>7}")
        for s in q["per_seed"]:  # type: ignore[union-attr]
            print(f"{s['seed']:>6} {s['windows']:>8} {s['injected']:>9} {s['flagged']:>8} {s['precision']:>10.3f} "
                  f"{s['recall']:>7.3f}")
        met = q["recall"] >= 0.9 and q["precision"] >= 0.8  # type: ignore[operator]
        print(f"overall: precision {q['precision']:.3f}, recall {q['recall']:.3f} (target: recall >= 0.9 at "
              f"precision >= 0.8: {'met' if met else 'NOT met'})")
        print("recall by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in q["recall_by_kind"].items()))  # type: ignore
        print(f"detector offline: {q['detect_seconds_per_stream']:.2f} s per stream of {args.windows} windows")
    print(f"\n{'parser':<28} {'lines/s':>12}")
    print(f"{'grok twin (Python re)':<28} {p['twin_lines_per_s']:>12,.0f}")
    print(f"{'bare regex':<28} {p['bare_regex_lines_per_s']:>12,.0f}")
    if p["oniguruma_lines_per_s"]:
        print(f"{'Oniguruma, same grok':<28} {p['oniguruma_lines_per_s']:>12,.0f}")
    print(f"twin / bare = {p['twin_vs_bare_ratio']:.2f}; same fields on {p['same_fields_share']:.1%} of the corpus")
    print(json.dumps({"quality": qualities, "parse": p}, sort_keys=True))


if __name__ == "__main__":
    main()
