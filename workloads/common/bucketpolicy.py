"""Least privilege in one bucket, per role (pure, standard library only).

A workload's bucket is owned by the user of its ObjectBucketClaim: the trainer, the only writer of models.
Every other role gets its own object-store user and, through the bucket policy built here, exactly the key
prefixes it needs: serving pods READ the model prefix (and write their prediction samples), the stream scorer
WRITES its results. No role but the owner may list the bucket or touch another prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PREFIX = re.compile(r"[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*")
MODES = {"read": ["s3:GetObject"], "write": ["s3:PutObject"], "read-write": ["s3:GetObject", "s3:PutObject"]}


def rgw_user_arn(uid: str, tenant: str = "") -> str:
    """The principal ARN RGW uses for an S3 user (``arn:aws:iam::<tenant>:user/<uid>``)."""
    if not uid or "/" in uid or ":" in uid:
        raise ValueError(f"RGW user id {uid!r} must be non-empty and contain no '/' or ':'")
    return f"arn:aws:iam::{tenant}:user/{uid}"


def role_policy(bucket: str, grants: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """A bucket policy granting each (user ARN, key prefix, "read" | "write" | "read-write") exactly that.

    The owner keeps full access by ownership; the listed users get only these prefixes (no ListBucket:
    serving pods know the keys they read, since versions are pinned)."""
    merged: dict[tuple[str, str], set[str]] = {}
    for arn, prefix, mode in grants:
        if mode not in MODES:
            raise ValueError(f"grant mode {mode!r} for {arn}: use one of {', '.join(MODES)}")
        segments = prefix.strip("/").split("/")
        if not _PREFIX.fullmatch(prefix.strip("/")) or any(seg in (".", "..") for seg in segments):
            raise ValueError(f"grant prefix {prefix!r} for {arn} is not a key prefix like models/fraud")
        merged.setdefault((arn, prefix.strip("/")), set()).update(MODES[mode])
    if not merged:
        raise ValueError("role_policy needs at least one grant")
    statements = [{"Sid": f"grant{i}", "Effect": "Allow", "Principal": {"AWS": [arn]}, "Action": sorted(actions),
                   "Resource": [f"arn:aws:s3:::{bucket}/{prefix}/*"]}
                  for i, ((arn, prefix), actions) in enumerate(sorted(merged.items()))]
    return {"Version": "2012-10-17", "Statement": statements}
