"""A real Apache Kafka broker for integration tests, configured as the platform's Strimzi listeners are.

Kafka 4.3.1 (``org.apache.kafka:kafka_2.13``, the platform's version) runs from the jars
scripts/artifacts/jars.lock pins (fetched by scripts/setup-services.sh into ~/.cache/pipeworks/jars) on the
machine's Java 17: one KRaft process in combined mode (``process.roles=broker,controller``) with

- a SASL_SSL listener on a free loopback port, SCRAM-SHA-512 as the only SASL mechanism (Strimzi's
  ``authentication: {type: scram-sha-512}`` on a ``tls: true`` listener), its certificate signed by a CA the
  session makes (``ca.crt`` of Strimzi's cluster CA Secret is that CA's PEM);
- a PLAINTEXT controller listener on another loopback port, used only by the node itself;
- no authorizer, so every authenticated user may do anything ("ACL-free"); an ``admin`` SCRAM user is
  written into the metadata when the storage is formatted (what the broker's own inter-broker client and
  the harness's admin operations log in as), further users come from ``broker.user(name)``.

The data directory is a fresh temp dir; the JVM heap is capped at 512 MiB. One broker per test session:
the ``kafka_broker`` fixture. Passwords live only in memory, in the 0600 files a test asks for, and on the
storage-format command line of this process's own child; they are never logged.

Run ``python -m tests.harness.kafka`` to start a broker once and print how long each step took.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness import artifacts
from tests.harness.ceph import _die_with_parent
from tests.harness.ports import free_port

log = logging.getLogger(__name__)

JAR_SET = "kafka"
SCRAM_MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "admin"
HEAP = ("-Xms128m", "-Xmx512m")
START_TIMEOUT_S = 90.0  # failure detection only; a healthy start takes a few seconds
_SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-512 (and what Strimzi's user operator uses)


class KafkaStartError(RuntimeError):
    """The broker could not be formatted or started."""


def required() -> bool:
    """Under `make test` (PIPEWORKS_REQUIRE_SERVICES=1) or CI a missing broker fails instead of skipping."""
    return os.environ.get("PIPEWORKS_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def parse_java_major(version_output: str) -> int:
    """The major version in `java -version` output ("1.8.0_292" is 8, "17.0.15" is 17); 0 when absent."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_major(java: str) -> int:
    """The major version of a `java` binary (0 when it cannot be run)."""
    try:
        return parse_java_major(subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr)
    except (OSError, subprocess.TimeoutExpired):
        return 0


def find_java() -> tuple[str | None, str]:
    """A Java 17+ runtime (JAVA_HOME first, then PATH), or None and why not. Kafka 4.x brokers need 17+."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(str(shutil.which("java")))
    for java in candidates:
        if java_major(java) >= 17:
            return java, ""
    if not candidates:
        return None, "no `java` on PATH (Kafka 4.x brokers need Java 17+; Debian package openjdk-17-jre-headless)"
    return None, f"{candidates[0]} is older than Java 17 (Kafka 4.x brokers need 17+)"


def jaas_config(username: str, password: str) -> str:
    """The ``sasl.jaas.config`` value of a Strimzi KafkaUser Secret for SCRAM users."""
    def quote(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')
    return (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{quote(username)}" '
            f'password="{quote(password)}";')


@dataclass(frozen=True)
class KafkaCredentials:
    """A SCRAM-SHA-512 user as a Strimzi KafkaUser Secret holds it (``password``, ``sasl.jaas.config``)."""

    username: str
    password: str = field(repr=False)
    jaas_config: str = field(repr=False)


# -- certificates ------------------------------------------------------------------------------------------

def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA and a broker certificate for 127.0.0.1/localhost signed by it: (ca.crt, broker.pem).

    ``broker.pem`` holds the unencrypted PKCS#8 key and the certificate chain, what Kafka's
    ``ssl.keystore.type=PEM`` reads from ``ssl.keystore.location``; both files are 0600.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pipeworks tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(name("pipeworks-test-cluster-ca")).issuer_name(
        name("pipeworks-test-cluster-ca")).public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(validity[0]).not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("pipeworks-kafka-broker")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(validity[0]).not_valid_after(validity[1])
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_file, keystore = directory / "ca.crt", directory / "broker.pem"
    _write_private(ca_file, ca_cert.public_bytes(pem).decode())
    _write_private(keystore, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
                   + cert.public_bytes(pem).decode() + ca_cert.public_bytes(pem).decode())
    return ca_file, keystore


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


# -- configuration -----------------------------------------------------------------------------------------

def broker_properties(*, data_dir: Path, port: int, controller_port: int, keystore: Path, ca_file: Path,
                      admin_password: str) -> str:
    """server.properties of the combined node, from Kafka's documented broker configs (kafka.apache.org/43/
    configuration/broker-configs): only what differs from the defaults, each for a reason."""
    admin_jaas = jaas_config(ADMIN_USER, admin_password).replace("\\", "\\\\")  # properties-file escaping
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms={SCRAM_MECHANISM}
sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={admin_jaas}
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={ca_file}
ssl.endpoint.identification.algorithm=https
log.dirs={data_dir}
# one node: every internal topic has a single replica
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# tests create their topics (as the platform's KafkaTopic objects do); a typo must not auto-create one
auto.create.topics.enable=false
# a consumer group's first join would otherwise wait 3 s for more members
group.initial.rebalance.delay.ms=0
# small and few threads: 2 cores are shared with the rest of the suite
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.segment.bytes=16777216
"""


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""


