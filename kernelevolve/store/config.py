"""Configuration of the store (the `store` config group); store/factory.py builds the backend it names."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class ObjectBackend(enum.StrEnum):
    """Where objects (kernels, overviews, logs) go."""

    local = "local"
    s3 = "s3"


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Config:
    """Settings of the S3/MinIO object store (used when `objects: s3`; needs `pip install kernelevolve[s3]`).

    Attributes:
        endpoint: host[:port] of the S3 API, without a scheme (e.g. "minio.internal:9000", "s3.amazonaws.com").
        bucket: bucket holding the objects of every run.
        prefix: key prefix; a run's objects go under `<prefix>/<run-id>/`.
        secure: use https (True) or plain http (False, e.g. a MinIO on the cluster network).
        region: the bucket's region (also used when creating it); empty lets the SDK ask the server.
        create_bucket: create the bucket when it does not exist (False: a missing bucket is an error).
        access_key_env: name of the environment variable holding the access key (never the key itself).
        secret_key_env: name of the environment variable holding the secret key (never the key itself).
        timeout_s: connect and read timeout of one request, in seconds.
        retries: how many times a failed request (connection error or HTTP 5xx) is retried.
    """

    endpoint: str = "127.0.0.1:9000"
    bucket: str = "kernelevolve"
    prefix: str = "runs"
    secure: bool = False
    region: str = "us-east-1"
    create_bucket: bool = True
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    timeout_s: float = 10.0
    retries: int = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """Settings of the run store.

    Attributes:
        root: directory holding one sub-directory per run (<root>/<run-id>/meta.db and, for the local
            backend, its objects); relative paths are taken from the directory `launch` was started in.
            The SQLite metadata always stays here, whichever object backend is chosen.
        objects: the object-store backend: `local` (<root>/<run-id>/objects) or `s3` (see `s3`).
        s3: settings of the `s3` backend (ignored by `local`).
    """

    root: str = "runs"
    objects: ObjectBackend = ObjectBackend.local
    s3: S3Config = dataclasses.field(default_factory=S3Config)


def store_config_from_dict(data: dict[str, Any]) -> StoreConfig:
    """Returns the StoreConfig a run stored (its config_json's `store` section); missing keys take defaults."""
    fields = {k: v for k, v in data.items() if k in {"root", "objects"}}
    if "objects" in fields:
        fields["objects"] = ObjectBackend(fields["objects"])
    return StoreConfig(**fields, s3=S3Config(**data.get("s3", {})))
