"""Rules about the platform as it runs: storage-capacity (Ceph claims x pool copies against the raw instance-store
capacity of the OSD pools), alert-receiver (prod pages someone) and zone-spread-autoscaling, on hand-built
stacks and on the shipped plans."""

from __future__ import annotations

import pytest

from policies.rules import storage_capacity as sc
from policies.rules.model import Context
from policies.rules.pools import parse_pools
from policies.rules.operations import ALERT_RECEIVER
from tests.policies.builders import findings, k8s, messages, pool, res

TI = 2**40
NS = "rook-ceph"


def ceph(size: int = 3, domain: str = "zone") -> list:
    """A CephCluster, the RBD pool + class, a filesystem + class and an object store + bucket class."""
    rep = {"size": float(size), "requireSafeReplicaSize": size > 1}
    return [
        k8s("ceph.rook.io/v1", "CephCluster", NS, {"mon": {"count": 3.0}}, namespace=NS),
        k8s("ceph.rook.io/v1", "CephBlockPool", "replicapool", {"failureDomain": domain, "replicated": rep},
            namespace=NS),
        k8s("ceph.rook.io/v1", "CephFilesystem", "sharedfs", {
            "metadataPool": {"failureDomain": domain, "replicated": rep},
            "dataPools": [{"name": "replicated", "failureDomain": domain, "replicated": rep}]}, namespace=NS),
        k8s("ceph.rook.io/v1", "CephObjectStore", "datalake", {
            "metadataPool": {"failureDomain": domain, "replicated": rep},
            "dataPool": {"failureDomain": domain, "replicated": rep}}, namespace=NS),
        k8s("storage.k8s.io/v1", "StorageClass", "ceph-block", None, namespace=NS,
            provisioner=f"{NS}.rbd.csi.ceph.com", parameters={"clusterID": NS, "pool": "replicapool"}),
        k8s("storage.k8s.io/v1", "StorageClass", "cephfs", None, namespace=NS,
            provisioner=f"{NS}.cephfs.csi.ceph.com", parameters={"clusterID": NS, "fsName": "sharedfs",
                                                                 "pool": "sharedfs-replicated"}),
        k8s("storage.k8s.io/v1", "StorageClass", "ceph-bucket", None, namespace=NS,
            provisioner=f"{NS}.ceph.rook.io/bucket", parameters={"objectStoreName": "datalake"}),
        k8s("storage.k8s.io/v1", "StorageClass", "gp3-encrypted", None, namespace=NS, provisioner="ebs.csi.aws.com"),
    ]


def kafka_pool(replicas: int, size: str, cls: str = "ceph-block"):
    return k8s("kafka.strimzi.io/v1", "KafkaNodePool", "broker", {
        "replicas": float(replicas), "roles": ["broker"],
        "storage": {"type": "jbod", "volumes": [{"id": 0.0, "type": "persistent-claim", "size": size,
                                                 "class": cls}]}}, namespace="kafka")


def es(count: int, size: str, cls: str = "ceph-block"):
    return k8s("elasticsearch.k8s.elastic.co/v1", "Elasticsearch", "logs", {"nodeSets": [{
        "name": "hot", "count": float(count), "volumeClaimTemplates": [{
            "metadata": {"name": "elasticsearch-data"},
            "spec": {"storageClassName": cls, "resources": {"requests": {"storage": size}}}}]}]}, namespace="logging")


def prometheus(replicas: int, size: str):
    return res("kubernetes:helm.sh/v3:Release", "kps", {
        "chart": "kube-prometheus-stack", "name": "kube-prometheus-stack", "namespace": "monitoring", "values": {
            "prometheus": {"prometheusSpec": {"replicas": float(replicas), "storageSpec": {"volumeClaimTemplate": {
                "spec": {"storageClassName": "ceph-block", "resources": {"requests": {"storage": size}}}}}}},
            "alertmanager": {"alertmanagerSpec": {"configSecret": "alertmanager-pipeworks"}}}})


def osd_pools(types: list[str], lo: int, hi: int) -> list[dict]:
    return [pool("general", "general", ["m6i.2xlarge"], 3, 9), pool("nvme-osd", "nvme", types, lo, hi, nvme_mode="raw"),
            pool("nvme-scratch", "nvme", ["i4i.2xlarge"], 3, 12, nvme_mode="raid0")]


