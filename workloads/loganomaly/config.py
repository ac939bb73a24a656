"""Stack config of the log-anomaly workload (`pipeworks:workloads.loganomaly`): the detector CronJob's image,
schedule and window, its thresholds, the exporter, and the alerting.

A declaration-side module (imported by `program.py` and `deploy.py`, never by the detector's container)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.base import fail as _fail
from infra.config.resources import PodResources
from infra.workloads.config import ImageRef, check_schedule, check_time_zone, default_image

KEY = "pipeworks:workloads.loganomaly"


class DetectorConfig(ConfigModel):
    """The CronJob that scores the klog indices window by window."""

    schedule: str = Field("*/5 * * * *", description="Cron schedule of the detector (each run scores every complete "
                                                     "window since the last one, so a missed run only delays).")
    time_zone: str = Field("Etc/UTC", description="IANA time zone of the schedule.")
    window_seconds: int = Field(300, ge=60, le=3600, description="Length of a scored window.")
    history_windows: int = Field(48, ge=6, le=2016, description="Windows before a window that form its baseline.")
    lag_seconds: int = Field(120, ge=0, le=3600, description="How long after a window ends it is scored (shipping "
                                                           "delay of Filebeat and Logstash).")
    max_windows_per_run: int = Field(24, ge=1, le=288, description="Windows one run scores at most (catch-up).")
    z_threshold: float = Field(6.0, ge=2.0, le=50.0, description="Robust z-score from which a count is anomalous.")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="200m", memory="512Mi"),
                                    description="The detector container.")
    timeout_seconds: int = Field(600, ge=60, le=3600, description="A run longer than this is stopped.")

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_time_zone(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_schedule(v, time_zone_key="detector.timeZone")


class AlertConfig(ConfigModel):
    """The workload's alert rules (PrometheusRule, evaluated by the platform's Prometheus)."""

    stale_after_windows: int = Field(6, ge=2, le=288, description="Alert when no window was scored for this many "
                                                                 "window lengths (the detector or ELK is stuck).")
    min_score: float = Field(0.0, ge=0.0, description="Only anomalies scoring at least this page "
                                                      "(0: every anomaly the detector writes).")


class LogAnomalyConfig(ConfigModel):
    """Log anomaly detection on the API server's klog lines in ELK (workloads/loganomaly)."""

    enabled: bool = Field(False, description="Deploy the detector (needs platform.elk).")
    image: ImageRef = Field(default_factory=default_image("loganomaly"),
                            description="The detector's image (workloads/loganomaly/Dockerfile).")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="The detector CronJob.")
    exporter_resources: PodResources = Field(default_factory=lambda: PodResources(cpu="50m", memory="128Mi"),
                                             description="The metrics exporter (reads the anomalies index per scrape).")
    index_prefix: str = Field("loganomaly", description="Prefix of the detector's own indices "
                                                       "(<prefix>-windows, -anomalies, -state).")
    alerts: AlertConfig = Field(default_factory=AlertConfig, description="Alerting on the anomalies.")

    @field_validator("index_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", v) or v.startswith(("logstash", "logs-", ".")):
            raise PydanticCustomError("pipeworks", "is not a usable index prefix; valid: lowercase letters, digits, '-' "
                                                   "and '_', at most 41 characters, not logstash* or logs-* (those are "
                                                   "the log pipeline's indices)")
        return v

    @model_validator(mode="after")
    def _lag_within_baseline(self) -> "LogAnomalyConfig":
        d = self.detector
        if d.lag_seconds >= d.window_seconds * d.history_windows:
            _fail("detector.lagSeconds", d.lag_seconds,
                  "must be shorter than the baseline (windowSeconds x historyWindows)")
        return self


def platform_problems(cfg: LogAnomalyConfig, platform: Any) -> list[str]:
    """What the workload needs of the platform section: ELK (its klog indices, Elasticsearch and Kibana). Without
    the platform's monitoring it still runs, writing anomalies to its index and the dashboard, unalerted."""
    if not cfg.enabled:
        return []
    problems = []
    if not platform.elk.enabled:
        problems.append(f"{KEY}.enabled=true needs pipeworks:platform.elk.enabled (the klog indices the platform's "
                        "Logstash writes, Elasticsearch and Kibana); enable it or set loganomaly.enabled: false")
    return problems
