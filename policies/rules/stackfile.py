"""The stack-file lint of the secrets policy: credential keys in `Pulumi.<stack>.yaml` must be
`secure:` values, and prod must encrypt them with a KMS secrets provider (`awskms://...`).

Offline only: a policy pack never sees the stack file (the engine hands it decrypted config).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from policies.rules.model import Finding
from policies.rules.secrets import is_credential_name

STACK_FILE_SECRETS = "stack-file-secrets"


def _plain_credentials(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return
        for k, val in value.items():
            p = f"{path}.{k}"
            if is_credential_name(str(k)) and isinstance(val, (str, int, float)) and not isinstance(val, bool):
                yield p
            else:
                yield from _plain_credentials(val, p)
    elif isinstance(value, list):
        for i, val in enumerate(value):
            yield from _plain_credentials(val, f"{path}[{i}]")


def lint_stack_file(file_label: str, document: Any, environment: str, secrets_provider: str | None) -> list[Finding]:
    """Findings for one stack file (`document` is its parsed YAML); `file_label` is the resource they
    attach to (the file's path)."""
    findings = []
    config = document.get("config") if isinstance(document, dict) else None
    for key, value in (config or {}).items() if isinstance(config, dict) else []:
        name = str(key).split(":", 1)[-1]
        if is_credential_name(name) and not (isinstance(value, dict) and "secure" in value):
            findings.append(Finding(STACK_FILE_SECRETS, file_label, f"{file_label}: {key} is a credential stored "
                                    f"in plaintext; set it with `pulumi config set --secret {key} ...`"))
            continue
        for path in _plain_credentials(value, str(key)):
            findings.append(Finding(STACK_FILE_SECRETS, file_label, f"{file_label}: {path} is a credential stored in "
                                    "plaintext inside an object; move it to its own top-level secure: key"))
    provider = secrets_provider or (document.get("secretsprovider") if isinstance(document, dict) else None)
    if environment == "prod" and not (isinstance(provider, str) and provider.startswith("awskms://")):
        findings.append(Finding(STACK_FILE_SECRETS, file_label, f"{file_label}: prod encrypts its secrets with "
                                f"{provider or 'the default provider'}; use a KMS key "
                                "(`pulumi stack change-secrets-provider awskms://alias/<key>`)"))
    return findings
