"""Secrets rules: no credential-looking literal in container env values, args or command, ConfigMap
data, custom-resource specs or Helm release values; credentials only through secretKeyRef, envFrom
secretRef or mounted Secret volumes.

A credential is recognised by its name (the words of Polaris's sensitiveContainerEnvVar, matched
as whole words so TOKENIZER_PATH or SECRET_NAME are not credentials) or by its value (AWS access
key ids, PEM private keys, passwords embedded in URLs, `Authorization: Bearer` headers,
`password=...` pairs inside config text). References are never credentials: `$(VAR)`, `${VAR}`,
`{{ .Values.x }}`, file paths, and the plan's "[secret]" placeholder.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from policies.rules.model import SECRET_PLACEHOLDER, Context, Finding, Resource, as_dict, as_list, is_unknown
from policies.rules.podspec import pod_templates

NO_LITERAL_CREDENTIALS = "no-literal-credentials"
CREDENTIALS_FROM_SECRETS = "credentials-from-secret-refs"

_CRED_WORDS = {"password", "passwd", "pwd", "passphrase", "secret", "secrets", "token", "bearer", "credential",
               "credentials", "apikey", "privatekey", "jaas"}
_CRED_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("client", "secret"), ("auth", "key"),
               ("account", "key"), ("signing", "key"), ("encryption", "key"), ("master", "key"), ("secret", "key")}
_SPECIAL = re.compile(r"(?i)^(AZURE_.+KEY|OCI_CLI_KEY_CONTENT|GOOGLE_APPLICATION_CREDENTIALS|AWS_SECRET_ACCESS_KEY)$")
# A trailing word that makes the name describe a credential rather than hold one.
_REFERENCE_TAIL = {"name", "names", "ref", "refs", "path", "file", "files", "dir", "url", "uri", "endpoint", "enabled",
                   "enable", "type", "length", "ttl", "expiry", "expiration", "mode", "header", "namespace", "id",
                   "selector", "provider", "policy", "required", "min", "max", "size", "format",
                   "location", "mount", "volume", "template", "prefix", "suffix", "field", "annotations", "labels"}
_REFERENCE_HEAD = {"existing", "use", "create", "enable", "disable", "generate", "rotate"}
_KEY_OF = {"password", "passwd", "token", "credential", "credentials", "apikey", "username", "user"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

# Every pattern below is linear in the string's length: a repeated run (a key, a scheme, dashes) is only
# tried from its first character (the look-behinds), never again from each later one, which made a
# 100 KB value take minutes (issue 9; benchmarks/policy_check.py measures ms per MB).
PEM_PRIVATE_KEY = re.compile(r"(?<!-)-{3,}\s*BEGIN[A-Z ]*PRIVATE KEY\s*-{3,}")
AWS_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
AWS_SECRET_PAIR = re.compile(r"(?i)aws_?secret_?access_?key\s*[=:]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
URL_PASSWORD = re.compile(r"(?<![\w+.-])[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@")
# Tokens whose issuers give them a fixed prefix (GitHub, GitLab, Slack, Stripe, npm, Google API keys)
# and Slack incoming-webhook URLs, which are credentials by value whatever the key is called.
KNOWN_TOKEN = re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20}"
                         r"|xox[abposr]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{24,}|npm_[A-Za-z0-9]{36}"
                         r"|AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_])"
                         r"|hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}")
_TOKEN_PREFIXES = ("gh", "github_pat_", "glpat-", "xox", "sk_live_", "npm_", "AIza", "hooks.slack.com")
BEARER = re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)")
# `key=value`, `key: value` and Logstash/Ruby `key => value`
KV_PAIR = re.compile(r"""(?x)(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z0-9_.\-]+)["']?\s*(?:=>|[=:])\s*(?P<q>["']?)(?P<value>\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\}|[^\s"',;}]+)(?P=q)""")
_REF_VALUE = re.compile(r"^(\$\(.+\)|\$\{.+\}|\{\{.*\}\}|%\(.+\)s?|\$[A-Za-z_][A-Za-z0-9_]*)$")


def name_words(name: str) -> list[str]:
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        words.extend(w.lower() for w in _WORD.findall(part))
    return words


@functools.lru_cache(maxsize=4096)
def _credential_name(name: str) -> bool:
    if _SPECIAL.match(name):
        return True
    words = name_words(name)
    if not words or words[-1] in _REFERENCE_TAIL or words[0] in _REFERENCE_HEAD:
        return False
    if len(words) >= 2 and words[-1] == "key" and words[-2] in _KEY_OF:
        return False  # passwordKey, tokenKey: the key inside an existing Secret that holds the credential
    if any(w in _CRED_WORDS for w in words):
        return True
    return any(pair in _CRED_PAIRS for pair in zip(words, words[1:]))


def is_credential_name(name: Any) -> bool:
    """Whether a key/env-var name says its value is a credential."""
    return isinstance(name, str) and bool(name) and _credential_name(name)


def is_reference(value: str) -> bool:
    """A value that points at a credential instead of holding one."""
    s = value.strip()
    return (not s or s == SECRET_PLACEHOLDER or is_unknown(s) or bool(_REF_VALUE.match(s))
            or s.startswith(("/", "./", "file://", "secret://", "vault:", "arn:aws:secretsmanager", "ref+")))


_K8S_NAME = re.compile(r"^[a-z0-9]([a-z0-9.]*-[a-z0-9.-]*)?[a-z0-9]$")
_SECRET_NOUNS = {"secret", "secrets"}


def names_a_secret_object(name: str, value: str) -> bool:
    """SOURCE_SECRET=events-cluster-ca-cert: a name ending in "secret" whose value is a Kubernetes
    object name (lower-case, dashed) points at a Secret object rather than holding a credential."""
    words = name_words(name)
    return bool(words) and words[-1] in _SECRET_NOUNS and "-" in value and bool(_K8S_NAME.match(value))


def literal_under_credential_name(name: Any, value: Any) -> bool:
    return (is_credential_name(name) and isinstance(value, str) and not is_reference(value)
            and not names_a_secret_object(name, value))


_NOT_LITERALS = {"none", "null", "nil", "true", "false", "undefined", "str", "string", "bytes", "int", "bool",
                 "dict", "list", "object", "any", "self", "this"}
_IDENTIFIER_CHAIN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def _kv_literal(value: str, quoted: bool) -> bool:
    """Whether the value of a `key=value` / `key: value` pair inside text is a literal: in code, an
    unquoted right-hand side is usually an expression (`token = f.read()`, `token: str`)."""
    if is_reference(value):
        return False
    if quoted:
        return True
    return (len(value) >= 4 and not any(c in value for c in "()[]{}<>")
            and value.lower() not in _NOT_LITERALS and not _IDENTIFIER_CHAIN.match(value))


def value_problems(value: Any) -> list[str]:
    """Credential material recognised in a string, whatever its key is called."""
    if not isinstance(value, str) or not value or is_unknown(value):
        return []
    found = []
    # Each pattern runs only when the literal it cannot match without is present: substring tests are
    # C loops, so a megabyte value without any of them costs a few milliseconds.
    lower = value.lower()
    if "private key" in lower and PEM_PRIVATE_KEY.search(value):
        found.append("a PEM private key")
    if ("AKIA" in value or "ASIA" in value) and AWS_ACCESS_KEY_ID.search(value):
        found.append("an AWS access key id")
    if "secret" in lower and AWS_SECRET_PAIR.search(value):
        found.append("an AWS secret access key")
    if any(p in value for p in _TOKEN_PREFIXES) and KNOWN_TOKEN.search(value):
        found.append("a token with a known issuer prefix")
    if "://" in value and "@" in value:
        for m in URL_PASSWORD.finditer(value):
            if not is_reference(m.group(1)):
                found.append("a password embedded in a URL")
                break
    if "bearer" in lower:
        for m in BEARER.finditer(value):
            if not is_reference(m.group(1)):
                found.append("a bearer token")
                break
    for m in (KV_PAIR.finditer(value) if ("=" in value or ":" in value) else ()):
        if is_credential_name(m.group("key")) and _kv_literal(m.group("value"), bool(m.group("q"))):
            found.append(f"a literal {m.group('key')!r}")
            break
    return found


def _args_problems(tokens: list[Any]) -> list[str]:
    found = []
    strs = [t for t in tokens if isinstance(t, str)]
    for i, tok in enumerate(strs):
        found.extend(value_problems(tok))
        flag = tok.lstrip("-")
        if tok.startswith("-") and "=" not in tok and is_credential_name(flag) and i + 1 < len(strs):
            nxt = strs[i + 1]
            if not nxt.startswith("-") and not is_reference(nxt):
                found.append(f"a literal value for {tok}")
    return found


def _container_findings(r: Resource, ctx: Context) -> Iterator[Finding]:
    for pt in pod_templates(r, ctx):
        for c in pt.containers:
            where = f"{pt.label} container {c.name}"
            for e in as_list(c.raw.get("env")):
                e = as_dict(e)
                name, value = e.get("name"), e.get("value")
                if "valueFrom" in e or value is None:
                    continue
                if literal_under_credential_name(name, value):
                    yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"{where}: env {name} holds a literal credential; "
                                  "take it from a Secret (valueFrom.secretKeyRef or envFrom.secretRef)")
                else:
                    for what in value_problems(value):
                        yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"{where}: env {name} contains {what}; "
                                      "take it from a Secret")
            for field_name in ("command", "args"):
                for what in sorted(set(_args_problems(as_list(c.raw.get(field_name))))):
                    yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"{where}: {field_name} contains {what}; pass it "
                                  "through an env var from a Secret ($(VAR)) or a mounted Secret file")


_SKIP_KEYS = {"env", "envFrom", "args", "command", "arguments", "containers", "initContainers", "ephemeralContainers"}


def _walk(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, problem) for every credential literal in a free-form tree (CR specs, Helm values)."""
    if isinstance(obj, dict):
        for k, val in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if k in _SKIP_KEYS and isinstance(val, list):
                continue
            if literal_under_credential_name(k, val):
                yield p, "holds a literal credential"
            elif isinstance(val, (dict, list)):
                yield from _walk(val, p)
            else:
                for what in value_problems(val):
                    yield p, f"contains {what}"
    elif isinstance(obj, list):
        for i, val in enumerate(obj):
            yield from _walk(val, f"{path}[{i}]")
    else:
        for what in value_problems(obj):
            yield path, f"contains {what}"


