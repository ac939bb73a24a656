"""workloads.common.kafkasettings: a workload's Kafka client settings under its own prefix, and the Strimzi
KafkaUser secret's ``sasl.jaas.config`` (SCRAM-SHA-512), with SettingErrors that name the variable, never the
password. The fraud scorer's prefix, FF_KAFKA_, is the one exercised; another workload's prefix reads only its own
variables."""

from __future__ import annotations

import re

import pytest

from workloads.common.envconfig import SettingError
from workloads.common.kafkasettings import KafkaSettings, parse_jaas_config

FF = "FF_KAFKA_"


def test_strimzi_jaas_config_and_sasl_settings(tmp_path) -> None:
    jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="fraud-scorer" password="s3cr\\"et";'
    assert parse_jaas_config(jaas) == ("fraud-scorer", 's3cr"et')
    (tmp_path / "sasl.jaas.config").write_text(jaas)
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = KafkaSettings.from_env({
        "FF_KAFKA_BOOTSTRAP": "pipeworks-kafka-bootstrap.kafka.svc:9093", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FF_KAFKA_SASL_JAAS_CONFIG_FILE": str(tmp_path / "sasl.jaas.config"), "FF_KAFKA_CA_FILE": str(tmp_path / "ca.crt")}, prefix=FF)
    kwargs = settings.client_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_username"] == "fraud-scorer"
    assert kwargs["ssl_cafile"] == str(tmp_path / "ca.crt") and kwargs["security_protocol"] == "SASL_SSL"
    assert 's3cr"et' not in repr(settings)

    (tmp_path / "password").write_text("pw-from-secret\n")
    by_key = KafkaSettings.from_env({"FF_KAFKA_BOOTSTRAP": "k:9093", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                     "FF_KAFKA_USERNAME": "u", "FF_KAFKA_PASSWORD_FILE": str(tmp_path / "password")}, prefix=FF)
    assert by_key.password == "pw-from-secret"
    plain = KafkaSettings.from_env({"FF_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}, prefix=FF).client_kwargs()
    assert plain == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize(("env", "message"), [
    ({}, "FF_KAFKA_BOOTSTRAP is required"),
    ({"FF_KAFKA_BOOTSTRAP": "nohost"}, "FF_KAFKA_BOOTSTRAP='nohost' is invalid"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "TLS"}, "FF_KAFKA_SECURITY_PROTOCOL='TLS' is invalid"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "FF_KAFKA_USERNAME is required"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_USERNAME": "u"},
     "needs FF_KAFKA_PASSWORD_FILE"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_SASL_JAAS_CONFIG": "x"},
     "not a ScramLoginModule"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_USERNAME": "u",
      "FF_KAFKA_PASSWORD_FILE": "/nonexistent/password"}, "FF_KAFKA_PASSWORD_FILE='/nonexistent/password': cannot read"),
    ({"FF_KAFKA_BOOTSTRAP": "k:1", "FF_KAFKA_CA_FILE": "/nonexistent/ca.crt"}, "FF_KAFKA_CA_FILE='/nonexistent/ca.crt'"),
])
def test_kafka_settings_errors_name_the_variable_never_the_secret(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=re.escape(message)) as info:
        KafkaSettings.from_env(env, prefix=FF)
    assert "hunter2" not in str(info.value)


def test_a_prefix_reads_only_its_own_variables(tmp_path) -> None:
    env = {"FF_KAFKA_BOOTSTRAP": "fraud:9093", "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FF_KAFKA_USERNAME": "fraud",
           "FF_KAFKA_PASSWORD": "fraud-pw", "RECO_KAFKA_BOOTSTRAP": "reco:9092"}
    reco = KafkaSettings.from_env(env, prefix="RECO_KAFKA_")
    assert (reco.bootstrap, reco.security_protocol, reco.username, reco.password) == ("reco:9092", "PLAINTEXT", None, None)
    with pytest.raises(SettingError, match=re.escape("SASL_SSL needs RECO_KAFKA_PASSWORD_FILE")):
        KafkaSettings.from_env({**env, "RECO_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "RECO_KAFKA_USERNAME": "r"},
                               prefix="RECO_KAFKA_")


@pytest.mark.parametrize("prefix", ["", "FF_KAFKA", "ff_kafka_", "FF-KAFKA_", "_KAFKA_"])
def test_a_malformed_prefix_is_a_programming_error(prefix: str) -> None:
    with pytest.raises(ValueError, match="must be upper-case letters, digits and '_', ending in '_'"):
        KafkaSettings.from_env({"FF_KAFKA_BOOTSTRAP": "k:1"}, prefix=prefix)


@pytest.mark.parametrize("text", [
    'ScramLoginModule required password="p";',
    'ScramLoginModule required username="u";',
    'PlainLoginModule required username="u" password="p";',
])
def test_an_incomplete_jaas_config_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(SettingError) as info:
        parse_jaas_config(text)
    assert '"p"' not in str(info.value) and "sasl.jaas.config" in str(info.value)


def test_spark_kafka_options_carry_scram_over_tls_with_a_pem_truststore(tmp_path) -> None:
    """spark-sql-kafka-0-10 hands `kafka.`-prefixed options to the Kafka consumer (Spark's Structured Streaming +
    Kafka Integration Guide); kafka-clients reads a PEM truststore since 2.7 (KIP-651)."""
    from workloads.common.kafkasettings import spark_kafka_options

    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = KafkaSettings(bootstrap="b:9093", security_protocol="SASL_SSL", username="recs-stream",
                             password='p"w\\d', ca_file=str(tmp_path / "ca.crt"))
    opts = spark_kafka_options(settings)
    assert opts["kafka.bootstrap.servers"] == "b:9093" and opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert opts["kafka.ssl.truststore.type"] == "PEM"
    assert opts["kafka.ssl.truststore.location"] == str(tmp_path / "ca.crt")
    # the JAAS line parses back to the same credentials (quotes and backslashes escaped)
    assert parse_jaas_config(opts["kafka.sasl.jaas.config"]) == ("recs-stream", 'p"w\\d')
    plain = spark_kafka_options(KafkaSettings(bootstrap="127.0.0.1:9092"))
    assert plain == {"kafka.bootstrap.servers": "127.0.0.1:9092", "kafka.security.protocol": "PLAINTEXT"}