# -- the running broker ------------------------------------------------------------------------------------

@dataclass
class KafkaBroker:
    """A running broker. ``bootstrap`` is its SASL_SSL listener; every client authenticates as a user."""

    host: str
    port: int
    ca_file: Path
    log_path: Path
    base: Path
    admin: KafkaCredentials = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    _users: dict[str, KafkaCredentials] = field(default_factory=dict, repr=False)
    _topics: set[str] = field(default_factory=set)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def client_kwargs(self, user: KafkaCredentials) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (``bootstrap_servers`` included), as
        ``KafkaSettings.client_kwargs`` builds them on the platform: SASL_SSL, SCRAM-SHA-512, the cluster CA."""
        return {"bootstrap_servers": [self.bootstrap], "security_protocol": "SASL_SSL",
                "sasl_mechanism": SCRAM_MECHANISM, "sasl_plain_username": user.username,
                "sasl_plain_password": user.password, "ssl_cafile": str(self.ca_file), "ssl_check_hostname": True}

    def env(self, prefix: str, user: KafkaCredentials, tmp_dir: Path) -> dict[str, str]:
        """The environment a workload reads through ``KafkaSettings.from_env(prefix=...)``, as the platform's
        Deployments set it: the KafkaUser Secret's ``sasl.jaas.config`` mounted as a file, the cluster CA."""
        jaas_file = Path(tmp_dir) / f"{prefix.lower()}sasl.jaas.config"
        _write_private(jaas_file, user.jaas_config)
        return {f"{prefix}BOOTSTRAP": self.bootstrap, f"{prefix}SECURITY_PROTOCOL": "SASL_SSL",
                f"{prefix}SASL_JAAS_CONFIG_FILE": str(jaas_file), f"{prefix}CA_FILE": str(self.ca_file)}

    def spark_options(self, user: KafkaCredentials) -> dict[str, str]:
        """Options of Spark's Kafka source and sink (spark-sql-kafka-0-10: ``kafka.``-prefixed client configs)."""
        return {"kafka.bootstrap.servers": self.bootstrap, "kafka.security.protocol": "SASL_SSL",
                "kafka.sasl.mechanism": SCRAM_MECHANISM, "kafka.sasl.jaas.config": user.jaas_config,
                "kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": str(self.ca_file)}

    def _admin_client(self) -> Any:
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(client_id="pipeworks-tests-admin", request_timeout_ms=30000,
                                **self.client_kwargs(self.admin))

    def user(self, name: str) -> KafkaCredentials:
        """Create a SCRAM-SHA-512 user with a generated password (idempotent within the session) and wait
        until the broker accepts its login."""
        if name in self._users:
            return self._users[name]
        from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

        password = secrets.token_urlsafe(24)
        admin = self._admin_client()
        try:
            result = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
                name, ScramMechanism.SCRAM_SHA_512, password, iterations=_SCRAM_ITERATIONS)])
        finally:
            admin.close()
        _raise_for_errors(result, f"creating SCRAM user {name!r}")
        creds = KafkaCredentials(name, password, jaas_config(name, password))
        self._wait_login(creds)
        self._users[name] = creds
        return creds

    def _wait_login(self, creds: KafkaCredentials, timeout: float = 15.0) -> None:
        """The credential reaches the broker through the metadata log: retry the login until it is there."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            try:
                KafkaConsumer(**self.client_kwargs(creds)).close()
                return
            except KafkaError as exc:
                if time.monotonic() > deadline:
                    raise KafkaStartError(f"user {creds.username!r} still cannot log in after {timeout:.0f} s: "
                                          f"{type(exc).__name__}") from None
                time.sleep(0.2)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic (idempotent) and wait until its partitions' metadata is served."""
        from kafka import KafkaConsumer
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        if name in self._topics:
            return
        admin = self._admin_client()
        try:
            admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        probe = KafkaConsumer(**self.client_kwargs(self.admin))
        try:
            deadline = time.monotonic() + 15
            while len(probe.partitions_for_topic(name) or ()) < partitions:
                if time.monotonic() > deadline:
                    raise KafkaStartError(f"topic {name!r} has no metadata for {partitions} partitions after 15 s")
                time.sleep(0.1)
                probe.topics()  # forces a metadata refresh
        finally:
            probe.close()
        self._topics.add(name)


