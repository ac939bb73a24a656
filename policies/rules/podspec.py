"""Every pod a stack will run, as one shape: the pod-spec walker the rules share.

Native workloads carry their pod spec at `spec` (Pod), `spec.template.spec` (Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job) or `spec.jobTemplate.spec.template.spec` (CronJob).
Operators build pods from their custom resources; for those the walker assembles the pod spec the
operator will produce from the CR's upstream fields (Strimzi KafkaNodePool `template.pod` and
`resources`, ECK `nodeSets[].podTemplate`, Spark `driver`/`executor`, Rook `placement` and
`resources`, cass-operator racks, Kubeflow training jobs `spec.<framework>ReplicaSpecs.<type>.template`), so
placement, schedulability and secrets rules judge CR pods like any other.
Every container list is walked: `containers`, `initContainers`, `ephemeralContainers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from policies.rules import vocabulary as v
from policies.rules.model import Context, Resource, as_dict, as_list, dig, is_unknown, to_int
from policies.rules.quantities import parse_quantity, parse_spark_memory

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
NATIVE_KINDS = {"Pod": {"core"}, "Deployment": {"apps", "extensions"}, "StatefulSet": {"apps"},
                "DaemonSet": {"apps", "extensions"}, "ReplicaSet": {"apps", "extensions"}, "Job": {"batch"},
                "CronJob": {"batch"}, "DeploymentConfig": {"apps.openshift.io", "core"}}  # core: legacy OpenShift v1

_ES_DEFAULT_RESOURCES = {"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}}  # ECK's default


@dataclass
class Container:
    name: str
    list_name: str  # containers | initContainers | ephemeralContainers
    raw: dict[str, Any]  # Kubernetes container shape (image, env, envFrom, args, resources, probes ...)

    @property
    def image(self) -> Any:
        return self.raw.get("image")


@dataclass
class PodTemplate:
    """One pod shape and how many of it run."""

    resource: Resource
    path: str  # where in the resource: spec.template.spec, spec.executor, spec.nodeSets[1].podTemplate.spec
    label: str  # for messages: "Deployment/api", "SparkApplication/etl executor"
    spec: dict[str, Any]  # the pod spec (Kubernetes shape)
    containers: list[Container]
    replicas: int = 1
    # The range the pod count moves in (HorizontalPodAutoscaler, JupyterHub user servers); None: `replicas`.
    min_replicas: int | None = None
    max_replicas: int | None = None
    workload: str = "Pod"  # Deployment, StatefulSet, KafkaNodePool, SparkExecutor, CephOSD ...
    role: str | None = None  # kafka-broker, kafka-controller, es-hot, es-data, es-master, ceph-osd, spark-executor ...
    native: bool = True  # containers spelled out in a Kubernetes workload (probes/PSS restricted apply)
    long_running: bool = True
    daemon: bool = False  # one pod per matching node
    stateful: bool = False
    namespace: str = "default"
    pod_labels: dict[str, Any] = field(default_factory=dict)
    operator_spread: set[str] = field(default_factory=set)  # topology keys the operator spreads across itself
    storage_class_refs: list[tuple[str, Any]] = field(default_factory=list)  # (where, storageClassName)
    ephemeral_storage: bool = False  # stateful data on ephemeral storage (Strimzi `type: ephemeral`)

    # --- placement views ---
    @property
    def node_selector(self) -> dict[str, Any]:
        return as_dict(self.spec.get("nodeSelector"))

    @property
    def tolerations(self) -> list[Any]:
        return as_list(self.spec.get("tolerations"))

    @property
    def required_terms(self) -> list[Any] | None:
        return dig(self.spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                   "nodeSelectorTerms")

    def selected_values(self, key: str) -> set[str]:
        """Values the pod requires for node label `key` (nodeSelector or an In/Exists required term)."""
        out: set[str] = set()
        if key in self.node_selector:
            out.add(str(self.node_selector[key]))
        for term in as_list(self.required_terms):
            for e in as_list(as_dict(term).get("matchExpressions")):
                e = as_dict(e)
                if e.get("key") == key and e.get("operator") == "In":
                    out.update(str(x) for x in as_list(e.get("values")))
                elif e.get("key") == key and e.get("operator") == "Exists":
                    out.add("*")
        return out

    def all_containers(self) -> Iterator[Container]:
        return iter(self.containers)

    def main_containers(self) -> list[Container]:
        return [c for c in self.containers if c.list_name == "containers"]

    # --- resources ---
    def requests(self) -> dict[str, float]:
        """Effective per-pod requests: max(sum of app containers, largest init container), with
        limits standing in for absent requests as the API server defaults them."""
        def of(c: Container) -> dict[str, float]:
            res = as_dict(c.raw.get("resources"))
            req, lim = as_dict(res.get("requests")), as_dict(res.get("limits"))
            out = {}
            for k in ("cpu", "memory", v.GPU_RESOURCE):
                q = parse_quantity(req.get(k)) if k in req else parse_quantity(lim.get(k))
                out[k] = q or 0.0
            return out

        total = {"cpu": 0.0, "memory": 0.0, v.GPU_RESOURCE: 0.0}
        for c in self.containers:
            if c.list_name == "containers":
                for k, q in of(c).items():
                    total[k] += q
        for c in self.containers:
            if c.list_name == "initContainers":
                for k, q in of(c).items():
                    total[k] = max(total[k], q)
        return total

    def gpu_request(self) -> float:
        return self.requests()[v.GPU_RESOURCE]


def _containers(spec: dict[str, Any]) -> list[Container]:
    out = []
    for list_name in CONTAINER_LISTS:
        for i, c in enumerate(as_list(spec.get(list_name))):
            if isinstance(c, dict):
                out.append(Container(str(c.get("name") or f"{list_name}[{i}]"), list_name, c))
    return out


def _native(r: Resource) -> Iterator[PodTemplate]:
    kind, spec = r.kind, as_dict(r.props.get("spec"))
    if kind == "Pod":
        path, pod, meta = "spec", spec, r.metadata
    elif kind == "CronJob":
        path = "spec.jobTemplate.spec.template.spec"
        pod, meta = as_dict(dig(spec, "jobTemplate", "spec", "template", "spec")), as_dict(
            dig(spec, "jobTemplate", "spec", "template", "metadata"))
    else:
        path, pod, meta = "spec.template.spec", as_dict(dig(spec, "template", "spec")), as_dict(
            dig(spec, "template", "metadata"))
    if not pod:
        return
    if kind == "Job":
        replicas = to_int(spec.get("parallelism")) or 1
    elif kind == "CronJob":
        replicas = to_int(dig(spec, "jobTemplate", "spec", "parallelism")) or 1
    elif kind in ("Deployment", "StatefulSet", "ReplicaSet", "DeploymentConfig"):
        rep = spec.get("replicas")
        replicas = 1 if rep is None or is_unknown(rep) else (to_int(rep) if to_int(rep) is not None else 1)
    else:
        replicas = 1
    long_running = kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "DeploymentConfig") or (
        kind == "Pod" and pod.get("restartPolicy", "Always") == "Always")
    refs = []
    if kind == "StatefulSet":
        for i, t in enumerate(as_list(spec.get("volumeClaimTemplates"))):
            refs.append((f"spec.volumeClaimTemplates[{i}]", dig(t, "spec", "storageClassName")))
    yield PodTemplate(
        resource=r, path=path, label=f"{kind}/{r.k8s_name}", spec=pod, containers=_containers(pod),
        replicas=replicas, workload=kind, native=True, long_running=long_running, daemon=kind == "DaemonSet",
        stateful=kind == "StatefulSet", namespace=r.namespace, pod_labels=as_dict(meta.get("labels")),
        storage_class_refs=refs,
    )


# --- Kubeflow training jobs ----------------------------------------------------------------------

def _kubeflow_job(r: Resource) -> Iterator[PodTemplate]:
    """kubeflow.org/v1 jobs of the training-operator (TFJob, PyTorchJob, XGBoostJob, PaddleJob, JAXJob, MPIJob):
    one pod template per replica type under `spec.<framework>ReplicaSpecs.<Type>.template` (kubeflow/trainer v1.9.4
    pkg/apis/kubeflow.org/v1 *_types.go, e.g. TFJobSpec.TFReplicaSpecs), `replicas` pods of each. The operator
    creates the pods with the template's placement and resources unchanged (it adds env and ports only)."""
    spec = as_dict(r.props.get("spec"))
    for field_name, replica_specs in spec.items():
        if not field_name.endswith("ReplicaSpecs"):
            continue
        for rtype, rspec in as_dict(replica_specs).items():
            pod = as_dict(dig(rspec, "template", "spec"))
            if not pod:
                continue
            rep = dig(rspec, "replicas")
            replicas = 1 if rep is None or is_unknown(rep) else (to_int(rep) if to_int(rep) is not None else 1)
            yield PodTemplate(
                resource=r, path=f"spec.{field_name}.{rtype}.template.spec", label=f"{r.kind}/{r.k8s_name} {rtype}",
                spec=pod, containers=_containers(pod), replicas=replicas, workload=r.kind, role=f"training-{rtype}",
                native=True, long_running=False, namespace=r.namespace,
                pod_labels=as_dict(dig(rspec, "template", "metadata", "labels")))


