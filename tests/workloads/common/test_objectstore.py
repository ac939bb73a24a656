"""Unit tests of workloads.common.objectstore: the S3 client against a moto S3 server over HTTP, and its
error mapping (stubbed responses). Its settings are tested in test_s3settings.py."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from botocore.stub import Stubber

from workloads.common.objectstore import (
    MULTIPART_THRESHOLD,
    AccessDenied,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    make_client,
)
from workloads.common.s3settings import S3Settings

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


def test_a_forked_child_gets_its_own_client(monkeypatch):
    """boto3 clients are not fork-safe: gunicorn's preloaded master makes the store, its forked workers must not
    share the master's pooled sockets. The store remakes a client it made itself in a new process, once, and
    leaves an injected client alone."""
    import os

    from workloads.common import objectstore as mod

    made = []
    monkeypatch.setattr(mod, "make_client", lambda settings, **_: made.append(settings) or object())
    settings = S3Settings(endpoint_url="http://127.0.0.1:9", bucket="fork-test", access_key="a", secret_key="s")
    store = mod.ObjectStore(settings)
    first = store.client
    assert store.client is first and len(made) == 1
    pid = os.getpid()
    monkeypatch.setattr(mod.os, "getpid", lambda: pid + 1)  # as seen from a forked child
    child = store.client
    assert child is not first and len(made) == 2
    assert store.client is child and len(made) == 2  # once per process
    injected = object()
    assert mod.ObjectStore(settings, client=injected).client is injected
