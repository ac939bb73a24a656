"""How a workload's process reaches the platform's Kafka (Strimzi): client settings from the environment.

On the platform a workload's KafkaUser authenticates with SCRAM-SHA-512 over TLS (SASL_SSL): Strimzi writes
the user's Secret with ``password`` and ``sasl.jaas.config`` keys and the cluster CA Secret with ``ca.crt``;
the Deployment mounts them as files and names them in the environment. Every workload
reads the same variables under its own prefix (the fraud scorer: ``FF_KAFKA_``), so two workloads in one
namespace never read each other's settings. Errors are ``SettingError`` and never contain the password.
The integration tests run the same path against a real Apache Kafka broker with a SASL_SSL SCRAM-SHA-512
listener (tests/harness/kafka.py), so nothing here is PLAINTEXT-only in practice.

Application code: never imports pulumi or infra (nor kafka-python: ``client_kwargs`` is plain keywords).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workloads.common.envconfig import BLANKS, SettingError, get_secret, get_str

SCRAM_MECHANISM = "SCRAM-SHA-512"
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_JAAS_FIELD = r'{}\s*=\s*"((?:[^"\\]|\\.)*)"'
_PREFIX = re.compile(r"[A-Z][A-Z0-9_]*_")
_BOOTSTRAP = r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}(,[A-Za-z0-9.\-\[\]:]+:\d{1,5})*"
# The consumer-group session timeouts a broker accepts: Kafka's defaults of group.min.session.timeout.ms and
# group.max.session.timeout.ms (GroupCoordinatorConfig, unchanged by the platform's Strimzi Kafka). A consumer
# asking for less is refused every JoinGroup (InvalidSessionTimeoutError) and never consumes, so a workload's
# setting is validated against these when it is read, not discovered in a crash loop.
SESSION_TIMEOUT_MIN_MS = 6_000
SESSION_TIMEOUT_MAX_MS = 1_800_000


def parse_jaas_config(text: str) -> tuple[str, str]:
    """(username, password) from a Strimzi ``sasl.jaas.config`` value; SettingError without the secret."""
    if "ScramLoginModule" not in text:
        raise SettingError("the sasl.jaas.config value is not a ScramLoginModule configuration (Strimzi KafkaUser "
                           "with authentication type scram-sha-512)")
    found = {}
    for name in ("username", "password"):
        match = re.search(_JAAS_FIELD.format(name), text)
        if not match:
            raise SettingError(f"the sasl.jaas.config value has no {name}=\"...\" entry")
        found[name] = re.sub(r"\\(.)", r"\1", match.group(1))
    return found["username"], found["password"]


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the brokers: PLAINTEXT in tests, SASL_SSL with SCRAM-SHA-512 on the platform."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, prefix: str) -> KafkaSettings:
        """``<prefix>BOOTSTRAP``, ``<prefix>SECURITY_PROTOCOL``, and for SASL either ``<prefix>SASL_JAAS_CONFIG(_FILE)``
        (the KafkaUser secret's ``sasl.jaas.config``) or ``<prefix>USERNAME`` with ``<prefix>PASSWORD(_FILE)`` (its
        ``password``); ``<prefix>CA_FILE`` is the cluster CA (``ca.crt``) for SSL. ``prefix`` is the workload's,
        e.g. ``FF_KAFKA_``."""
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"Kafka settings prefix {prefix!r} must be upper-case letters, digits and '_', ending "
                             "in '_' (e.g. FF_KAFKA_)")
        bootstrap = get_str(env, f"{prefix}BOOTSTRAP", pattern=_BOOTSTRAP,
                            hint="use host:port[,host:port], e.g. pipeworks-kafka-bootstrap.kafka.svc:9093")
        protocol = get_str(env, f"{prefix}SECURITY_PROTOCOL", "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise SettingError(f"{prefix}SECURITY_PROTOCOL={protocol!r} is invalid: use one of {', '.join(PROTOCOLS)}")
        username = password = None
        if protocol.startswith("SASL_"):
            jaas = get_secret(env, f"{prefix}SASL_JAAS_CONFIG", file_name=f"{prefix}SASL_JAAS_CONFIG_FILE")
            if jaas:
                username, password = parse_jaas_config(jaas)
            else:
                username = get_str(env, f"{prefix}USERNAME", hint=f"{protocol} needs the KafkaUser name, or set "
                                   f"{prefix}SASL_JAAS_CONFIG_FILE to its secret's sasl.jaas.config")
                password = get_secret(env, f"{prefix}PASSWORD", file_name=f"{prefix}PASSWORD_FILE")
                if not password:
                    raise SettingError(f"{protocol} needs {prefix}PASSWORD_FILE (the KafkaUser secret's password key) "
                                       f"or {prefix}PASSWORD")
        ca_file = env.get(f"{prefix}CA_FILE", "").strip(BLANKS) or None
        if ca_file is not None and not os.path.isfile(ca_file):
            raise SettingError(f"{prefix}CA_FILE={ca_file!r} is not a readable file (mount the cluster CA's ca.crt)")
        if ca_file is not None and not protocol.endswith("SSL"):
            raise SettingError(f"{prefix}CA_FILE is set but {prefix}SECURITY_PROTOCOL={protocol} does not use TLS")
        return cls(bootstrap=bootstrap, security_protocol=protocol, username=username, password=password, ca_file=ca_file)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap.split(","), "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            kwargs.update(sasl_mechanism=SCRAM_MECHANISM, sasl_plain_username=self.username,
                          sasl_plain_password=self.password)
        if self.security_protocol.endswith("SSL"):
            kwargs.update(ssl_cafile=self.ca_file, ssl_check_hostname=True)
        return kwargs


def spark_kafka_options(settings: KafkaSettings) -> dict[str, str]:
    """Options of Spark's Kafka source/sink (spark-sql-kafka-0-10: ``kafka.``-prefixed consumer properties) for
    these settings: SCRAM-SHA-512 through a JAAS line built here, the CA as a PEM truststore (Kafka clients 2.7+
    read PEM, KIP-651). The options hold the password: never log them."""
    opts = {"kafka.bootstrap.servers": settings.bootstrap, "kafka.security.protocol": settings.security_protocol}
    if settings.security_protocol.startswith("SASL_"):
        quote = lambda v: (v or "").replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
        opts.update({"kafka.sasl.mechanism": SCRAM_MECHANISM,
                     "kafka.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                                               f'username="{quote(settings.username)}" '
                                               f'password="{quote(settings.password)}";'})
    if settings.security_protocol.endswith("SSL") and settings.ca_file:
        opts.update({"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": settings.ca_file})
    return opts
