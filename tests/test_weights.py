"""Uncompressed weights (compression: none): the spec's rules, the tree's layout and digest,
the pure upload planning, and the gateway's uploads, copies and resume against moto."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from deployspec import weights
from deployspec.applier import Applier
from deployspec.artifacts import ArtifactError, ArtifactSource, Layout
from deployspec.aws import Gateway
from deployspec.desired import Desired, build_desired
from deployspec.errors import PlanError, SpecError
from deployspec.plan import Action, Kind, Plan
from deployspec.planner import make_plan
from deployspec.resources import WeightsFile
from deployspec.spec import load_spec
from deployspec.state import read_actual, read_weights
from deployspec.weights import Transfer, plan_transfers, tree_digest, tree_of
from deployspec.wire import model_request
from tests.test_aws_gateway import new_session

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
BUCKET = "sagemaker-eu-west-1-123456789012"
WriteSpec = Callable[..., Path]

SPEC = """\
name: iris
region: eu-west-1
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
  framework: xgboost
  version: "1.7-1"
  artifacts: {artifacts}
  {extra}
serverless: {{memory_mb: 2048, max_concurrency: 5}}
"""


def spec_text(artifacts: str = "./model", extra: str = "compression: none") -> str:
    return SPEC.format(artifacts=artifacts, extra=extra)


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [d.format() for d in caught.value.diagnostics]


# ---- the spec ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("artifacts", "extra", "message", "hint"),
    [
        (
            "s3://my-bucket/weights/",
            "compression: gzip",
            "an S3 prefix (it ends in /), served uncompressed",
            "remove compression:",
        ),
        (
            "s3://my-bucket/m/model.tar.gz",
            "compression: none",
            "is a compressed archive",
            "end artifacts: with /",
        ),
    ],
)
def test_compression_against_an_s3_uri_is_refused_located(
    write_spec: WriteSpec, artifacts: str, extra: str, message: str, hint: str
) -> None:
    path = write_spec(spec_text(artifacts, extra))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:8:16: model.compression:")
    assert message in error
    assert hint in error


def test_compression_none_on_a_multi_model_endpoint_is_refused(write_spec: WriteSpec) -> None:
    text = """\
name: mme
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
  framework: sklearn
  version: "1.2-1"
  mode: multi-model
  compression: none
  models: {a: ./a}
