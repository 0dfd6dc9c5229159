"""A content-addressed ObjectStore on S3 or MinIO (the cluster backend; DESIGN: "objects go to MinIO/S3").

Mirrors LocalObjectStore: bytes live once per run under `<prefix>/<run-id>/.cas/<2 hex>/<sha256>`, and
the key a caller chose (`kernel_3.py`) is a server-side copy of that blob carrying its digest in the
`x-amz-meta-sha256` header, so a re-`put` of the same content uploads nothing and writes nothing.
Locators are `s3://<bucket>/<prefix>/<run-id>/<key>`; `get` also takes a plain key or `sha256:<hex>`.

The minio SDK is imported only by `from_config` (the `[s3]` extra); credentials come from environment
variables named in the config, never from config values, and never appear in errors or logs.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from kernelevolve.core.errors import ConfigError, StoreError
from kernelevolve.store.config import S3Config

logger = logging.getLogger(__name__)

CAS_DIR = ".cas"
DIGEST_HEADER = "x-amz-meta-sha256"
_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})


class S3ObjectStore:
    """Content-addressed blobs plus named copies in one bucket; `put` returns an `s3://` locator."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, endpoint: str = "",
                 secret: str | None = None) -> None:
        from minio.error import MinioException, S3Error
        from urllib3.exceptions import HTTPError

        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint or "<unnamed endpoint>"
        self._secret = secret
        self._s3_error = S3Error
        self._errors = (MinioException, HTTPError, OSError, ValueError)

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    def key(self, key: str) -> str:
        """Returns the bucket key of a caller's relative key (refusing ones that escape the prefix)."""
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or ".." in parts or "\\" in key:
            raise StoreError(f"object key {key!r} escapes the store prefix {self.prefix!r}; use a relative path.")
        return "/".join(p for p in (self.prefix, *parts) if p)

    def blob_key(self, digest: str) -> str:
        """Returns the bucket key of the blob of this sha256 hex digest."""
        return self.key(f"{CAS_DIR}/{digest[:2]}/{digest}")

    def locator(self, key: str) -> str:
        """Returns the locator of a bucket key."""
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> str:
        """Stores data (once per content) and makes <prefix>/<key> a copy of it; returns its locator."""
        from minio.commonconfig import CopySource

        digest = hashlib.sha256(data).hexdigest()
        blob, name = self.blob_key(digest), self.key(key)
        with self._errors_as_store_error(f"put {name}"):
            if self._digest_of(blob) is None:
                self.client.put_object(self.bucket, blob, io.BytesIO(data), len(data),
                                       content_type="application/octet-stream", metadata={"sha256": digest})
            if self._digest_of(name) != digest:
                self.client.copy_object(self.bucket, name, CopySource(self.bucket, blob))
        return self.locator(name)

    def get(self, locator: str) -> bytes:
        """Returns the bytes at a locator from `put` (any bucket), a relative key, or `sha256:<hex>`."""
        if locator.startswith("s3://"):
            bucket, _, key = locator.removeprefix("s3://").partition("/")
        elif locator.startswith("sha256:"):
            bucket, key = self.bucket, self.blob_key(locator.removeprefix("sha256:"))
        else:
            bucket, key = self.bucket, self.key(locator)
        with self._errors_as_store_error(f"get {key}", bucket=bucket):
            try:
                response = self.client.get_object(bucket, key)
            except self._s3_error as exc:
                if exc.code in _MISSING:
                    raise StoreError(f"object {locator} is missing from s3://{bucket} at {self.endpoint}") from exc
                raise
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

    def ensure_bucket(self, region: str | None = None) -> None:
        """Creates the bucket if it does not exist yet (a concurrent creator is fine)."""
        with self._errors_as_store_error("create bucket"):
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket, location=region)
            except self._s3_error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            logger.info("created bucket %s at %s", self.bucket, self.endpoint)

    def _digest_of(self, key: str) -> str | None:
        """Returns the sha256 stored with an object, or None when it does not exist (or has none)."""
        try:
            stat = self.client.stat_object(self.bucket, key)
        except self._s3_error as exc:
            if exc.code in _MISSING:
                return None
            raise
        headers = {str(k).lower(): v for k, v in (stat.metadata or {}).items()}
        return headers.get(DIGEST_HEADER)

    def _errors_as_store_error(self, action: str, *, bucket: str | None = None) -> _Translate:
        return _Translate(self, action, bucket or self.bucket)


class _Translate:
    """Context manager turning SDK/network errors into a StoreError naming endpoint and bucket, secret redacted."""

    def __init__(self, store: S3ObjectStore, action: str, bucket: str) -> None:
        self.store, self.action, self.bucket = store, action, bucket

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or isinstance(exc, StoreError) or not isinstance(exc, self.store._errors):
            return False
        detail = f"{type(exc).__name__}: {exc}"
        if self.store._secret:
            detail = detail.replace(self.store._secret, "***")
        raise StoreError(f"object store at endpoint {self.store.endpoint} (bucket {self.bucket!r}) failed to "
                         f"{self.action}: {detail}") from None


def from_config(config: S3Config, run_id: str, environ: Mapping[str, str] | None = None) -> S3ObjectStore:
    """Builds the store of one run (keys under `<prefix>/<run-id>/`), creating the bucket if asked.

    Raises:
        ConfigError: the minio SDK is missing, a credentials variable is unset, or the endpoint is malformed.
        StoreError: the endpoint cannot be reached or refuses the credentials (when creating the bucket).
    """
    env = os.environ if environ is None else environ
    try:
        import urllib3
        from minio import Minio
    except ImportError as exc:
        raise ConfigError("store.objects=s3 needs the minio SDK: pip install kernelevolve[s3]") from exc
    access, secret = (_credential(env, name) for name in (config.access_key_env, config.secret_key_env))
    if not config.endpoint or "://" in config.endpoint or "/" in config.endpoint:
        raise ConfigError(f"store.s3.endpoint must be host[:port] (got {config.endpoint!r}); set store.s3.secure "
                          "for https instead of a scheme.")
    if not config.bucket:
        raise ConfigError("store.s3.bucket is empty; name the bucket that holds run objects.")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=config.timeout_s, read=config.timeout_s),
        retries=urllib3.Retry(total=config.retries, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)))
    client = Minio(config.endpoint, access_key=access, secret_key=secret, secure=config.secure,
                   region=config.region or None, http_client=http)
    store = S3ObjectStore(client, config.bucket, f"{config.prefix.strip('/')}/{run_id}",
                          endpoint=config.endpoint, secret=secret)
    if config.create_bucket:
        store.ensure_bucket(config.region or None)
    return store


def _credential(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"store.objects=s3 reads its credentials from the environment: set ${name} "
                          f"(or point store.s3.access_key_env/secret_key_env at the variables you use).")
    return value