def no_literal_credentials(r: Resource, ctx: Context) -> Iterable[Finding]:
    if not r.is_kubernetes:
        return
    yield from _container_findings(r, ctx)
    if r.is_k8s("core", "ConfigMap"):
        for k, val in as_dict(r.props.get("data")).items():
            if literal_under_credential_name(k, val):
                yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"ConfigMap/{r.k8s_name} key {k} holds a literal "
                              "credential; ConfigMaps are not secret: use a Secret")
            else:
                for what in value_problems(val):
                    yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"ConfigMap/{r.k8s_name} key {k} contains {what}; "
                                  "use a Secret")
        return
    if r.kind == "Release" and r.api_group == "helm.sh":
        for path, what in _walk(as_dict(r.props.get("values")), "values"):
            yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"Helm release {r.name}: {path} {what}; reference an "
                          "existing Secret (the chart's existingSecret-style value) instead")
        return
    if r.api_group not in ("core", "apps", "batch", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
                           "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io"):
        for path, what in _walk(as_dict(r.props.get("spec")), "spec"):
            yield Finding(NO_LITERAL_CREDENTIALS, r.urn, f"{r.display}: {path} {what}; reference a Secret instead")


def credentials_from_secret_refs(r: Resource, ctx: Context) -> Iterable[Finding]:
    """Credential-named env vars must come from a Secret: a ConfigMap or a field ref is readable by
    anyone who can read the namespace's ConfigMaps."""
    for pt in pod_templates(r, ctx):
        for c in pt.containers:
            for e in as_list(c.raw.get("env")):
                e = as_dict(e)
                src = as_dict(e.get("valueFrom"))
                if is_credential_name(e.get("name")) and src and "secretKeyRef" not in src:
                    kind = next(iter(src), "valueFrom")
                    yield Finding(CREDENTIALS_FROM_SECRETS, r.urn, f"{pt.label} container {c.name}: env "
                                  f"{e.get('name')} takes a credential from {kind}; use valueFrom.secretKeyRef")


