"""Unit tests of workloads.common.objectstore: the S3 helpers against a moto S3 server over HTTP,
settings parsing from the ObjectBucketClaim environment, and the bucket-policy builder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workloads.common.objectstore import (
    MULTIPART_THRESHOLD,
    AccessDenied,
    ConfigError,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    S3Settings,
    deny_other_users_policy,
    make_client,
    rgw_user_arn,
)

REPO = Path(__file__).resolve().parents[2]

# Fake credentials for moto; the secret has a recognisable shape so leak checks can search for it.
ACCESS = "AKIAUNITTEST"
SECRET = "unit-test-secret-Zq9"


@pytest.fixture
def moto_url(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def store(moto_url: str) -> ObjectStore:
    """A store on a fresh bucket, so tests never see each other's keys."""
    s = ObjectStore(S3Settings(moto_url, f"t-{uuid.uuid4().hex[:12]}", ACCESS, SECRET))
    s.ensure_bucket()
    return s


# ------------------------------------------------------------------------------------------
# ObjectStore against moto
# ------------------------------------------------------------------------------------------


def test_put_get_roundtrip_keeps_content_type_and_metadata(store: ObjectStore) -> None:
    store.put_bytes("runs/1/out.json", b'{"a": 1}', content_type="application/json", metadata={"run": "1"})
    assert store.get_bytes("runs/1/out.json") == b'{"a": 1}'
    head = store.client.head_object(Bucket=store.settings.bucket, Key="runs/1/out.json")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"run": "1"}
    store.put_bytes("runs/1/out.json", b"replaced")
    assert store.get_bytes("runs/1/out.json") == b"replaced"


def test_missing_key_raises_object_not_found_and_exists_is_false(store: ObjectStore) -> None:
    assert not store.exists("nope")
    with pytest.raises(ObjectNotFound, match=f"s3://{store.settings.bucket}/nope"):
        store.get_bytes("nope")
    store.put_bytes("yes", b"")
    assert store.exists("yes")
    assert store.get_bytes("yes") == b""


def test_ensure_bucket_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes("k", b"v")
    store.ensure_bucket()
    assert store.get_bytes("k") == b"v"


def test_put_if_absent_never_overwrites(store: ObjectStore) -> None:
    assert store.put_if_absent("models/v1/model.bin", b"first", content_type="application/octet-stream") is True
    assert store.put_if_absent("models/v1/model.bin", b"second") is False
    assert store.get_bytes("models/v1/model.bin") == b"first"


def test_put_if_absent_relies_on_the_server_condition_not_only_the_head(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate losing the race: the HEAD saw nothing, then another writer published.
    store.put_bytes("race", b"winner")
    monkeypatch.setattr(store, "exists", lambda key: False)
    assert store.put_if_absent("race", b"loser") is False
    assert store.get_bytes("race") == b"winner"


def test_list_keys_paginates_in_key_order(store: ObjectStore) -> None:
    keys = [f"data/part-{i:03d}" for i in range(23)] + ["other/x"]
    for k in keys:
        store.put_bytes(k, b"x")
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append("list"))
    assert list(store.list_keys("data/", page_size=5)) == sorted(keys[:-1])
    assert len(calls) == 5  # 23 keys in pages of 5
    assert sorted(store.list_keys()) == sorted(keys)
    assert list(store.list_keys("absent/")) == []
    with pytest.raises(ValueError, match="page_size"):
        list(store.list_keys(page_size=0))


def test_list_prefixes_returns_common_prefixes_one_level_down(store: ObjectStore) -> None:
    for k in ["runs/a/1", "runs/a/2", "runs/b/1", "runs/top", "readme"]:
        store.put_bytes(k, b"x")
    assert store.list_prefixes() == ["runs/"]
    assert store.list_prefixes("runs/") == ["runs/a/", "runs/b/"]
    assert store.list_prefixes("runs/a/") == []
    assert store.list_prefixes("", delimiter="-") == []
    with pytest.raises(ValueError, match="delimiter"):
        store.list_prefixes(delimiter="")