# --- Spark operator -------------------------------------------------------------------------------

def _spark_role(r: Resource, app: dict[str, Any], role: str, path: str) -> PodTemplate:
    rs = as_dict(app.get(role))
    cores = rs.get("coreRequest") or rs.get("cores")
    memory = parse_spark_memory(rs.get("memory"))
    overhead = parse_spark_memory(rs.get("memoryOverhead"))
    if memory is not None and overhead is None:
        non_jvm = str(app.get("type", "")).lower() in ("python", "r")
        factor = app.get("memoryOverheadFactor")
        try:
            f = float(factor) if factor is not None else (0.4 if non_jvm else 0.1)
        except (TypeError, ValueError):
            f = 0.1
        overhead = max(384 * 2**20, f * memory)
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if cores is not None and not is_unknown(cores):
        requests["cpu"] = str(cores)
    if memory is not None:
        mem = f"{int((memory + (overhead or 0)) / 2**20)}Mi"
        requests["memory"] = limits["memory"] = mem  # Spark sets the memory limit equal to the request
    if rs.get("coreLimit"):
        limits["cpu"] = rs.get("coreLimit")
    gpu = as_dict(rs.get("gpu"))
    if gpu.get("name") and gpu.get("quantity") is not None:
        limits[str(gpu["name"])] = str(to_int(gpu["quantity"]) or gpu["quantity"])
    mounts = as_list(rs.get("volumeMounts"))
    mounted = {as_dict(m).get("name") for m in mounts}
    volumes = [vol for vol in as_list(app.get("volumes")) if as_dict(vol).get("name") in mounted]
    main = {
        "name": f"spark-kubernetes-{role}", "image": rs.get("image") or app.get("image"),
        "env": as_list(rs.get("env")), "envFrom": as_list(rs.get("envFrom")),
        "resources": {"requests": requests, "limits": limits}, "volumeMounts": mounts,
        "securityContext": rs.get("securityContext"),
    }
    if app.get("arguments"):
        main["args"] = app.get("arguments")
    spec = {
        "nodeSelector": {**as_dict(app.get("nodeSelector")), **as_dict(rs.get("nodeSelector"))},
        "tolerations": as_list(rs.get("tolerations")), "affinity": rs.get("affinity"),
        "securityContext": rs.get("podSecurityContext"), "volumes": volumes,
        "hostNetwork": rs.get("hostNetwork"),
        "containers": [main] + [c for c in as_list(rs.get("sidecars")) if isinstance(c, dict)],
        "initContainers": [c for c in as_list(rs.get("initContainers")) if isinstance(c, dict)],
    }
    replicas = (to_int(rs.get("instances")) or 1) if role == "executor" else 1
    return PodTemplate(
        resource=r, path=path, label=f"{r.display} {role}", spec=spec, containers=_containers(spec),
        replicas=replicas, workload=f"Spark{role.capitalize()}", role=f"spark-{role}", native=False,
        long_running=False, namespace=r.namespace, pod_labels=as_dict(rs.get("labels")),
    )


