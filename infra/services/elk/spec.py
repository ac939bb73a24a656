"""Pure builders of the ELK component's objects: the Elasticsearch, Kibana, Logstash and Beat specs, the klog
grok pipeline, the ILM policy and index template, the operator's Helm values and the NetworkPolicies.

No Pulumi here: the component (infra/services/elk/__init__.py) only wires these to resources, and tests
check them directly."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import yaml

from infra.config.elk import ElkConfig, NodeSetSizing
from infra.config.resources import PodResources
from infra.placement import Placement, Role, place, spread

OPERATOR_RELEASE = "elastic-operator"
OPERATOR_CHART = "eck-operator"
OPERATOR_REPO = "https://helm.elastic.co"
KIBANA = "kibana"
LOGSTASH = "logstash"
LOGSTASH_PIPELINES_SECRET = "logstash-pipelines"
QUEUE_VOLUME = "4Gi"
QUEUE_MAX_BYTES = "3gb"  # below the volume, leaving room for Logstash's other data
FILEBEAT = "filebeat"
FILEBEAT_CLOUDWATCH = "filebeat-cloudwatch"
EXPORTER = "elasticsearch-exporter"
EXPORTER_IMAGE = "quay.io/prometheuscommunity/elasticsearch-exporter:v1.9.0"
EXPORTER_PORT = 9114
ILM_JOB_IMAGE = "docker.io/curlimages/curl:8.15.0"
BEATS_PORT = 5044
ES_HTTP_PORT = 9200
ES_TRANSPORT_PORT = 9300
KIBANA_PORT = 5601
WEBHOOK_PORT = 9443
DATA_VOLUME = "elasticsearch-data"  # ECK requires this name for the data volume claim

# Index names: ECK's Logstash association role may write `logstash-*`; the `logs-*-*` pattern would hit
# Elasticsearch's built-in data-stream template instead of our daily indices.
KLOG_INDEX = "logstash-klog"
OTHER_INDEX = "logstash-containers"
INDEX_PATTERN = "logstash-*"

# klog header: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg  (k8s.io/klog, as in the API server logs).
KLOG_GROK = (r"^%{DATA:level}(?<month>[0-1][0-9])(?<day>[0-3][0-9]) %{TIME:time}\s+%{NUMBER:thread_id} "
             r"%{DATA:file}:%{NUMBER:line}\] %{GREEDYDATA:klog_message}$")


def es_url(cfg: ElkConfig) -> str:
    """The in-cluster HTTPS URL of ECK's `<name>-es-http` Service."""
    return f"https://{cfg.elasticsearch.name}-es-http.{cfg.namespace}.svc:{ES_HTTP_PORT}"


def es_ca_secret(cfg: ElkConfig) -> str:
    """ECK's Secret with the CA of the HTTP certificate (key `ca.crt`): what a client verifies the server with."""
    return f"{cfg.elasticsearch.name}-es-http-certs-public"


def elastic_user_secret(cfg: ElkConfig) -> str:
    """ECK's Secret holding the `elastic` superuser's password (key `elastic`), in the ELK namespace."""
    return f"{cfg.elasticsearch.name}-es-elastic-user"


def kibana_url(cfg: ElkConfig) -> str:
    """The in-cluster HTTPS URL of ECK's `<kibana>-kb-http` Service."""
    return f"https://{KIBANA}-kb-http.{cfg.namespace}.svc:{KIBANA_PORT}"


def kibana_ca_secret(cfg: ElkConfig) -> str:
    """ECK's Secret with the CA of Kibana's HTTP certificate (key `ca.crt`)."""
    return f"{KIBANA}-kb-http-certs-public"


def es_labels(cfg: ElkConfig, node_set: str) -> dict[str, str]:
    """The labels ECK puts on one nodeSet's pods (selectors for spread and NetworkPolicies)."""
    name = cfg.elasticsearch.name
    return {"elasticsearch.k8s.elastic.co/cluster-name": name,
            "elasticsearch.k8s.elastic.co/statefulset-name": f"{name}-es-{node_set}"}


def _container(name: str, res: PodResources, **extra: Any) -> dict[str, Any]:
    return {"name": name, "resources": res.k8s(), **extra}


