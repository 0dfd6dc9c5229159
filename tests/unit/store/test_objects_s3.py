"""The S3/MinIO object store against moto's S3 server on 127.0.0.1 (a random free port)."""

from __future__ import annotations

import dataclasses
import socket
import uuid

import pytest

from kernelevolve.controller import Controller
from kernelevolve.core.errors import ConfigError, StoreError
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.store import objects_s3
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import ObjectBackend, S3Config, StoreConfig
from kernelevolve.store.factory import build_object_store
from kernelevolve.store.protocols import ObjectStore
from tests.fakes import FakeJudge, FakeOperator

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("minio")

SECRET = "s3cr3t-Value-That-Must-Not-Leak"
ENV = {"KE_TEST_ACCESS": "testing-access", "KE_TEST_SECRET": SECRET}


@pytest.fixture(scope="module")
def endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def _config(endpoint: str, **overrides) -> S3Config:
    values = {"endpoint": endpoint, "bucket": f"b-{uuid.uuid4().hex[:12]}", "prefix": "runs",
              "access_key_env": "KE_TEST_ACCESS", "secret_key_env": "KE_TEST_SECRET", "timeout_s": 2.0,
              "retries": 0, **overrides}
    return S3Config(**values)


class CountingClient:
    """Forwards to a Minio client, counting the calls that write."""

    def __init__(self, client) -> None:
        self.client = client
        self.writes: list[str] = []

    def __getattr__(self, name):
        if name in ("put_object", "copy_object"):
            self.writes.append(name)
        return getattr(self.client, name)


@pytest.fixture
def store(endpoint):
    return objects_s3.from_config(_config(endpoint), "run-1", environ=ENV)


def _keys(store) -> list[str]:
    return sorted(o.object_name for o in store.client.list_objects(store.bucket, recursive=True))


def test_put_get_round_trip_and_locator_format(store):
    data = b"\x00\xffkernel\n" * 3
    locator = store.put("kernel_3.py", data)
    assert locator == f"s3://{store.bucket}/runs/run-1/kernel_3.py"
    assert store.get(locator) == data
    assert store.get("kernel_3.py") == data, "a plain key resolves under <prefix>/<run-id>/"
    digest = objects_s3.hashlib.sha256(data).hexdigest()
    assert store.get(f"sha256:{digest}") == data
    assert store.put("empty.txt", b"") and store.get("empty.txt") == b""


def test_identical_content_is_written_once(store):
    counting = CountingClient(store.client)
    store.client = counting
    first = store.put("kernel_0.py", b"x = 1\n")
    before = _keys(store)
    assert store.put("kernel_0.py", b"x = 1\n") == first
    assert counting.writes == ["put_object", "copy_object"], "second identical put writes nothing"
    store.put("kernel_1.py", b"x = 1\n")
    assert counting.writes == ["put_object", "copy_object", "copy_object"], "same bytes: no second upload"
    blobs = [k for k in _keys(store) if "/.cas/" in k]
    assert len(blobs) == 1 and len(_keys(store)) == len(before) + 1


def test_rewriting_a_key_with_new_content_replaces_it(store):
    store.put("log_2.txt", b"old")
    locator = store.put("log_2.txt", b"new")
    assert store.get(locator) == b"new"


def test_missing_object_is_a_store_error(store):
    with pytest.raises(StoreError, match="missing"):
        store.get("kernel_404.py")
    with pytest.raises(StoreError, match="missing"):
        store.get(f"s3://{store.bucket}/runs/run-1/nope.py")


@pytest.mark.parametrize("key", ["../other-run/kernel_1.py", "/abs.py", "", "a/../../b"])
def test_keys_cannot_escape_the_run_prefix(store, key):
    with pytest.raises(StoreError, match="escapes"):
        store.put(key, b"x")


def test_missing_credential_variable_is_a_config_error_naming_it(endpoint):
    with pytest.raises(ConfigError, match="KE_TEST_SECRET"):
        objects_s3.from_config(_config(endpoint), "r", environ={"KE_TEST_ACCESS": "a"})
    with pytest.raises(ConfigError, match="KE_TEST_ACCESS"):
        objects_s3.from_config(_config(endpoint), "r", environ={"KE_TEST_SECRET": SECRET})


def test_an_endpoint_with_a_scheme_is_a_config_error(endpoint):
    with pytest.raises(ConfigError, match="secure"):
        objects_s3.from_config(_config(f"http://{endpoint}"), "r", environ=ENV)


