"""Bucket policies the tests and the harness put on their stand-in stores (Ceph RGW, moto).

The application never sets a bucket policy: on the platform the stack declares it
(``workloads.common.bucketpolicy.role_policy``, applied by Rook's ObjectBucketClaim owner). Tests set one to
prove how the store enforces it: ``deny_other_users_policy`` closes a bucket to every user but the listed
ones, and ``set_bucket_policy`` puts a policy through the workload's own client.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workloads.common.bucketpolicy import rgw_user_arn
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import check_bucket

__all__ = ["deny_other_users_policy", "rgw_user_arn", "set_bucket_policy"]


def set_bucket_policy(store: ObjectStore, policy: dict[str, Any]) -> None:
    """Replace the bucket policy of ``store``'s bucket (with the store's own credentials: the owner's)."""
    store.client.put_bucket_policy(Bucket=store.settings.bucket, Policy=json.dumps(policy))


_ARN_RE = re.compile(r"^arn:aws:iam::[A-Za-z0-9_-]*:(user|root|role)(/.*)?$")


def deny_other_users_policy(bucket: str, allowed_user_arns: list[str]) -> dict[str, Any]:
    """A bucket policy denying every S3 action on ``bucket`` to all principals but the listed ones.

    It only denies: the listed users keep exactly what ownership or ACLs already give them. An
    explicit Deny beats any ACL grant, so this closes a bucket even if someone made it public.
    Include the bucket owner, or the owner locks itself out of the data (RGW applies the Deny to
    owners too).
    """
    check_bucket(bucket, "bucket")
    if isinstance(allowed_user_arns, str) or not allowed_user_arns:
        raise ValueError("allowed_user_arns must be a non-empty list of user ARNs (include the bucket owner)")
    for arn in allowed_user_arns:
        if not isinstance(arn, str) or not _ARN_RE.fullmatch(arn):
            raise ValueError(
                f"allowed_user_arns entry {arn!r} is not an IAM principal ARN such as "
                "arn:aws:iam:::user/<uid> (see rgw_user_arn)"
            )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyAllButListedUsers",
                "Effect": "Deny",
                "NotPrincipal": {"AWS": sorted(set(allowed_user_arns))},
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
