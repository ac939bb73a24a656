"""The log-anomaly workload as the shipped dev and prod stacks declare it (the real program under the plan's
mocks): every object validates against the Kubernetes (kubernetes-validate, strict) or upstream CRD schemas,
pods land on the general pool through the platform's placement, credentials arrive only by reference (the
generated password is a Secret the plan scrubs), the detector gets the platform's own grok, ordering holds, and
the platform's policies find nothing wrong."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from infra.placement import Role, place
from infra.services.elk import spec as elk_spec
from pipeworks.plan import REPO_ROOT, InvalidStack, validate
from policies.engine import Enforcement, evaluate
from policies.rules.model import Resource
from tests.infra.planned import core_validator, crd_validator, errors, planned
from workloads.loganomaly import manifests as m
from workloads.loganomaly.config import LogAnomalyConfig

STACKS = ("dev", "prod")
COMPONENT = "pipeworks:workloads:LogAnomaly"
CRD_GROUPS = {"monitoring.coreos.com"}


@functools.lru_cache(maxsize=None)
def config(stack: str) -> LogAnomalyConfig:
    _, cfg = validate(REPO_ROOT, stack)
    return cfg.workloads.loganomaly  # type: ignore[union-attr]


def records(stack: str) -> list[dict[str, Any]]:
    return [r for r in planned(stack) if COMPONENT in r["urn"]]


def objects(stack: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [r["inputs"] for r in records(stack) if r["custom"] and r["type"].startswith("kubernetes:")
            and (kind is None or r["inputs"]["kind"] == kind)]


def by_name(stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(stack, kind)}


def pod_specs(stack: str) -> dict[str, dict[str, Any]]:
    out = {}
    for o in objects(stack):
        if o["kind"] == "Deployment":
            out[o["metadata"]["name"]] = o["spec"]["template"]["spec"]
        elif o["kind"] == "CronJob":
            out[o["metadata"]["name"]] = o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif o["kind"] == "Job":
            out[o["metadata"]["name"]] = o["spec"]["template"]["spec"]
    return out


def urn_of(stack: str, kind: str, name: str) -> str:
    return next(r["urn"] for r in records(stack) if r["custom"] and r["type"].startswith("kubernetes:")
                and r["inputs"]["kind"] == kind and r["inputs"]["metadata"]["name"] == name)


def deps_of(stack: str, urn: str) -> list[str]:
    return next(r["dependencies"] for r in records(stack) if r["urn"] == urn)


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


def test_the_stack_files_enable_it_in_the_elk_namespace(stack: str) -> None:
    assert config(stack).enabled
    assert {o["metadata"]["namespace"] for o in objects(stack)} == {"logging"}
    kinds = {o["kind"] for o in objects(stack)}
    # no Secret: the detector's credential is generated in the cluster (infra/secretgen's own objects)
    assert kinds == {"ConfigMap", "Job", "CronJob", "Deployment", "Service", "ServiceMonitor",
                     "PrometheusRule", "NetworkPolicy"}


def test_prod_has_its_day_long_baseline() -> None:
    assert config("prod").detector.history_windows == 288
    env = {e["name"]: e for e in pod_specs("prod")[m.DETECTOR]["containers"][0]["env"]}
    assert env["LOGANOMALY_HISTORY_WINDOWS"]["value"] == "288"


def test_objects_validate_against_their_schemas(stack: str) -> None:
    checked = set()
    for obj in objects(stack):
        kind, av = obj["kind"], obj["apiVersion"]
        if kind == "Secret":
            continue  # its stringData is the scrubbed "[secret]" placeholder (test_credentials_... below)
        validator = crd_validator(av, kind) if av.split("/")[0] in CRD_GROUPS else core_validator(kind, av)
        assert errors(validator, obj) == [], f"{kind}/{obj['metadata']['name']}"
        checked.add(kind)
    assert checked == {"ConfigMap", "Job", "CronJob", "Deployment", "Service", "ServiceMonitor", "PrometheusRule",
                       "NetworkPolicy"}


def test_pods_are_placed_on_the_general_pool_by_the_placement_api(stack: str) -> None:
    expected = place(Role.GENERAL).pod_spec()
    specs = pod_specs(stack)
    assert len(specs) == 4
    for name, pod in specs.items():
        for key, value in expected.items():
            assert pod[key] == value, f"{name}: {key}"


def test_pods_are_restricted_without_service_account_tokens(stack: str) -> None:
    for name, pod in pod_specs(stack).items():
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def test_credentials_only_by_reference(stack: str) -> None:
    # No Secret of the detector's credential is declared: the cluster generates it (infra/secretgen), so the
    # program, its state and the plan never hold it.
    assert not [s for s in objects(stack, "Secret") if s["metadata"]["name"] == m.USER_SECRET]
    gens = [r for r in records(stack) if r["type"] == "pipeworks:secrets:GeneratedSecret"
            and r["name"].startswith("loganomaly")]
    assert len(gens) == 1
    for name, pod in pod_specs(stack).items():
        for c in pod["containers"]:
            for e in c.get("env", []):
                if any(w in e["name"] for w in ("PASSWORD", "SECRET", "TOKEN")):
                    assert "value" not in e and "secretKeyRef" in e["valueFrom"], f"{name}: {e['name']}"
            # the script names credentials only as environment references (${ELASTIC_PASSWORD}), never a value
            script = re.sub(r"\$\{[A-Z_]+\}", "", " ".join(c.get("command", [])))
            assert "password" not in script.lower(), name
    detector = pod_specs(stack)[m.DETECTOR]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in detector["env"] if "valueFrom" in e}
    # the detector is its own least-privileged user, never the superuser
    assert refs == {"LOGANOMALY_ES_PASSWORD": {"name": m.USER_SECRET, "key": "password"}}
    es_cfg = validate(REPO_ROOT, stack)[1].platform.elk
    for job in (n for n in pod_specs(stack) if n.startswith((m.USER_JOB, m.KIBANA_JOB))):
        env = pod_specs(stack)[job]["containers"][0]["env"]
        assert env == [{"name": "ELASTIC_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": elk_spec.elastic_user_secret(es_cfg), "key": "elastic"}}}], job


def test_the_detector_gets_the_platforms_grok(stack: str) -> None:
    for name in (m.DETECTOR, m.EXPORTER):
        env = {e["name"]: e.get("value") for e in pod_specs(stack)[name]["containers"][0]["env"]}
        assert env["LOGANOMALY_KLOG_GROK"] == elk_spec.KLOG_GROK
        assert env["LOGANOMALY_SOURCE_INDEX"] == f"{elk_spec.KLOG_INDEX}-*"
        assert env["LOGANOMALY_ES_URL"].startswith("https://logs-es-http.logging.svc:")


def test_ordering(stack: str) -> None:
    es_cfg = validate(REPO_ROOT, stack)[1].platform.elk
    names = m.names(config(stack), es_cfg)
    user_job = urn_of(stack, "Job", names.user_job)
    assert any(d.endswith("::elk-elasticsearch") for d in deps_of(stack, user_job))
    for kind, name in (("CronJob", m.DETECTOR), ("Deployment", m.EXPORTER)):
        assert user_job in deps_of(stack, urn_of(stack, kind, name)), name
    kibana_job = urn_of(stack, "Job", names.kibana_job)
    assert any(d.endswith("::elk-kibana") for d in deps_of(stack, kibana_job))
    rules = urn_of(stack, "PrometheusRule", "loganomaly-rules")
    assert any("kube-prometheus-stack" in d or "monitoring" in d for d in deps_of(stack, rules))


def test_prometheus_may_scrape_the_exporter_and_finds_it(stack: str) -> None:
    (pol,) = objects(stack, "NetworkPolicy")
    peer = pol["spec"]["ingress"][0]["from"][0]
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    assert pol["spec"]["podSelector"]["matchLabels"] == m.labels("exporter")
    (sm,) = objects(stack, "ServiceMonitor")
    (svc,) = objects(stack, "Service")
    dep = by_name(stack, "Deployment")[m.EXPORTER]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_policies_find_nothing_wrong_with_the_workload(stack: str) -> None:
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"], parent=r["parent"],
                          dependencies=tuple(r["dependencies"])) for r in planned(stack)]
    report = evaluate(resources, Enforcement.for_environment(stack))
    mine = [f"{v.policy}: {v.resource}: {v.message}" for v in report.violations if COMPONENT in v.resource]
    assert mine == []
    assert any(COMPONENT in r.urn and r.kind == "CronJob" for r in resources)


def _stack_with(tmp_path, stack: str, old: str, new: str) -> None:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert old in text
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(text.replace(old, new))
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())


def test_plan_refuses_a_bad_schedule_naming_the_key(tmp_path) -> None:
    _stack_with(tmp_path, "prod", "        historyWindows: 288", "        historyWindows: 288\n        schedule: '61 * * * *'")
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "prod")
    assert "pipeworks:workloads.loganomaly.detector.schedule" in str(info.value)
    assert "minute" in str(info.value)


def test_plan_refuses_it_without_elk(tmp_path) -> None:
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace("  pipeworks:platform:\n",
                                                           "  pipeworks:platform:\n    elk:\n      enabled: false\n", 1))
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "dev")
    assert "pipeworks:workloads.loganomaly.enabled=true needs pipeworks:platform.elk.enabled" in str(info.value)


def test_plan_refuses_a_lag_longer_than_the_baseline(tmp_path) -> None:
    _stack_with(tmp_path, "prod", "        historyWindows: 288",
                "        historyWindows: 6\n        windowSeconds: 60\n        lagSeconds: 3000")
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "prod")
    assert "Pulumi.prod.yaml: pipeworks:workloads.loganomaly.detector.lagSeconds=3000 must be shorter" \
        in str(info.value)


def test_plan_refuses_a_log_pipeline_index_prefix(tmp_path) -> None:
    _stack_with(tmp_path, "prod", "      enabled: true\n      detector:", "      enabled: true\n      indexPrefix: "
                "logstash-x\n      detector:")
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "prod")
    assert "pipeworks:workloads.loganomaly.indexPrefix" in str(info.value) and "not logstash*" in str(info.value)