CASSANDRA_AUTHENTICATION = "cassandra-authentication"
_OPEN_AUTH = {"authenticator": "AllowAllAuthenticator", "authorizer": "AllowAllAuthorizer"}


def _cassandra_server_config(r: Resource, ctx: Context) -> Any:
    """The datacenter's server config: inline `spec.config` (an object or its JSON text) or the `config` key of
    the Secret `spec.configSecret` names in the same namespace; None when unknowable (computed, or a secret
    output the offline plan shows as "[secret]"; a policy pack sees its plain value)."""
    spec = as_dict(r.props.get("spec"))
    raw: Any = spec.get("config")
    if raw is None and isinstance(spec.get("configSecret"), str):
        for s in ctx.of_kind("core", "Secret"):
            if s.k8s_name == spec["configSecret"] and s.namespace == r.namespace:
                raw = as_dict(s.props.get("stringData")).get("config")
                if raw is None and isinstance(as_dict(s.props.get("data")).get("config"), str):
                    try:
                        raw = base64.b64decode(as_dict(s.props.get("data"))["config"]).decode()
                    except (ValueError, UnicodeDecodeError):
                        return None
    if isinstance(raw, str) and raw != SECRET_PLACEHOLDER and not is_unknown(raw):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


def cassandra_authentication(r: Resource, ctx: Context) -> Iterable[Finding]:
    """A CassandraDatacenter (cass-operator) keeps password authentication and role authorization: with
    AllowAllAuthenticator the superuser Secret and every role's Secret guard nothing, since any pod that
    reaches the CQL port reads and writes every keyspace. Judged on the inline config or the configSecret's."""
    if not r.is_k8s("cassandra.datastax.com", "CassandraDatacenter"):
        return
    conf = as_dict(as_dict(_cassandra_server_config(r, ctx)).get("cassandra-yaml"))
    for key in ("authenticator", "authorizer"):
        value = conf.get(key)
        if isinstance(value, str) and value.rsplit(".", 1)[-1] == _OPEN_AUTH[key]:
            yield Finding(CASSANDRA_AUTHENTICATION, r.urn, f"{r.display}: cassandra-yaml {key} is {value}: every "
                          "client that reaches the CQL port gets every keyspace; use "
                          f"{'PasswordAuthenticator' if key == 'authenticator' else 'CassandraAuthorizer'}")