realtime: {instance_type: ml.m5.large}
"""
    path = write_spec(text)
    (path.parent / "a").mkdir()
    (path.parent / "a" / "model.joblib").write_bytes(b"x")
    errors = errors_of(path)
    wanted = "model.compression: compression: none cannot serve a multi-model"
    assert any(wanted in e for e in errors)


def test_an_s3_prefix_is_served_uncompressed_as_it_is(write_spec: WriteSpec) -> None:
    path = write_spec(spec_text("s3://my-bucket/weights/v1/", ""))
    desired = build_desired(load_spec(path), region="eu-west-1", role=ROLE)
    [model] = desired.models
    assert desired.weights == () and desired.artifacts == ()
    assert model_request(model)["PrimaryContainer"]["ModelDataSource"] == {
        "S3DataSource": {
            "S3Uri": "s3://my-bucket/weights/v1/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
    }
    assert "ModelDataUrl" not in model_request(model)["PrimaryContainer"]


# ---- layout and digest ------------------------------------------------------------------------


def make_model(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def test_the_tree_has_the_archive_layout_and_a_stable_digest(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {"model.joblib": b"weights", "sub/a.bin": b"a"})
    entry = tmp_path / "inference.py"
    entry.write_text("def model_fn(d): ...\n")
    source = ArtifactSource(Layout.FLAT, model, entry_point=entry)
    tree = tree_of(source, tmp_path / "cache")
    assert [f.path for f in tree.files] == ["code/inference.py", "model.joblib", "sub/a.bin"]
    assert tree.sha256 == tree_digest(tree.files)
    # Another copy of the same files elsewhere, made at another time: the same digest.
    other = make_model(tmp_path / "other", {"model.joblib": b"weights", "sub/a.bin": b"a"})
    os.utime(other / "model.joblib", (1, 1))
    again = tree_of(ArtifactSource(Layout.FLAT, other, entry_point=entry), tmp_path / "cache2")
    assert again.sha256 == tree.sha256
    (other / "model.joblib").write_bytes(b"weightz")
    changed = tree_of(ArtifactSource(Layout.FLAT, other, entry_point=entry), tmp_path / "cache2")
    assert changed.sha256 != tree.sha256


def test_an_unchanged_tree_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model(tmp_path / "model", {"a.bin": b"a" * 1000, "b.bin": b"b"})
    source = ArtifactSource(Layout.FLAT, model)
    first = tree_of(source, tmp_path / "cache")

    def no_reading(path: Path, before: os.stat_result) -> str:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(weights, "_hash", no_reading)
    assert tree_of(source, tmp_path / "cache") == first
    assert tree_of(source, tmp_path / "cache", build=False) == first


def test_links_leading_outside_and_archives_are_refused(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {"a.bin": b"a"})
    (tmp_path / "secret").write_text("x")
    (model / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(ArtifactError, match="outside"):
        tree_of(ArtifactSource(Layout.FLAT, model), tmp_path / "cache")
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"")
    with pytest.raises(ArtifactError, match="compression: none uploads files as they are"):
        tree_of(ArtifactSource(Layout.FLAT, archive), tmp_path / "cache")


# ---- upload planning (pure) -------------------------------------------------------------------

A, B, C = "a" * 64, "b" * 64, "c" * 64
PREFIX = "s3://bkt/p/weights/" + "1" * 64 + "/"
OLD = "s3://bkt/p/weights/" + "0" * 64 + "/"


def files(*rows: tuple[str, str, int]) -> list[WeightsFile]:
    return [WeightsFile(path, sha, size, f"/local/{path}") for path, sha, size in rows]


@pytest.mark.parametrize(
    ("present", "earlier", "expected"),
    [
        ({}, [], [("x", "upload", None), ("y", "upload", None)]),
        # An earlier tree holds x's content under another name: copied from there.
        ({}, [(OLD, {"old/x": (A, 10)})], [("x", "copy", OLD + "old/x"), ("y", "upload", None)]),
        # Same digest, other size: not the same file.
        ({}, [(OLD, {"x": (A, 11)})], [("x", "upload", None), ("y", "upload", None)]),
        # An interrupted apply left y at its key with its digest: skipped.
        ({"y": (20, B)}, [], [("x", "upload", None), ("y", "present", None)]),
        # ...but not an object there without it, or with another one.
        ({"y": (20, None), "x": (10, C)}, [], [("x", "upload", None), ("y", "upload", None)]),
        # The newest earlier tree is preferred.
        (
            {},
            [(OLD, {"x": (A, 10)}), ("s3://bkt/p/weights/" + "2" * 64 + "/", {"x": (A, 10)})],
            [("x", "copy", OLD + "x"), ("y", "upload", None)],
        ),
    ],
)
def test_each_file_is_uploaded_copied_or_skipped(
    present: dict[str, tuple[int, str | None]],
    earlier: list[tuple[str, dict[str, tuple[str, int]]]],
    expected: list[tuple[str, str, str | None]],
) -> None:
    tree = files(("x", A, 10), ("y", B, 20))
    found = plan_transfers(tree, PREFIX, present, earlier)
    assert [(t.path, t.action, t.source) for t in found] == expected


def test_the_summary_says_what_apply_will_do() -> None:
    transfers = [
        Transfer("a", A, 12_000_000, "upload"),
        Transfer("b", B, 10 * 1024**3, "copy", OLD + "b"),
        Transfer("c", C, 1000, "present"),
    ]
    assert weights.summary(transfers) == (
        "uploads 1 file (12.0 MB), copies 1 (10.0 GiB) server-side, 1 already there (1.0 KB)"
    )


def test_a_manifest_round_trips_and_a_forged_one_is_ignored() -> None:
    tree = files(("x", A, 10), ("y", B, 20))
    data = weights.manifest_json(tree_digest(tree), tree)
    assert weights.parse_manifest(data) == {"x": (A, 10), "y": (B, 20)}
    forged = data.replace(A.encode(), C.encode())
    assert weights.parse_manifest(forged) is None
    assert weights.parse_manifest(b"not json") is None


# ---- against S3 (moto) ------------------------------------------------------------------------


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gateway]:
    from tests.conftest import isolate_aws

    isolate_aws(monkeypatch, tmp_path, "eu-west-1")
    with mock_aws():
        found = Gateway(new_session(), multipart_chunk_bytes=5 * 1024 * 1024)
        found.create_bucket(BUCKET)
        yield found


def desired_of(project: Path, cache: Path) -> Desired:
    return build_desired(
        load_spec(project / "deployment.yaml"),
        region="eu-west-1",
        role=ROLE,
        artifact_cache=cache,
    )


def storage_plan(gateway: Gateway, desired: Desired) -> Plan:
    full = make_plan(desired, read_actual(gateway, desired))
    return Plan(
        spec_name=full.spec_name,
        endpoint_name=full.endpoint_name,
        region=full.region,
        account=full.account,
        changes=tuple(c for c in full.changes if c.kind in (Kind.WEIGHTS, Kind.BUCKET)),
        fingerprint={},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    make_model(
        folder / "model",
        {
            "model.joblib": b"j" * 1000,
            "big.bin": os.urandom(6 * 1024 * 1024),  # two parts of 5 MiB
            "small.bin": b"s" * 10,
        },
    )
    (folder / "inference.py").write_text("def model_fn(d): ...\n")
    extra = "compression: none\n  entry_point: inference.py"
    (folder / "deployment.yaml").write_text(spec_text(extra=extra))
    return folder


def test_a_new_version_uploads_only_what_changed(
    gateway: Gateway, project: Path, tmp_path: Path
) -> None:
    first = desired_of(project, tmp_path / "cache")
    plan = storage_plan(gateway, first)
    [change] = plan.changes
    assert change.after is not None and change.after["upload"]["files"] == 4
    Applier(gateway).apply(plan)
    total = first.weights[0].size
    assert gateway.sent_bytes == total
    # Complete now: an unchanged spec reads the manifest once and plans nothing.
    calls = len(gateway.calls)
    assert storage_plan(gateway, first).changes == ()
    assert [c.operation for c in gateway.calls[calls:]].count("HeadObject") == 1

    (project / "inference.py").write_text("def model_fn(d): return 2\n")
    second = desired_of(project, tmp_path / "cache")
    plan = storage_plan(gateway, second)
    [change] = plan.changes
    assert change.after is not None
    assert change.after["upload"]["files"] == 1 and change.after["copy"]["files"] == 3
    assert "uploads 1 file" in change.reasons[0] and "copies 3" in change.reasons[0]
    before = gateway.sent_bytes
    Applier(gateway).apply(plan)
    assert gateway.sent_bytes - before == (project / "inference.py").stat().st_size
    listed = gateway.list_object_sizes(second.weights[0].s3_uri)
    assert sorted(u.removeprefix(second.weights[0].s3_uri) for u in listed) == [
        "big.bin",
        "code/inference.py",
        "model.joblib",
        "small.bin",
    ]
    assert gateway.object_sha256(second.weights[0].s3_uri + "big.bin") == (
        6 * 1024 * 1024,
        next(f.sha256 for f in second.weights[0].files if f.path == "big.bin"),
    )


def test_an_interrupted_upload_is_completed_by_the_next_apply(
    gateway: Gateway, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("deployspec.applier.WEIGHTS_WORKERS", 1)
    desired = desired_of(project, tmp_path / "cache")
    plan = storage_plan(gateway, desired)
    real = gateway.upload_weights_file
    done: list[str] = []

    def interrupted(path: Path, s3_uri: str, sha256: str, *args: object, **kw: object) -> None:
        if len(done) == 2:
            raise KeyboardInterrupt
        real(path, s3_uri, sha256, *args, **kw)  # type: ignore[arg-type]
        done.append(s3_uri)

    monkeypatch.setattr(gateway, "upload_weights_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Applier(gateway).apply(plan)
    assert gateway.object_etag(desired.weights[0].manifest_uri) is None  # not complete
    monkeypatch.setattr(gateway, "upload_weights_file", real)

    again = storage_plan(gateway, desired)
    [change] = again.changes
    assert change.after is not None
    assert change.after["present"]["files"] == 2 and change.after["upload"]["files"] == 2
    sent = gateway.sent_bytes
    Applier(gateway).apply(again)
    assert gateway.sent_bytes - sent == change.after["upload"]["bytes"]
    assert read_weights(gateway, desired.weights[0]).complete


def test_a_copy_source_gone_since_the_plan_fails_asking_to_plan_again(
    gateway: Gateway, project: Path, tmp_path: Path
) -> None:
    first = desired_of(project, tmp_path / "cache")
    Applier(gateway).apply(storage_plan(gateway, first))
    (project / "inference.py").write_text("def model_fn(d): return 3\n")
    plan = storage_plan(gateway, desired_of(project, tmp_path / "cache"))
    gateway.delete_object(first.weights[0].s3_uri + "big.bin")
    with pytest.raises(PlanError, match=r"is gone \(S3 changed since the plan\)") as caught:
        Applier(gateway).apply(plan)
    assert caught.value.hint is not None and "plan again" in caught.value.hint
    # Planning again does as the hint says: the file no longer there is uploaded, not copied.
    again = storage_plan(gateway, desired_of(project, tmp_path / "cache"))
    [change] = again.changes
    actions = {row["path"]: row["action"] for row in (change.after or {})["transfers"]}
    assert actions["big.bin"] == "upload", actions
    Applier(gateway).apply(again)
    assert f"{change.name}big.bin" in gateway.list_object_sizes(change.name)


def test_a_file_changed_since_the_plan_is_not_uploaded(
    gateway: Gateway, project: Path, tmp_path: Path
) -> None:
    plan = storage_plan(gateway, desired_of(project, tmp_path / "cache"))
    (project / "model" / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    with pytest.raises(PlanError, match="changed since the plan"):
        Applier(gateway).apply(plan)
    [change] = plan.changes
    assert f"{change.name}big.bin" not in gateway.list_object_sizes(change.name)


def test_an_edited_plan_writing_elsewhere_is_refused(
    gateway: Gateway, project: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from deployspec.errors import NotManagedError

    plan = storage_plan(gateway, desired_of(project, tmp_path / "cache"))
    [change] = plan.changes
    assert change.after is not None
    rows = [dict(r) for r in change.after["transfers"]]
    rows[0]["path"] = "../escape"
    edited = replace(change, after={**change.after, "transfers": rows})
    with pytest.raises(NotManagedError, match="not the content address"):
        Applier(gateway).apply(replace(plan, changes=(edited,)))
    assert change.action is Action.CREATE


def test_a_saved_plan_applies_from_another_checkout_of_the_same_files() -> None:
    from deployspec.saved import _comparable

    def plan_at(root: str) -> dict[str, Any]:
        row = {"path": "a.bin", "sha256": "0" * 64, "size": 1, "action": "upload"}
        return {
            "changes": [
                {
                    "kind": "weights",
                    "after": {"transfers": [{**row, "local_path": f"{root}/model/a.bin"}]},
                }
            ]
        }

    assert _comparable(plan_at("/home/a/repo")) == _comparable(plan_at("/ci/checkout"))
    changed = plan_at("/ci/checkout")
    changed["changes"][0]["after"]["transfers"][0]["sha256"] = "1" * 64
    assert _comparable(plan_at("/home/a/repo")) != _comparable(changed)
