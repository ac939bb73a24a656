"""The Kafka harness: its pure parts (lock file, certificates, broker config, credentials) without a broker, and
the contract other tests code against (tests/harness/kafka.py) against the real broker."""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path

import pytest

from tests.harness import artifacts
from tests.harness.kafka import (ADMIN_USER, KafkaCredentials, broker_properties, jaas_config, java_major,
                                 make_certificates, parse_java_major,
                                 skip_or_fail_unless_runnable)
from workloads.common.kafkasettings import KafkaSettings, parse_jaas_config

# -- the lock file ------------------------------------------------------------------------------------------

GOOD = "a" * 64


def test_lock_file_parses_and_pins_every_jar_once() -> None:
    sets = artifacts.parse_lock(artifacts.LOCK.read_text())
    assert set(sets) == {"kafka", "spark"}
    assert artifacts.version_of("kafka", "org.apache.kafka", "kafka_2.13").startswith("4.")
    for jars in sets.values():
        assert len({j.file_name for j in jars}) == len(jars)


@pytest.mark.parametrize(("text", "message"), [
    ("kafka org.apache.kafka:kafka_2.13 " + GOOD, r"jars.lock:1: expected `SET GROUP:ARTIFACT:VERSION SHA256`"),
    ("kafka a:b:1", r"expected `SET"),
    ("kafka a:b:1 " + "a" * 63, r"a:b:1: the checksum must be 64 hex digits"),
    ("kafka a:b:1 " + "g" * 64, r"the checksum must be 64 hex digits"),
    (f"# c\nkafka a:b:1 {GOOD}\nkafka a:b:1 {GOOD}", r"jars.lock:3: a:b:1 appears twice in set 'kafka'"),
])
def test_a_malformed_lock_line_is_named_with_its_line(text: str, message: str) -> None:
    with pytest.raises(artifacts.LockError, match=message):
        artifacts.parse_lock(text)


def test_lock_comments_and_urls() -> None:
    sets = artifacts.parse_lock(f"# header\n\nspark  org.apache.hadoop:hadoop-aws:3.4.1  {GOOD.upper()}  # why\n")
    (jar,) = sets["spark"]
    assert jar.sha256 == GOOD and jar.file_name == "hadoop-aws-3.4.1.jar"
    assert jar.url == "https://repo1.maven.org/maven2/org/apache/hadoop/hadoop-aws/3.4.1/hadoop-aws-3.4.1.jar"


