"""End to end, issue 13's proofs about uncompressed weights and Hub tokens, counted from the
sandbox's side: the CLI runs as a separate process against one private sandbox, which logs each
AWS call with its operation (S3's by their API names) and the bytes its request carried.

- a new version of a folder of weights uploads only the file that changed (and its manifest),
  copying the others server-side; a change of the entry point uploads the script alone, one of
  the environment no S3 bytes at all;
- an apply cut off by S3 after some files were written (its writes failing from then on, as
  expired credentials make them fail) says to run apply again, and the next apply uploads only
  the files that were not written, then the manifest, and the endpoint serves the files;
- a gated Hub model's token, read from HF_TOKEN, reaches the model's environment in SageMaker
  and no output of validate, plan (text, json, markdown, --out), apply, status, drift, invoke,
  destroy, nor of a failing apply with --debug.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli
from tests.conftest import sandbox_client as client

BUCKET = "sagemaker-us-east-1-123456789012"
ROOT = "deployspec/"  # the default bucket's prefix of a spec's artifacts: <ROOT><name>/
UPLOADS = ("PutObject", "UploadPart")
COPIES = ("CopyObject", "UploadPartCopy")
MULTIPART = ("CreateMultipartUpload", "CompleteMultipartUpload")
# Reads the files the container was given under /opt/ml/model (code/ aside) and answers their
# digests and GREETING: what the endpoint serves, checked against the local files.
SCRIPT = """\
import hashlib
import json
import os


def model_fn(model_dir):
    found = {}
    for root, _, names in os.walk(model_dir):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, model_dir)
            if relative.split(os.sep)[0] == "code":
                continue
            with open(path, "rb") as handle:
                found[relative.replace(os.sep, "/")] = hashlib.sha256(handle.read()).hexdigest()
    return found


def transform_fn(model, body, content_type, accept):
    answer = {"files": model, "greeting": os.environ.get("GREETING")}
    return json.dumps(answer), "application/json"
"""
TOKEN = "hf_Pr00fNeverPrinted7Zq4Kx9WmB2Lc"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    try:
        yield {
            "info": info,
            "faults": control.FaultClient(info),
            "env": {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)},
        }
    finally:
        control.stop(home)


@pytest.fixture(autouse=True)
def no_faults_left(sandbox: dict[str, Any]) -> Iterator[None]:
    yield
    sandbox["faults"].clear()


def cli(
    sandbox: dict[str, Any], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env={**sandbox["env"], **(env or {})}, timeout=300)


def s3_calls(sandbox: dict[str, Any], *operations: str) -> list[dict[str, Any]]:
    return [
        c
        for c in sandbox["faults"].calls()
        if c["service"] == "s3" and (not operations or c["operation"] in operations)
    ]


def write_project(root: Path, name: str, files: dict[str, int], seed: int) -> Path:
    """A scikit-learn spec deploying folder model/ (random files of the given sizes) with
    compression: none, and the digest-reading script."""
    root.mkdir(parents=True)
    (root / "inference.py").write_text(SCRIPT)
    for path, size in files.items():
        write_random(root / "model" / path, size, seed)
        seed += 1
    spec = root / "deployment.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            region: us-east-1
            role: arn:aws:iam::123456789012:role/SageMakerExecution
            model:
              framework: sklearn
              version: "1.2-1"
              artifacts: ./model
              entry_point: inference.py
              compression: none
              env:
                GREETING: hello
            serverless:
              memory_mb: 2048
              max_concurrency: 5
            """
        )
    )
    return spec