def _spark(r: Resource) -> Iterator[PodTemplate]:
    spec = as_dict(r.props.get("spec"))
    app, prefix = (as_dict(spec.get("template")), "spec.template") if r.kind == "ScheduledSparkApplication" else (
        spec, "spec")
    for role in ("driver", "executor"):
        if role in app:
            yield _spark_role(r, app, role, f"{prefix}.{role}")


# --- Strimzi --------------------------------------------------------------------------------------

def _kafka_for(pool: Resource, ctx: Context) -> Resource | None:
    cluster = pool.labels.get("strimzi.io/cluster")
    for k in ctx.of_kind("kafka.strimzi.io", "Kafka"):
        if k.k8s_name == cluster and k.namespace == pool.namespace:
            return k
    return None


def _strimzi_storage_refs(storage: dict[str, Any], where: str) -> tuple[list[tuple[str, Any]], bool]:
    refs, ephemeral = [], False
    vols = as_list(storage.get("volumes")) if storage.get("type") == "jbod" else [storage]
    for i, vol in enumerate(vols):
        vol = as_dict(vol)
        w = f"{where}.volumes[{i}]" if storage.get("type") == "jbod" else where
        if vol.get("type") == "persistent-claim":
            refs.append((f"{w}.class", vol.get("class")))
        elif vol.get("type") == "ephemeral":
            ephemeral = True
    return refs, ephemeral


