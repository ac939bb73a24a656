"""The ELK component under mocks, through the real program's dev, prod and on-prem plans."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.infra.service_plans import (
    NAMESPACES,
    all_secret,
    component_records,
    depends_transitively,
    in_namespace,
    of_type,
    planned,
    release,
)

NS = NAMESPACES["elk"]
STACKS = ["dev", "prod"]


def cr(records, kind, name=None):
    found = [r for r in records if r["custom"] and r["inputs"].get("kind") == kind
             and (name is None or r["inputs"]["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''} in the plan"
    return found


def pools(records):
    cm = [r for r in of_type(records, "kubernetes:core/v1:ConfigMap")
          if r["inputs"]["metadata"]["name"] == "pipeworks-node-pools"][0]
    return json.loads(cm["inputs"]["data"]["pools.json"])


@pytest.mark.parametrize("stack", STACKS)
def test_hot_data_lives_on_nvme_pools_with_the_hot_data_class(stack):
    recs = planned(stack)
    es = cr(recs, "Elasticsearch")[0]["inputs"]
    hot = next(n for n in es["spec"]["nodeSets"] if n["name"] == "hot")
    pod = hot["podTemplate"]["spec"]
    landing = [p for p in pools(recs)
               if all(p["labels"].get(k) == v for k, v in pod["nodeSelector"].items())]
    assert landing and all(p["role"] == "nvme" for p in landing), "hot nodes must select NVMe pools only"
    for p in landing:  # and tolerate every taint of the pools they select
        for t in p["taints"]:
            assert any(tol["key"] == t["key"] and tol.get("value") == t["value"] for tol in pod["tolerations"])
    # the hot-data class the storage component exposes (Rook's block class here) exists in the plan
    classes = {r["inputs"]["metadata"]["name"] for r in of_type(recs, "kubernetes:storage.k8s.io/v1:StorageClass")}
    hot_class = hot["volumeClaimTemplates"][0]["spec"]["storageClassName"]
    assert hot_class in classes
    assert hot_class == "ceph-block", "storage.hot_data_class of the shipped stacks"


def test_prod_is_sized_for_availability_dev_is_small():
    sizes = {}
    for stack in STACKS:
        es = cr(planned(stack), "Elasticsearch")[0]["inputs"]["spec"]
        sizes[stack] = {n["name"]: n["count"] for n in es["nodeSets"]}
        zone_spread = all(any(c["topologyKey"] == "topology.kubernetes.io/zone"
                              for c in n["podTemplate"]["spec"]["topologySpreadConstraints"]) for n in es["nodeSets"])
        assert zone_spread is (stack == "prod")
    assert sizes == {"dev": {"master": 1, "hot": 1, "warm": 1}, "prod": {"master": 3, "hot": 3, "warm": 2}}
    # ECK's default PDB (one pod down only while green) covers Elasticsearch; an empty one would disable it
    assert "podDisruptionBudget" not in cr(planned("prod"), "Elasticsearch")[0]["inputs"]["spec"]
    prod = planned("prod")
    assert cr(prod, "Kibana")[0]["inputs"]["spec"]["count"] == 2
    pdbs = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in of_type(prod, "kubernetes:policy/v1:PodDisruptionBudget")
            if r["inputs"]["metadata"]["namespace"] == NS}
    assert pdbs == {"kibana": {"maxUnavailable": 1, "selector": {"matchLabels": {"kibana.k8s.elastic.co/name": "kibana"}}},
                    "logstash": {"maxUnavailable": 1, "selector": {"matchLabels": {
                        "logstash.k8s.elastic.co/name": "logstash"}}}}
    assert not [r for r in of_type(planned("dev"), "kubernetes:policy/v1:PodDisruptionBudget")
                if r["inputs"]["metadata"]["namespace"] == NS], "single replicas get no PDB (it would block drains)"


@pytest.mark.parametrize("stack", STACKS)
def test_operator_and_crds_come_before_every_elastic_resource(stack):
    recs = planned(stack)
    rel = release(recs, "elastic-operator")
    assert rel["chart"] == "eck-operator" and rel["version"] == "3.5.0"
    assert rel["repositoryOpts"]["repo"] == "https://helm.elastic.co" and rel["values"]["installCRDs"] is True
    op_urn = next(r["urn"] for r in of_type(recs, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == "elastic-operator")
    elastic = [r for r in recs if r["custom"] and ".k8s.elastic.co/" in r["type"]]
    assert {r["inputs"]["kind"] for r in elastic} == {"Elasticsearch", "Kibana", "Logstash", "Beat"}
    for r in elastic:
        assert depends_transitively(recs, r["urn"], op_urn), r["urn"]
        assert r["inputs"]["spec"]["version"] == "9.4.3"


@pytest.mark.parametrize("stack", STACKS)
def test_ilm_job_applies_the_policy_from_its_configmap(stack):
    recs = planned(stack)
    cm = [o for o in in_namespace(recs, NS) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "elasticsearch-ilm"][0]
    policy = json.loads(cm["data"]["policy.json"])
    delete_days = {"dev": "30d", "prod": "90d"}[stack]
    assert policy["policy"]["phases"]["warm"]["min_age"] == "7d"
    assert policy["policy"]["phases"]["delete"]["min_age"] == delete_days
    job = [o for o in in_namespace(recs, NS) if o["kind"] == "Job" and o["metadata"]["name"].startswith("elasticsearch-ilm")][0]
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == "elasticsearch-ilm"
    env = pod["containers"][0]["env"][0]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "logs-es-elastic-user", "key": "elastic"}
    es_urn = cr(recs, "Elasticsearch")[0]["urn"]
    job_urn = next(r["urn"] for r in of_type(recs, "kubernetes:batch/v1:Job") if r["inputs"]["metadata"]["namespace"] == NS
                   and r["inputs"]["metadata"]["name"].startswith("elasticsearch-ilm"))  # the workloads' Jobs share NS
    assert depends_transitively(recs, job_urn, es_urn)
    ls_urn = cr(recs, "Logstash")[0]["urn"]
    assert depends_transitively(recs, ls_urn, job_urn), "the index template exists before the first daily index"


@pytest.mark.parametrize("stack", STACKS)
def test_logstash_pipeline_is_a_secret_and_filebeat_ships_to_it(stack):
    recs = planned(stack)
    ls = cr(recs, "Logstash")[0]["inputs"]["spec"]
    assert ls["pipelinesRef"] == {"secretName": "logstash-pipelines"} and "pipelines" not in ls
    # a persisted queue on a volume, so accepted events survive a restart
    assert ls["config"]["queue.type"] == "persisted"
    claim = ls["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "logstash-data" and claim["spec"]["storageClassName"] == "ceph-block"
    assert ls["services"][0]["service"]["spec"]["ports"][0]["port"] == 5044
    secret = [o for o in in_namespace(recs, NS) if o["kind"] == "Secret" and o["metadata"]["name"] == "logstash-pipelines"]
    assert secret and all_secret(secret[0]["stringData"])
    beats = {b["inputs"]["metadata"]["name"]: b["inputs"]["spec"] for b in cr(recs, "Beat")}
    assert beats["filebeat"]["config"]["output.logstash"]["hosts"] == [f"logstash-ls-beats.{NS}.svc:5044"]
    ds = beats["filebeat"]["daemonSet"]["podTemplate"]["spec"]
    declared = {(t["key"], t["value"]) for p in pools(recs) for t in p["taints"]}
    assert declared and declared <= {(t["key"], t["value"]) for t in ds["tolerations"]}, "every tainted pool is read"


@pytest.mark.parametrize("stack", STACKS)
def test_eks_ships_control_plane_logs_through_irsa(stack):
    recs = planned(stack)
    beats = {b["inputs"]["metadata"]["name"]: b for b in cr(recs, "Beat")}
    cw = beats["filebeat-cloudwatch"]["inputs"]["spec"]
    group = cw["config"]["filebeat.inputs"][0]["log_group_name"]
    eks_groups = [r["inputs"]["name"] for r in of_type(recs, "aws:cloudwatch/logGroup:LogGroup")]
    assert group in eks_groups, "the log group EKS writes the control-plane logs to"
    sa = [o for o in in_namespace(recs, NS) if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "filebeat-cloudwatch"][0]
    role_arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    role = next(r for r in of_type(recs, "aws:iam/role:Role") if role_arn.endswith(r["name"]))
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    assert f"system:serviceaccount:{NS}:filebeat-cloudwatch" in json.dumps(trust), "only this ServiceAccount"
    policy = [r for r in of_type(recs, "aws:iam/rolePolicy:RolePolicy") if r["name"] == role["name"]][0]
    assert group in policy["inputs"]["policy"]


def test_existing_cluster_has_no_cloudwatch_reader():
    recs = planned("onprem")
    names = {b["inputs"]["metadata"]["name"] for b in cr(recs, "Beat")}
    assert names == {"filebeat"}
    assert not [r for r in recs if r["type"].startswith("aws:")]


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_admit_only_each_services_clients(stack):
    recs = planned(stack)
    pols = {o["metadata"]["name"]: o["spec"] for o in in_namespace(recs, NS) if o["kind"] == "NetworkPolicy"}
    assert pols["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    beats = pols["allow-logstash-beats"]["ingress"][0]
    assert beats["ports"] == [{"protocol": "TCP", "port": 5044}]
    assert beats["from"][0]["podSelector"]["matchExpressions"][0]["key"] == "beat.k8s.elastic.co/name"
    transport = pols["allow-elasticsearch-transport"]["ingress"][0]
    assert transport["from"] == [{"podSelector": pols["allow-elasticsearch-transport"]["podSelector"]}]
    prom = pols["allow-prometheus"]["ingress"][0]["from"][0]
    assert prom == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for name, p in pols.items():
        for rule in p.get("ingress", []):
            assert rule.get("ports"), f"{name} admits every port"


@pytest.mark.parametrize("stack", STACKS)
def test_elk_resources_all_in_one_namespace(stack):
    recs = component_records(planned(stack), "pipeworks:services:Elk")
    for r in recs:
        if not r["custom"] or not r["type"].startswith("kubernetes:") or r["type"].startswith("kubernetes:helm"):
            continue
        meta = r["inputs"]["metadata"]
        if r["inputs"]["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            continue
        assert meta["namespace"] == NS, r["urn"]
    ns = [r["inputs"] for r in recs if r["type"] == "kubernetes:core/v1:Namespace"][0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"  # Filebeat's hostPath
    assert yaml.safe_dump(ns)  # serialisable manifest


@pytest.mark.parametrize("stack", STACKS)
def test_elasticsearch_keeps_mmap_and_raises_max_map_count_first(stack):
    """ECK 3.5 ("Virtual memory"): node.store.allow_mmap false is the quickstart's shortcut, not for production;
    raise vm.max_map_count (1048576 for Elasticsearch 8.16+) with a privileged init container and leave mmap on."""
    from policies.rules.model import Context, Resource
    from policies.rules.security import PSS_BASELINE, pod_security_baseline

    recs = planned(stack)
    es = cr(recs, "Elasticsearch")[0]
    for node_set in es["inputs"]["spec"]["nodeSets"]:
        assert "node.store.allow_mmap" not in node_set.get("config", {}), node_set["name"]
        (init,) = node_set["podTemplate"]["spec"]["initContainers"]
        assert init["image"] == f"docker.elastic.co/elasticsearch/elasticsearch:{es['inputs']['spec']['version']}"
        assert init["securityContext"] == {"privileged": True, "runAsUser": 0}
        assert "sysctl -w vm.max_map_count=1048576" in init["command"][-1]
    # The platform's Pod Security policy admits exactly this: the ES image's sysctl, nothing else privileged.
    res = Resource(urn=es["urn"], type=es["type"], name=es["name"], props=es["inputs"])
    assert [f for f in pod_security_baseline(res, Context(environment=stack, resources=[res]))
            if f.policy == PSS_BASELINE] == []
    other = json.loads(json.dumps(es["inputs"]))
    other["spec"]["nodeSets"][0]["podTemplate"]["spec"]["initContainers"][0]["image"] = "docker.io/library/busybox:1.37"
    res = Resource(urn=es["urn"], type=es["type"], name=es["name"], props=other)
    assert any("privileged" in f.message for f in pod_security_baseline(res, Context(environment=stack, resources=[res])))