def write_random(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def served(sandbox: dict[str, Any], spec: Path) -> dict[str, Any]:
    answer = cli(sandbox, "invoke", str(spec), "--body", "{}")
    assert answer.returncode == 0, answer.stderr
    found: dict[str, Any] = json.loads(answer.stdout)
    return found


def weights_prefix(sandbox: dict[str, Any], endpoint: str) -> str:
    """The s3:// prefix of the weights the endpoint's model is given."""
    sm = client(sandbox, "sagemaker")
    config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    model = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    container = sm.describe_model(ModelName=model["ModelName"])["PrimaryContainer"]
    uri: str = container["ModelDataSource"]["S3DataSource"]["S3Uri"]
    return uri


def object_sizes(sandbox: dict[str, Any], prefix: str) -> dict[str, int]:
    """The objects under an s3:// prefix, by their path below it, and their sizes."""
    key_prefix = prefix.removeprefix(f"s3://{BUCKET}/")
    pages = client(sandbox, "s3").get_paginator("list_objects_v2")
    return {
        item["Key"].removeprefix(key_prefix): item["Size"]
        for page in pages.paginate(Bucket=BUCKET, Prefix=key_prefix)
        for item in page.get("Contents", [])
    }


def uploads_by_key(sandbox: dict[str, Any]) -> dict[str, int]:
    """The request bytes of each key the calls logged since the last clear uploaded to."""
    found: dict[str, int] = {}
    for call in s3_calls(sandbox, *UPLOADS):
        key = call["path"].removeprefix(f"/{BUCKET}/")
        found[key] = found.get(key, 0) + call["bytes"]
    return found


def key_of(prefix: str, path: str = "") -> str:
    return prefix.removeprefix(f"s3://{BUCKET}/") + path


def manifest_key(prefix: str) -> str:
    return key_of(prefix).rstrip("/") + ".manifest.json"


def manifest_size(sandbox: dict[str, Any], prefix: str) -> int:
    head = client(sandbox, "s3").head_object(Bucket=BUCKET, Key=manifest_key(prefix))
    size: int = head["ContentLength"]
    return size


def default_bucket(sandbox: dict[str, Any]) -> None:
    """The bucket deployspec would make, made beforehand when missing: every S3 write a
    fail_s3_after counts is then one of the weights'."""
    s3 = client(sandbox, "s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)


def test_a_new_version_uploads_only_what_changed(sandbox: dict[str, Any], tmp_path: Path) -> None:
    sizes = {"shard-0.bin": 310_000, "shard-1.bin": 270_000, "nested/shard-2.bin": 420_000}
    spec = write_project(tmp_path / "dedup", "weights-dedup", sizes, seed=1)
    model = spec.parent / "model"

    sandbox["faults"].clear_calls()
    first = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "uploads 4 files" in first.stdout, first.stdout  # the three and the script
    prefix = weights_prefix(sandbox, "weights-dedup")
    # Everything is sent once: each file, the script, the manifest; nothing is copied.
    assert uploads_by_key(sandbox) == {
        **{key_of(prefix, path): size for path, size in sizes.items()},
        key_of(prefix, "code/inference.py"): len(SCRIPT.encode()),
        manifest_key(prefix): manifest_size(sandbox, prefix),
    }
    assert s3_calls(sandbox, *COPIES, *MULTIPART) == []

    # One file changes (its size too): it alone is sent, the others copied server-side.
    write_random(model / "shard-1.bin", 280_000, seed=100)
    sandbox["faults"].clear_calls()
    second = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert second.returncode == 0, second.stderr + second.stdout
    assert "uploads 1 file (280.0 KB), copies 3" in second.stdout, second.stdout
    changed = weights_prefix(sandbox, "weights-dedup")
    assert changed != prefix
    assert uploads_by_key(sandbox) == {
        key_of(changed, "shard-1.bin"): 280_000,
        manifest_key(changed): manifest_size(sandbox, changed),
    }
    sent = sandbox["faults"].sent_bytes("s3", *UPLOADS)
    assert sent == 280_000 + manifest_size(sandbox, changed)
    copies = s3_calls(sandbox, *COPIES)
    assert sorted(c["path"] for c in copies) == sorted(
        f"/{BUCKET}/{key_of(changed, path)}"
        for path in ("shard-0.bin", "nested/shard-2.bin", "code/inference.py")
    )
    assert all(c["operation"] == "CopyObject" and c["bytes"] == 0 for c in copies)
    assert s3_calls(sandbox, *MULTIPART) == []

    # The entry point alone changes: the script is sent, not one byte of the weights.
    script = spec.parent / "inference.py"
    script.write_text(SCRIPT + "\n# version 2 of the code\n")
    sandbox["faults"].clear_calls()
    third = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert third.returncode == 0, third.stderr + third.stdout
    coded = weights_prefix(sandbox, "weights-dedup")
    assert uploads_by_key(sandbox) == {
        key_of(coded, "code/inference.py"): script.stat().st_size,
        manifest_key(coded): manifest_size(sandbox, coded),
    }
    assert len(s3_calls(sandbox, "CopyObject")) == len(sizes)

    # The environment alone changes: a new model on the same weights, and no S3 write at all.
    spec.write_text(spec.read_text().replace("GREETING: hello", "GREETING: bonjour"))
    sandbox["faults"].clear_calls()
    fourth = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert fourth.returncode == 0, fourth.stderr + fourth.stdout
    assert weights_prefix(sandbox, "weights-dedup") == coded
    assert sandbox["faults"].sent_bytes("s3", *UPLOADS) == 0
    assert s3_calls(sandbox, *UPLOADS, *COPIES, *MULTIPART) == []
    assert "CreateModel" in [c["operation"] for c in sandbox["faults"].calls()]
    # What the container was given, copies and all, is the local folder.
    assert served(sandbox, spec) == {"files": digests(model), "greeting": "bonjour"}


def test_an_interrupted_upload_is_resumed_by_the_next_apply(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    sizes = {f"shard-{n}.bin": 200_000 + 10_000 * n for n in range(6)}
    spec = write_project(tmp_path / "resume", "weights-resume", sizes, seed=20)
    local = {**sizes, "code/inference.py": len(SCRIPT.encode())}
    default_bucket(sandbox)

    # Three files are written, then S3 refuses every write, as it does once the session's
    # credentials expire mid-upload (a failure botocore does not retry).
    sandbox["faults"].fail_s3_after(3, "ExpiredToken")
    sandbox["faults"].clear_calls()
    failed = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "uploads 7 files" in failed.stdout, failed.stdout
    assert "ExpiredToken" in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert "stopped after 3 of 7 files" in failed.stderr, failed.stderr
    assert "run apply again" in failed.stderr, failed.stderr
    assert sandbox["faults"].faults()["fail_s3_after"]["passed"] == 3
    sandbox["faults"].clear()
    sm = client(sandbox, "sagemaker")
    assert not any(
        m["ModelName"].startswith("weights-resume") for m in sm.list_models()["Models"]
    )  # nothing past the weights was made

    # The three files written are there, whole; no manifest: the tree is not complete.
    trees = client(sandbox, "s3").list_objects_v2(
        Bucket=BUCKET, Prefix=f"{ROOT}weights-resume/weights/", Delimiter="/"
    )
    assert "Contents" not in trees  # no manifest beside the tree
    [prefix] = [f"s3://{BUCKET}/{p['Prefix']}" for p in trees["CommonPrefixes"]]
    there = object_sizes(sandbox, prefix)
    assert len(there) == 3 and all(local[path] == size for path, size in there.items()), there

    # Applied again: what is there is counted as present, only the rest is sent.
    sandbox["faults"].clear_calls()
    resumed = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "uploads 4 files" in resumed.stdout and "3 already there" in resumed.stdout, (
        resumed.stdout
    )
    assert weights_prefix(sandbox, "weights-resume") == prefix
    assert uploads_by_key(sandbox) == {
        **{key_of(prefix, path): size for path, size in local.items() if path not in there},
        manifest_key(prefix): manifest_size(sandbox, prefix),
    }
    assert s3_calls(sandbox, *COPIES, *MULTIPART) == []
    assert object_sizes(sandbox, prefix) == local
    assert served(sandbox, spec) == {"files": digests(spec.parent / "model"), "greeting": "hello"}


def test_a_gated_models_token_is_applied_but_never_printed(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("transformers", reason="the llm extra serves the tiny model")
    from deployspec.runtime.tiny_llm import make_tiny_model

    folder = tmp_path / "gated"
    weights = make_tiny_model(folder / "weights")
    spec = folder / "deployment.yaml"
    text = (REPO / "examples" / "llm-tgi" / "hub.yaml").read_text()
    assert "name: smollm2-chat\n" in text and "    revision: main\n" in text
    spec.write_text(
        text.replace("name: smollm2-chat\n", "name: gated-chat\n").replace(
            "    revision: main\n", "    revision: main\n    token_env: HF_TOKEN\n"
        )
    )
    added = run_cli("sandbox", "hub", "add", HUB_ID, str(weights), env=sandbox["env"])
    assert added.returncode == 0, added.stderr
    outputs: dict[str, str] = {}

    def run(label: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = cli(sandbox, *args, env={"HF_TOKEN": TOKEN})
        outputs[label] = done.stdout + done.stderr
        return done

    validated = run_cli("validate", str(spec), env={**sandbox["env"], "HF_TOKEN": TOKEN})
    assert validated.returncode == 0, validated.stderr
    outputs["validate"] = validated.stdout + validated.stderr
    saved = folder / "plan.json"
    planned = run("plan --out", "plan", str(spec), "--out", str(saved))
    assert planned.returncode == 0, planned.stderr
    # The token is in the plan, masked: its two environment keys are shown, not their value.
    assert planned.stdout.count("(sensitive)") >= 2 and "HF_TOKEN" in planned.stdout, planned.stdout
    for kind in ("json", "markdown"):
        done = run(f"plan {kind}", "plan", str(spec), "--format", kind)
        assert done.returncode == 0, done.stderr

    # A failing apply, with --debug's traceback: the endpoint fails to start.
    sandbox["faults"].fail_next_create("gated-chat", "the container could not start")
    debug = run("apply --debug (failing)", "--debug", "apply", str(spec), "--auto-approve")
    assert debug.returncode == 1, debug.stdout + debug.stderr
    assert "Traceback" in debug.stderr and "could not start" in debug.stderr, debug.stderr

    applied = run("apply", "apply", str(spec), "--auto-approve")  # replaces the failed endpoint
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert run("status", "status", str(spec)).returncode == 0
    drift = run("drift", "drift", str(spec))
    assert drift.returncode == 0, drift.stdout + drift.stderr
    invoked = run("invoke", "invoke", str(spec), "--prompt", "Hi", "--max-tokens", "4")
    assert invoked.returncode == 0, invoked.stderr

    # Applied for real: SageMaker's model holds the token under both names the Hub reads.
    sm = client(sandbox, "sagemaker")
    config = sm.describe_endpoint(EndpointName="gated-chat")["EndpointConfigName"]
    model = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    container = sm.describe_model(ModelName=model["ModelName"])["PrimaryContainer"]
    assert container["Environment"]["HUGGING_FACE_HUB_TOKEN"] == TOKEN
    assert container["Environment"]["HF_TOKEN"] == TOKEN
    assert container["Environment"]["HF_MODEL_ID"] == HUB_ID

    destroyed = run("destroy", "destroy", str(spec), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    assert model["ModelName"] not in [m["ModelName"] for m in sm.list_models()["Models"]]

    outputs["saved plan"] = saved.read_text()
    assert len(outputs) == 11, sorted(outputs)
    leaked = [label for label, text in outputs.items() if TOKEN in text]
    assert leaked == [], leaked
    # Nor is it kept on disk: not in deployspec's cache, nor in the sandbox's home outside the
    # SageMaker state it plays (the model's environment, as AWS keeps it).
    cached = [
        str(path)
        for path in Path(sandbox["env"]["DEPLOYSPEC_CACHE_DIR"]).rglob("*")
        if path.is_file() and TOKEN.encode() in path.read_bytes()
    ]
    assert cached == [], cached