def _kafka_node_pool(r: Resource, ctx: Context) -> Iterator[PodTemplate]:
    spec = as_dict(r.props.get("spec"))
    kafka = _kafka_for(r, ctx)
    kspec = as_dict(dig(kafka.props, "spec", "kafka")) if kafka else {}
    # Strimzi: a node pool's template/resources replace the Kafka CR's spec.kafka ones when set
    pod_tpl = as_dict(dig(spec, "template", "pod")) or as_dict(dig(kspec, "template", "pod"))
    resources = spec.get("resources") if spec.get("resources") is not None else kspec.get("resources")
    roles = [str(x) for x in as_list(spec.get("roles"))]
    role = "kafka-broker" if "broker" in roles else "kafka-controller"
    container: dict[str, Any] = {"name": "kafka", "image": kspec.get("image")}
    if resources is not None:
        container["resources"] = resources
    pod = {"affinity": pod_tpl.get("affinity"), "tolerations": as_list(pod_tpl.get("tolerations")),
           "topologySpreadConstraints": pod_tpl.get("topologySpreadConstraints"),
           "securityContext": pod_tpl.get("securityContext"), "containers": [container]}
    rack = dig(kspec, "rack", "topologyKey")
    refs, ephemeral = _strimzi_storage_refs(as_dict(spec.get("storage")), "spec.storage")
    yield PodTemplate(
        resource=r, path="spec.template.pod", label=f"{r.display} ({'/'.join(roles) or 'no roles'})", spec=pod,
        containers=_containers(pod), replicas=to_int(spec.get("replicas")) or 0, workload="KafkaNodePool",
        role=role, native=False, stateful=True, namespace=r.namespace,
        pod_labels={"strimzi.io/pool-name": r.k8s_name},
        operator_spread={str(rack)} if isinstance(rack, str) else set(),  # rack awareness spreads across zones
        storage_class_refs=refs, ephemeral_storage=ephemeral,
    )


def _kafka_entity_operator(r: Resource) -> Iterator[PodTemplate]:
    eo = as_dict(dig(r.props, "spec", "entityOperator"))
    if not eo:
        return
    pod_tpl = as_dict(dig(eo, "template", "pod"))
    containers = []
    for op in ("topicOperator", "userOperator"):
        if op in eo:
            c: dict[str, Any] = {"name": op}
            if as_dict(eo[op]).get("resources") is not None:
                c["resources"] = as_dict(eo[op]).get("resources")
            containers.append(c)
    pod = {"affinity": pod_tpl.get("affinity"), "tolerations": as_list(pod_tpl.get("tolerations")),
           "containers": containers}
    yield PodTemplate(resource=r, path="spec.entityOperator.template.pod", label=f"{r.display} entity-operator",
                      spec=pod, containers=_containers(pod), workload="KafkaEntityOperator", native=False,
                      namespace=r.namespace)


# --- ECK ------------------------------------------------------------------------------------------