SECRET_PROVENANCE = "secret-provenance"


def secret_provenance(ctx: Context) -> Iterable[Finding]:
    """Every Kubernetes Secret's data must come from Pulumi secret outputs. Only the offline plan can
    tell: it writes "[secret]" for every value the engine marked secret, while a pack's validate
    receives plain values (pulumi/pulumi-policy#241). In plain manifests any Secret data is literal."""
    if ctx.source == "pack":
        return
    for r in ctx.of_kind("core", "Secret"):
        for field_name in ("data", "stringData"):
            data = r.props.get(field_name)
            if data is None or data == SECRET_PLACEHOLDER:
                continue
            literal = sorted(k for k, val in as_dict(data).items() if val != SECRET_PLACEHOLDER)
            if not literal:
                continue
            if ctx.source == "manifests":
                msg = (f"Secret/{r.k8s_name} carries literal {field_name} ({', '.join(literal)}) in a manifest; "
                       "create it from a Pulumi secret, or keep it out of the repository")
            else:
                msg = (f"Secret/{r.k8s_name} {field_name} keys {', '.join(literal)} are not Pulumi secret outputs, "
                       "so their plaintext would sit in the state file; build them from config.require_secret or "
                       "pulumi.Output.secret")
            yield Finding(SECRET_PROVENANCE, r.urn, msg)
