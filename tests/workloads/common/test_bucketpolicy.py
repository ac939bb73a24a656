"""workloads.common.bucketpolicy: the per-role bucket policies the fraud declaration puts on its
ObjectBucketClaim (pure, standard library only, so the declaration builds them without boto3)."""

from __future__ import annotations

import pytest

from workloads.common.bucketpolicy import rgw_user_arn, role_policy


def test_role_policy_merges_grants_and_refuses_bad_ones() -> None:
    policy = role_policy("b", [("arn:aws:iam:::user/u", "p/q", "read"), ("arn:aws:iam:::user/u", "p/q/", "write")])
    (st,) = policy["Statement"]
    assert st["Action"] == ["s3:GetObject", "s3:PutObject"] and st["Resource"] == ["arn:aws:s3:::b/p/q/*"]
    with pytest.raises(ValueError, match="grant mode 'admin'"):
        role_policy("b", [("arn:aws:iam:::user/u", "p", "admin")])
    with pytest.raises(ValueError, match="not a key prefix"):
        role_policy("b", [("arn:aws:iam:::user/u", "../x", "read")])
    with pytest.raises(ValueError, match="at least one grant"):
        role_policy("b", [])


def test_rgw_user_arn_with_tenant() -> None:
    assert rgw_user_arn("alice", tenant="lake") == "arn:aws:iam::lake:user/alice"
    with pytest.raises(ValueError, match="'a/b'"):
        rgw_user_arn("a/b")