def _es_roles(node_set: dict[str, Any]) -> list[str] | None:
    roles = as_dict(node_set.get("config")).get("node.roles")
    if roles is None:
        roles = dig(node_set, "config", "node", "roles")
    return [str(x) for x in roles] if isinstance(roles, list) else None


def es_role(node_set: dict[str, Any]) -> str:
    roles = _es_roles(node_set)
    if roles is None or "data" in roles or "data_hot" in roles:
        return "es-hot"  # no node.roles means every role, data included
    if any(x.startswith("data") for x in roles):
        return "es-data"
    return "es-master" if "master" in roles else "es-other"


def _eck(r: Resource) -> Iterator[PodTemplate]:
    spec = as_dict(r.props.get("spec"))
    if r.kind == "Elasticsearch":
        for i, ns in enumerate(as_list(spec.get("nodeSets"))):
            ns = as_dict(ns)
            tpl = as_dict(ns.get("podTemplate"))
            pod = dict(as_dict(tpl.get("spec")))
            containers = [dict(c) for c in as_list(pod.get("containers")) if isinstance(c, dict)]
            es = next((c for c in containers if c.get("name") == "elasticsearch"), None)
            if es is None:
                es = {"name": "elasticsearch"}
                containers.insert(0, es)
            es.setdefault("image", spec.get("image") or f"docker.elastic.co/elasticsearch/elasticsearch:{spec.get('version')}")
            if "resources" not in es:
                es["resources"] = ns.get("resources") or _ES_DEFAULT_RESOURCES
            pod["containers"] = containers
            spread = set()
            if not dig(pod, "affinity", "podAntiAffinity"):
                spread.add(v.HOSTNAME_KEY)  # ECK's default: preferred anti-affinity across hosts
            if ns.get("zoneAwareness") is not None:
                spread.add(str(as_dict(ns.get("zoneAwareness")).get("topologyKey") or v.ZONE_KEY))
            refs = [(f"spec.nodeSets[{i}].volumeClaimTemplates[{j}]", dig(t, "spec", "storageClassName"))
                    for j, t in enumerate(as_list(ns.get("volumeClaimTemplates")))]
            yield PodTemplate(
                resource=r, path=f"spec.nodeSets[{i}].podTemplate.spec",
                label=f"{r.display} nodeSet {ns.get('name')}", spec=pod, containers=_containers(pod),
                replicas=to_int(ns.get("count")) or 0, workload="ElasticsearchNodeSet", role=es_role(ns),
                native=False, stateful=True, namespace=r.namespace,
                pod_labels=as_dict(dig(tpl, "metadata", "labels")), operator_spread=spread,
                storage_class_refs=refs)
        return
    if r.kind == "Beat":
        for mode in ("daemonSet", "deployment"):
            tpl = as_dict(dig(spec, mode, "podTemplate"))
            if mode in spec:
                pod = as_dict(tpl.get("spec"))
                yield PodTemplate(
                    resource=r, path=f"spec.{mode}.podTemplate.spec", label=r.display, spec=pod,
                    containers=_containers(pod), replicas=to_int(dig(spec, mode, "replicas")) or 1,
                    workload=f"Beat/{spec.get('type')}", role=f"beat-{spec.get('type')}", native=False,
                    daemon=mode == "daemonSet", namespace=r.namespace,
                    pod_labels=as_dict(dig(tpl, "metadata", "labels")))
        return
    tpl = as_dict(spec.get("podTemplate"))  # Kibana, Logstash
    pod = as_dict(tpl.get("spec"))
    yield PodTemplate(resource=r, path="spec.podTemplate.spec", label=r.display, spec=pod,
                      containers=_containers(pod), replicas=to_int(spec.get("count")) or 1, workload=r.kind,
                      native=False, namespace=r.namespace, pod_labels=as_dict(dig(tpl, "metadata", "labels")))


# --- Rook -----------------------------------------------------------------------------------------

def _rook_placement(placement: dict[str, Any], daemon: str) -> dict[str, Any]:
    """Rook merges `placement.all` with the daemon's own: attributes of the daemon's win,
    tolerations add up."""
    base, own = as_dict(placement.get("all")), as_dict(placement.get(daemon))
    merged = {**base, **own}
    merged["tolerations"] = as_list(base.get("tolerations")) + as_list(own.get("tolerations"))
    return merged