def _pod_spec(placement: Placement, match_labels: dict[str, str], across_zones: bool,
              containers: list[dict[str, Any]], hard_zones: bool = False, **extra: Any) -> dict[str, Any]:
    spread_ = spread(match_labels, across_zones=across_zones, hard_zones=hard_zones)
    return {**placement.pod_spec(), "topologySpreadConstraints": spread_, "containers": containers, **extra}


# Elasticsearch 8.16+ wants vm.max_map_count >= 1048576 (ECK 3.5 docs, "Virtual memory"); AL2023 ships less.
MAX_MAP_COUNT = 1048576


def es_image(cfg: ElkConfig) -> str:
    """The image ECK runs for this Elasticsearch version (its default registry and repository)."""
    return f"docker.elastic.co/elasticsearch/elasticsearch:{cfg.version}"


def max_map_count_init(cfg: ElkConfig) -> dict[str, Any]:
    """ECK's documented privileged init container that raises the node's vm.max_map_count before Elasticsearch
    starts, so mmap (the production store) stays on. Chosen over nodeadm user data or a DaemonSet: it runs exactly
    where Elasticsearch runs (whatever pool a nodeSet moves to) and touches neither the cluster layer nor other
    namespaces; the privilege is confined to this one command in the `logging` platform namespace."""
    return {
        "name": "max-map-count", "image": es_image(cfg),
        "command": ["sh", "-c", f"[ \"$(sysctl -n vm.max_map_count)\" -ge {MAX_MAP_COUNT} ] || "
                                f"sysctl -w vm.max_map_count={MAX_MAP_COUNT}"],
        "securityContext": {"privileged": True, "runAsUser": 0},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }


def _node_set(cfg: ElkConfig, name: str, sizing: NodeSetSizing, roles: list[str], placement: Placement,
              storage_class: str | None, across_zones: bool) -> dict[str, Any]:
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": sizing.storage_size}}}
    if storage_class:  # None: the cluster's default class
        claim["storageClassName"] = storage_class
    return {
        "name": name,
        "count": sizing.count,
        # mmap stays on (ECK: node.store.allow_mmap false is for quickstarts, not production).
        "config": {"node.roles": roles},
        "podTemplate": {"spec": _pod_spec(placement, es_labels(cfg, name), across_zones,
                                          [_container("elasticsearch", sizing.resources)],
                                          # masters hold the quorum, data tiers a shard and its replica
                                          hard_zones=True, initContainers=[max_map_count_init(cfg)])},
        "volumeClaimTemplates": [{"metadata": {"name": DATA_VOLUME}, "spec": claim}],
    }


def elasticsearch_spec(cfg: ElkConfig, *, hot_class: str | None, block_class: str | None, across_zones: bool) -> dict[str, Any]:
    """Master, hot and warm nodeSets with the roles of ECK's hot-warm-cold example. Hot nodes land on NVMe
    pools and keep data_content (regular indices default to that tier) and ingest."""
    es = cfg.elasticsearch
    general = place(Role.GENERAL)
    return {
        "version": cfg.version,
        "nodeSets": [
            _node_set(cfg, "master", es.master, ["master"], general, block_class, across_zones),
            _node_set(cfg, "hot", es.hot, ["data_hot", "data_content", "ingest"],
                      place(Role.NVME, nvme_mode=es.hot.nvme_mode), hot_class, across_zones),
            _node_set(cfg, "warm", es.warm, ["data_warm"], general, block_class, across_zones),
        ],
        # ECK's default PDB allows one pod down only while the cluster is green: kept on purpose.
    }


def kibana_spec(cfg: ElkConfig, across_zones: bool) -> dict[str, Any]:
    labels = {"kibana.k8s.elastic.co/name": KIBANA}
    return {
        "version": cfg.version, "count": cfg.kibana.count,
        "elasticsearchRef": {"name": cfg.elasticsearch.name},
        "podTemplate": {"spec": _pod_spec(place(Role.GENERAL), labels, across_zones,
                                          [_container("kibana", cfg.kibana.resources)])},
    }