def test_upload_file_goes_multipart_above_threshold(store: ObjectStore, tmp_path: Path) -> None:
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(os.urandom(1024))
    big.write_bytes(os.urandom(MULTIPART_THRESHOLD + 1024))  # two parts
    store.upload_file("small.bin", small)
    store.upload_file("big.bin", big)
    etag = lambda k: store.client.head_object(Bucket=store.settings.bucket, Key=k)["ETag"].strip('"')  # noqa: E731
    assert "-" not in etag("small.bin")
    assert etag("big.bin").endswith("-2")
    out = tmp_path / "back.bin"
    store.download_file("big.bin", out)
    assert out.read_bytes() == big.read_bytes()


def test_upload_of_a_missing_file_names_the_path(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        store.upload_file("k", tmp_path / "nothing-here")


def test_download_of_a_missing_key_raises_object_not_found_and_writes_nothing(
    store: ObjectStore, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFound):
        store.download_file("missing", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes("k", b"v")
    store.delete("k")
    assert not store.exists("k")
    store.delete("k")


def test_set_bucket_policy_stores_the_policy(store: ObjectStore) -> None:
    policy = deny_other_users_policy(store.settings.bucket, [rgw_user_arn("owner")])
    store.set_bucket_policy(policy)
    stored = store.client.get_bucket_policy(Bucket=store.settings.bucket)["Policy"]
    assert json.loads(stored) == policy


def test_missing_bucket_error_names_the_bucket_and_the_fix(moto_url: str) -> None:
    s = ObjectStore(S3Settings(moto_url, "never-created", ACCESS, SECRET))
    with pytest.raises(ObjectStoreError, match="never-created.*NoSuchBucket.*ensure_bucket"):
        s.put_bytes("k", b"v")


def test_unreachable_endpoint_is_an_object_store_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings_ = S3Settings(f"http://127.0.0.1:{port}", "b-unreachable", ACCESS, SECRET)
    s = ObjectStore(settings_, client=make_client(settings_, max_attempts=1))
    with pytest.raises(ObjectStoreError, match="EndpointConnectionError"):
        s.get_bytes("k")


def test_http_403_maps_to_access_denied() -> None:
    settings_ = S3Settings("http://127.0.0.1:9", "b-denied", ACCESS, SECRET)
    client = make_client(settings_)
    s = ObjectStore(settings_, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
        stub.add_client_error("head_object", "403", "Forbidden", 403)
        with pytest.raises(AccessDenied, match="s3://b-denied/k"):
            s.get_bytes("k")
        with pytest.raises(AccessDenied):
            s.exists("k")


def _stubbed_store() -> tuple[ObjectStore, Stubber]:
    settings_ = S3Settings("http://127.0.0.1:9", "b-stubbed", ACCESS, SECRET)
    client = make_client(settings_)
    return ObjectStore(settings_, client=client), Stubber(client)


def test_put_if_absent_looks_again_after_a_conditional_conflict() -> None:
    # AWS answers 409 ConditionalRequestConflict while a competing conditional write is in flight.
    store_, stub = _stubbed_store()
    with stub:
        stub.add_client_error("head_object", "404", "Not Found", 404)
        stub.add_client_error("put_object", "ConditionalRequestConflict", "conflict", 409)
        stub.add_response("head_object", {"ContentLength": 1})  # the competitor won
        assert store_.put_if_absent("k", b"v") is False
        stub.add_client_error("head_object", "404", "Not Found", 404)
        stub.add_client_error("put_object", "ConditionalRequestConflict", "conflict", 409)
        stub.add_client_error("head_object", "404", "Not Found", 404)  # the competitor was aborted
        stub.add_response("put_object", {"ETag": '"abc"'})
        assert store_.put_if_absent("k", b"v") is True
        stub.assert_no_pending_responses()


def test_put_if_absent_gives_up_after_repeated_conflicts() -> None:
    store_, stub = _stubbed_store()
    with stub:
        for _ in range(3):
            stub.add_client_error("head_object", "404", "Not Found", 404)
            stub.add_client_error("put_object", "ConditionalRequestConflict", "conflict", 409)
        with pytest.raises(ObjectStoreError, match="s3://b-stubbed/k.*kept conflicting"):
            store_.put_if_absent("k", b"v")


@pytest.mark.parametrize("key", ["", "x" * 1025])
def test_invalid_keys_are_rejected_before_any_request(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        store.put_bytes(key, b"v")


def test_non_bytes_data_is_rejected(store: ObjectStore) -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        store.put_bytes("k", "text")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Settings from the ObjectBucketClaim environment
# ------------------------------------------------------------------------------------------

OBC_ENV = {
    "BUCKET_HOST": "rook-ceph-rgw-lake.rook-ceph.svc",
    "BUCKET_PORT": "80",
    "BUCKET_NAME": "ceph-bkt-1234",
    "AWS_ACCESS_KEY_ID": ACCESS,
    "AWS_SECRET_ACCESS_KEY": SECRET,
}
REQUIRED = ["BUCKET_HOST", "BUCKET_PORT", "BUCKET_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]


def test_from_env_reads_the_obc_convention() -> None:
    s = S3Settings.from_env(OBC_ENV)
    assert s.endpoint_url == "http://rook-ceph-rgw-lake.rook-ceph.svc:80"
    assert (s.bucket, s.access_key, s.secret_key, s.region) == ("ceph-bkt-1234", ACCESS, SECRET, "us-east-1")


def test_from_env_uses_https_on_the_secure_port_and_the_claims_region() -> None:
    s = S3Settings.from_env({**OBC_ENV, "BUCKET_PORT": "443", "BUCKET_REGION": "eu-west-1"})
    assert s.endpoint_url == "https://rook-ceph-rgw-lake.rook-ceph.svc:443"
    assert s.region == "eu-west-1"


def test_endpoint_override_and_bucket_override() -> None:
    env = {k: v for k, v in OBC_ENV.items() if k not in ("BUCKET_HOST", "BUCKET_PORT", "BUCKET_NAME")}
    env["S3_ENDPOINT_URL"] = "http://127.0.0.1:7480/"
    s = S3Settings.from_env(env, bucket="features")
    assert (s.endpoint_url, s.bucket) == ("http://127.0.0.1:7480", "features")
    # The argument wins over the claim's bucket name.
    assert S3Settings.from_env(OBC_ENV, bucket="other-bucket").bucket == "other-bucket"


def test_from_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in OBC_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("BUCKET_REGION", raising=False)
    assert S3Settings.from_env() == S3Settings.from_env(OBC_ENV)


@given(missing=st.sampled_from(REQUIRED), blank=st.sampled_from([None, "", "   "]))
def test_missing_or_blank_variable_is_named(missing: str, blank: str | None) -> None:
    env = dict(OBC_ENV)
    if blank is None:
        del env[missing]
    else:
        env[missing] = blank
    with pytest.raises(ConfigError, match=f"environment variable {missing} is missing or empty"):
        S3Settings.from_env(env)


@given(port=st.text(max_size=8))
def test_invalid_port_is_named_with_the_valid_range(port: str) -> None:
    valid = port.isascii() and port.strip().isdigit() and 1 <= int(port) <= 65535
    env = {**OBC_ENV, "BUCKET_PORT": port}
    if valid:
        assert S3Settings.from_env(env).endpoint_url.endswith(f":{int(port)}")
    elif port.strip():
        with pytest.raises(ConfigError, match="BUCKET_PORT=.*1 to 65535"):
            S3Settings.from_env(env)
    else:
        with pytest.raises(ConfigError, match="BUCKET_PORT is missing"):
            S3Settings.from_env(env)


@given(name=st.text(max_size=70))
def test_bucket_names_follow_the_s3_rules(name: str) -> None:
    import re

    stripped = name.strip()
    valid = bool(re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", stripped)) and ".." not in stripped
    valid = valid and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", stripped)
    env = {**OBC_ENV, "BUCKET_NAME": name}
    if valid:
        assert S3Settings.from_env(env).bucket == stripped
    elif stripped:
        with pytest.raises(ConfigError, match="BUCKET_NAME=.*3-63 characters"):
            S3Settings.from_env(env)
    else:
        with pytest.raises(ConfigError, match="BUCKET_NAME is missing"):
            S3Settings.from_env(env)


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("S3_ENDPOINT_URL", "rgw:80", "S3_ENDPOINT_URL='rgw:80' is not a valid endpoint URL"),
        ("S3_ENDPOINT_URL", "ftp://rgw:80", "S3_ENDPOINT_URL='ftp://rgw:80'"),
        ("S3_ENDPOINT_URL", "http://rgw:80/bucket", "no path"),
        ("S3_ENDPOINT_URL", "http://rgw:99999", "S3_ENDPOINT_URL='http://rgw:99999'"),
        ("BUCKET_HOST", "http://rgw", "set S3_ENDPOINT_URL instead"),
        ("BUCKET_HOST", "bad host!", "BUCKET_HOST='bad host!' is not a valid host"),
        ("BUCKET_REGION", "US EAST", "BUCKET_REGION='US EAST' is not a valid region"),
    ],
)
def test_invalid_values_name_the_variable(var: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("?", r"\?").replace("(", r"\(")) as exc:
        S3Settings.from_env({**OBC_ENV, var: value})
    assert var in str(exc.value)


@given(tail=st.text(alphabet=st.characters(codec="utf-8"), max_size=30), pad=st.sampled_from(["", " ", "\n"]))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_secrets_never_appear_in_repr_or_errors(tail: str, pad: str) -> None:
    # A distinctive prefix keeps "is the secret in this text" meaningful for any generated tail.
    secret = pad + "zzSECRETzz" + tail
    env = {**OBC_ENV, "AWS_SECRET_ACCESS_KEY": secret}
    try:
        s = S3Settings.from_env(env)
    except ConfigError as err:
        assert "zzSECRETzz" not in str(err)
        assert "AWS_SECRET_ACCESS_KEY" in str(err)
    else:
        assert s.secret_key == secret
        assert "zzSECRETzz" not in repr(s)
        assert "zzSECRETzz" not in repr(ObjectStore(s, client=object()))


def test_credentials_in_the_endpoint_url_are_rejected_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as exc:
        S3Settings.from_env({**OBC_ENV, "S3_ENDPOINT_URL": "http://user:hunter2@rgw:80"})
    assert "hunter2" not in str(exc.value)


def test_hand_built_settings_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="bucket='Bad_Bucket'"):
        S3Settings("http://rgw:80", "Bad_Bucket", ACCESS, SECRET)
    with pytest.raises(ConfigError, match="endpoint_url"):
        S3Settings("rgw", "good-bucket", ACCESS, SECRET)


# ------------------------------------------------------------------------------------------
# Bucket policy builder (pure)
# ------------------------------------------------------------------------------------------


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


def test_rgw_user_arn_with_tenant() -> None:
    assert rgw_user_arn("alice", tenant="lake") == "arn:aws:iam::lake:user/alice"
    with pytest.raises(ValueError, match="'a/b'"):
        rgw_user_arn("a/b")


@pytest.mark.parametrize(
    ("bucket", "arns", "error", "match"),
    [
        ("models", [], ValueError, "non-empty list"),
        ("models", "arn:aws:iam:::user/x", ValueError, "non-empty list"),
        ("models", ["alice"], ValueError, "'alice' is not an IAM principal ARN"),
        ("Models!", [rgw_user_arn("a")], ConfigError, "Models!"),
    ],
)
def test_deny_other_users_policy_rejects_bad_input(bucket: str, arns: list[str], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        deny_other_users_policy(bucket, arns)


def test_module_imports_neither_pulumi_nor_infra() -> None:
    code = (
        "import sys, workloads.common.objectstore\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_kubernetes', 'infra'))\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_put_acl_comes_from_the_environment_and_is_checked() -> None:
    base = {"S3_ENDPOINT_URL": "http://127.0.0.1:9000", "BUCKET_NAME": "fraud-data", "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "b"}
    assert S3Settings.from_env(base).put_acl is None
    assert S3Settings.from_env({**base, "S3_PUT_ACL": "bucket-owner-full-control"}).put_acl == "bucket-owner-full-control"
    with pytest.raises(ConfigError, match="S3_PUT_ACL='public-read' is invalid"):
        S3Settings.from_env({**base, "S3_PUT_ACL": "public-read"})