def _ceph(r: Resource) -> Iterator[PodTemplate]:
    spec = as_dict(r.props.get("spec"))
    placement = as_dict(spec.get("placement"))
    image = dig(spec, "cephVersion", "image")
    daemons = [("mon", to_int(dig(spec, "mon", "count")) or 3), ("mgr", to_int(dig(spec, "mgr", "count")) or 1),
               ("osd", 1)]
    if "prepareosd" in placement:
        daemons.append(("prepareosd", 1))
    for daemon, count in daemons:
        pl = _rook_placement(placement, "osd" if daemon == "prepareosd" and "prepareosd" not in placement else daemon)
        affinity = {k: pl[k] for k in ("nodeAffinity", "podAffinity", "podAntiAffinity") if pl.get(k)}
        container: dict[str, Any] = {"name": daemon, "image": image}
        res = dig(spec, "resources", daemon)
        if res is not None:
            container["resources"] = res
        pod = {"affinity": affinity, "tolerations": pl["tolerations"],
               "topologySpreadConstraints": pl.get("topologySpreadConstraints"), "containers": [container]}
        spread = set()
        if daemon == "mon" and not dig(spec, "mon", "allowMultiplePerNode"):
            spread.add(v.HOSTNAME_KEY)
        yield PodTemplate(
            resource=r, path=f"spec.placement.{daemon}", label=f"{r.display} {daemon}", spec=pod,
            containers=_containers(pod), replicas=count, workload=f"Ceph{daemon.upper()}", role=f"ceph-{daemon}",
            native=False, long_running=daemon != "prepareosd", daemon=daemon in ("osd", "prepareosd"),
            stateful=daemon in ("mon", "osd"), namespace=r.namespace, pod_labels={"app": f"rook-ceph-{daemon}"},
            operator_spread=spread)


# --- cass-operator --------------------------------------------------------------------------------

CASSANDRA_RACK_LABEL = "cassandra.datastax.com/rack"


def _split_racks(size: int, racks: int) -> list[int]:
    """cass-operator's SplitRacks (apis/cassandra/v1beta1): nodes spread evenly, the first racks take the rest."""
    base, extra = divmod(size, racks)
    return [base + (1 if i < extra else 0) for i in range(racks)]


