"""End to end, more of the endpoint shapes' life cycle: serverless provisioned-concurrency
autoscaling, linear and rolling updates really stepping, a canary spec whose variants are
renamed, a Failed two-variant endpoint replaced, an async endpoint updated in place. The CLI is a
separate process against this module's private sandbox, with real predictions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli
from tests.conftest import sandbox_client as client

EXAMPLES = REPO / "examples"
SPECIES = ["setosa", "versicolor", "virginica"]
# The challenger of sklearn-ab (train.py --c 0.05) mistakes the versicolor for a virginica.
CHALLENGER = ["setosa", "virginica", "virginica"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    # One transition stands for a minute of AWS's time: a step's `wait: 1m` bakes 0.2 s.
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    try:
        yield {
            "info": info,
            "env": {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)},
        }
    finally:
        control.stop(home)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples this module uses copied, with the iris model and the challenger trained
    where the examples expect them."""
    root = tmp_path_factory.mktemp("examples")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name in ("sklearn-iris", "sklearn-ab", "sklearn-async", "sklearn-serverless-pc"):
        shutil.copytree(EXAMPLES / name, root / name, ignore=shutil.ignore_patterns("model"))
    train = root / "sklearn-iris" / "train.py"
    for args, cwd in (((), "sklearn-iris"), (("--out", "model", "--c", "0.05"), "sklearn-ab")):
        subprocess.run(
            [sys.executable, str(train), *args], check=True, capture_output=True, cwd=root / cwd
        )
    return root


def cli(sandbox: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=180)


def _answers(sandbox: dict[str, Any], spec: Path, body: str, *extra: str) -> tuple[Any, str]:
    """The predictions an invocation gets, and what the CLI said on stderr (which variant)."""
    answered = cli(sandbox, "invoke", str(spec), "--body", body, *extra)
    assert answered.returncode == 0, answered.stderr
    return json.loads(answered.stdout)["predictions"], answered.stderr


def _writes(faults: control.FaultClient) -> list[str]:
    return [
        c["operation"]
        for c in faults.calls()
        if not c["operation"].startswith(("Describe", "List", "Get", "Head"))
    ]