# The stacks as shipped before this rule: 3 x i4i.2xlarge, Kafka 3 x 500Gi, ES hot 3 x 500Gi, warm 2 x 1Ti,
# Prometheus 2 x 200Gi, all at size 3: ~5.45 TiB claimed on ~1.7 TiB usable.
OLD_PROD = [*ceph(), kafka_pool(3, "500Gi"), es(3, "500Gi"), prometheus(2, "200Gi"),
            k8s("elasticsearch.k8s.elastic.co/v1", "Elasticsearch", "warm", {"nodeSets": [{
                "name": "warm", "count": 2.0, "volumeClaimTemplates": [{"spec": {
                    "storageClassName": "ceph-block", "resources": {"requests": {"storage": "1Ti"}}}}]}]},
                namespace="logging")]


def test_the_old_prod_sizing_is_reported_oversubscribed():
    (msg,) = messages(sc.STORAGE_CAPACITY, OLD_PROD, env="prod", pools=osd_pools(["i4i.2xlarge"], 3, 6))
    assert msg.startswith("Ceph is oversubscribed: claims need 16Ti raw (5.3Ti x pool copies)")
    assert "give 5.1Ti raw, 4.3Ti below nearfull (85%)" in msg and "also beyond maxSize" in msg
    assert "KafkaNodePool/broker 3 x 500Gi x3" in msg


def test_fits_only_at_max_size_is_still_a_finding_naming_it():
    (msg,) = messages(sc.STORAGE_CAPACITY, OLD_PROD, env="prod", pools=osd_pools(["i4i.4xlarge"], 3, 9))
    assert "fits only at maxSize (26.1Ti)" in msg


def test_enough_osd_capacity_passes_and_the_report_adds_up():
    pools = osd_pools(["i3en.3xlarge"], 6, 9)
    assert messages(sc.STORAGE_CAPACITY, OLD_PROD, env="prod", pools=pools) == []
    report = sc.storage_report(Context(environment="prod", resources=OLD_PROD, pools=parse_pools(pools)))
    assert report is not None
    assert report.claimed == 3 * 500 * 2**30 * 2 + 2 * 200 * 2**30 + 2 * TI
    assert report.raw_needed == 3 * report.claimed
    assert report.raw_min == 6 * 7500 * 10**9 and report.raw_max == 9 * 7500 * 10**9


def test_only_ceph_classes_count_and_the_default_class_is_followed():
    resources = [*ceph(), kafka_pool(3, "900Ti", cls="gp3-encrypted"), es(3, "100Gi")]
    report = sc.storage_report(Context(environment="prod", resources=resources,
                                       pools=parse_pools(osd_pools(["i4i.2xlarge"], 3, 3))))
    assert report is not None and [c.label for c, _ in report.claims] == ["Elasticsearch/logs nodeSet hot"]


def test_bucket_quotas_count_on_the_object_store_and_unbounded_buckets_are_listed():
    obc = k8s("objectbucket.io/v1alpha1", "ObjectBucketClaim", "lake", {"storageClassName": "ceph-bucket",
              "additionalConfig": {"maxSize": "2Ti"}}, namespace="data-lake")
    open_obc = k8s("objectbucket.io/v1alpha1", "ObjectBucketClaim", "events", {"storageClassName": "ceph-bucket"},
                   namespace="spark")
    report = sc.storage_report(Context(environment="prod", resources=[*ceph(), obc, open_obc],
                                       pools=parse_pools(osd_pools(["i4i.2xlarge"], 3, 3))))
    assert report is not None
    ((claim, cpool),) = report.claims
    assert claim.size == 2 * TI and cpool.name == "datalake.rgw.buckets.data" and cpool.size == 3
    assert report.unbounded_buckets == ["ObjectBucketClaim spark/events"]
    text = "\n".join(sc.render(report))
    assert "ObjectBucketClaim spark/events: no maxSize quota (unbounded, not counted)" in text


def test_zone_failure_domain_fills_only_whole_zones():
    """7 OSD nodes in 3 zones hold as much as 6 when each zone keeps one copy; with host they all count."""
    pools = osd_pools(["i3en.3xlarge"], 7, 7)
    zone = sc.storage_report(Context(environment="prod", resources=ceph(domain="zone"), pools=parse_pools(pools)))
    host = sc.storage_report(Context(environment="prod", resources=[*ceph(domain="host"), es(1, "1Gi")],
                                     pools=parse_pools(pools)))
    assert zone is not None and host is not None
    assert host.raw_min == 7 * 7500 * 10**9
    zone_with_claim = sc.storage_report(Context(environment="prod", resources=[*ceph(domain="zone"), es(1, "1Gi")],
                                                pools=parse_pools(pools)))
    assert zone_with_claim is not None and zone_with_claim.raw_min == 6 * 7500 * 10**9


def test_unknown_instance_store_is_a_finding_not_a_guess():
    (msg,) = messages(sc.STORAGE_CAPACITY, [*ceph(), es(1, "1Gi")], env="prod",
                      pools=osd_pools(["x9.metal"], 3, 3))
    assert "instance types x9.metal are not in the instance-store table" in msg


