"""The S3 client every workload uses to reach the platform's data lake (Ceph RGW).

A boto3 S3 client tuned for RGW (path-style addressing, SigV4, bounded retries and timeouts) over one bucket,
with the operations workloads need. Its settings (endpoint, bucket, credentials, read from the environment a
Rook ObjectBucketClaim injects) are ``workloads.common.s3settings.S3Settings``. Every storage failure
surfaces as an ``ObjectStoreError`` subclass naming the bucket/key and the cause. Bucket policies are not
this client's business: the stack declares them (``workloads.common.bucketpolicy``); the test harness sets
them on its stand-in store (``tests/harness/bucketpolicy.py``).

Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from workloads.common.s3settings import DEFAULT_REGION, S3Settings

__all__ = [
    "AccessDenied",
    "MULTIPART_THRESHOLD",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "make_client",
]

MULTIPART_THRESHOLD = 8 * 1024 * 1024
"""Files at or above this size are uploaded in parts of this size (boto3 compares with >=)."""


class ObjectStoreError(Exception):
    """A storage operation failed; the message names the bucket/key and the S3 error code."""


class ObjectNotFound(ObjectStoreError):
    """The object (key) does not exist."""


class AccessDenied(ObjectStoreError):
    """The credentials are not allowed to do this (HTTP 403, e.g. a bucket policy denies them)."""


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------

_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden"}
_PRECONDITION_CODES = {"PreconditionFailed", "412"}


def make_client(settings: S3Settings, *, max_attempts: int = 5) -> Any:
    """A boto3 S3 client configured for RGW: path-style, SigV4, bounded retries and timeouts."""
    config = Config(
        region_name=settings.region,
        signature_version="s3v4",
        # RGW serves buckets by path; virtual-host style would need wildcard DNS in the cluster.
        s3={"addressing_style": "path"},
        # "standard" retries throttling, 5xx and connection errors with backoff; 5 attempts keep a
        # stuck call under a few minutes instead of hanging a trainer forever.
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        # botocore >= 1.36 adds CRC checksums in aws-chunked trailers by default; Ceph before
        # Reef rejects those bodies, so send checksums only where the API requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
        config=config,
    )


def _error_code(err: ClientError) -> tuple[str, int]:
    code = str(err.response.get("Error", {}).get("Code", ""))
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


class ObjectStore:
    """One bucket of the object store, with the operations workloads need."""

    settings: S3Settings

    def __init__(self, settings: S3Settings, client: Any = None) -> None:
        self.settings = settings
        # A client this store made is remade in a forked child (gunicorn's preloaded master loads the model,
        # then forks its workers): boto3 clients are not fork-safe, and workers sharing the master's pooled
        # keep-alive sockets read each other's responses (writes then fail or are lost). An injected client is
        # the caller's to manage.
        self._owns_client = client is None
        self._client_pid = os.getpid()
        self._client_obj = client if client is not None else make_client(settings)
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_THRESHOLD,
            max_concurrency=4,
        )

    def __repr__(self) -> str:
        return f"ObjectStore({self.settings!r})"

    @property
    def _client(self) -> Any:
        if self._owns_client and self._client_pid != os.getpid():
            self._client_obj = make_client(self.settings)
            self._client_pid = os.getpid()
        return self._client_obj

    @property
    def client(self) -> Any:
        """The underlying boto3 client, for operations this class does not wrap (this process's own)."""
        return self._client

    # -- errors -------------------------------------------------------------------------------

    def _where(self, key: str | None) -> str:
        return f"s3://{self.settings.bucket}/{key}" if key is not None else f"s3://{self.settings.bucket}"

    def _raise(self, op: str, key: str | None, err: ClientError) -> NoReturn:
        code, status = _error_code(err)
        where = self._where(key)
        if code == "NoSuchBucket":
            raise ObjectStoreError(
                f"{op} {where}: bucket {self.settings.bucket!r} does not exist (NoSuchBucket); "
                "create it with ensure_bucket() or check BUCKET_NAME"
            ) from err
        if key is not None and (code in _NOT_FOUND_CODES or status == 404):
            raise ObjectNotFound(f"{op} {where}: no such key") from err
        if code in _DENIED_CODES or status == 403:
            raise AccessDenied(f"{op} {where}: access denied ({code or status}) for this access key") from err
        raise ObjectStoreError(f"{op} {where}: {code or 'error'} (HTTP {status})") from err

    @contextmanager
    def _translate(self, op: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except ClientError as err:
            self._raise(op, key, err)
        except BotoCoreError as err:  # connection refused, timeouts after retries, bad responses
            raise ObjectStoreError(f"{op} {self._where(key)}: {type(err).__name__}: {err}") from err

    # -- bucket -------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists and is ours (idempotent)."""
        bucket = self.settings.bucket
        try:
            self._client.head_bucket(Bucket=bucket)
            return
        except ClientError as err:
            code, status = _error_code(err)
            if not (status == 404 or code in ("404", "NoSuchBucket", "NotFound")):
                self._raise("head bucket", None, err)
        except BotoCoreError as err:
            raise ObjectStoreError(f"head bucket {self._where(None)}: {type(err).__name__}: {err}") from err
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.settings.region != DEFAULT_REGION:
            # AWS rejects a LocationConstraint of us-east-1 and requires one for any other region.
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
        try:
            self._client.create_bucket(**kwargs)
        except ClientError as err:
            code, _ = _error_code(err)
            if code == "BucketAlreadyOwnedByYou":  # lost a creation race against ourselves: fine
                return
            if code == "BucketAlreadyExists":
                raise ObjectStoreError(
                    f"create bucket {self._where(None)}: the name is taken by another user; choose another BUCKET_NAME"
                ) from err
            self._raise("create bucket", None, err)
        except BotoCoreError as err:
            raise ObjectStoreError(f"create bucket {self._where(None)}: {type(err).__name__}: {err}") from err

    # -- objects ------------------------------------------------------------------------------

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Write ``data`` at ``key``, replacing any existing object."""
        kwargs = self._put_kwargs(key, data, content_type, metadata)
        with self._translate("put", key):
            self._client.put_object(**kwargs)

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Publish ``data`` at ``key`` only if nothing is there yet; False if the key exists.

        Immutable publishing (model versions, run outputs): an existing object is never replaced.
        The write carries ``If-None-Match: *`` so the store itself refuses an overwrite (HTTP 412),
        which also settles a race between two writers: RGW (verified against Ceph 16.2 in
        tests/workloads/common/test_objectstore_ceph.py) and AWS S3 evaluate it atomically with the
        write. The HEAD first only saves uploading the bytes when the key plainly exists.
        """
        kwargs = self._put_kwargs(key, data, content_type, None)
        kwargs["IfNoneMatch"] = "*"
        for _attempt in range(3):
            if self.exists(key):
                return False
            try:
                self._client.put_object(**kwargs)
            except ClientError as err:
                code, status = _error_code(err)
                if code in _PRECONDITION_CODES or status == 412:
                    return False
                if code == "ConditionalRequestConflict":
                    # AWS answers 409 while a competing conditional write is in flight; whoever
                    # finishes wins, so look again (the HEAD above) and retry if it was aborted.
                    continue
                self._raise("put if absent", key, err)
            except BotoCoreError as err:
                raise ObjectStoreError(f"put if absent {self._where(key)}: {type(err).__name__}: {err}") from err
            return True
        raise ObjectStoreError(
            f"put if absent {self._where(key)}: concurrent conditional writes kept conflicting (409); retry later"
        )

    def _put_kwargs(
        self, key: str, data: bytes, content_type: str | None, metadata: dict[str, str] | None
    ) -> dict[str, Any]:
        _check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data for {self._where(key)} must be bytes, got {type(data).__name__}")
        kwargs: dict[str, Any] = {"Bucket": self.settings.bucket, "Key": key, "Body": bytes(data)}
        if self.settings.put_acl:
            kwargs["ACL"] = self.settings.put_acl
        if content_type:
            kwargs["ContentType"] = content_type
        if metadata:
            kwargs["Metadata"] = dict(metadata)
        return kwargs

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; ``ObjectNotFound`` when the key does not exist."""
        _check_key(key)
        with self._translate("get", key):
            response = self._client.get_object(Bucket=self.settings.bucket, Key=key)
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists (a HEAD; a missing bucket also reads as False)."""
        _check_key(key)
        try:
            self._client.head_object(Bucket=self.settings.bucket, Key=key)
        except ClientError as err:
            code, status = _error_code(err)
            if status == 404 or code in _NOT_FOUND_CODES:
                return False
            self._raise("head", key, err)
        except BotoCoreError as err:
            raise ObjectStoreError(f"head {self._where(key)}: {type(err).__name__}: {err}") from err
        return True

    def list_keys(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[str]:
        """Every key under ``prefix``, in key order, fetching pages of ``page_size`` lazily."""
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size={page_size} must be between 1 and 1000 (S3's maximum page)")
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size})
        with self._translate("list", prefix):
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"]

    def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> list[str]:
        """The common prefixes one level below ``prefix`` (e.g. ``runs/a/``), like directories."""
        if not delimiter:
            raise ValueError("delimiter must be a non-empty string, e.g. '/'")
        paginator = self._client.get_paginator("list_objects_v2")
        prefixes: list[str] = []
        with self._translate("list prefixes", prefix):
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix, Delimiter=delimiter):
                prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return prefixes

    def upload_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Upload a local file; files of ``MULTIPART_THRESHOLD`` bytes or more go up in parts."""
        _check_key(key)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"upload to {self._where(key)}: {os.fspath(path)!r} is not a file")
        with self._translate("upload", key):
            try:
                self._client.upload_file(os.fspath(path), self.settings.bucket, key, Config=self._transfer)
            except S3UploadFailedError as err:
                # s3transfer flattens the ClientError into a message; keep the original as cause.
                cause = err.__cause__ or err.__context__
                if isinstance(cause, ClientError):
                    self._raise("upload", key, cause)
                raise ObjectStoreError(f"upload {self._where(key)}: {err}") from err

    def download_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Download to ``path`` (written to a temporary name and renamed, so never half-written)."""
        _check_key(key)
        with self._translate("download", key):
            self._client.download_file(self.settings.bucket, key, os.fspath(path), Config=self._transfer)

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error (S3 semantics)."""
        _check_key(key)
        with self._translate("delete", key):
            self._client.delete_object(Bucket=self.settings.bucket, Key=key)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, got {key!r}")
    if len(key.encode("utf-8")) > 1024:
        raise ValueError(f"object key {key[:40]!r}... is longer than S3's limit of 1024 UTF-8 bytes")