def _cassandra(r: Resource) -> Iterator[PodTemplate]:
    """A CassandraDatacenter (cass-operator v1.32.0): one StatefulSet per rack, pods built from `nodeSelector`,
    `tolerations`, `nodeAffinityLabels` (datacenter and rack, as required node affinity), `resources` of the
    cassandra container, `configBuilderResources` (init container) and `systemLoggerResources` (log sidecar),
    merged into `podTemplateSpec`. Anti-affinity across hosts is the operator's default unless
    allowMultipleNodesPerWorker."""
    spec = as_dict(r.props.get("spec"))
    base = as_dict(dig(spec, "podTemplateSpec", "spec"))
    racks = [as_dict(x) for x in as_list(spec.get("racks"))] or [{"name": "default"}]
    size = to_int(spec.get("size")) or 0
    image = spec.get("serverImage") or f"k8ssandra/cass-management-api:{spec.get('serverVersion')}"
    claim = as_dict(dig(spec, "storageConfig", "cassandraDataVolumeClaimSpec"))
    refs = [("spec.storageConfig.cassandraDataVolumeClaimSpec", claim.get("storageClassName"))] if claim else []
    for rack, count in zip(racks, _split_racks(size, len(racks))):
        labels = {**as_dict(spec.get("nodeAffinityLabels")), **as_dict(rack.get("nodeAffinityLabels"))}
        pod = dict(base)
        node_selector = {**as_dict(base.get("nodeSelector")), **as_dict(spec.get("nodeSelector"))}
        if node_selector:
            pod["nodeSelector"] = node_selector
        pod["tolerations"] = as_list(base.get("tolerations")) + as_list(spec.get("tolerations"))
        if labels:
            pod["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": k, "operator": "In", "values": [str(val)]} for k, val in sorted(labels.items())]}]}}}
        containers = [dict(c) for c in as_list(base.get("containers")) if isinstance(c, dict)]
        main = next((c for c in containers if c.get("name") == "cassandra"), None)
        if main is None:
            main = {"name": "cassandra"}
            containers.insert(0, main)
        main.setdefault("image", image)
        if spec.get("resources") is not None:
            main["resources"] = spec.get("resources")
        if not spec.get("disableSystemLoggerSidecar"):
            logger = {"name": "server-system-logger"}
            if spec.get("systemLoggerResources") is not None:
                logger["resources"] = spec.get("systemLoggerResources")
            containers.append(logger)
        pod["containers"] = containers
        init = {"name": "server-config-init"}
        if spec.get("configBuilderResources") is not None:
            init["resources"] = spec.get("configBuilderResources")
        pod["initContainers"] = [init, *[c for c in as_list(base.get("initContainers")) if isinstance(c, dict)]]
        spread = set() if spec.get("allowMultipleNodesPerWorker") else {v.HOSTNAME_KEY}
        if len(racks) > 1 and all(v.ZONE_KEY in as_dict(x.get("nodeAffinityLabels")) for x in racks):
            spread.add(v.ZONE_KEY)  # each rack pinned to its own zone: the operator spreads racks over zones
        yield PodTemplate(
            resource=r, path="spec", label=f"{r.display} rack {rack.get('name')}", spec=pod,
            containers=_containers(pod), replicas=count, workload="CassandraRack", role="cassandra",
            native=False, stateful=True, namespace=r.namespace,
            pod_labels={"cassandra.datastax.com/datacenter": r.k8s_name, CASSANDRA_RACK_LABEL: str(rack.get("name"))},
            operator_spread=spread, storage_class_refs=refs)


def pod_templates(r: Resource, ctx: Context | None = None) -> list[PodTemplate]:
    """Every pod shape the resource will run (empty for resources that run no pods)."""
    if not r.is_kubernetes:
        return []
    if ctx is None:
        return _pod_templates(r, Context())
    cached = ctx.pod_cache.get(r.urn)
    if cached is None:
        cached = ctx.pod_cache[r.urn] = _pod_templates(r, ctx)
    return cached


def _pod_templates(r: Resource, ctx: Context) -> list[PodTemplate]:
    group = r.api_group
    if group in NATIVE_KINDS.get(r.kind, ()):
        return list(_native(r))
    if group == "sparkoperator.k8s.io" and r.kind in ("SparkApplication", "ScheduledSparkApplication"):
        return list(_spark(r))
    if group == "kubeflow.org" and r.kind.endswith("Job"):
        return list(_kubeflow_job(r))
    if group == "kafka.strimzi.io" and r.kind == "KafkaNodePool":
        return list(_kafka_node_pool(r, ctx))
    if group == "kafka.strimzi.io" and r.kind == "Kafka":
        return list(_kafka_entity_operator(r))
    if group in ("elasticsearch.k8s.elastic.co", "kibana.k8s.elastic.co", "logstash.k8s.elastic.co",
                 "beat.k8s.elastic.co"):
        return list(_eck(r))
    if group == "ceph.rook.io" and r.kind == "CephCluster":
        return list(_ceph(r))
    if group == "ceph.rook.io" and r.kind in ("CephObjectStore", "CephFilesystem"):
        return list(_ceph_gateway(r))
    if group == "cassandra.datastax.com" and r.kind == "CassandraDatacenter":
        return list(_cassandra(r))
    if group == "helm.sh" and r.kind == "Release":
        return list(_helm_release(r))
    return []


def all_pod_templates(ctx: Context) -> list[PodTemplate]:
    return [pt for r in ctx.resources for pt in pod_templates(r, ctx)]


def mounts_hostpath(pt: PodTemplate, path_prefix: str) -> bool:
    for vol in as_list(pt.spec.get("volumes")):
        p = dig(vol, "hostPath", "path")
        if isinstance(p, str) and (p == path_prefix or p.startswith(path_prefix.rstrip("/") + "/")):
            return True
    return False


