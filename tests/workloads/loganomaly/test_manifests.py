"""Pure renderers of the workload (workloads/loganomaly/manifests.py): the Kibana saved objects, the Jobs'
scripts and names, the detector's settings as its container reads them, and the role's least privilege."""

from __future__ import annotations

import json

from infra.config.elk import ElkConfig
from infra.services.elk import spec as elk
from workloads.loganomaly import detector
from workloads.loganomaly import manifests as m
from workloads.loganomaly.config import DetectorConfig, LogAnomalyConfig

CFG = LogAnomalyConfig(enabled=True)
ES = ElkConfig()


def test_saved_objects_reference_only_objects_of_the_file() -> None:
    objs = m.saved_objects(CFG)
    ids = {(o["type"], o["id"]) for o in objs}
    assert len(ids) == len(objs)
    for o in objs:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in ids, (o["id"], ref)
    dashboard = next(o for o in objs if o["type"] == "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    assert {p["panelRefName"] for p in panels} == {r["name"] for r in dashboard["references"]}
    views = {o["attributes"]["title"] for o in objs if o["type"] == "index-pattern"}
    assert views == {f"{elk.KLOG_INDEX}-*", "loganomaly-anomalies"}
    levels = json.loads(next(o for o in objs if o["id"] == "loganomaly-levels")["attributes"]["visState"])
    assert [a["params"].get("field") for a in levels["aggs"]] == [None, "@timestamp", "level"]


def test_the_ndjson_file_is_one_object_per_line() -> None:
    text = m.kibana_files(CFG)["objects.ndjson"]
    assert [json.loads(line)["id"] for line in text.splitlines()] == [o["id"] for o in m.saved_objects(CFG)]


def test_the_kibana_job_imports_with_overwrite_and_fails_on_a_partial_import() -> None:
    script = m.kibana_job_script(ES)
    assert f"{elk.kibana_url(ES)}/api/saved_objects/_import?overwrite=true" in script
    assert 'kbn-xsrf: true' in script and "grep -q '\"success\":true'" in script
    assert "--cacert /es-ca/ca.crt" in script
    spec = m.kibana_job_spec(CFG, ES, "files")
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["es-ca"]["secret"]["secretName"] == elk.kibana_ca_secret(ES)


def test_job_names_change_with_their_inputs() -> None:
    a = m.names(CFG, ES)
    b = m.names(LogAnomalyConfig(enabled=True, index_prefix="other"), ES)
    assert a.user_job != b.user_job and a.kibana_job != b.kibana_job  # role and data view follow the prefix
    assert m.names(CFG, ES) == a


def test_the_role_reads_the_logs_and_owns_only_its_indices() -> None:
    role = m.role(CFG)
    assert role["cluster"] == ["monitor"]
    by_names = {tuple(i["names"]): set(i["privileges"]) for i in role["indices"]}
    assert by_names[(f"{elk.KLOG_INDEX}-*",)] == {"read", "view_index_metadata"}
    assert "write" in by_names[("loganomaly-*",)] and "delete_index" not in by_names[("loganomaly-*",)]


def test_the_user_body_is_json_with_the_role() -> None:
    template = m.user_job_files(CFG)[m.USER_BODY_TEMPLATE]
    assert template.endswith('"password": "')  # the credential's value is the Secret's, appended in the Job
    body = json.loads(m.user_body("abc123", template))
    assert body == {"password": "abc123", "roles": [m.ROLE], "full_name": "log-anomaly detector"}
    script = m.user_job_script(CFG, ES)
    assert f"{m.USER_DIR}/{m.USER_CREDENTIAL_FILE}" in script and "abc123" not in script


def test_the_user_jobs_shell_makes_the_same_body(tmp_path) -> None:
    """Run the script's body-making lines in a real sh: the file it writes is `user_body`'s document."""
    import shutil
    import subprocess
    sh = shutil.which("sh")
    template = m.user_job_files(CFG)[m.USER_BODY_TEMPLATE]
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / m.USER_BODY_TEMPLATE).write_text(template)
    (tmp_path / "es-user").mkdir()
    (tmp_path / "es-user" / m.USER_CREDENTIAL_FILE).write_text("Zx81abc")
    lines = [ln for ln in m.user_job_script(CFG, ES).splitlines() if ln.startswith(("umask", "{ cat"))]
    script = "\n".join(lines).replace(m.USER_DIR, str(tmp_path / "es-user")).replace("/job/", f"{tmp_path}/job/") \
        .replace("/tmp/user.json", str(tmp_path / "user.json"))
    subprocess.run([sh, "-eu", "-c", script], check=True, timeout=30)
    assert json.loads((tmp_path / "user.json").read_text()) == json.loads(m.user_body("Zx81abc", template))


def test_the_container_reads_the_settings_the_manifest_sets() -> None:
    cfg = LogAnomalyConfig(enabled=True, detector=DetectorConfig(window_seconds=120, z_threshold=7.5))
    env = {e["name"]: e["value"] for e in m.detector_env(cfg, ES) if "value" in e}
    env["LOGANOMALY_ES_PASSWORD"] = "x"  # by secretKeyRef in the pod
    s = detector.Settings.from_env(env)
    assert (s.window_s, s.z, s.grok, s.source_index, s.index_prefix) == (120, 7.5, elk.KLOG_GROK,
                                                                          f"{elk.KLOG_INDEX}-*", "loganomaly")
    assert s.es_url == elk.es_url(ES) and s.es_ca == "/es-ca/ca.crt" and s.es_user == m.ES_USER