def _nothing_owned_left(sandbox: dict[str, Any], endpoint: str) -> None:
    """After destroy: no endpoint, config or model, no scalable target, no deployspec alarm."""
    sm = client(sandbox)
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    targets = client(sandbox, "application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert [t for t in targets if t["ResourceId"].startswith(f"endpoint/{endpoint}/")] == []
    alarms = client(sandbox, "cloudwatch").describe_alarms(
        AlarmNamePrefix=f"deployspec-{endpoint}"
    )["MetricAlarms"]
    assert alarms == []


def test_the_serverless_provisioned_concurrency_example_scales_and_changes_in_place(
    sandbox: dict[str, Any], examples: Path
) -> None:
    folder = examples / "sklearn-serverless-pc"
    spec = folder / "deployment.yaml"
    body = f"@{folder / 'input.json'}"
    faults = control.FaultClient(sandbox["info"])
    # (tests/test_shapes_e2e.py validates it with the other shapes' examples)
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    answer, _ = _answers(sandbox, spec, body)
    assert answer == SPECIES

    sm = client(sandbox)
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="iris-serverless-pc")[
            "EndpointConfigName"
        ]
    )
    serverless = config["ProductionVariants"][0]["ServerlessConfig"]
    assert serverless == {"MemorySizeInMB": 2048, "MaxConcurrency": 10, "ProvisionedConcurrency": 2}
    scaling = client(sandbox, "application-autoscaling")
    resource = "endpoint/iris-serverless-pc/variant/AllTraffic"

    def target() -> dict[str, Any]:
        found = scaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[resource]
        )["ScalableTargets"]
        assert len(found) == 1, found
        return dict(found[0])

    registered = target()
    assert registered["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (1, 5)
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
        "ScalingPolicies"
    ]
    assert len(policies) == 1, policies
    tracking = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 0.7
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantProvisionedConcurrencyUtilization"
    )

    # A wider range is the scaling target's alone: no new config, the endpoint left alone.
    wider = folder / "wider.yaml"
    wider.write_text(spec.read_text().replace("max: 5,", "max: 8,"))
    planned = cli(sandbox, "plan", str(wider))
    assert f"# scaling.{resource} will be updated in-place" in planned.stdout, planned.stdout
    assert "max_capacity = 5 -> 8" in planned.stdout
    # The other change is only the record `drift` reads, a tag on the endpoint.
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in planned.stdout
    faults.clear_calls()
    moved = cli(sandbox, "apply", str(wider), "--auto-approve")
    assert moved.returncode == 0, moved.stderr
    writes = _writes(faults)
    assert not {"CreateEndpointConfig", "CreateModel", "UpdateEndpoint"} & set(writes), writes
    assert "RegisterScalableTarget" in writes, writes
    assert (target()["MinCapacity"], target()["MaxCapacity"]) == (1, 8)
    configs = sm.list_endpoint_configs(NameContains="iris-serverless-pc")["EndpointConfigs"]
    assert len(configs) == 1, configs
    assert cli(sandbox, "plan", str(wider), "--detailed-exitcode").returncode == 0

    destroyed = cli(sandbox, "destroy", str(wider), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    _nothing_owned_left(sandbox, "iris-serverless-pc")


def _realtime_spec(examples: Path, name: str, deployment: str, env: str = "") -> str:
    """sklearn-iris's model on four real-time instances, with `deployment` (YAML) and the model's
    environment `env` (a new model when it changes)."""
    text = (examples / "sklearn-iris" / "deployment.yaml").read_text()
    head = text[: text.index("serverless:")].replace("name: iris\n", f"name: {name}\n")
    if env:
        head = head.replace("entry_point: inference.py", f"entry_point: inference.py\n  env: {env}")
    return head + "realtime:\n  instance_type: ml.m5.large\n  instance_count: 4\n" + deployment


class _Watch:
    """The pending fleet's StatusMessages while the endpoint updates, read on a thread every
    20 ms or so (a step's `wait: 3m` bakes 0.6 s here: each is seen many times over)."""

    def __init__(self, sandbox: dict[str, Any], endpoint: str) -> None:
        self._sm = client(sandbox)
        self._endpoint = endpoint
        self._stop = threading.Event()
        self.messages: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            live = self._sm.describe_endpoint(EndpointName=self._endpoint)
            pending = live.get("PendingDeploymentSummary") or {}
            for variant in pending.get("ProductionVariants", []):
                for status in variant.get("VariantStatus", []):
                    message = status.get("StatusMessage")
                    if message and (not self.messages or self.messages[-1] != message):
                        self.messages.append(message)
            time.sleep(0.02)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _baked(watch: _Watch) -> list[str]:
    """The shares the update baked at, in order ("Baking: 50%", ...)."""
    return [m.partition(" of ")[0] for m in watch.messages if m.startswith("Baking:")]


def test_linear_then_rolling_updates_step_through_their_shares_then_serve_the_new_model(
    sandbox: dict[str, Any], examples: Path
) -> None:
    name = "iris-stepped"
    iris = examples / "sklearn-iris"
    spec = iris / "stepped.yaml"
    body = f"@{iris / 'input.json'}"
    linear = "deployment:\n  strategy: linear\n  linear: {percent: 50, wait: 3m}\n"
    spec.write_text(_realtime_spec(examples, name, linear))
    first = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert first.returncode == 0, first.stderr
    sm = client(sandbox)

    def served_version() -> str:
        live = sm.describe_endpoint(EndpointName=name)
        assert live["EndpointStatus"] == "InService" and "PendingDeploymentSummary" not in live
        config = sm.describe_endpoint_config(EndpointConfigName=live["EndpointConfigName"])
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        return str(model["PrimaryContainer"]["Environment"].get("V"))

    # A new model: a new config, the update shifting half the capacity per step.
    spec.write_text(_realtime_spec(examples, name, linear, env="{V: '2'}"))
    with _Watch(sandbox, name) as watch:
        updated = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert updated.returncode == 0, updated.stderr
    assert _baked(watch) == ["Baking: 50%", "Baking: 100%"], watch.messages
    assert served_version() == "2"

    # Rolling, one instance of the four per batch.
    rolling = "deployment:\n  strategy: rolling\n  rolling: {percent: 25, wait: 3m}\n"
    spec.write_text(_realtime_spec(examples, name, rolling, env="{V: '3'}"))
    with _Watch(sandbox, name) as watch:
        rolled = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert rolled.returncode == 0, rolled.stderr
    shares = ["Baking: 25%", "Baking: 50%", "Baking: 75%", "Baking: 100%"]
    assert _baked(watch) == shares, watch.messages
    assert served_version() == "3"
    answer, _ = _answers(sandbox, spec, body)
    assert answer == SPECIES
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0
    assert cli(sandbox, "destroy", str(spec), "--auto-approve").returncode == 0
    _nothing_owned_left(sandbox, name)


def _new_challenger(text: str) -> str:
    """sklearn-ab's spec with a new model for the challenger (one more environment value)."""
    return text.replace("artifacts: ./model", "artifacts: ./model\n      env: {V: '2'}")


CANARY = "deployment:\n  strategy: canary\n  canary: {percent: 50, wait: 1m}\n"


def test_a_canary_spec_renaming_its_variants_switches_at_once_and_a_failed_one_is_replaced(
    sandbox: dict[str, Any], examples: Path
) -> None:
    ab = examples / "sklearn-ab"
    spec = ab / "canary.yaml"
    body = f"@{ab / 'input.json'}"
    text = (ab / "deployment.yaml").read_text().replace("name: iris-ab\n", "name: iris-renamed\n")
    one = text[: text.index("variants:")] + (
        'model:\n  framework: sklearn\n  version: "1.9-0"\n'
        "  artifacts: ../sklearn-iris/model\n  entry_point: ../sklearn-iris/inference.py\n"
        "realtime:\n  instance_type: ml.m5.large\n"
    )
    spec.write_text(one + CANARY)
    first = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert first.returncode == 0, first.stderr

    # Two variants, neither named AllTraffic: SageMaker refuses a canary between them.
    spec.write_text(text + CANARY)
    planned = cli(sandbox, "plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    assert "variants change (AllTraffic -> challenger, current)" in planned.stdout, planned.stdout
    assert "switches all at once instead of canary" in planned.stdout
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr

    def both_answer() -> None:
        current, who = _answers(sandbox, spec, body, "--variant", "current")
        assert current == SPECIES and "answered by variant current" in who
        challenger, who = _answers(sandbox, spec, body, "--variant", "challenger")
        assert challenger == CHALLENGER and "answered by variant challenger" in who

    both_answer()

    # Same names from now on: the next update is a canary again, no reason given. Its new
    # fleet fails and SageMaker does not roll it back: the endpoint is Failed, and the only way
    # on is a new endpoint of the same name.
    armed = run_cli(
        "sandbox", "fault", "fail-update", "--endpoint", "iris-renamed", "--no-rollback",
        "--reason", "the new fleet failed its health checks", env=sandbox["env"],
    )  # fmt: skip
    assert armed.returncode == 0, armed.stderr
    spec.write_text(_new_challenger(text) + CANARY)
    failed = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert failed.returncode == 1
    assert "variants change" not in failed.stdout, failed.stdout
    assert "the new fleet failed its health checks" in failed.stderr, failed.stderr
    sm = client(sandbox)
    assert sm.describe_endpoint(EndpointName="iris-renamed")["EndpointStatus"] == "Failed"

    replacing = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert replacing.returncode == 2, replacing.stderr
    assert "# endpoint.iris-renamed must be replaced" in replacing.stdout, replacing.stdout
    replaced = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert replaced.returncode == 0, replaced.stderr
    assert sm.describe_endpoint(EndpointName="iris-renamed")["EndpointStatus"] == "InService"
    both_answer()
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0
    assert cli(sandbox, "destroy", str(spec), "--auto-approve").returncode == 0
    _nothing_owned_left(sandbox, "iris-renamed")


def _wait_for(found: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"nothing after {timeout} s")


def test_an_async_endpoints_paths_and_concurrency_change_in_place(
    sandbox: dict[str, Any], examples: Path
) -> None:
    folder = examples / "sklearn-async"
    spec = folder / "deployment.yaml"
    body = f"@{folder / 'input.json'}"
    faults = control.FaultClient(sandbox["info"])
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr

    moved = folder / "moved.yaml"
    moved.write_text(
        spec.read_text()
        .replace("answers/", "answers-v2/")
        .replace("per_instance: 2", "per_instance: 4")
    )
    planned = cli(sandbox, "plan", str(moved), "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "must be replaced" not in planned.stdout, planned.stdout
    faults.clear_calls()
    updated = cli(sandbox, "apply", str(moved), "--auto-approve")
    assert updated.returncode == 0, updated.stderr
    writes = _writes(faults)
    assert "UpdateEndpoint" in writes and "DeleteEndpoint" not in writes, writes
    assert "CreateEndpoint" not in writes, writes
    sm = client(sandbox)
    live = sm.describe_endpoint(EndpointName="iris-async")
    config = sm.describe_endpoint_config(EndpointConfigName=live["EndpointConfigName"])
    async_config = config["AsyncInferenceConfig"]
    assert async_config["OutputConfig"]["S3OutputPath"] == (
        "s3://deployspec-examples-async/answers-v2/"
    )
    assert async_config["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}

    queued = cli(sandbox, "invoke", str(moved), "--async", "--wait", "--body", body)
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["predictions"] == SPECIES
    assert "s3://deployspec-examples-async/answers-v2/" in queued.stderr, queued.stderr
    s3 = client(sandbox, "s3")
    written = _wait_for(
        lambda: s3.list_objects_v2(Bucket="deployspec-examples-async", Prefix="answers-v2/").get(
            "Contents"
        )
    )
    assert len(written) == 1, written
    assert cli(sandbox, "plan", str(moved), "--detailed-exitcode").returncode == 0

    destroyed = cli(sandbox, "destroy", str(moved), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    _nothing_owned_left(sandbox, "iris-async")
