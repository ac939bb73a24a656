"""Pure specs of the Kubeflow training-operator v1.9.4, run for TFJob only (plain dicts, no Pulumi).

Shaped after the release's kustomize manifests (kubeflow/trainer tag v1.9.4: manifests/base/deployment.yaml,
service.yaml, rbac/role.yaml, webhook/manifests.yaml with webhook/patch.yaml, overlays/standalone/): the
same names the operator's code expects (Service `training-operator`, Secret `training-operator-webhook-cert`,
ValidatingWebhookConfiguration `validator.training-operator.kubeflow.org`, cmd/training-operator.v1/main.go),
narrowed to what TFJob needs: `--enable-scheme=tfjob`, the ClusterRole's core and tfjobs rules only, the tfjob
webhook only. Differences from upstream, each for a reason: a restricted pod security context (the binary
runs as any uid; upstream sets only allowPrivilegeEscalation: false), the general pool's placement, requests
and a memory limit, NetworkPolicies."""

from __future__ import annotations

from typing import Any

from infra.config.training import OPERATOR_IMAGE, TrainingConfig
from infra.placement import Role, place
from infra.workloads import kit

NAME = "training-operator"  # Deployment, Service, ServiceAccount, ClusterRole(Binding): main.go's defaults
WEBHOOK_SECRET = "training-operator-webhook-cert"  # --webhook-secret-name default; the operator writes its certs
WEBHOOK_CONFIG = "validator.training-operator.kubeflow.org"  # main.go webhookConfigurationName
WEBHOOK_PORT = 9443
METRICS_PORT = 8080
PROBE_PORT = 8081
UID = 65532  # distroless "nonroot": the image (FROM gcr.io/distroless/static) has no USER, the binary needs none
LABELS = {"control-plane": "kubeflow-training-operator"}  # the upstream selector (webhook/kustomization.yaml)
CRD_FILE = "manifests/base/crds/kubeflow.org_tfjobs.yaml"
# On a Secret declared empty because a controller writes its content (the stacks' secret check accepts only
# such Secrets without data): names the writer.
FILLED_BY = "pipeworks.io/filled-by"


def webhook_secret_metadata(namespace: str) -> dict[str, Any]:
    """The operator's cert controller (open-policy-agent/cert-controller, pkg/cert/cert.go) needs the Secret to
    exist (upstream: an empty secretGenerator entry) and writes the CA and serving certificate into it."""
    return {"name": WEBHOOK_SECRET, "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "training-operator"},
            "annotations": {FILLED_BY: NAME}}


def crd_url(version: str) -> str:
    """The TFJob CRD of the release (the file ../shared/crds/kubeflow.org/TFJob.yaml was taken from)."""
    return f"https://raw.githubusercontent.com/kubeflow/trainer/{version}/{CRD_FILE}"


def image(cfg: TrainingConfig) -> str:
    return f"{OPERATOR_IMAGE}:{cfg.image_tag}"


def cluster_role_rules() -> list[dict[str, Any]]:
    """manifests/base/rbac/role.yaml at v1.9.4, minus the other frameworks' jobs, HPAs (elastic PyTorch),
    pods/exec and roles/rolebindings (MPI launchers) and the gang schedulers' podgroups (none is installed)."""
    crud = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "list", "update", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": crud},
        {"apiGroups": [""], "resources": ["pods"], "verbs": crud},
        # the webhook's certificates (pkg/cert/cert.go rbac markers)
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "update", "watch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["create", "get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "delete", "get", "list", "watch"]},
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"],
         "verbs": ["get", "list", "update", "watch"]},
        {"apiGroups": ["kubeflow.org"], "resources": ["tfjobs"], "verbs": crud},
        {"apiGroups": ["kubeflow.org"], "resources": ["tfjobs/finalizers"], "verbs": ["update"]},
        {"apiGroups": ["kubeflow.org"], "resources": ["tfjobs/status"], "verbs": ["get", "patch", "update"]},
    ]


def deployment_spec(cfg: TrainingConfig) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": PROBE_PORT}, "initialDelaySeconds": 15, "periodSeconds": 20,
             "timeoutSeconds": 3}
    container = {
        "name": NAME, "image": image(cfg), "imagePullPolicy": "IfNotPresent", "command": ["/manager"],
        # TFJob only: the other frameworks' controllers (and their CRDs) are not installed.
        "args": ["--enable-scheme=tfjob", f"--metrics-bind-address=:{METRICS_PORT}",
                 f"--health-probe-bind-address=:{PROBE_PORT}", f"--webhook-server-port={WEBHOOK_PORT}"],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                  {"name": "webhook-server", "containerPort": WEBHOOK_PORT, "protocol": "TCP"}],
        "env": [{"name": "MY_POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": cfg.resources.k8s(),
        "securityContext": kit.restricted_container_security(),
        "volumeMounts": [{"name": "cert", "mountPath": "/tmp/k8s-webhook-server/serving-certs", "readOnly": True}],
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": PROBE_PORT}, "initialDelaySeconds": 10,
                           "periodSeconds": 15},
    }
    pod = {"serviceAccountName": NAME, "terminationGracePeriodSeconds": 10,
           "securityContext": kit.restricted_pod_security(UID), "containers": [container],
           "volumes": [{"name": "cert", "secret": {"secretName": WEBHOOK_SECRET, "defaultMode": 0o444}}],
           **place(Role.GENERAL).pod_spec()}
    return {"replicas": 1, "selector": {"matchLabels": dict(LABELS)},
            "template": {"metadata": {"labels": dict(LABELS), "annotations": {"sidecar.istio.io/inject": "false"}},
                         "spec": pod}}


def service_spec() -> dict[str, Any]:
    return {"type": "ClusterIP", "selector": dict(LABELS),
            "ports": [{"name": "monitoring-port", "port": METRICS_PORT, "targetPort": METRICS_PORT, "protocol": "TCP"},
                      {"name": "webhook-server", "port": 443, "targetPort": WEBHOOK_PORT, "protocol": "TCP"}]}


def webhooks(namespace: str) -> list[dict[str, Any]]:
    """The tfjob validator of webhook/manifests.yaml with patch.yaml's Service name; the operator's cert
    controller fills caBundle (the component ignores that field)."""
    return [{"name": "validator.tfjob.training-operator.kubeflow.org", "admissionReviewVersions": ["v1"],
             "clientConfig": {"service": {"name": NAME, "namespace": namespace,
                                          "path": "/validate-kubeflow-org-v1-tfjob"}},
             "failurePolicy": "Fail", "sideEffects": "None",
             "rules": [{"apiGroups": ["kubeflow.org"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                        "resources": ["tfjobs"]}]}]


def network_policies(monitoring_ns: str) -> dict[str, dict[str, Any]]:
    """Only the API server (the webhook; it calls from outside any pod network namespace, so no peer can name
    it) and Prometheus (metrics) reach the operator."""
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "training-operator-ingress": {"podSelector": {"matchLabels": dict(LABELS)}, "policyTypes": ["Ingress"],
                                      "ingress": [{"ports": kit.tcp_ports(WEBHOOK_PORT)},
                                                  {"from": [kit.namespace_peer(monitoring_ns)],
                                                   "ports": kit.tcp_ports(METRICS_PORT)}]},
    }


def namespace_labels() -> dict[str, str]:
    return kit.namespace_labels("training-operator")