def test_declared_osd_pools_of_an_existing_cluster_are_not_guessed():
    declared = [pool("general", "general", [], 3, 3, capacity={"cpu": "16", "memory": "64Gi"}),
                pool("osd", "nvme", [], 3, 3, nvme_mode="raw", capacity={"cpu": "16", "memory": "64Gi"})]
    assert messages(sc.STORAGE_CAPACITY, OLD_PROD, env="prod", pools=declared) == []
    report = sc.storage_report(Context(environment="prod", resources=OLD_PROD, pools=parse_pools(declared)))
    assert report is not None and report.raw_min is None
    assert "raw capacity unknown (declared pools without instance types: osd)" in "\n".join(sc.render(report))


def test_stacks_without_ceph_or_pools_are_not_judged():
    assert messages(sc.STORAGE_CAPACITY, [es(3, "500Ti")], env="prod") == []
    assert findings(sc.STORAGE_CAPACITY, OLD_PROD, env="prod", with_pools=False) == []


# --- alert-receiver -------------------------------------------------------------------------------

def kps(alertmanager: dict):
    return res("kubernetes:helm.sh/v3:Release", "kps", {"chart": "kube-prometheus-stack", "name": "kps",
                                                        "namespace": "monitoring", "values": {"alertmanager": alertmanager}})


@pytest.mark.parametrize("alertmanager,fires", [
    ({"alertmanagerSpec": {"replicas": 3.0}}, True),  # the chart's default config: everything to `null`
    ({"enabled": False}, True),
    ({"config": {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}}, True),
    ({"config": {"route": {"receiver": "team"}, "receivers": [{"name": "team"}]}}, True),  # no notifier
    ({"config": {"route": {"receiver": "team"}, "receivers": [
        {"name": "team", "webhook_configs": [{"url": "http://relay"}]}]}}, False),
    ({"alertmanagerSpec": {"useExistingSecret": True, "configSecret": "alertmanager-pipeworks"}}, False),
])
def test_prod_alertmanager_must_deliver(alertmanager, fires):
    assert bool(messages(ALERT_RECEIVER, [kps(alertmanager)], env="prod")) is fires
    assert messages(ALERT_RECEIVER, [kps(alertmanager)], env="dev") == []


def test_shipped_stacks_fit_their_ceph_and_page_someone():
    """Both fail on the stacks as they were (prod: 3 x i4i.2xlarge for ~15.5 TiB of claims and quotas; no receiver)."""
    from pipeworks.check import load_plan, run_check
    from tests.infra.planned import plan_dir

    for stack in ("dev", "prod"):
        report = run_check(load_plan(plan_dir(stack)))
        bad = [x for x in report.violations if x.policy in (sc.STORAGE_CAPACITY, ALERT_RECEIVER)]
        assert bad == [], bad


# --- zone-spread-autoscaling ----------------------------------------------------------------------

def _general_deployment(when: str | None = "DoNotSchedule", anti: bool = False):
    from tests.policies.builders import container, pod, workload
    zone = {"maxSkew": 1.0, "topologyKey": "topology.kubernetes.io/zone",
            "labelSelector": {"matchLabels": {"app": "api"}}}
    if when is not None:
        zone["whenUnsatisfiable"] = when
    spec = pod(container(), nodeSelector={"pipeworks.io/role": "general"}, topologySpreadConstraints=[zone])
    if anti:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "api"}}}]}}
        spec.pop("topologySpreadConstraints")
    return workload("Deployment", "api", spec, replicas=3.0)


def _with_node_groups(resources, pools):
    from tests.policies.builders import nodegroup, pools_configmap
    return [*resources, pools_configmap(pools), *(nodegroup(p) for p in pools if p["role"] != "edge")]


@pytest.mark.parametrize("deployment,fires", [
    (lambda: _general_deployment("DoNotSchedule"), True),
    (lambda: _general_deployment(None), True),  # whenUnsatisfiable defaults to DoNotSchedule
    (lambda: _general_deployment(anti=True), True),  # required zone anti-affinity: same problem (autoscaler#1681)
    (lambda: _general_deployment("ScheduleAnyway"), False),
])
def test_hard_zone_spreads_on_multi_zone_autoscaled_groups_are_reported(deployment, fires):
    from policies.rules.operations import ZONE_SPREAD_AUTOSCALING
    from tests.policies.builders import standard_pools

    resources = _with_node_groups([deployment()], standard_pools())
    msgs = messages(ZONE_SPREAD_AUTOSCALING, resources, env="prod", with_pools=True)
    assert bool(msgs) is fires
    if fires:
        assert "may land on general (3 zones, 2..4 nodes)" in msgs[0]


