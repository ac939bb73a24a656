"""Pod Security Standards: baseline everywhere, restricted in workload namespaces, outside an
explicit, reasoned allow-list of node agents that need the host.

Baseline (https://kubernetes.io/docs/concepts/security/pod-security-standards/): no privileged
containers, host namespaces, hostPorts, hostPath volumes, capabilities beyond the default set,
unconfined seccomp/AppArmor, custom SELinux types, unmasked /proc or unsafe sysctls. Restricted
adds: allowPrivilegeEscalation false, runAsNonRoot, capabilities drop ALL (add at most
NET_BIND_SERVICE), seccomp RuntimeDefault/Localhost and only the ephemeral volume types.
Restricted judges native workloads only: operator-built pods (Strimzi, ECK, Rook, Spark) get
their security context from the operator, which the CR does not show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from policies.rules import vocabulary as v
from policies.rules.model import Context, Finding, Resource, as_dict, as_list, dig
from policies.rules.podspec import Container, PodTemplate, pod_templates

PSS_BASELINE = "pod-security-baseline"
PSS_RESTRICTED = "pod-security-restricted"

BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                 "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret", "name"}

# The Pod Security Standards controls (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
# one name per control: each finding of the two PSS policies carries the control it breaks, as its concern, its
# SARIF rule id (`<policy>/<control>`) and the suffix of a per-control exemption
# (`policy.pipeworks.io/exempt.<policy>.<control>`). Documented in policies/README.md.
BASELINE_CONTROLS: dict[str, str] = {
    "host-process": "Windows HostProcess containers (hostProcess) are forbidden.",
    "host-namespaces": "Sharing the host's network, PID or IPC namespace (hostNetwork, hostPID, hostIPC) is forbidden.",
    "privileged": "Privileged containers (securityContext.privileged) are forbidden.",
    "capabilities": "Adding capabilities beyond the default set is forbidden (restricted: drop ALL, add at most "
                    "NET_BIND_SERVICE).",
    "host-path": "hostPath volumes are forbidden.",
    "host-ports": "hostPort is forbidden.",
    "apparmor": "An Unconfined AppArmor profile is forbidden.",
    "selinux": "Custom SELinux types are forbidden.",
    "proc-mount": "An unmasked /proc (procMount other than Default) is forbidden.",
    "seccomp": "An Unconfined seccomp profile is forbidden (restricted: RuntimeDefault or Localhost required).",
    "sysctls": "Only the safe sysctls may be set.",
}
RESTRICTED_CONTROLS: dict[str, str] = {
    "volume-types": "Only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and "
                    "secret volumes.",
    "privilege-escalation": "allowPrivilegeEscalation must be false.",
    "run-as-non-root": "Containers must run as non-root (runAsNonRoot: true).",
    "run-as-user": "runAsUser must not be 0 (root).",
    "seccomp": BASELINE_CONTROLS["seccomp"],
    "capabilities": BASELINE_CONTROLS["capabilities"],
}


@dataclass(frozen=True)
class AllowEntry:
    """Node agents that may break specific baseline controls, with the reason why."""

    id: str
    reason: str
    images: tuple[str, ...]  # repositories ("quay.io/ceph/ceph") or prefixes ending in "/"
    workloads: tuple[str, ...]  # operator-built pods by PodTemplate.workload (images not visible)
    allows: frozenset[str]  # concerns lifted: privileged, host-path, host-namespaces, run-as-root


ALLOW_LIST: tuple[AllowEntry, ...] = (
    AllowEntry("ceph", "Ceph OSDs consume raw block devices under /dev and the Ceph CSI node plugin mounts "
               "volumes into the kubelet's directories: both need privileged access to the host",
               ("quay.io/ceph/ceph", "quay.io/cephcsi/cephcsi", "registry.k8s.io/sig-storage/"),
               ("CephOSD", "CephPREPAREOSD"), frozenset({"privileged", "host-path", "host-namespaces", "run-as-root"})),
    AllowEntry("gpu-operator", "the GPU operator's driver, toolkit, device plugin and DCGM exporter configure the "
               "host's GPUs and register devices through the kubelet socket",
               ("nvcr.io/nvidia/", "registry.k8s.io/nfd/"), (),
               frozenset({"privileged", "host-path", "host-namespaces", "run-as-root"})),
    AllowEntry("filebeat", "Filebeat reads every container's logs from /var/log on the host, as root",
               ("docker.elastic.co/beats/filebeat",), ("Beat/filebeat",), frozenset({"host-path", "run-as-root"})),
    AllowEntry("elasticsearch-sysctl", "ECK's documented init container raises the node's vm.max_map_count for "
               "Elasticsearch's mmap store: privileged and root for that one sysctl",
               ("docker.elastic.co/elasticsearch/elasticsearch",), (), frozenset({"privileged", "run-as-root"})),
    AllowEntry("node-exporter", "node exporter reports the host's metrics: host network and PID namespaces and "
               "read-only /proc, /sys and / mounts",
               ("quay.io/prometheus/node-exporter",), (), frozenset({"host-path", "host-namespaces"})),
)

_DIGEST = re.compile(r"@sha256:[0-9a-f]+$")


def image_repository(image: str) -> str:
    """`registry/path` of an image reference without tag or digest; Docker Hub names normalised."""
    ref = _DIGEST.sub("", image.strip())
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref = ref[: len(ref) - len(last)] + last.split(":", 1)[0]
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref


def _entry_matches_image(entry: AllowEntry, image: object) -> bool:
    if not isinstance(image, str):
        return False
    repo = image_repository(image)
    return any(repo.startswith(e) if e.endswith("/") else repo == e for e in entry.images)


def allowed(pt: PodTemplate, containers: list[Container], concern: str) -> AllowEntry | None:
    """The allow-list entry lifting `concern` for these containers of the pod, if every one is
    covered. Entries apply only in platform namespaces, so an allow-listed image cannot carry
    host access into a workload namespace."""
    if pt.namespace not in v.PLATFORM_NAMESPACES:
        return None
    for entry in ALLOW_LIST:
        if concern not in entry.allows:
            continue
        if pt.workload in entry.workloads:
            return entry
        if containers and all(_entry_matches_image(entry, c.image) for c in containers):
            return entry
    return None


def _ctx(obj: object) -> dict:
    return as_dict(as_dict(obj).get("securityContext"))


def _baseline(pt: PodTemplate) -> Iterator[tuple[str, str]]:
    spec = pt.spec
    every = pt.containers
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag) is True and not allowed(pt, every, "host-namespaces"):
            yield "host-namespaces", f"{pt.label} sets {flag}: true"
    for c in every:
        for port in as_list(c.raw.get("ports")):
            hp = as_dict(port).get("hostPort")
            if hp not in (None, 0, 0.0) and not allowed(pt, [c], "host-namespaces"):
                yield "host-ports", f"{pt.label} container {c.name} binds hostPort {hp}"
    for vol in as_list(spec.get("volumes")):
        vol = as_dict(vol)
        if "hostPath" not in vol:
            continue
        users = [c for c in every if any(as_dict(m).get("name") == vol.get("name")
                                         for m in as_list(c.raw.get("volumeMounts")))] or every
        if not allowed(pt, users, "host-path"):
            yield "host-path", f"{pt.label} mounts hostPath {dig(vol, 'hostPath', 'path')} (volume {vol.get('name')})"
    pod_sc = _ctx({"securityContext": spec.get("securityContext")})
    if dig(pod_sc, "seccompProfile", "type") == "Unconfined":
        yield "seccomp", f"{pt.label} sets an Unconfined seccomp profile"
    if dig(pod_sc, "appArmorProfile", "type") == "Unconfined":
        yield "apparmor", f"{pt.label} sets an Unconfined AppArmor profile"
    if dig(pod_sc, "seLinuxOptions", "type") not in SELINUX_TYPES | {None}:
        yield "selinux", f"{pt.label} sets SELinux type {dig(pod_sc, 'seLinuxOptions', 'type')}"
    for s in as_list(pod_sc.get("sysctls")):
        if as_dict(s).get("name") not in SAFE_SYSCTLS:
            yield "sysctls", f"{pt.label} sets the unsafe sysctl {as_dict(s).get('name')}"
    if dig(pod_sc, "windowsOptions", "hostProcess") is True:
        yield "host-process", f"{pt.label} runs as a Windows host process"
    for c in every:
        sc = _ctx(c.raw)
        where = f"{pt.label} container {c.name}"
        if sc.get("privileged") is True and not allowed(pt, [c], "privileged"):
            yield "privileged", f"{where} runs privileged"
        added = {str(x).upper().removeprefix("CAP_") for x in as_list(dig(sc, "capabilities", "add"))}
        extra = sorted(added - BASELINE_CAPS)
        if extra and not allowed(pt, [c], "privileged"):
            yield "capabilities", f"{where} adds capabilities {', '.join(extra)}"
        if dig(sc, "seccompProfile", "type") == "Unconfined":
            yield "seccomp", f"{where} sets an Unconfined seccomp profile"
        if dig(sc, "appArmorProfile", "type") == "Unconfined":
            yield "apparmor", f"{where} sets an Unconfined AppArmor profile"
        if sc.get("procMount") not in (None, "Default"):
            yield "proc-mount", f"{where} sets procMount {sc.get('procMount')}"
        if dig(sc, "seLinuxOptions", "type") not in SELINUX_TYPES | {None}:
            yield "selinux", f"{where} sets SELinux type {dig(sc, 'seLinuxOptions', 'type')}"
        if dig(sc, "windowsOptions", "hostProcess") is True:
            yield "host-process", f"{where} runs as a Windows host process"
    annotations = as_dict(dig(pt.resource.props, "spec", "template", "metadata", "annotations")) or (
        pt.resource.annotations if pt.workload == "Pod" else {})
    for k, val in annotations.items():
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and val == "unconfined":
            yield "apparmor", f"{pt.label} runs {k.rsplit('/', 1)[-1]} with an unconfined AppArmor profile"


def pod_security_baseline(r: Resource, ctx: Context) -> Iterable[Finding]:
    for pt in pod_templates(r, ctx):
        seen = set()
        for control, message in _baseline(pt):
            if message not in seen:
                seen.add(message)
                yield Finding(PSS_BASELINE, r.urn, message + " (Pod Security baseline)", control, control)


def is_workload_namespace(namespace: str) -> bool:
    return namespace not in v.PLATFORM_NAMESPACES


def _restricted(pt: PodTemplate) -> Iterator[tuple[str, str]]:
    pod_sc = as_dict(pt.spec.get("securityContext"))
    for vol in as_list(pt.spec.get("volumes")):
        kinds = set(as_dict(vol)) - RESTRICTED_VOLUMES
        if kinds and "hostPath" not in kinds:  # hostPath is a baseline finding already
            yield "volume-types", f"{pt.label} uses volume type {', '.join(sorted(kinds))} (volume {as_dict(vol).get('name')})"
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = dig(pod_sc, "seccompProfile", "type")
    if pod_sc.get("runAsUser") == 0:
        yield "run-as-user", f"{pt.label} runs as user 0 (root)"
    for c in pt.containers:
        sc = _ctx(c.raw)
        where = f"{pt.label} container {c.name}"
        root_ok = allowed(pt, [c], "run-as-root")
        if sc.get("allowPrivilegeEscalation") is not False:
            yield "privilege-escalation", f"{where} must set securityContext.allowPrivilegeEscalation: false"
        if not root_ok:
            if not (sc.get("runAsNonRoot") is True or (pod_non_root and sc.get("runAsNonRoot") is not False)):
                yield "run-as-non-root", f"{where} must run as non-root (securityContext.runAsNonRoot: true)"
            if sc.get("runAsUser") == 0:
                yield "run-as-user", f"{where} runs as user 0 (root)"
        drop = {str(x).upper() for x in as_list(dig(sc, "capabilities", "drop"))}
        if "ALL" not in drop:
            yield "capabilities", f"{where} must drop all capabilities (securityContext.capabilities.drop: [ALL])"
        added = {str(x).upper() for x in as_list(dig(sc, "capabilities", "add"))} - {"NET_BIND_SERVICE"}
        if added:
            yield "capabilities", f"{where} may add only NET_BIND_SERVICE, adds {', '.join(sorted(added))}"
        seccomp = dig(sc, "seccompProfile", "type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield "seccomp", f"{where} needs seccompProfile RuntimeDefault (pod or container securityContext)"


def pod_security_restricted(r: Resource, ctx: Context) -> Iterable[Finding]:
    for pt in pod_templates(r, ctx):
        if not pt.native or not is_workload_namespace(pt.namespace):
            continue
        for control, message in dict.fromkeys(_restricted(pt)):
            yield Finding(PSS_RESTRICTED, r.urn, message + f" (Pod Security restricted, namespace {pt.namespace})",
                          control, control)
