"""The harness's bucket-policy helpers (tests/harness/bucketpolicy.py): the deny-all-but policy the Ceph
integration tests put on a bucket, and setting a policy through a workload's own client (against moto)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.harness.bucketpolicy import deny_other_users_policy, rgw_user_arn, set_bucket_policy
from workloads.common.envconfig import SettingError
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings


@pytest.fixture
def store(moto_endpoint: str) -> ObjectStore:
    s = ObjectStore(S3Settings(moto_endpoint, f"hp-{uuid.uuid4().hex[:12]}", "testing", "testing"))
    s.ensure_bucket()
    return s


def test_deny_other_users_policy_shape() -> None:
    arns = [rgw_user_arn("trainer"), rgw_user_arn("owner"), rgw_user_arn("owner")]
    policy = deny_other_users_policy("models", arns)
    assert policy["Version"] == "2012-10-17"
    (stmt,) = policy["Statement"]
    assert stmt["Effect"] == "Deny"
    assert stmt["NotPrincipal"] == {"AWS": ["arn:aws:iam:::user/owner", "arn:aws:iam:::user/trainer"]}
    assert stmt["Action"] == "s3:*"
    assert stmt["Resource"] == ["arn:aws:s3:::models", "arn:aws:s3:::models/*"]
    assert json.loads(json.dumps(policy)) == policy


@pytest.mark.parametrize(
    ("bucket", "arns", "error", "match"),
    [
        ("models", [], ValueError, "non-empty list"),
        ("models", "arn:aws:iam:::user/x", ValueError, "non-empty list"),
        ("models", ["alice"], ValueError, "'alice' is not an IAM principal ARN"),
        ("Models!", [rgw_user_arn("a")], SettingError, "Models!"),
    ],
)
def test_deny_other_users_policy_rejects_bad_input(bucket: str, arns: list[str], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        deny_other_users_policy(bucket, arns)


def test_set_bucket_policy_stores_the_policy(store: ObjectStore) -> None:
    policy = deny_other_users_policy(store.settings.bucket, [rgw_user_arn("owner")])
    set_bucket_policy(store, policy)
    stored = store.client.get_bucket_policy(Bucket=store.settings.bucket)["Policy"]
    assert json.loads(stored) == policy