def _raise_for_errors(result: Any, what: str) -> None:
    """AlterUserScramCredentials answers per user; any non-zero error code fails (never echoing secrets)."""
    for entry in getattr(result, "results", None) or []:
        code = getattr(entry, "error_code", 0)
        if code:
            raise KafkaStartError(f"{what}: broker answered error {code} ({getattr(entry, 'error_message', '')})")


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "<no log>"


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `kafka-storage random-uuid`
    prints); never starting with '-', which the storage tool would read as an option."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


_DIR_PREFIX = "pipeworks-kafka-"


@contextlib.contextmanager
def running_broker() -> Iterator[KafkaBroker]:
    """Format and start a broker in a fresh temp dir; kill it and delete the directory on exit."""
    java, why = find_java()
    if java is None:
        raise FileNotFoundError(why)
    missing = artifacts.missing_reason(JAR_SET)
    if missing:
        raise FileNotFoundError(missing)
    classpath = os.pathsep.join(str(p) for p in artifacts.classpath(JAR_SET))
    t0 = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX))
    proc: subprocess.Popen[bytes] | None = None
    try:
        ca_file, keystore = make_certificates(base)
        port, controller_port = free_port(), free_port()
        admin_password = secrets.token_urlsafe(24)
        props = base / "server.properties"
        _write_private(props, broker_properties(data_dir=base / "data", port=port, controller_port=controller_port,
                                                keystore=keystore, ca_file=ca_file, admin_password=admin_password))
        (base / "log4j2.properties").write_text(LOG4J2)
        timings = {"certificates+config": round(time.monotonic() - t0, 2)}
        jvm = [java, *HEAP, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={base / 'log4j2.properties'}", "-cp", classpath]
        t = time.monotonic()
        # The admin user's SCRAM credential goes into the bootstrap metadata, as `kafka-storage format
        # --add-scram` documents; the command line is this child's only (and its output is not logged).
        fmt = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format", "--config", str(props), "--cluster-id", _cluster_id(),
             "--add-scram", f"{SCRAM_MECHANISM}=[name={ADMIN_USER},iterations={_SCRAM_ITERATIONS},"
                            f"password={admin_password}]"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        if fmt.returncode != 0:
            raise KafkaStartError(f"kafka-storage format exited {fmt.returncode}: "
                                  f"{(fmt.stdout + fmt.stderr).replace(admin_password, '***')[-2000:]}")
        timings["storage format"] = round(time.monotonic() - t, 2)
        t = time.monotonic()
        log_path = base / "broker.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen([*jvm, "kafka.Kafka", str(props)], cwd=base, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        admin = KafkaCredentials(ADMIN_USER, admin_password, jaas_config(ADMIN_USER, admin_password))
        broker = KafkaBroker(host="127.0.0.1", port=port, ca_file=ca_file, log_path=log_path, base=base, admin=admin)
        _wait_ready(broker, proc, time.monotonic() + START_TIMEOUT_S)
        timings["broker start"] = round(time.monotonic() - t, 2)
        timings["total"] = round(time.monotonic() - t0, 2)
        broker.timings = timings
        log.info("Kafka broker ready at %s in %.1f s; steps: %s", broker.bootstrap, timings["total"], timings)
        yield broker
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(broker: KafkaBroker, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Ready when the admin user logs in over SASL_SSL and the cluster metadata names this broker."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    while True:
        if proc.poll() is not None:
            raise KafkaStartError(f"the broker exited with status {proc.returncode} while starting; its log "
                                  f"({broker.log_path}):\n{_tail(broker.log_path)}")
        if "Kafka Server started" in _tail(broker.log_path, 20000):
            try:
                admin = KafkaAdminClient(client_id="pipeworks-tests-ready", request_timeout_ms=5000,
                                         **broker.client_kwargs(broker.admin))
                try:
                    if admin.describe_cluster().get("brokers"):
                        return
                finally:
                    admin.close()
            except KafkaError:
                pass
        if time.monotonic() > deadline:
            raise KafkaStartError(f"the broker did not become ready on {broker.bootstrap} in time; its log:\n"
                                  f"{_tail(broker.log_path)}")
        time.sleep(0.2)


def skip_or_fail_unless_runnable() -> None:
    """Skip (outside `make test`) or fail (under it, or CI) with the fix when Java 17 or the jars are missing."""
    java, why = find_java()
    missing = why if java is None else artifacts.missing_reason(JAR_SET)
    if missing:
        if required():
            pytest.fail(f"the Kafka broker is required here (make test / CI) but {missing}", pytrace=False)
        pytest.skip(f"Apache Kafka unavailable: {missing}")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A real Apache Kafka broker (KRaft, SASL_SSL + SCRAM-SHA-512) for the session, killed at its end."""
    skip_or_fail_unless_runnable()
    with running_broker() as broker:
        yield broker


if __name__ == "__main__":  # pragma: no cover - a manual timing aid
    logging.basicConfig(level=logging.INFO)
    with running_broker() as b:
        print(f"Kafka ready at {b.bootstrap}: {b.timings}")
        t = time.monotonic()
        b.user("probe")
        b.create_topic("probe", partitions=3)
        print(f"user + 3-partition topic in {time.monotonic() - t:.2f} s")
