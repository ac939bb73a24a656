"""workloads.common.objectstore against a real Ceph RGW (tests/harness/ceph.py): round trips,
multipart uploads, listings, immutable publishing and bucket policies as Ceph itself enforces them."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

import pytest

from tests.harness.bucketpolicy import deny_other_users_policy, set_bucket_policy
from tests.harness.ceph import RgwEndpoint
from workloads.common.objectstore import (
    MULTIPART_THRESHOLD,
    AccessDenied,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
)
from workloads.common.s3settings import S3Settings

pytestmark = pytest.mark.integration


def _settings(rgw: RgwEndpoint, bucket: str, access_key: str | None = None, secret_key: str | None = None) -> S3Settings:
    return S3Settings(rgw.url, bucket, access_key or rgw.access_key, secret_key or rgw.secret_key)


@pytest.fixture
def store(ceph_rgw: RgwEndpoint) -> ObjectStore:
    s = ObjectStore(_settings(ceph_rgw, f"it-{uuid.uuid4().hex[:12]}"))
    s.ensure_bucket()
    return s


def test_settings_from_the_obc_environment_reach_rgw(ceph_rgw: RgwEndpoint) -> None:
    host, port = ceph_rgw.url.removeprefix("http://").rsplit(":", 1)
    env = {
        "BUCKET_HOST": host,
        "BUCKET_PORT": port,
        "BUCKET_NAME": f"obc-{uuid.uuid4().hex[:10]}",
        "AWS_ACCESS_KEY_ID": ceph_rgw.access_key,
        "AWS_SECRET_ACCESS_KEY": ceph_rgw.secret_key,
    }
    s = ObjectStore(S3Settings.from_env(env))
    s.ensure_bucket()
    s.ensure_bucket()  # idempotent against RGW too
    s.put_bytes("hello.txt", b"hello ceph")
    assert s.get_bytes("hello.txt") == b"hello ceph"


def test_put_get_roundtrip(store: ObjectStore) -> None:
    payload = os.urandom(256 * 1024)
    store.put_bytes("features/day=1/part-0.parquet", payload, content_type="application/vnd.apache.parquet",
                    metadata={"rows": "1234"})
    assert store.exists("features/day=1/part-0.parquet")
    assert store.get_bytes("features/day=1/part-0.parquet") == payload
    head = store.client.head_object(Bucket=store.settings.bucket, Key="features/day=1/part-0.parquet")
    assert head["ContentType"] == "application/vnd.apache.parquet"
    assert head["Metadata"] == {"rows": "1234"}
    assert not store.exists("features/day=2/part-0.parquet")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("features/day=2/part-0.parquet")
    store.delete("features/day=1/part-0.parquet")
    assert not store.exists("features/day=1/part-0.parquet")


def test_multipart_upload_of_21_mb_downloads_byte_identical(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    size = 21 * 1024 * 1024
    source.write_bytes(os.urandom(size))
    store.upload_file("models/v1/model.bin", source)

    head = store.client.head_object(Bucket=store.settings.bucket, Key="models/v1/model.bin")
    parts = -(-size // MULTIPART_THRESHOLD)  # 8 + 8 + 5 MiB
    # A multipart object's ETag is md5-of-part-md5s with a "-<parts>" suffix; a single PUT has none.
    assert head["ETag"].strip('"').endswith(f"-{parts}"), head["ETag"]
    assert head["ContentLength"] == size

    target = tmp_path / "back.bin"
    store.download_file("models/v1/model.bin", target)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_listing_keys_and_common_prefixes(store: ObjectStore) -> None:
    keys = [f"runs/2024-06-0{d}/metrics-{i}.json" for d in (1, 2, 3) for i in range(4)] + ["runs/README", "other/x"]
    for k in keys:
        store.put_bytes(k, b"{}")
    runs = sorted(k for k in keys if k.startswith("runs/"))
    assert list(store.list_keys("runs/")) == runs
    assert list(store.list_keys("runs/", page_size=5)) == runs  # 13 keys over 3 pages
    assert sorted(store.list_keys()) == sorted(keys)
    assert store.list_prefixes() == ["other/", "runs/"]
    assert store.list_prefixes("runs/") == ["runs/2024-06-01/", "runs/2024-06-02/", "runs/2024-06-03/"]
    assert store.list_prefixes("runs/2024-06-01/") == []


def test_put_if_absent_refuses_to_overwrite(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.put_if_absent("models/v1/model.bin", b"v1") is True
    assert store.put_if_absent("models/v1/model.bin", b"v1-again") is False
    assert store.get_bytes("models/v1/model.bin") == b"v1"
    # Without the HEAD shortcut RGW itself must refuse: If-None-Match: * answered with 412.
    monkeypatch.setattr(store, "exists", lambda key: False)
    assert store.put_if_absent("models/v1/model.bin", b"sneaky") is False
    assert store.get_bytes("models/v1/model.bin") == b"v1"


def test_put_if_absent_has_exactly_one_winner_under_a_race(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every writer skips the HEAD shortcut, so all of them reach RGW's conditional PUT together.
    monkeypatch.setattr(store, "exists", lambda key: False)
    writers = 8
    barrier = threading.Barrier(writers)
    results: dict[int, bool | BaseException] = {}

    def publish(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.put_if_absent("race/model.bin", f"writer-{i}".encode())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, bool) for r in results.values()), results
    winners = [i for i, won in results.items() if won is True]
    assert len(winners) == 1, results
    assert store.get_bytes("race/model.bin") == f"writer-{winners[0]}".encode()


def test_bucket_policy_denies_another_user_but_not_the_owner(ceph_rgw: RgwEndpoint, store: ObjectStore) -> None:
    other_uid = f"other-{uuid.uuid4().hex[:8]}"
    other_keys = ceph_rgw.create_user(other_uid)
    bucket = store.settings.bucket
    other = ObjectStore(_settings(ceph_rgw, bucket, *other_keys))

    store.put_bytes("shared/data.csv", b"a,b\n1,2\n")
    # First grant the other user read access through an ACL, so the denial below is the policy's doing.
    store.client.put_object_acl(Bucket=bucket, Key="shared/data.csv", GrantRead=f'id="{other_uid}"',
                                GrantFullControl=f'id="{ceph_rgw.uid}"')
    assert other.get_bytes("shared/data.csv") == b"a,b\n1,2\n"

    set_bucket_policy(store, deny_other_users_policy(bucket, [ceph_rgw.user_arn]))

    with pytest.raises(AccessDenied, match=f"s3://{bucket}/shared/data.csv"):
        other.get_bytes("shared/data.csv")
    with pytest.raises(AccessDenied):
        other.put_bytes("shared/evil.csv", b"x")
    with pytest.raises(AccessDenied):
        list(other.list_keys())
    # The owner keeps full use of its bucket.
    store.put_bytes("shared/more.csv", b"3,4\n")
    assert store.get_bytes("shared/data.csv") == b"a,b\n1,2\n"
    assert list(store.list_keys("shared/")) == ["shared/data.csv", "shared/more.csv"]


def test_ensure_bucket_on_another_users_bucket_fails_clearly(ceph_rgw: RgwEndpoint, store: ObjectStore) -> None:
    intruder = ObjectStore(_settings(ceph_rgw, store.settings.bucket, *ceph_rgw.create_user(f"intruder-{uuid.uuid4().hex[:8]}")))
    with pytest.raises(ObjectStoreError, match=store.settings.bucket):
        intruder.ensure_bucket()
