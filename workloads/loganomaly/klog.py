"""klog lines (k8s.io/klog: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`) as the platform's Logstash sees
them, through the Python twin of its grok, plus what the detector derives from a message: its template (the
message with every variable part masked) and, for the API server's request log (httplog.go), the latency.

The grok expression is not spelled here: the detector receives the platform's own (infra/services/elk/spec.py
KLOG_GROK) in LOGANOMALY_KLOG_GROK from its declaration, and the tests compile that same constant, so the twin
and Logstash cannot drift apart. Runs in the detector's container: stdlib only."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from workloads.loganomaly.grok import Grok, compile_grok

LEVELS = ("I", "W", "E", "F")  # klog severities: info, warning, error, fatal


@dataclass(frozen=True)
class KlogRecord:
    """One parsed line: the grok's fields after the pipeline's rename (`klog_message` -> `message`)."""

    level: str
    month: str
    day: str
    time: str
    thread_id: int
    file: str
    line: int
    message: str

    @property
    def source(self) -> str:
        """`file:line`, the call site that wrote the line."""
        return f"{self.file}:{self.line}"


class KlogParser:
    """The twin of the platform's Logstash klog grok (compiled once; `parse` per line)."""

    def __init__(self, grok_expression: str):
        self.grok: Grok = compile_grok(grok_expression)
        missing = {"level", "month", "day", "time", "thread_id", "file", "line", "klog_message"} - {
            f for f, _ in self.grok.fields.values()}
        if missing:
            raise ValueError(f"the klog grok lacks the field(s) {', '.join(sorted(missing))} the detector reads")

    def fields(self, line: str) -> dict[str, object] | None:
        """The grok's raw fields (as Logstash would set them, before its mutate), or None (tag `not_klog`)."""
        return self.grok.match(line)

    def parse(self, line: str) -> KlogRecord | None:
        f = self.grok.match(line)
        if f is None:
            return None
        try:
            thread_id, line_no = int(str(f["thread_id"])), int(str(f["line"]))
        except ValueError:  # NUMBER also matches decimals; ES maps these fields as long/integer and would reject
            return None
        return KlogRecord(level=str(f["level"]), month=str(f["month"]), day=str(f["day"]), time=str(f["time"]),
                          thread_id=thread_id, file=str(f["file"]), line=line_no, message=str(f["klog_message"]))


def record_time(r: KlogRecord, year: int) -> dt.datetime:
    """The line's time (klog writes no year, nor a zone: the API server logs in UTC)."""
    return dt.datetime.strptime(f"{year}{r.month}{r.day} {r.time}", "%Y%m%d %H:%M:%S.%f").replace(
        tzinfo=dt.timezone.utc)


# --- templates -------------------------------------------------------------------------------------------

_KV = re.compile(r'(?P<key>[A-Za-z_][\w.-]*)=(?P<value>"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\{[^}]*\}|\S+)')
_VARIABLE = [
    re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"),  # UUIDs (audit IDs, UIDs)
    re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"),  # IPv4[:port]
    re.compile(r"\b0x[0-9a-fA-F]+\b"),
    re.compile(r"(?<![\w/])[-+]?\d[\w.:/µ-]*"),  # numbers and tokens that start with one (durations, versions)
]


def template(message: str) -> str:
    """The message with its variable parts masked as `<*>`: structured klog's `key=value` values, UUIDs,
    addresses and numbers; what is left is the call's constant text, so two lines of the same statement share
    a template and a statement never seen before gets a new one."""
    text = _KV.sub(lambda m: f"{m.group('key')}=<*>", message)
    for pattern in _VARIABLE:
        text = pattern.sub("<*>", text)
    return re.sub(r"\s+", " ", text).strip()[:300]


# --- request latency -------------------------------------------------------------------------------------

_LATENCY = re.compile(r'\blatency="(?P<d>[^"]+)"')
_GO_DURATION_PART = re.compile(r"(?P<n>\d+(?:\.\d*)?|\.\d+)(?P<u>ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
HTTPLOG_FILE = "httplog.go"


def go_duration_seconds(text: str) -> float | None:
    """A Go `time.Duration.String()` (e.g. `727.034µs`, `1.5s`, `1m2.5s`) in seconds, or None."""
    pos, total = 0, 0.0
    if text in ("0", "0s"):
        return 0.0
    for m in _GO_DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group("n")) * _UNIT_SECONDS[m.group("u")]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


_LONG_RUNNING = re.compile(r'\bverb="(?:WATCH|CONNECT)"|[?&]watch=(?:true|1)\b')


def request_latency(file: str, message: str) -> float | None:
    """The latency (seconds) of an API-server request log line (httplog.go `"HTTP" ... latency="..."`); None for
    other lines and for long-running requests (WATCH, CONNECT: their latency is the watch's lifetime, about a
    minute, not a response time)."""
    if file != HTTPLOG_FILE or _LONG_RUNNING.search(message):
        return None
    m = _LATENCY.search(message)
    return go_duration_seconds(m.group("d")) if m else None