def spark_local_dirs(pt: PodTemplate) -> list[str]:
    """Names of the spark-local-dir-* volumes an executor mounts (its shuffle space)."""
    return [str(as_dict(vol).get("name")) for vol in as_list(pt.spec.get("volumes"))
            if str(as_dict(vol).get("name", "")).startswith(v.SPARK_LOCAL_DIR_PREFIX)]


def _ceph_gateway(r: Resource) -> Iterator[PodTemplate]:
    """Rook's RGW pods (CephObjectStore `spec.gateway.instances`) and MDS pods (CephFilesystem
    `spec.metadataServer.activeCount`, doubled by `activeStandby`), with their `placement` and
    `resources` (rook v1.20.6 `deploy/examples/object.yaml`, `filesystem.yaml`)."""
    spec = as_dict(r.props.get("spec"))
    if r.kind == "CephObjectStore":
        cfg, daemon, count = as_dict(spec.get("gateway")), "rgw", to_int(dig(spec, "gateway", "instances")) or 1
        if not cfg:
            return
    else:
        cfg, daemon = as_dict(spec.get("metadataServer")), "mds"
        if not cfg:
            return
        count = (to_int(cfg.get("activeCount")) or 1) * (2 if cfg.get("activeStandby") else 1)
    pl = as_dict(cfg.get("placement"))
    container: dict[str, Any] = {"name": daemon}
    if isinstance(cfg.get("resources"), dict):
        container["resources"] = cfg["resources"]
    pod = {"affinity": {k: pl[k] for k in ("nodeAffinity", "podAffinity", "podAntiAffinity") if pl.get(k)},
           "tolerations": as_list(pl.get("tolerations")), "nodeSelector": {},
           "topologySpreadConstraints": pl.get("topologySpreadConstraints"), "containers": [container]}
    yield PodTemplate(resource=r, path=f"spec.{'gateway' if daemon == 'rgw' else 'metadataServer'}",
                      label=f"{r.display} {daemon}", spec=pod, containers=_containers(pod), replicas=count,
                      workload=f"Ceph{daemon.upper()}", role=f"ceph-{daemon}", native=False,
                      namespace=r.namespace, pod_labels={"app": f"rook-ceph-{daemon}"})


def _helm_release(r: Resource) -> Iterator[PodTemplate]:
    """The pods of a Helm release: for the charts of the catalogue (charts.py) every workload it
    names; otherwise the main pod of a chart that follows the common values convention (top-level
    `resources`, `nodeSelector`, `tolerations`, `affinity`, `replicaCount`). Charts are not rendered
    offline, but operators and chart-deployed pods still need a pool to land on."""
    from policies.rules.charts import CATALOGUE, chart_name, chart_pods

    values = as_dict(r.props.get("values"))
    release = r.props.get("name") or r.name
    for path, name, pod, low, high, daemon in chart_pods(r.props.get("chart"), values):
        yield PodTemplate(resource=r, path=f"values.{path}" if path != "values" else path,
                          label=f"Helm release {release} {name}", spec=pod, containers=_containers(pod),
                          replicas=high, min_replicas=low, max_replicas=high, workload="HelmRelease",
                          native=False, daemon=daemon, namespace=r.namespace)
    # A catalogued chart's top-level values are one of its workloads already (cilium's agent): not a second pod.
    if chart_name(r.props.get("chart")) in CATALOGUE or not isinstance(values.get("resources"), dict):
        return
    image = as_dict(values.get("image"))
    tag = image.get("tag")
    container: dict[str, Any] = {"name": str(r.props.get("chart") or r.name), "resources": values["resources"]}
    if image.get("repository") and tag:
        container["image"] = f"{image.get('repository')}:{tag}"
    pod = {"nodeSelector": as_dict(values.get("nodeSelector")), "tolerations": as_list(values.get("tolerations")),
           "affinity": values.get("affinity"), "containers": [container]}
    replicas = to_int(values.get("replicaCount", values.get("replicas"))) or 1
    yield PodTemplate(resource=r, path="values", label=f"Helm release {r.props.get('name') or r.name} "
                      f"({r.props.get('chart')})", spec=pod, containers=_containers(pod), replicas=replicas,
                      workload="HelmRelease", native=False, namespace=r.namespace)
