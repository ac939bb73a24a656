"""The ELK component's pure builders and config rules, without mocks: the klog grok pattern against real
klog lines, the Logstash pipeline, the ILM policy and index template, the nodeSets' roles and placement."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
import yaml

from infra.config import load_stack_config
from infra.config.elk import ElkConfig
from infra.config.nodepools import NodePoolConfig
from infra.placement import LABEL_NVME_MODE, LABEL_ROLE, TAINT_NVME, NvmeMode, Role, pool_labels
from infra.services.elk import filebeat_tolerations, spec

# Real klog headers (API server, kubelet): Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
KLOG_LINES = [
    ('I0612 14:22:33.123456       1 controller.go:615] quota admission added evaluator for: leases.coordination.k8s.io',
     {"level": "I", "month": "06", "day": "12", "time": "14:22:33.123456", "thread_id": "1",
      "file": "controller.go", "line": "615",
      "klog_message": "quota admission added evaluator for: leases.coordination.k8s.io"}),
    ('E1103 07:01:59.000012   12345 reflector.go:147] k8s.io/client-go: Failed to watch *v1.Pod: context canceled',
     {"level": "E", "month": "11", "day": "03", "time": "07:01:59.000012", "thread_id": "12345",
      "file": "reflector.go", "line": "147", "klog_message": "k8s.io/client-go: Failed to watch *v1.Pod: context canceled"}),
    ('W0101 00:00:00.5 77 server.go:9] a warning with ] brackets [inside]',
     {"level": "W", "month": "01", "day": "01", "thread_id": "77", "file": "server.go", "line": "9",
      "klog_message": "a warning with ] brackets [inside]"}),
]
NOT_KLOG = ['{"level":"info","msg":"json log line"}', "2026-11-23T12:00:00Z INFO plain application log",
            "I1399 10:00:00.1 1 f.go:1] month 13 is no month"]

# The grok patterns the klog pattern uses (logstash-patterns-core), translated to Python regex.
GROK = {"DATA": r".*?", "GREEDYDATA": r".*", "NUMBER": r"(?:[+-]?(?:\d+(?:\.\d+)?))",
        "TIME": r"(?:[01]?\d|2[0-3]):[0-5]\d(?::(?:[0-5]?\d|60)(?:[.,]\d+)?)"}


def grok_to_regex(pattern: str) -> re.Pattern[str]:
    """%{NAME:field} -> (?P<field>...), Oniguruma (?<field>...) -> (?P<field>...)."""
    py = re.sub(r"%\{(\w+):(\w+)\}", lambda m: f"(?P<{m.group(2)}>{GROK[m.group(1)]})", pattern)
    return re.compile(py.replace("(?<", "(?P<"))


def dev_elk() -> ElkConfig:
    return ElkConfig()


@pytest.mark.parametrize("line,fields", KLOG_LINES)
def test_klog_grok_extracts_every_field(line, fields):
    m = grok_to_regex(spec.KLOG_GROK).match(line)
    assert m, f"klog line not matched: {line}"
    for k, v in fields.items():
        assert m.group(k) == v, k


@pytest.mark.parametrize("line", NOT_KLOG)
def test_klog_grok_rejects_other_lines(line):
    assert grok_to_regex(spec.KLOG_GROK).match(line) is None


def test_pipeline_beats_daily_indices_and_eck_credentials():
    cfg = ElkConfig.model_validate({"elasticsearch": {"name": "cluster-logs"}})
    text = spec.logstash_pipeline(cfg)
    assert "beats { port => 5044 }" in text
    assert spec.KLOG_GROK in text
    # ECK exports <CLUSTERNAME>_ES_* for the elasticsearchRefs entry (clusterName upper-cased)
    assert "${CLUSTER_LOGS_ES_HOSTS}" in text and "${CLUSTER_LOGS_ES_PASSWORD}" in text
    assert 'index => "%{[@metadata][index]}-%{+YYYY.MM.dd}"' in text
    assert "manage_template => false" in text and "ilm_enabled => false" in text
    assert text.count("{") == text.count("}"), "unbalanced braces in the Logstash config"
    # the Secret holds the pipeline in pipelines.yml form
    loaded = yaml.safe_load(spec.logstash_pipelines_yml(cfg))
    assert loaded == [{"pipeline.id": "main", "config.string": text}]
    assert spec.logstash_spec(cfg, False)["elasticsearchRefs"] == [{"clusterName": "cluster-logs", "name": "cluster-logs"}]


def test_index_template_covers_every_index_the_pipeline_writes_and_binds_ilm():
    cfg = dev_elk()
    tpl = spec.index_template(cfg)
    for index in (spec.KLOG_INDEX, spec.OTHER_INDEX):
        daily = f"{index}-2026.11.23"
        assert any(fnmatch.fnmatch(daily, p) for p in tpl["index_patterns"])
        assert not fnmatch.fnmatch(daily, "logs-*-*"), "would be captured by Elasticsearch's logs data-stream template"
    settings = tpl["template"]["settings"]
    assert settings["index.lifecycle.name"] == cfg.ilm.policy_name
    assert settings["index.routing.allocation.include._tier_preference"] == "data_hot"
    props = tpl["template"]["mappings"]["properties"]
    assert {"level", "month", "day", "time", "thread_id", "file", "line", "message"} <= set(props)


def test_ilm_policy_hot_then_warm_after_7_days_then_delete():
    cfg = ElkConfig.model_validate({"ilm": {"deleteAfterDays": 45}})
    phases = spec.ilm_policy(cfg)["policy"]["phases"]
    assert list(phases) == ["hot", "warm", "delete"]
    assert phases["warm"]["min_age"] == "7d" and phases["delete"]["min_age"] == "45d"
    assert phases["delete"]["actions"] == {"delete": {}}
    assert "rollover" not in phases["hot"]["actions"], "daily indices: a rollover action would never complete"
    files = spec.ilm_files(cfg)
    assert json.loads(files["policy.json"]) == spec.ilm_policy(cfg)
    script = spec.ilm_script(cfg)
    assert f"_ilm/policy/{cfg.ilm.policy_name}" in script and f"_index_template/{cfg.ilm.policy_name}" in script
    assert "${ELASTIC_PASSWORD}" in script and "--cacert" in script


def test_changed_policy_changes_the_job_hash():
    a, b = ElkConfig(), ElkConfig.model_validate({"ilm": {"warmAfterDays": 3}})
    assert spec.config_hash(spec.ilm_files(a)) != spec.config_hash(spec.ilm_files(b))
    assert spec.config_hash(spec.ilm_files(a)) == spec.config_hash(spec.ilm_files(ElkConfig()))


def test_node_sets_roles_placement_and_volumes():
    cfg = dev_elk()
    es = spec.elasticsearch_spec(cfg, hot_class="ceph-block", block_class="ceph-block", across_zones=True)
    sets = {n["name"]: n for n in es["nodeSets"]}
    assert sets["master"]["config"]["node.roles"] == ["master"]
    assert sets["hot"]["config"]["node.roles"] == ["data_hot", "data_content", "ingest"]
    assert sets["warm"]["config"]["node.roles"] == ["data_warm"]
    hot = sets["hot"]["podTemplate"]["spec"]
    assert hot["nodeSelector"] == {LABEL_ROLE: "nvme", LABEL_NVME_MODE: "raid0"}
    assert {t["key"] for t in hot["tolerations"]} == {TAINT_NVME}
    assert sets["warm"]["podTemplate"]["spec"]["nodeSelector"] == {LABEL_ROLE: "general"}
    for name, ns in sets.items():
        assert len(name) <= 23 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
        assert ns["volumeClaimTemplates"][0]["metadata"]["name"] == "elasticsearch-data"
        keys = {c["topologyKey"] for c in ns["podTemplate"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        selector = ns["podTemplate"]["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
        assert selector["elasticsearch.k8s.elastic.co/statefulset-name"] == f"logs-es-{name}"
        assert ns["podTemplate"]["spec"]["containers"][0]["name"] == "elasticsearch"


def test_filebeat_tolerates_every_tainted_pool_once():
    pools = [NodePoolConfig(name="general", role=Role.GENERAL, instance_types=["m6i.large"]),
             NodePoolConfig(name="osd", role=Role.NVME, nvme_mode=NvmeMode.RAW, instance_types=["i4i.xlarge"]),
             NodePoolConfig(name="scratch", role=Role.NVME, nvme_mode=NvmeMode.RAID0, instance_types=["i4i.xlarge"]),
             NodePoolConfig(name="gpu", role=Role.GPU, instance_types=["g5.xlarge"]),
             NodePoolConfig(name="store-1", role=Role.EDGE, edge_location="store-1", gpu_model="Tesla-T4",
                            provisioning="declared", capacity={"cpu": "4", "memory": "8Gi"})]
    tol = filebeat_tolerations(pools)
    assert len(tol) == len({json.dumps(t, sort_keys=True) for t in tol}), "duplicate tolerations"
    keys = {(t["key"], t["value"]) for t in tol}
    assert keys == {("pipeworks.io/storage", "nvme"), ("nvidia.com/gpu", "true"), ("pipeworks.io/edge", "store-1")}
    ds = spec.filebeat_daemonset_spec(dev_elk(), tol)
    assert ds["daemonSet"]["podTemplate"]["spec"]["tolerations"] == tol
    assert ds["config"]["output.logstash"]["hosts"] == ["logstash-ls-beats.logging.svc:5044"]
    assert pool_labels("gpu", Role.GPU)  # the vocabulary the tolerations come from is the pools' own


def test_cloudwatch_reader_reads_only_the_control_plane_log_group():
    cw = spec.filebeat_cloudwatch_spec(dev_elk(), "pipeworks-prod", "eu-west-1")
    inp = cw["config"]["filebeat.inputs"][0]
    assert inp["type"] == "aws-cloudwatch" and inp["log_group_name"] == "/aws/eks/pipeworks-prod/cluster"
    assert inp["region_name"] == "eu-west-1" and inp["log_stream_prefix"] == "kube-apiserver-"
    assert cw["deployment"]["replicas"] == 1, "one reader: several would ship every event several times"
    # The streams EKS writes: the prefix alone would also ship the audit log; the drop processor removes it.
    streams = ["kube-apiserver-0a1b2c", "kube-apiserver-audit-0a1b2c", "authenticator-0a1b2c",
               "kube-scheduler-0a1b2c", "kube-controller-manager-0a1b2c"]
    (drop,) = inp["processors"]
    pattern = drop["drop_event"]["when"]["regexp"]["awscloudwatch.log_stream"]
    shipped = [s for s in streams if s.startswith(inp["log_stream_prefix"]) and not re.search(pattern, s)]
    assert shipped == ["kube-apiserver-0a1b2c"]
    policy = json.loads(spec.cloudwatch_read_policy("pipeworks-prod", "eu-west-1"))
    read = policy["Statement"][0]
    # scoped to the stack's region and account, never any region's or account's group of that name
    assert all(r.startswith("arn:aws:logs:eu-west-1:${aws:PrincipalAccount}:log-group:/aws/eks/pipeworks-prod/cluster")
               for r in read["Resource"])
    assert not any(a in ("logs:*", "*") for s in policy["Statement"] for a in s["Action"])


def platform_with(elk: dict, environment: str = "dev", pools: list | None = None) -> dict:
    return {"environment": environment,
            "cluster": {"eks": {"publicAccessCidrs": ["198.51.100.0/24"], "endpointPublicAccess": environment == "dev"}},
            "elk": elk, **({"nodePools": pools} if pools is not None else {})}


def problems(platform: dict, stack: str = "dev") -> str:
    from infra.config import StackConfigError
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": platform}, set(), stack=stack, file=f"Pulumi.{stack}.yaml")
    return str(e.value)


@pytest.mark.parametrize("elk,expected", [
    ({"ilm": {"warmAfterDays": 30, "deleteAfterDays": 30}}, "elk.ilm.deleteAfterDays=30 must exceed"),
    ({"elasticsearch": {"master": {"count": 2, "storageSize": "10Gi", "resources": {"cpu": "1", "memory": "2Gi"}}}},
     "elk.elasticsearch.master.count=2 is even"),
    ({"elasticsearch": {"indexReplicas": 1}}, "elk.elasticsearch.indexReplicas=1 needs more hot nodes"),
    ({"elasticsearch": {"name": "a-name-that-is-far-too-long-for-eck-limits"}}, "elasticsearch.name"),
    ({"version": "7.17.0"}, "elk.version"),
    ({"elasticsearch": {"hot": {"count": 1, "storageSize": "1TB", "resources": {"cpu": "1", "memory": "2Gi"}}}},
     "storageSize"),
])
def test_bad_elk_config_names_the_key(elk, expected):
    assert expected in problems(platform_with(elk))


def test_prod_rules_name_the_key():
    text = problems({"environment": "prod", "elk": {"elasticsearch": {
        "master": {"count": 1, "storageSize": "10Gi", "resources": {"cpu": "1", "memory": "2Gi"}}}}}, stack="prod")
    assert "elk.elasticsearch.master.count=1 is below 3" in text


def test_hot_nodes_need_a_matching_nvme_pool():
    pools = [{"name": "general", "role": "general", "instanceTypes": ["m6i.large"], "minSize": 2, "maxSize": 3},
             {"name": "osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i4i.xlarge"], "minSize": 1, "maxSize": 1}]
    text = problems(platform_with({}, pools=pools) | {"kafka": {"enabled": False}, "spark": {"enabled": False}})
    assert "elk.elasticsearch.hot.nvmeMode=raid0 matches no nvme node pool" in text


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(warm=st.integers(1, 365), delete=st.integers(2, 3650))
def test_ilm_ages_accepted_exactly_when_delete_follows_warm(warm, delete):
    data = {"ilm": {"warmAfterDays": warm, "deleteAfterDays": delete}}
    if delete > warm:
        phases = spec.ilm_policy(ElkConfig.model_validate(data))["policy"]["phases"]
        assert int(phases["warm"]["min_age"][:-1]) < int(phases["delete"]["min_age"][:-1])
    else:
        with pytest.raises(Exception, match="elk.ilm.deleteAfterDays"):
            ElkConfig.model_validate(data)


def test_logstash_queue_fits_its_volume():
    units = {"gb": 10**9, "mb": 10**6, "Gi": 2**30, "Mi": 2**20}

    def size(q: str) -> int:
        return next(int(q[: -len(u)]) * f for u, f in units.items() if q.endswith(u))

    ls = spec.logstash_spec(ElkConfig(), False, "ceph-block")
    volume = ls["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert size(ls["config"]["queue.max_bytes"]) < size(volume)
    assert "storageClassName" not in spec.logstash_spec(ElkConfig(), False)["volumeClaimTemplates"][0]["spec"]
