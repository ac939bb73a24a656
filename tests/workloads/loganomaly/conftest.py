"""Fixtures of the log-anomaly tests: the captured klog corpus (scripts/capture_klog.py: real kube-apiserver
1.34.2 and kube-controller-manager lines from the e2e harness's control plane) and the twin of the platform's
klog grok."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.services.elk.spec import KLOG_GROK
from workloads.loganomaly.klog import KlogParser

CORPUS = Path(__file__).parent / "data" / "apiserver.klog"


def corpus_lines() -> list[str]:
    return CORPUS.read_text().splitlines()


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return corpus_lines()


@pytest.fixture(scope="session")
def parser() -> KlogParser:
    return KlogParser(KLOG_GROK)