def logstash_pipeline(cfg: ElkConfig) -> str:
    """beats on 5044 -> klog grok (level, month, day, time, thread id, file, line, message) -> daily indices.

    Lines that are not klog (application logs) keep their message and go to their own daily index."""
    prefix = cfg.elasticsearch.name.upper().replace("-", "_")  # ECK exports <CLUSTERNAME>_ES_* variables
    return "\n".join([
        "input {",
        f"  beats {{ port => {BEATS_PORT} }}",
        "}",
        "filter {",
        "  grok {",
        f'    match => {{ "message" => "{KLOG_GROK}" }}',
        '    tag_on_failure => ["not_klog"]',
        "  }",
        '  if "not_klog" not in [tags] {',
        '    mutate { rename => { "klog_message" => "message" } add_field => { "[@metadata][index]" => '
        f'"{KLOG_INDEX}" }} }}',
        "  } else {",
        f'    mutate {{ add_field => {{ "[@metadata][index]" => "{OTHER_INDEX}" }} }}',
        "  }",
        "}",
        "output {",
        "  elasticsearch {",
        f'    hosts => ["${{{prefix}_ES_HOSTS}}"]',
        f'    user => "${{{prefix}_ES_USER}}"',
        f'    password => "${{{prefix}_ES_PASSWORD}}"',
        f'    ssl_certificate_authorities => "${{{prefix}_ES_SSL_CERTIFICATE_AUTHORITY}}"',
        '    index => "%{[@metadata][index]}-%{+YYYY.MM.dd}"',
        # The index template (ILM Job) owns mappings and lifecycle; Logstash must not install its own or
        # switch to data streams / rollover aliases.
        "    manage_template => false",
        "    ilm_enabled => false",
        "    data_stream => false",
        "  }",
        "}",
    ])


def logstash_spec(cfg: ElkConfig, across_zones: bool, storage_class: str | None = None) -> dict[str, Any]:
    """Logstash with a persisted queue: events Filebeat has handed over survive a Logstash restart (Filebeat
    itself resends whatever Logstash has not acknowledged)."""
    labels = {"logstash.k8s.elastic.co/name": LOGSTASH}
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": QUEUE_VOLUME}}}
    if storage_class:
        claim["storageClassName"] = storage_class
    return {
        "version": cfg.version, "count": cfg.logstash.count,
        "config": {"queue.type": "persisted", "queue.max_bytes": QUEUE_MAX_BYTES},
        # ECK mounts the claim named logstash-data at Logstash's data path, where the queue lives.
        "volumeClaimTemplates": [{"metadata": {"name": "logstash-data"}, "spec": claim}],
        "elasticsearchRefs": [{"clusterName": cfg.elasticsearch.name, "name": cfg.elasticsearch.name}],
        # In a Secret (pipelinesRef): the output names the Elasticsearch credentials' variables, and ECK
        # keeps pipelines that touch credentials out of the resource itself.
        "pipelinesRef": {"secretName": LOGSTASH_PIPELINES_SECRET},
        "services": [{"name": "beats", "service": {"spec": {"type": "ClusterIP", "ports": [
            {"name": "beats", "port": BEATS_PORT, "targetPort": BEATS_PORT, "protocol": "TCP"}]}}}],
        "podTemplate": {"spec": _pod_spec(place(Role.GENERAL), labels, across_zones,
                                          [_container("logstash", cfg.logstash.resources)])},
    }


def logstash_pipelines_yml(cfg: ElkConfig) -> str:
    """pipelines.yml for Logstash.spec.pipelinesRef (the same list `spec.pipelines` would hold)."""
    return yaml.safe_dump([{"pipeline.id": "main", "config.string": logstash_pipeline(cfg)}], sort_keys=False,
                          width=1000)


def logstash_beats_host(cfg: ElkConfig) -> str:
    """The Service ECK creates for the `beats` entry of Logstash.spec.services."""
    return f"{LOGSTASH}-ls-beats.{cfg.namespace}.svc:{BEATS_PORT}"


