"""Unit tests of workloads.common.s3settings: the bucket's endpoint and credentials from the ObjectBucketClaim
environment (Rook writes BUCKET_* into a ConfigMap and AWS_* into a Secret), validated with a SettingError that
names the variable and never repeats a credential."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workloads.common.envconfig import BLANKS, SettingError
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings, check_bucket

ACCESS = "AKIAUNITTEST"
SECRET = "unit-test-secret-Zq9"

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
    with pytest.raises(SettingError, match=f"environment variable {missing} is missing or empty"):
        S3Settings.from_env(env)


@given(port=st.text(max_size=8))
def test_invalid_port_is_named_with_the_valid_range(port: str) -> None:
    text = port.strip(BLANKS)  # ASCII blanks only: U+2028, NBSP or U+001F are not trimmed away
    valid = text.isascii() and text.isdigit() and 1 <= int(text) <= 65535
    env = {**OBC_ENV, "BUCKET_PORT": port}
    if valid:
        assert S3Settings.from_env(env).endpoint_url.endswith(f":{int(text)}")
    elif text:
        with pytest.raises(SettingError, match="BUCKET_PORT=.*1 to 65535"):
            S3Settings.from_env(env)
    else:
        with pytest.raises(SettingError, match="BUCKET_PORT is missing"):
            S3Settings.from_env(env)


@given(name=st.text(max_size=70))
def test_bucket_names_follow_the_s3_rules(name: str) -> None:
    import re

    stripped = name.strip(BLANKS)  # ASCII blanks only, as every settings reader trims
    valid = bool(re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", stripped)) and ".." not in stripped
    valid = valid and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", stripped)
    env = {**OBC_ENV, "BUCKET_NAME": name}
    if valid:
        assert S3Settings.from_env(env).bucket == stripped
    elif stripped:
        with pytest.raises(SettingError, match="BUCKET_NAME=.*3-63 characters"):
            S3Settings.from_env(env)
    else:
        with pytest.raises(SettingError, match="BUCKET_NAME is missing"):
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
    with pytest.raises(SettingError, match=expected.replace("?", r"\?").replace("(", r"\(")) as exc:
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
    except SettingError as err:
        assert "zzSECRETzz" not in str(err)
        assert "AWS_SECRET_ACCESS_KEY" in str(err)
    else:
        assert s.secret_key == secret
        assert "zzSECRETzz" not in repr(s)
        assert "zzSECRETzz" not in repr(ObjectStore(s, client=object()))


def test_credentials_in_the_endpoint_url_are_rejected_without_echoing_them() -> None:
    with pytest.raises(SettingError) as exc:
        S3Settings.from_env({**OBC_ENV, "S3_ENDPOINT_URL": "http://user:hunter2@rgw:80"})
    assert "hunter2" not in str(exc.value)


def test_hand_built_settings_are_validated_too() -> None:
    with pytest.raises(SettingError, match="bucket='Bad_Bucket'"):
        S3Settings("http://rgw:80", "Bad_Bucket", ACCESS, SECRET)
    with pytest.raises(SettingError, match="endpoint_url"):
        S3Settings("rgw", "good-bucket", ACCESS, SECRET)


def test_put_acl_comes_from_the_environment_and_is_checked() -> None:
    base = {"S3_ENDPOINT_URL": "http://127.0.0.1:9000", "BUCKET_NAME": "fraud-data", "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "b"}
    assert S3Settings.from_env(base).put_acl is None
    assert S3Settings.from_env({**base, "S3_PUT_ACL": "bucket-owner-full-control"}).put_acl == "bucket-owner-full-control"
    with pytest.raises(SettingError, match="S3_PUT_ACL='public-read' is invalid"):
        S3Settings.from_env({**base, "S3_PUT_ACL": "public-read"})


@pytest.mark.parametrize("name", ["ab", "-models", "models-", "Models", "1.2.3.4", "a..b", "a" * 64, "mod_els"])
def test_check_bucket_refuses_what_s3_refuses_and_names_the_source(name: str) -> None:
    with pytest.raises(SettingError, match=rf"^bucket argument={name!r} is not a valid bucket name: use 3-63"):
        check_bucket(name, "bucket argument")


@pytest.mark.parametrize("name", ["abc", "fraud-fraud-data", "a.b-c", "9" * 63])
def test_check_bucket_returns_a_valid_name_unchanged(name: str) -> None:
    assert check_bucket(name, "bucket") == name


def test_settings_errors_are_the_one_setting_error_type() -> None:
    """One settings error for the whole library: an entry point catching SettingError catches these too (they
    are no longer storage errors: nothing retries a bad setting as if the store were down)."""
    from workloads.common.objectstore import ObjectStoreError

    with pytest.raises(SettingError) as info:
        S3Settings.from_env({})
    assert not isinstance(info.value, ObjectStoreError)
    assert isinstance(info.value, ValueError)