def test_a_wrong_endpoint_is_a_store_error_naming_it_without_the_secret():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bad = f"127.0.0.1:{port}"
    with pytest.raises(StoreError) as info:
        objects_s3.from_config(_config(bad, timeout_s=1.0), "r", environ=ENV)
    assert bad in str(info.value) and "bucket" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.__cause__)


def test_a_missing_bucket_without_create_is_a_store_error(endpoint):
    store = objects_s3.from_config(_config(endpoint, create_bucket=False), "r", environ=ENV)
    with pytest.raises(StoreError, match=endpoint):
        store.put("kernel_0.py", b"x")


def test_conforms_to_the_object_store_protocol(store):
    assert isinstance(store, ObjectStore)
    assert SECRET not in repr(store)


def test_the_store_config_picks_the_backend(endpoint, tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    s3 = build_object_store(StoreConfig(objects=ObjectBackend.s3, s3=_config(endpoint)), tmp_path, "r9")
    assert isinstance(s3, objects_s3.S3ObjectStore) and s3.prefix == "runs/r9"
    local = build_object_store(StoreConfig(), tmp_path, "r9")
    assert local.put("k.py", b"x") == str((tmp_path / "objects" / "k.py").resolve())


def test_a_controller_run_archives_every_kernel_in_s3(endpoint, tmp_path):
    store = objects_s3.from_config(_config(endpoint), "r1", environ=ENV)
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake", objects=store)
    archive.start(config={}, versions={}, host="test")
    controller = Controller(config=SearchConfig(concurrency=2, max_steps=6, stall=0),
                            policy=GreedyPolicy(top_k=2, exploration=0.3), operator=FakeOperator(),
                            judge=FakeJudge(), archive=archive, seed=0)
    outcome = controller.run()
    rows, nodes = archive.meta.nodes("r1"), list(outcome.graph.nodes())
    assert len(rows) == len(nodes) == outcome.progress.evaluated == 6
    assert all(r["kernel_path"] == f"s3://{store.bucket}/runs/r1/kernel_{r['id']}.py" for r in rows)
    restored = {node.id: node.candidate.source for node, _, _ in archive.load_nodes()}
    assert restored == {n.id: n.candidate.source for n in nodes}
    assert not (tmp_path / "run" / "objects").exists(), "no object went to the local disk"
    assert (tmp_path / "run" / "meta.db").is_file(), "metadata stays local"
    archive.close()


def test_without_the_minio_sdk_the_error_names_the_extra(endpoint, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "minio", None)  # `import minio` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install kernelevolve\[s3\]"):
        objects_s3.from_config(_config(endpoint), "r", environ=ENV)


def test_conf_store_s3_composes_into_the_s3_backend():
    from tests.test_configs import _compose

    config = _compose(["store=s3", "store.s3.bucket=other"])
    assert config.store.objects is ObjectBackend.s3
    assert config.store.s3.bucket == "other" and config.store.s3.secret_key_env == "AWS_SECRET_ACCESS_KEY"


def test_a_stored_s3_run_reopens_with_its_own_backend_for_warm_start(endpoint, tmp_path, monkeypatch):
    from kernelevolve.store.archive import open_archive
    from kernelevolve.store.warmstart import _correct_kernels

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    s3 = _config(endpoint)
    store = objects_s3.from_config(s3, "r2", environ=ENV)
    archive = Archive(tmp_path / "r2", "r2", task="fake", platform="fake", objects=store)
    stored = {"store": {"root": str(tmp_path), "objects": "s3", "s3": dataclasses.asdict(s3)}}
    archive.start(config=stored, versions={}, host="test")
    outcome = Controller(config=SearchConfig(concurrency=1, max_steps=4, stall=0), policy=GreedyPolicy(),
                         operator=FakeOperator(), judge=FakeJudge(), archive=archive, seed=0).run()
    archive.close()
    reopened = open_archive(tmp_path / "r2")
    assert isinstance(reopened.objects, objects_s3.S3ObjectStore)
    reopened.close()
    kernels = {k.node_id: k.source for k in _correct_kernels(tmp_path / "r2")}
    correct = {n.id: n.candidate.source for n in outcome.graph.nodes() if not n.is_buggy}
    assert kernels == correct and kernels, "warm start reads every correct kernel back from S3"
