"""Reads a Pulumi stack file the way the engine would hand its config to the program: plain values as
they are, `secure:` values as placeholders marked secret (their ciphertext is never decrypted here)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.config import PROJECT, Problem

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
    # The per-stack key material of the secrets provider (passphrase `encryptionsalt`, KMS/cloud
    # `encryptedkey`): stable while the stack keeps its provider; keys the plan's secret digests.
    key_material: str | None = None

    @property
    def file(self) -> str:
        return self.path.name


def _resolve_secure(value: Any, key: str, found: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            found.add(key)
            # The placeholder carries a digest of the ciphertext (never decrypted here), so a rotated
            # secret gives the program a different value and `pipeworks diff` shows "(secret changed)".
            # Ciphertext is high-entropy and already public in the stack file: its hash reveals nothing.
            tag = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:12]
            return f"{SECRET_PLACEHOLDER} {key} #{tag}"
        return {k: _resolve_secure(v, key, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_secure(v, key, found) for v in value]
    return value


def read_stack_file(project_dir: Path, stack: str) -> StackFile:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"{path.name}: no such stack file in {project_dir}; stacks here: {', '.join(stacks) or 'none'}")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise StackFileError(f"{path.name}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise StackFileError(f"{path.name}: must be a mapping with a `config:` section")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: `config` must be a mapping of keys to values")
    secret: set[str] = set()
    values = {k: _resolve_secure(v, k, secret) for k, v in config.items()}
    material = doc.get("encryptedkey") or doc.get("encryptionsalt")
    return StackFile(stack=stack, path=path, values=values, secret_keys=frozenset(secret),
                     secrets_provider=doc.get("secretsprovider"),
                     key_material=material if isinstance(material, str) else None)


def lint_secrets_provider(sf: StackFile, environment: str | None) -> list[Problem]:
    """prod keeps its secrets under a KMS key the team controls, not the default passphrase/service key."""
    if environment == "prod" and not (sf.secrets_provider or "").startswith("awskms://"):
        return [Problem("secretsprovider", f"={sf.secrets_provider or 'unset'} must be an AWS KMS key in prod "
                                           "(e.g. awskms://alias/pipeworks-prod?region=us-east-1; "
                                           f"`pulumi stack change-secrets-provider`) — key in {PROJECT}'s prod stack file")]
    return []