def test_set_dir_changes_with_the_lock_so_a_stale_cache_is_never_used(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPEWORKS_JAR_CACHE", str(tmp_path))
    one = artifacts.parse_lock(f"kafka a:b:1 {GOOD}")["kafka"]
    two = artifacts.parse_lock(f"kafka a:b:2 {GOOD}")["kafka"]
    assert artifacts.set_dir("kafka", one) != artifacts.set_dir("kafka", two)
    assert artifacts.set_dir("kafka", one).parent == tmp_path
    assert "not fetched" in artifacts.missing_reason("kafka") and "setup-services.sh" in artifacts.missing_reason("kafka")


def test_the_cli_reports_a_bad_lock_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "jars.lock"
    bad.write_text("kafka nonsense\n")
    monkeypatch.setattr(artifacts, "LOCK", bad)
    assert artifacts.main(["fetch"]) == 2
    assert "expected `SET GROUP:ARTIFACT:VERSION SHA256`" in capsys.readouterr().err


# -- certificates, config, credentials -----------------------------------------------------------------------

def test_certificates_chain_to_the_ca_and_name_the_loopback_address(tmp_path: Path) -> None:
    ca_file, keystore = make_certificates(tmp_path)
    assert oct(ca_file.stat().st_mode & 0o777) == "0o600" and oct(keystore.stat().st_mode & 0o777) == "0o600"
    text = keystore.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, what Kafka's PEM keystore reads
    assert text.count("BEGIN CERTIFICATE") == 2
    # An RFC 5280 path validation of the broker certificate against the CA, for 127.0.0.1.
    import ipaddress

    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store

    chain = x509.load_pem_x509_certificates(text.encode())
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    assert verifier.verify(chain[0], []) is not None
    ssl.create_default_context(cafile=str(ca_file))  # loads as a CA bundle


def test_broker_properties_have_one_sasl_ssl_listener_with_scram_only(tmp_path: Path) -> None:
    props = broker_properties(data_dir=tmp_path / "d", port=1234, controller_port=1235, keystore=tmp_path / "k.pem",
                              ca_file=tmp_path / "ca.crt", admin_password='p"w\\x')
    lines = dict(line.split("=", 1) for line in props.splitlines() if line and not line.startswith("#"))
    assert lines["listeners"] == "SASL_SSL://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert lines["advertised.listeners"] == "SASL_SSL://127.0.0.1:1234"  # the controller listener is never advertised
    assert lines["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert lines["process.roles"] == "broker,controller"
    assert "authorizer.class.name" not in lines  # ACL-free: any authenticated user may do anything
    # the admin password survives both the JAAS quoting and the properties file's backslash escaping
    jaas = lines["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"].replace("\\\\", "\\")
    assert parse_jaas_config(jaas) == (ADMIN_USER, 'p"w\\x')


@pytest.mark.parametrize("password", ["plain", 'with"quote', "back\\slash", "sp ace;="])
def test_jaas_config_is_what_the_workloads_parse(password: str) -> None:
    """The string form Strimzi writes to a KafkaUser Secret's sasl.jaas.config, read back by the workloads' reader."""
    text = jaas_config("user-1", password)
    assert text.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required ")
    assert text.endswith(";")
    assert parse_jaas_config(text) == ("user-1", password)


def test_credentials_never_show_secrets_in_repr() -> None:
    creds = KafkaCredentials("u", "s3cret", jaas_config("u", "s3cret"))
    assert "s3cret" not in repr(creds)


@pytest.mark.parametrize(("output", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_292"', 8), ('openjdk version "25" 2025-09-16', 25),
    ("no version here", 0)])
def test_java_major_reads_the_runtime_version(output: str, major: int) -> None:
    assert parse_java_major(output) == major
    assert java_major("/nonexistent/java") == 0


# -- the real broker -------------------------------------------------------------------------------------------

@pytest.mark.integration
def test_a_user_produces_and_a_consumer_group_reads_over_sasl_ssl(kafka_broker, tmp_path: Path) -> None:
    """The contract end to end: user(), create_topic(), client_kwargs(), env() through KafkaSettings.from_env."""
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"harness-{uuid.uuid4().hex[:6]}"
    kafka_broker.create_topic(topic, partitions=3)
    kafka_broker.create_topic(topic, partitions=3)  # idempotent
    user = kafka_broker.user("harness-app")
    assert kafka_broker.user("harness-app") is user  # idempotent: same credentials
    producer = KafkaProducer(acks="all", **kafka_broker.client_kwargs(user))
    for i in range(30):
        producer.send(topic, key=b"%d" % i, value=b"v%d" % i)
    producer.flush()
    producer.close()

    env = kafka_broker.env("APP_KAFKA_", user, tmp_path)
    assert oct(Path(env["APP_KAFKA_SASL_JAAS_CONFIG_FILE"]).stat().st_mode & 0o777) == "0o600"
    settings = KafkaSettings.from_env(env, prefix="APP_KAFKA_")
    assert (settings.security_protocol, settings.username) == ("SASL_SSL", "harness-app")
    consumer = KafkaConsumer(topic, group_id=f"g-{topic}", auto_offset_reset="earliest", enable_auto_commit=False,
                             **settings.client_kwargs())
    seen: set[bytes] = set()
    try:
        for _ in range(60):
            for records in consumer.poll(timeout_ms=500).values():
                seen.update(r.value for r in records)
            if len(seen) == 30:
                break
        assert seen == {b"v%d" % i for i in range(30)}
        assert {tp.partition for tp in consumer.assignment()} == {0, 1, 2}
    finally:
        consumer.close()


@pytest.mark.integration
def test_the_listener_refuses_wrong_passwords_and_plaintext(kafka_broker) -> None:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    user = kafka_broker.user("harness-refused")
    wrong = KafkaCredentials(user.username, "not-the-password", jaas_config(user.username, "not-the-password"))
    with pytest.raises(KafkaError):
        KafkaConsumer(request_timeout_ms=5000, api_version_auto_timeout_ms=5000,
                      **kafka_broker.client_kwargs(wrong)).topics()
    with pytest.raises(KafkaError):  # no PLAINTEXT (nor unauthenticated SSL) path into the broker
        KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, request_timeout_ms=5000,
                      api_version_auto_timeout_ms=5000).topics()


@pytest.mark.integration
def test_the_broker_certificate_is_signed_by_the_ca_file(kafka_broker) -> None:
    """What a Strimzi client checks with ca.crt: the listener's certificate chains to it for the address used."""
    context = ssl.create_default_context(cafile=str(kafka_broker.ca_file))
    import socket
    with socket.create_connection((kafka_broker.host, kafka_broker.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=kafka_broker.host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    other = ssl.create_default_context()  # the system CAs do not know the test CA
    with socket.create_connection((kafka_broker.host, kafka_broker.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            other.wrap_socket(raw, server_hostname=kafka_broker.host)


@pytest.mark.integration
def test_spark_options_name_the_listener_and_the_pem_truststore(kafka_broker) -> None:
    user = kafka_broker.user("harness-spark")
    opts = kafka_broker.spark_options(user)
    assert opts["kafka.bootstrap.servers"] == kafka_broker.bootstrap
    assert opts["kafka.security.protocol"] == "SASL_SSL" and opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert parse_jaas_config(opts["kafka.sasl.jaas.config"]) == (user.username, user.password)
    assert opts["kafka.ssl.truststore.type"] == "PEM"
    assert Path(opts["kafka.ssl.truststore.location"]).read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.integration
def test_the_broker_is_the_pinned_apache_kafka(kafka_broker) -> None:
    """The broker reports the version the lock pins (the platform's Kafka, infra/config/kafka.py)."""
    from infra.config.kafka import KafkaConfig

    pinned = artifacts.version_of("kafka", "org.apache.kafka", "kafka_2.13")
    assert KafkaConfig().kafka_version == pinned
    log = kafka_broker.log_path.read_text(errors="replace")
    assert f"Kafka version: {pinned}" in log
    assert kafka_broker.timings["total"] > 0


@pytest.mark.parametrize("env", [{}, {"PIPEWORKS_REQUIRE_SERVICES": "1"}, {"CI": "true"}])
def test_without_the_jars_the_fixture_skips_or_under_make_test_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      env: dict[str, str]) -> None:
    """Outside `make test` a missing broker is a skip with the fix in its reason; under it (or CI) a failure."""
    for name in ("CI", "PIPEWORKS_REQUIRE_SERVICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIPEWORKS_JAR_CACHE", str(tmp_path / "empty"))
    outcome = pytest.fail.Exception if env else pytest.skip.Exception
    with pytest.raises(outcome, match=r"the kafka jars are not fetched .*setup-services\.sh"):
        skip_or_fail_unless_runnable()
