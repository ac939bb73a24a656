"""The detector's entry point: bad settings end in exit 2 naming the variable (never a traceback, never a secret
value), and the offline `lines` mode scores a raw klog file through the grok twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.services.elk.spec import KLOG_GROK
from workloads.loganomaly import detector, synthetic
from workloads.loganomaly.klog import KlogParser

GOOD = {"LOGANOMALY_ES_URL": "https://logs-es-http.logging.svc:9200", "LOGANOMALY_KLOG_GROK": KLOG_GROK}


@pytest.mark.parametrize(("env", "fragment"), [
    ({}, "LOGANOMALY_ES_URL is required"),
    ({**GOOD, "LOGANOMALY_ES_URL": "logs:9200"}, "LOGANOMALY_ES_URL='logs:9200' is invalid"),
    ({**GOOD, "LOGANOMALY_WINDOW_SECONDS": "5"}, "LOGANOMALY_WINDOW_SECONDS='5' is out of range"),
    ({**GOOD, "LOGANOMALY_Z": "nan"}, "LOGANOMALY_Z='nan' is not a valid number"),
    ({**GOOD, "LOGANOMALY_INDEX_PREFIX": "Bad Prefix"}, "LOGANOMALY_INDEX_PREFIX='Bad Prefix' is invalid"),
    ({"LOGANOMALY_ES_URL": GOOD["LOGANOMALY_ES_URL"]}, "LOGANOMALY_KLOG_GROK is required"),
])
def test_bad_settings_exit_2_naming_the_variable(env: dict[str, str], fragment: str, capsys) -> None:
    assert detector.main(["run"], env={**env, "LOGANOMALY_ES_PASSWORD": "s3cr3t-value"}) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and "s3cr3t-value" not in err


@pytest.mark.parametrize(("grok", "fragment"), [("%{GREEDYDATA:x}", "lacks the field(s)"),
                                                ("%{NOPE:x}", "%{NOPE} is not in the twin's table")])
def test_a_grok_the_detector_cannot_use_exits_2_before_any_call(grok: str, fragment: str, capsys) -> None:
    assert detector.main(["run"], env={**GOOD, "LOGANOMALY_KLOG_GROK": grok}) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_lines_mode_scores_a_raw_klog_file(tmp_path: Path, corpus: list[str], parser: KlogParser, capsys) -> None:
    stream = synthetic.generate(corpus, parser, seed=9, windows=40, warmup_windows=12, anomaly_share=0.15)
    path = tmp_path / "apiserver.log"
    path.write_text("\n".join(line for _, line in stream.lines) + "\nnot a klog line\n")
    assert detector.main(["lines", str(path), "--year", str(stream.start.year)],
                         env={"LOGANOMALY_KLOG_GROK": KLOG_GROK}) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    found = {int((detector._parse_time(d["window_start"]) - stream.start).total_seconds() // stream.window_s)
             for d in docs}
    assert set(stream.labels) <= found


def test_lines_mode_on_a_missing_file_exits_2(tmp_path: Path, capsys) -> None:
    assert detector.main(["lines", str(tmp_path / "none.log")], env={"LOGANOMALY_KLOG_GROK": KLOG_GROK}) == 2
    assert "cannot read" in capsys.readouterr().err