def test_a_fixed_size_or_single_zone_group_is_fine():
    from policies.rules.operations import ZONE_SPREAD_AUTOSCALING
    from tests.policies.builders import standard_pools

    fixed = [dict(p, minSize=4, maxSize=4) if p["name"] == "general" else p for p in standard_pools()]
    one_zone = [dict(p, zones=["us-east-1a"]) if p["name"] == "general" else p for p in standard_pools()]
    for pools in (fixed, one_zone):
        assert messages(ZONE_SPREAD_AUTOSCALING, _with_node_groups([_general_deployment()], pools), env="prod") == []


def test_capacity_command_prints_the_storage_computation(tmp_path, capsys):
    import json

    from pipeworks.capacity import main as capacity_main
    from tests.policies.builders import pools_configmap

    plan = tmp_path / "plan"
    plan.mkdir()
    rs = [pools_configmap(osd_pools(["i4i.2xlarge"], 3, 6)), *OLD_PROD]
    (plan / "resources.json").write_text(json.dumps([
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": None, "provider": None, "dependencies": [],
         "custom": True, "inputs": r.props} for r in rs]))
    assert capacity_main([str(plan), "--format", "json"]) == 0
    storage = json.loads(capsys.readouterr().out)["storage"]
    assert storage["rawNeeded"] == 3 * storage["claimed"]
    assert storage["rawAtMinSize"] == 3 * 1875 * 10**9 and storage["rawAtMaxSize"] == 6 * 1875 * 10**9
    assert {c["claim"] for c in storage["claims"]} >= {"KafkaNodePool/broker", "Elasticsearch/logs nodeSet hot"}
    assert capacity_main([str(plan)]) == 0
    text = capsys.readouterr().out
    assert "ceph storage (claims x pool copies vs raw OSD capacity" in text
    assert "KafkaNodePool/broker: 3 x 500Gi on pool replicapool (size 3, zone) = 4.4Ti raw" in text


def test_per_user_home_volumes_are_listed_not_counted():
    hub = res("kubernetes:helm.sh/v3:Release", "hub", {"chart": "jupyterhub", "name": "jupyterhub", "values": {
        "singleuser": {"storage": {"capacity": "50Gi", "dynamic": {"storageClass": "ceph-block"}}}}})
    report = sc.storage_report(Context(environment="prod", resources=[*ceph(), hub],
                                       pools=parse_pools(osd_pools(["i4i.2xlarge"], 3, 3))))
    assert report is not None and report.claims == []
    assert report.per_user == ["Release/jupyterhub home volumes: 50Gi per user on ceph-block"]


@pytest.mark.parametrize("replicas,min_size,fires", [(3, 3, False), (2, 3, False), (4, 3, True), (3, 2, True)])
def test_hard_zone_spreads_are_fine_while_the_minimum_has_a_node_per_zone(replicas, min_size, fires):
    """Quorum sets (Ceph mons, Kafka nodes, ES node sets) keep DoNotSchedule across zones: with no more pods than
    zones and a pool minimum of one node per zone they never wait for a zonal scale-up; beyond that they would."""
    from policies.rules.operations import ZONE_SPREAD_AUTOSCALING
    from tests.policies.builders import container, pod, spread, standard_pools, workload

    hard = [dict(c, whenUnsatisfiable="DoNotSchedule") for c in spread({"app": "q"})]
    sts = workload("StatefulSet", "quorum", pod(container(), nodeSelector={"pipeworks.io/role": "general"},
                                                 topologySpreadConstraints=hard), replicas=float(replicas))
    pools = [dict(p, minSize=min_size, maxSize=9) if p["name"] == "general" else p for p in standard_pools()]
    assert bool(messages(ZONE_SPREAD_AUTOSCALING, _with_node_groups([sts], pools), env="prod")) is fires


def test_shipped_quorum_sets_keep_hard_zone_spreads_in_prod():
    from pipeworks.check import load_plan
    from policies.rules.podspec import all_pod_templates
    from tests.infra.planned import plan_dir

    target = load_plan(plan_dir("prod"))
    ctx = Context(environment="prod", resources=target.resources)
    hard = {pt.label for pt in all_pod_templates(ctx)
            if any(c.get("topologyKey") == "topology.kubernetes.io/zone" and c.get("whenUnsatisfiable") == "DoNotSchedule"
                   for c in pt.spec.get("topologySpreadConstraints") or [])}
    for expected in ("CephCluster/rook-ceph mon", "KafkaNodePool/broker (broker)", "KafkaNodePool/controller (controller)"):
        assert expected in hard, sorted(hard)
    assert any(label.startswith("Elasticsearch/logs") for label in hard)
