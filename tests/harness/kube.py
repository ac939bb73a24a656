"""A real Kubernetes control plane on loopback for the e2e tests: etcd, kube-apiserver and
kube-controller-manager (no scheduler, no kubelet: objects are stored, validated, admitted, garbage-collected
and namespaces are finalized, but no pod ever runs).

Certificates are made here (a CA, the API server's serving cert, the admin's and the controller-manager's
client certs, the service-account signing key); the API server runs with the admission plugins it enables by
default, RBAC and Node authorization, as a kubeadm cluster does. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.harness.engines import Engines
from tests.harness.ports import free_port

_START_TIMEOUT_S = 180.0


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject: x509.Name, key, issuer_cert, issuer_key, *, ca: bool = False, server: bool = False,
          sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer_cert.subject if issuer_cert else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    else:
        usage = [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH] if server else [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


@dataclass
class Pki:
    dir: Path
    ca: Path = field(init=False)

    def __post_init__(self) -> None:
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(_name("pipeworks-e2e-ca"), ca_key, None, None, ca=True)
        self.ca = d / "ca.crt"
        self.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (d / "ca.key").write_bytes(_pem_key(ca_key))
        sans = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                          "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")]
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        self._issue("apiserver", _name("kube-apiserver"), ca, ca_key, server=True, sans=sans)
        self._issue("admin", _name("pipeworks-e2e-admin", "system:masters"), ca, ca_key)
        self._issue("controller-manager", _name("system:kube-controller-manager"), ca, ca_key)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (d / "sa.key").write_bytes(_pem_key(sa))
        (d / "sa.pub").write_bytes(sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def _issue(self, name: str, subject: x509.Name, ca, ca_key, **kw) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(subject, key, ca, ca_key, **kw)
        (self.dir / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.dir / f"{name}.key").write_bytes(_pem_key(key))

    def path(self, name: str) -> Path:
        return self.dir / name


def kubeconfig(server: str, pki: Pki, user: str, context: str = "e2e") -> str:
    """A kubeconfig with the CA and the client cert embedded (so it is one secret value)."""
    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server,
                                                    "certificate-authority-data": b64(pki.ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(pki.path(f"{user}.crt")),
                                          "client-key-data": b64(pki.path(f"{user}.key"))}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
    })


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager under `workdir`; stop() ends the three processes."""

    def __init__(self, engines: Engines, workdir: Path, apiserver_args: tuple[str, ...] = ()):
        """`apiserver_args`: extra kube-apiserver flags (e.g. `-v=3` for its request log, which
        scripts/capture_klog.py records as the log-anomaly workload's corpus)."""
        self.workdir = workdir
        self.pki = Pki(workdir / "pki")
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        etcd_port, peer_port, self.port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._start("etcd", [str(engines.etcd), "--name", "e2e", "--data-dir", str(workdir / "etcd"),
                             "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                             "--initial-cluster", f"e2e={peer_url}", "--unsafe-no-fsync", "--log-level", "warn"])
        self._wait(lambda: self._http_ok(f"{etcd_url}/health"), "etcd /health")
        p = self.pki.path
        self._start("kube-apiserver", [
            str(engines.kube_apiserver), "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
            "--cert-dir", str(workdir / "apiserver-certs"),
            "--tls-cert-file", str(p("apiserver.crt")), "--tls-private-key-file", str(p("apiserver.key")),
            "--client-ca-file", str(p("ca.crt")),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(p("sa.pub")), "--service-account-signing-key-file", str(p("sa.key")),
            # an address range the API server allocates ClusterIPs from; nothing ever routes to it here
            "--service-cluster-ip-range", "10.96.0.0/16",
            "--authorization-mode", "Node,RBAC", "--allow-privileged=true",
            # the default admission chain (NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity,
            # DefaultStorageClass, ResourceQuota, the webhooks, ...) plus what kubeadm adds
            "--enable-admission-plugins", "NodeRestriction", *apiserver_args,
        ])
        self.admin_kubeconfig = kubeconfig(self.server, self.pki, "admin")
        self._ssl = ssl.create_default_context(cafile=str(p("ca.crt")))
        self._ssl.load_cert_chain(str(p("admin.crt")), str(p("admin.key")))
        self._wait(lambda: self._ready(), "kube-apiserver /readyz")
        kcm = workdir / "controller-manager.kubeconfig"
        kcm.write_text(kubeconfig(self.server, self.pki, "controller-manager"))
        self._start("kube-controller-manager", [
            str(engines.kube_controller_manager), "--kubeconfig", str(kcm),
            "--authentication-kubeconfig", str(kcm), "--authorization-kubeconfig", str(kcm),
            "--bind-address", "127.0.0.1", "--secure-port", str(free_port()), "--leader-elect=false",
            "--service-account-private-key-file", str(p("sa.key")), "--root-ca-file", str(p("ca.crt")),
            "--use-service-account-credentials=true",
        ])

    def _start(self, name: str, args: list[str]) -> None:
        log = self.workdir / f"{name}.log"
        proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc, log))

    def _wait(self, probe, what: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            for name, proc, log in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}; "
                                       f"its log ({log}):\n{log.read_text(errors='replace')[-3000:]}")
            if probe():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} not ready within {_START_TIMEOUT_S} s (logs in {self.workdir})")

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _ready(self) -> bool:
        try:
            return self.get("/readyz", raw=True) == "ok"
        except (urllib.error.URLError, OSError):
            return False

    def get(self, path: str, raw: bool = False):
        """GET with the admin's client cert; None for 404."""
        req = urllib.request.Request(self.server + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=30) as r:
                body = r.read().decode()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        return body if raw else json.loads(body)

    def send(self, method: str, path: str, body: dict) -> dict:
        """POST/PUT/PATCH (JSON) with the admin's client cert."""
        req = urllib.request.Request(self.server + path, data=json.dumps(body).encode(), method=method,
                                     headers={"Accept": "application/json", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl, timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def service_account_token(self, namespace: str, name: str) -> str:
        """A short-lived token of a ServiceAccount (TokenRequest), to act exactly as that account's pods would."""
        out = self.send("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 600}})
        return out["status"]["token"]

    def token_ssl(self) -> ssl.SSLContext:
        """TLS to the API server without the admin's client certificate (requests then carry a bearer token)."""
        return ssl.create_default_context(cafile=str(self.pki.path("ca.crt")))

    def object_path(self, api_version: str, kind: str, name: str, namespace: str | None) -> str:
        """The REST path of one object, found through discovery (kind -> resource, namespaced or not)."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        listing = self.get(base) or {"resources": []}
        for res in listing["resources"]:
            if res["kind"] == kind and "/" not in res["name"]:
                ns = f"/namespaces/{namespace}" if res["namespaced"] and namespace else ""
                return f"{base}{ns}/{res['name']}/{name}"
        raise LookupError(f"the API server serves no {kind} in {api_version}")

    def stop(self) -> None:
        for name, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
