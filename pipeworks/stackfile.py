"""Reads a Pulumi stack file the way the engine would hand its config to the program: plain values as
they are, `secure:` values as placeholders marked secret (their ciphertext is never decrypted here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import PROJECT, Problem
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

    @property
    def file(self) -> str:
        return self.path.name


def _resolve_secure(value: Any, key: str, found: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            found.add(key)
            return f"{SECRET_PLACEHOLDER} {key}"
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
        # bounded size and depth, UTF-8, no alias bomb, no duplicate or non-string keys
        doc = load_yaml(read_text(path, path.name, max_bytes=STACK_FILE_BYTES), path.name) or {}
    except InputError as e:
        raise StackFileError(str(e)) from None
    if not isinstance(doc, dict):
        raise StackFileError(f"{path.name}: must be a mapping with a `config:` section")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: `config` must be a mapping of keys to values")
    secret: set[str] = set()
    values = {k: _resolve_secure(v, k, secret) for k, v in config.items()}
    return StackFile(stack=stack, path=path, values=values, secret_keys=frozenset(secret),
                     secrets_provider=doc.get("secretsprovider"))


def lint_secrets_provider(sf: StackFile, environment: str | None) -> list[Problem]:
    """prod keeps its secrets under a KMS key the team controls, not the default passphrase/service key."""
    if environment == "prod" and not (sf.secrets_provider or "").startswith("awskms://"):
        return [Problem("secretsprovider", f"={sf.secrets_provider or 'unset'} must be an AWS KMS key in prod "
                                           "(e.g. awskms://alias/pipeworks-prod?region=us-east-1; "
                                           f"`pulumi stack change-secrets-provider`) — key in {PROJECT}'s prod stack file")]
    return []
