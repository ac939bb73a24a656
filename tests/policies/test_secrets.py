"""Secrets rules: credential literals in env, args, ConfigMaps, custom resources and Helm values;
credentials only from Secrets; Secret provenance on plans; the stack-file lint."""

from __future__ import annotations

import pytest

from policies.rules.secrets import is_credential_name, value_problems
from policies.rules.stackfile import lint_stack_file
from tests.policies.builders import container, k8s, messages, pod, res, workload

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
RULE = "no-literal-credentials"


def env_pod(*env: dict, **c_extra) -> object:
    return workload("Deployment", "api", pod(container(env=list(env), **c_extra)))


@pytest.mark.parametrize("name", ["DB_PASSWORD", "password", "apiKey", "API_KEY", "AWS_SECRET_ACCESS_KEY",
                                  "clientSecret", "GITHUB_TOKEN", "AZURE_BATCH_KEY", "OCI_CLI_KEY_CONTENT",
                                  "spark.hadoop.fs.s3a.secret.key", "spark.hadoop.fs.s3a.access.key",
                                  "sasl.jaas.config", "secretKey"])
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ["TOKENIZER_PATH", "SECRET_NAME", "passwordSecretRef", "existingSecret",
                                  "PASSWORD_FILE", "token_url", "AWS_ACCESS_KEY_ID", "db_user", "passwordKey",
                                  "greeting", "secretsProvider", ""])
def test_names_that_only_point_at_credentials(name: str) -> None:
    assert not is_credential_name(name)


def test_value_patterns() -> None:
    assert value_problems(PEM) == ["a PEM private key"]
    assert value_problems("---BEGIN OPENSSH PRIVATE KEY---\nxx") == ["a PEM private key"]
    assert value_problems("AKIAABCDEFGHIJKLMNOP") == ["an AWS access key id"]
    assert value_problems("postgres://app:s3cr3t@db:5432/x") == ["a password embedded in a URL"]
    assert value_problems("postgres://app:$(DB_PASSWORD)@db:5432/x") == []
    assert value_problems("Authorization: Bearer abcdefgh12345678") == ["a bearer token"]
    assert value_problems("ssl.truststore.password=changeit") == ["a literal 'ssl.truststore.password'"]
    assert value_problems("ssl.truststore.password=${TRUSTSTORE_PASSWORD}") == []
    # Logstash/Ruby hashes: `=>` separates too, and an env reference is no literal
    assert value_problems('elasticsearch { user => "elastic" password => "hunter2secret" }') == ["a literal 'password'"]
    assert value_problems('elasticsearch { user => "${ES_USER}" password => "${ES_PASSWORD}" }') == []
    assert value_problems("hello world") == []


def test_literal_credential_in_env_is_a_violation() -> None:
    (msg,) = messages(RULE, [env_pod({"name": "DB_PASSWORD", "value": "hunter2"})])
    assert "env DB_PASSWORD holds a literal credential" in msg
    assert "hunter2" not in msg  # the secret itself never reaches the report