def unique_tolerations(tolerations: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    for t in tolerations:
        if t not in seen:
            seen.append(t)
    return seen


def filebeat_daemonset_spec(cfg: ElkConfig, tolerations: list[dict[str, str]]) -> dict[str, Any]:
    """Filebeat on every node (every tainted pool tolerated), reading container logs from the node."""
    config = {
        "filebeat.inputs": [{
            "type": "filestream", "id": "kubernetes-container-logs",
            "paths": ["/var/log/containers/*.log"],
            "prospector.scanner.symlinks": True,
            "parsers": [{"container": {}}],
            "processors": [{"add_kubernetes_metadata": {
                "host": "${NODE_NAME}",
                "matchers": [{"logs_path": {"logs_path": "/var/log/containers/"}}]}}],
        }],
        "output.logstash": {"hosts": [logstash_beats_host(cfg)]},
    }
    host_paths = {"varlogcontainers": "/var/log/containers", "varlogpods": "/var/log/pods"}
    pod_spec = {
        "serviceAccountName": FILEBEAT,
        "automountServiceAccountToken": True,
        "terminationGracePeriodSeconds": 30,
        # root: the node's log files are readable by root only (ECK's filebeat recipe).
        "securityContext": {"runAsUser": 0},
        "tolerations": unique_tolerations(tolerations),
        "containers": [_container(
            "filebeat", cfg.filebeat.resources,
            env=[{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            volumeMounts=[{"name": n, "mountPath": p, "readOnly": True} for n, p in host_paths.items()])],
        "volumes": [{"name": n, "hostPath": {"path": p}} for n, p in host_paths.items()],
    }
    return {"type": "filebeat", "version": cfg.version, "config": config,
            "daemonSet": {"podTemplate": {"spec": pod_spec}}}


# EKS control-plane log streams (EKS docs "Send control plane logs to CloudWatch Logs"): kube-apiserver-<id>,
# kube-apiserver-audit-<id>, authenticator-<id>, kube-controller-manager-<id>, kube-scheduler-<id>.
API_SERVER_STREAM_PREFIX = "kube-apiserver-"
AUDIT_STREAM_PREFIX = "kube-apiserver-audit-"


def control_plane_log_group(cluster_name: str) -> str:
    """The CloudWatch log group EKS writes control-plane logs to (infra/cluster/eks.py creates it)."""
    return f"/aws/eks/{cluster_name}/cluster"


def filebeat_cloudwatch_spec(cfg: ElkConfig, cluster_name: str, region: str) -> dict[str, Any]:
    """One Filebeat (a Deployment: a DaemonSet would read the log group once per node) polling the EKS
    control-plane log group, so the API-server logs the report analyses reach Logstash. AWS credentials
    come from IRSA (web identity) through the AWS SDK's default chain."""
    config = {
        "filebeat.inputs": [{
            "type": "aws-cloudwatch", "id": "eks-control-plane",
            "log_group_name": control_plane_log_group(cluster_name),
            "region_name": region,
            "log_stream_prefix": API_SERVER_STREAM_PREFIX,
            "scan_frequency": "1m",
            "start_position": "end",
            # The prefix also matches the audit streams (kube-apiserver-audit-*; the cluster enables audit logs),
            # which CloudWatch cannot exclude by name: drop them here so only the API server's klog lines ship.
            "processors": [{"drop_event": {"when": {"regexp": {
                "awscloudwatch.log_stream": f"^{re.escape(AUDIT_STREAM_PREFIX)}"}}}}],
        }],
        "output.logstash": {"hosts": [logstash_beats_host(cfg)]},
    }
    labels = {"beat.k8s.elastic.co/name": FILEBEAT_CLOUDWATCH}
    pod_spec = {
        **place(Role.GENERAL).pod_spec(),
        "serviceAccountName": FILEBEAT_CLOUDWATCH,
        "automountServiceAccountToken": True,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "topologySpreadConstraints": spread(labels, across_zones=False),
        "containers": [_container("filebeat", cfg.filebeat.resources)],
    }
    return {"type": "filebeat", "version": cfg.version, "config": config,
            "deployment": {"replicas": 1, "podTemplate": {"spec": pod_spec}}}


def cloudwatch_read_policy(cluster_name: str, region: str) -> str:
    """IAM policy: read only the cluster's control-plane log group, in the stack's region and account
    (`${aws:PrincipalAccount}`: the IRSA role's own account, the stack's)."""
    group = control_plane_log_group(cluster_name)
    arn = f"arn:aws:logs:{region}:${{aws:PrincipalAccount}}:log-group:{group}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"],
         "Resource": [arn, f"{arn}:*"]},
        {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"}]})


def ilm_policy(cfg: ElkConfig) -> dict[str, Any]:
    """hot -> warm after warmAfterDays (ILM adds the migrate action to the data_warm tier) -> delete.

    Indices are daily, so ages count from index creation and no rollover is needed."""
    return {"policy": {"phases": {
        "hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}},
        "warm": {"min_age": f"{cfg.ilm.warm_after_days}d",
                 "actions": {"set_priority": {"priority": 50}, "forcemerge": {"max_num_segments": 1}}},
        "delete": {"min_age": f"{cfg.ilm.delete_after_days}d", "actions": {"delete": {}}},
    }}}


def index_template(cfg: ElkConfig) -> dict[str, Any]:
    """Binds the daily log indices to the ILM policy and the hot tier, with the klog fields mapped."""
    keyword = {"type": "keyword"}
    return {
        "index_patterns": [INDEX_PATTERN],
        "priority": 200,
        "template": {
            "settings": {
                "index.lifecycle.name": cfg.ilm.policy_name,
                "index.routing.allocation.include._tier_preference": "data_hot",
                "index.number_of_replicas": cfg.elasticsearch.index_replicas,
            },
            "mappings": {"properties": {
                "level": keyword, "month": keyword, "day": keyword, "time": keyword,
                "thread_id": {"type": "long"}, "file": keyword, "line": {"type": "integer"},
                "message": {"type": "text"},
            }},
        },
    }


def ilm_script(cfg: ElkConfig) -> str:
    """The Job's script: wait for the cluster, then PUT the policy and the template (both idempotent)."""
    es = es_url(cfg)
    curl = 'curl --fail-with-body -sS --cacert /es-ca/ca.crt -u "elastic:${ELASTIC_PASSWORD}"'
    return "\n".join([
        "set -eu",
        f'until {curl} -o /dev/null "{es}/_cluster/health?wait_for_status=yellow&timeout=30s"; do',
        '  echo "waiting for Elasticsearch"; sleep 10',
        "done",
        f'{curl} -X PUT -H "Content-Type: application/json" --data-binary @/ilm/policy.json '
        f'"{es}/_ilm/policy/{cfg.ilm.policy_name}"',
        f'{curl} -X PUT -H "Content-Type: application/json" --data-binary @/ilm/template.json '
        f'"{es}/_index_template/{cfg.ilm.policy_name}"',
        "echo; echo ILM policy and index template applied",
    ])


def ilm_files(cfg: ElkConfig) -> dict[str, str]:
    return {"policy.json": json.dumps(ilm_policy(cfg), indent=1, sort_keys=True),
            "template.json": json.dumps(index_template(cfg), indent=1, sort_keys=True)}


def config_hash(files: dict[str, str]) -> str:
    """A short digest of the Job's inputs: in the pod template, a changed policy replaces the Job so it runs again."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]


def ilm_job_spec(cfg: ElkConfig, configmap: str) -> dict[str, Any]:
    files = ilm_files(cfg)
    restricted = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    return {
        "backoffLimit": 20,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "elasticsearch-ilm"},
                         "annotations": {"pipeworks.io/config-hash": config_hash(files)}},
            "spec": {
                **place(Role.GENERAL).pod_spec(),
                "restartPolicy": "OnFailure",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 100, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "apply", "image": ILM_JOB_IMAGE, "command": ["/bin/sh", "-c", ilm_script(cfg)],
                    "env": [{"name": "ELASTIC_PASSWORD", "valueFrom": {"secretKeyRef": {
                        "name": elastic_user_secret(cfg), "key": "elastic"}}}],
                    "resources": PodResources(cpu="10m", memory="32Mi").k8s(),
                    "securityContext": restricted,
                    "volumeMounts": [{"name": "ilm", "mountPath": "/ilm", "readOnly": True},
                                     {"name": "es-ca", "mountPath": "/es-ca", "readOnly": True}],
                }],
                "volumes": [{"name": "ilm", "configMap": {"name": configmap}},
                            {"name": "es-ca", "secret": {"secretName": es_ca_secret(cfg)}}],
            },
        },
    }


def exporter_pod_spec(cfg: ElkConfig) -> dict[str, Any]:
    """elasticsearch-exporter: cluster health as metrics (elasticsearch_cluster_health_status) for the alerts."""
    probe = {"httpGet": {"path": "/healthz", "port": EXPORTER_PORT}, "periodSeconds": 20, "timeoutSeconds": 5}
    return {
        **place(Role.GENERAL).pod_spec(),
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "exporter", "image": EXPORTER_IMAGE,
            "args": [f"--es.uri={es_url(cfg)}", "--es.ca=/es-ca/ca.crt",
                     f"--web.listen-address=:{EXPORTER_PORT}"],
            "env": [{"name": "ES_USERNAME", "value": "elastic"},
                    {"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": elastic_user_secret(cfg),
                                                                           "key": "elastic"}}}],
            "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
            "resources": cfg.exporter_resources.k8s(),
            "livenessProbe": probe, "readinessProbe": probe,
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "es-ca", "mountPath": "/es-ca", "readOnly": True}],
        }],
        "volumes": [{"name": "es-ca", "secret": {"secretName": es_ca_secret(cfg)}}],
    }


# Chart defaults deleted with a null (infra/helmvalues.py): eck-operator 3.5.0 deploy/eck-operator/values.yaml
# sets `resources.limits.cpu: 1`, which would survive our `resources` map; the platform sets no CPU limit.
CHART_DEFAULTS_REMOVED = ("resources.limits.cpu",)


def operator_values(cfg: ElkConfig) -> dict[str, Any]:
    """eck-operator chart values: CRDs from its eck-operator-crds subchart, watching only this namespace."""
    return {
        "installCRDs": True,
        "managedNamespaces": [cfg.namespace],
        "resources": cfg.operator_resources.k8s(),
        **place(Role.GENERAL).pod_spec(),
        "webhook": {"enabled": True},
    }


def network_policies(cfg: ElkConfig, monitoring_ns: str) -> dict[str, dict[str, Any]]:
    """Deny by default; admit each service's clients only."""
    es = cfg.elasticsearch.name
    es_pods = {"matchLabels": {"elasticsearch.k8s.elastic.co/cluster-name": es}}
    same_ns = {"podSelector": {}}
    tcp = lambda port: {"protocol": "TCP", "port": port}  # noqa: E731
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        # Kibana, Logstash, the exporter, the ILM Job and the operator all live in this namespace.
        "allow-elasticsearch-http": {"podSelector": es_pods, "policyTypes": ["Ingress"],
                                     "ingress": [{"from": [same_ns], "ports": [tcp(ES_HTTP_PORT)]}]},
        "allow-elasticsearch-transport": {"podSelector": es_pods, "policyTypes": ["Ingress"],
                                          "ingress": [{"from": [{"podSelector": es_pods}],
                                                       "ports": [tcp(ES_TRANSPORT_PORT)]}]},
        "allow-logstash-beats": {
            "podSelector": {"matchLabels": {"logstash.k8s.elastic.co/name": LOGSTASH}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                {"key": "beat.k8s.elastic.co/name", "operator": "In", "values": [FILEBEAT, FILEBEAT_CLOUDWATCH]}]}}],
                "ports": [tcp(BEATS_PORT)]}]},
        # Kibana's users reach it through `kubectl port-forward` (or an ingress admitted here later).
        "allow-kibana": {"podSelector": {"matchLabels": {"kibana.k8s.elastic.co/name": KIBANA}},
                         "policyTypes": ["Ingress"], "ingress": [{"from": [same_ns], "ports": [tcp(KIBANA_PORT)]}]},
        # The API server calls the operator's validating webhook from outside the pod network.
        "allow-operator-webhook": {"podSelector": {"matchLabels": {"control-plane": "elastic-operator"}},
                                   "policyTypes": ["Ingress"], "ingress": [{"ports": [tcp(WEBHOOK_PORT)]}]},
        "allow-prometheus": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": EXPORTER}},
                             "policyTypes": ["Ingress"],
                             "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                 "kubernetes.io/metadata.name": monitoring_ns}}}], "ports": [tcp(EXPORTER_PORT)]}]},
    }


FILEBEAT_RULES = [
    {"apiGroups": [""], "resources": ["pods", "nodes", "namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
]
