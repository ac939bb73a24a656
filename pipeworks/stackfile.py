"""Reads a Pulumi stack file the way the engine would hand its config to the program: plain values as
they are, `secure:` values as placeholders marked secret (their ciphertext is never decrypted here)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import PROJECT, Problem
from policies.rules.secrets import value_problems
from policies.saferead import STACK_FILE_BYTES, InputError, read_text, load_yaml

SECRET_PLACEHOLDER = "[secret]"


class StackFileError(Exception):
    """A stack file that cannot be used at all (missing, not YAML)."""


@dataclass(frozen=True)
class StackFile:
    stack: str
    path: Path
    values: dict[str, Any]
    secret_keys: frozenset[str]
    secrets_provider: str | None
    # secure: values that are no ciphertext, credentials by value: found while reading, reported by the
    # loader's path together with every other problem of the stack
    problems: tuple[Problem, ...] = ()
    # the plaintext credentials found, so no other message (a type error on the same key) echoes them
    credentials: frozenset[str] = frozenset()
    # The per-stack key material of the secrets provider (passphrase `encryptionsalt`, KMS/cloud
    # `encryptedkey`): stable while the stack keeps its provider; keys the plan's secret digests.
    key_material: str | None = None

    @property
    def file(self) -> str:
        return self.path.name


# What Pulumi writes under `secure:`: "v1:<nonce>:<ciphertext>" (base64) from the passphrase and cloud
# KMS providers (a symmetric crypter under a data key); the Pulumi Cloud service provider writes plain
# base64 of its ciphertext.
_V1_CIPHERTEXT = re.compile(r"^v1:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$")
_SERVICE_CIPHERTEXT = re.compile(r"^(?:[A-Za-z0-9+/]{4}){6,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def _is_ciphertext(value: Any, secrets_provider: str | None) -> bool:
    if not isinstance(value, str):
        return False
    if _V1_CIPHERTEXT.match(value):
        return True
    # without a secretsprovider line the stack uses the Pulumi Cloud service's keys
    return not secrets_provider and bool(_SERVICE_CIPHERTEXT.match(value))


def _resolve_secure(value: Any, key: str, found: set[str], problems: list[Problem], path: str,
                    secrets_provider: str | None, leaked: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            if not _is_ciphertext(value["secure"], secrets_provider) or value_problems(value["secure"]):
                shown = type(value["secure"]).__name__ if not isinstance(value["secure"], str) else \
                    ("an empty string" if not value["secure"] else "plain text")
                problems.append(Problem(f"{path}.secure", f" holds {shown}, not ciphertext; valid: what "
                                        f"`pulumi config set --secret {key} ...` writes (v1:...)"))
                if isinstance(value["secure"], str) and value["secure"]:
                    leaked.add(value["secure"])
            found.add(key)
            # The placeholder carries a digest of the ciphertext (never decrypted here), so a rotated
            # secret gives the program a different value and `pipeworks diff` shows "(secret changed)".
            # Ciphertext is high-entropy and already public in the stack file: its hash reveals nothing.
            tag = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:12]
            return f"{SECRET_PLACEHOLDER} {key} #{tag}"
        return {k: _resolve_secure(v, key, found, problems, _key_path(path, k), secrets_provider, leaked)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_secure(v, key, found, problems, f"{path}[{i}]", secrets_provider, leaked)
                for i, v in enumerate(value)]
    if isinstance(value, str):
        for what in value_problems(value):
            leaked.add(value)
            problems.append(Problem(path, f" contains {what} in plain text; never put a credential in a stack file "
                                          f"(tags and labels included): `pulumi config set --secret {PROJECT}:<name>`"))
            break
    return value


_PLAIN = re.compile(r"^[A-Za-z0-9_:/-]+$")


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN.match(key) else f"{path}[{json.dumps(key)}]"


def read_stack_file(project_dir: Path, stack: str) -> StackFile:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"{path.name}: no such stack file in {project_dir}; stacks here: {', '.join(stacks) or 'none'}")
    try:
        # bounded size and depth, UTF-8, no alias bomb, no duplicate or non-string keys
        doc = load_yaml(read_text(path, path.name, max_bytes=STACK_FILE_BYTES), path.name) or {}
    except InputError as e:
        raise StackFileError(str(e)) from None
    if not isinstance(doc, dict):
        raise StackFileError(f"{path.name}: must be a mapping with a `config:` section")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: `config` must be a mapping of keys to values")
    provider = doc.get("secretsprovider")
    if provider is not None and not isinstance(provider, str):
        raise StackFileError(f"{path.name}: secretsprovider={provider!r} must be a string, e.g. "
                             "awskms://alias/pipeworks-prod?region=us-east-1")
    secret: set[str] = set()
    problems: list[Problem] = []
    leaked: set[str] = set()
    values = {k: _resolve_secure(v, k, secret, problems, k, provider, leaked) for k, v in config.items()}
    material = doc.get("encryptedkey") or doc.get("encryptionsalt")
    return StackFile(stack=stack, path=path, values=values, secret_keys=frozenset(secret),
                     secrets_provider=provider, problems=tuple(problems), credentials=frozenset(leaked),
                     key_material=material if isinstance(material, str) else None)


def redact(text: str, credentials: frozenset[str]) -> str:
    """text with every credential found in the stack file replaced (longest first, JSON-quoted forms too)."""
    for c in sorted(credentials, key=len, reverse=True):
        text = text.replace(c, "[redacted]").replace(json.dumps(c)[1:-1], "[redacted]")
    return text


def lint_secrets_provider(sf: StackFile, environment: str | None) -> list[Problem]:
    """prod keeps its secrets under a KMS key the team controls, not the default passphrase/service key."""
    if environment == "prod" and not (sf.secrets_provider or "").startswith("awskms://"):
        return [Problem("secretsprovider", f"={sf.secrets_provider or 'unset'} must be an AWS KMS key in prod "
                                           "(e.g. awskms://alias/pipeworks-prod?region=us-east-1; "
                                           f"`pulumi stack change-secrets-provider`) — key in {PROJECT}'s prod stack file")]
    return []