def test_secret_refs_and_placeholders_are_compliant() -> None:
    ok = env_pod({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                 {"name": "API_TOKEN", "value": "[secret]"}, {"name": "DSN_PASSWORD", "value": "$(DB_PASSWORD)"},
                 {"name": "GREETING", "value": "hello"}, {"name": "PASSWORD_FILE", "value": "/run/secrets/pw"},
                 envFrom=[{"secretRef": {"name": "db"}}])
    assert messages(RULE, [ok]) == []


def test_env_without_value_is_not_judged() -> None:
    assert messages(RULE, [env_pod({"name": "DB_PASSWORD"})]) == []


def test_pem_key_in_any_env_var_is_a_violation() -> None:
    (msg,) = messages(RULE, [env_pod({"name": "TLS_MATERIAL", "value": PEM})])
    assert "PEM private key" in msg


def test_credentials_in_args_and_command() -> None:
    d = env_pod(args=["--db-password", "hunter2", "--url=postgres://u:pw@db/x"],
                command=["sh", "-c", "curl -H 'Authorization: Bearer abcdefgh12345678' http://x"])
    msgs = messages(RULE, [d])
    assert any("args contains a literal value for --db-password" in m for m in msgs)
    assert any("args contains a password embedded in a URL" in m for m in msgs)
    assert any("command contains a bearer token" in m for m in msgs)
    assert messages(RULE, [env_pod(args=["--db-password", "$(DB_PASSWORD)", "--verbose"])]) == []


def test_init_and_ephemeral_containers_are_walked() -> None:
    bad = container("init", env=[{"name": "TOKEN", "value": "abc"}])
    d = workload("Deployment", "api", pod(container(), initContainers=[bad], ephemeralContainers=[dict(bad, name="dbg")]))
    assert len(messages(RULE, [d])) == 2


def test_cronjob_pod_template_is_walked() -> None:
    cj = workload("CronJob", "report", pod(container(env=[{"name": "SMTP_PASSWORD", "value": "x"}])))
    assert len(messages(RULE, [cj])) == 1


def test_configmap_with_credentials_is_a_violation() -> None:
    cm = k8s("v1", "ConfigMap", "app", None, data={"db_user": "app", "db_password": "abc123",
                                                   "server.properties": "sasl.jaas.config=org.x required "
                                                   'username="u" password="p";', "ca.pem": PEM})
    msgs = messages(RULE, [cm])
    assert len(msgs) == 3 and any("db_password" in m for m in msgs)
    assert messages(RULE, [k8s("v1", "ConfigMap", "ok", None, data={"message": "This is a test"})]) == []
    assert messages(RULE, [k8s("v1", "ConfigMap", "empty", None)]) == []


def helm(values: dict) -> object:
    return res("kubernetes:helm.sh/v3:Release", "grafana", {"chart": "grafana", "version": "8.0.0",
                                                              "namespace": "monitoring", "values": values})


def test_helm_values_with_a_literal_password_are_a_violation() -> None:
    (msg,) = messages(RULE, [helm({"adminPassword": "admin123", "persistence": {"enabled": True}})])
    assert "values.adminPassword holds a literal credential" in msg


def test_helm_values_referencing_secrets_are_compliant() -> None:
    ok = helm({"admin": {"existingSecret": "grafana-admin", "passwordKey": "password"}, "adminPassword": "[secret]",
               "env": [{"name": "X", "value": "y"}]})
    assert messages(RULE, [ok]) == []


def test_custom_resource_specs_are_walked() -> None:
    app = k8s("sparkoperator.k8s.io/v1beta2", "SparkApplication", "etl", {
        "sparkConf": {"spark.hadoop.fs.s3a.secret.key": "abc", "spark.hadoop.fs.s3a.endpoint": "http://rgw"},
        "driver": {"cores": 1.0, "memory": "1g", "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "xyz"}]},
        "executor": {"cores": 1.0, "memory": "1g"}}, namespace="spark-jobs")
    msgs = messages(RULE, [app])
    assert any("sparkConf.spark.hadoop.fs.s3a.secret.key" in m for m in msgs)
    assert any("driver container spark-kubernetes-driver: env AWS_SECRET_ACCESS_KEY" in m for m in msgs)
    assert len(msgs) == 2  # the env entry is not reported twice


def test_kubernetes_secrets_themselves_are_not_literal_findings() -> None:
    s = k8s("v1", "Secret", "db", None, stringData={"password": "[secret]"})
    assert messages(RULE, [s]) == []


def test_credentials_from_configmap_refs_are_a_violation() -> None:
    bad = env_pod({"name": "DB_PASSWORD", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "pw"}}})
    (msg,) = messages("credentials-from-secret-refs", [bad])
    assert "configMapKeyRef" in msg
    ok = env_pod({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                 {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    assert messages("credentials-from-secret-refs", [ok]) == []


def test_secret_provenance_on_plans() -> None:
    marked = k8s("v1", "Secret", "db", None, stringData="[secret]")
    per_key = k8s("v1", "Secret", "s3", None, data={"AccessKey": "[secret]", "SecretKey": "[secret]"})
    literal = k8s("v1", "Secret", "leak", None, stringData={"password": "hunter2", "user": "[secret]"})
    (msg,) = messages("secret-provenance", [marked, per_key, literal])
    assert "Secret/leak" in msg and "password" in msg and "hunter2" not in msg
    assert messages("secret-provenance", [literal], source="pack") == []  # a pack cannot see the markers
    (msg,) = messages("secret-provenance", [literal], source="manifests")
    assert "in a manifest" in msg


def test_stack_file_lint() -> None:
    doc = {"secretsprovider": "passphrase", "config": {
        "pipeworks:dbPassword": "hunter2", "pipeworks:apiToken": {"secure": "v1:abc"},
        "pipeworks:platform": {"environment": "prod", "grafana": {"adminPassword": "x"}}}}
    msgs = [f.message for f in lint_stack_file("Pulumi.prod.yaml", doc, "prod", None)]
    assert any("pipeworks:dbPassword is a credential stored in plaintext" in m for m in msgs)
    assert any("pipeworks:platform.grafana.adminPassword" in m for m in msgs)
    assert any("KMS" in m for m in msgs)
    assert not any("apiToken" in m for m in msgs)
    ok = {"secretsprovider": "awskms://alias/pipeworks-prod?region=us-east-1", "config": {
        "pipeworks:apiToken": {"secure": "v1:abc"}, "pipeworks:platform": {"environment": "prod"}}}
    assert lint_stack_file("Pulumi.prod.yaml", ok, "prod", None) == []
    assert lint_stack_file("Pulumi.dev.yaml", {"config": {}}, "dev", None) == []


def test_code_and_secret_names_are_not_credentials() -> None:
    script = ('def sync(api: str, token: str) -> int:\n    with open(f"{SA_DIR}/token") as f:\n'
              '        token = f.read().strip()\n    headers = {"Authorization": f"Bearer {token}"}\n'
              '    password = settings.DB_PASSWORD\n')
    assert value_problems(script) == []
    assert value_problems('password = "hunter2"') == ["a literal 'password'"]
    env = env_pod({"name": "SOURCE_SECRET", "value": "events-cluster-ca-cert"},
                  {"name": "TARGET_SECRETS", "value": "ca-copy"})
    assert messages(RULE, [env]) == []
    (msg,) = messages(RULE, [env_pod({"name": "CLIENT_SECRET", "value": "s3cr3tvalue"})])
    assert "CLIENT_SECRET" in msg
