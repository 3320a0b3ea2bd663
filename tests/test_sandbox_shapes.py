"""The sandbox's endpoint shapes in-process: routing by weight, shadow variants, traffic shifting
updates and rollback alarms, with moto's mock, a fake clock and real model workers."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.hosting import ModelHost, _Startup
from deployspec.sandbox.sagemaker_ext import InvocationTarget, ModelInvocationError

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
BUCKET = "models"
REGION = "us-east-1"
TRANSITION = 30.0
# A wait of W AWS seconds lasts W * TRANSITION / 60 sandbox seconds.
SCALE = TRANSITION / sagemaker_ext.AWS_SECONDS_PER_TRANSITION

# Answers with the name its archive carries: which model answered, cheaply (no scikit-learn).
NAMED_SCRIPT = """\
import json
import os

def model_fn(model_dir):
    with open(os.path.join(model_dir, "name.txt")) as handle:
        return handle.read().strip()

def transform_fn(model, body, content_type, accept):
    return json.dumps({"model": model}), "application/json"
"""

IRIS_SCRIPT = """\
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TrackingHost(ModelHost):
    """The real host, remembering its startups (to wait for them) and the deployments released."""

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(cache_dir)
        self.startups: list[_Startup] = []
        self.released: list[str] = []

    def start(self, targets: tuple[InvocationTarget, ...]) -> _Startup:
        startup = super().start(targets)
        self.startups.append(startup)
        return startup

    def release(self, deployment_keys: Iterable[str]) -> None:
        keys = list(deployment_keys)
        self.released += keys
        super().release(keys)

    def wait_for_startups(self) -> None:
        for startup in self.startups:
            assert startup.wait(60)
            assert startup.failure() is None


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def iris() -> dict[str, Any]:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    classifier = LogisticRegression(max_iter=500).fit(data.data, data.target)
    buffer = io.BytesIO()
    joblib.dump(classifier, buffer)
    samples = [list(map(float, data.data[i])) for i in (0, 60, 120)]
    archive = _archive(
        {"model.joblib": buffer.getvalue(), "code/inference.py": IRIS_SCRIPT.encode()}
    )
    return {"archive": archive, "samples": samples, "expected": classifier.predict(samples)}


@dataclass
class Sandbox:
    host: TrackingHost
    clock: FakeClock
    sm: Any
    runtime: Any

    def model(self, name: str, archive: bytes | None = None) -> str:
        """A model serving `archive`, by default one that answers {"model": name}."""
        if archive is None:
            archive = _archive(
                {"name.txt": name.encode(), "code/inference.py": NAMED_SCRIPT.encode()}
            )
        boto3.client("s3", region_name=REGION).put_object(
            Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=archive
        )
        self.sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": IMAGE,
                "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
            },
        )
        return name

    def config(
        self,
        name: str,
        variants: list[tuple[str, str, float]],
        shadow: tuple[str, str] | None = None,
        instances: int = 1,
    ) -> str:
        """A real-time config: variants (variant name, model, weight), optionally a shadow."""

        def variant(variant_name: str, model: str) -> dict[str, Any]:
            return {
                "VariantName": variant_name,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": instances,
            }

        request: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {**variant(v, m), "InitialVariantWeight": w} for v, m, w in variants
            ],
        }
        if shadow is not None:
            request["ShadowProductionVariants"] = [variant(*shadow)]
        self.sm.create_endpoint_config(**request)
        return name

    def in_service(self, endpoint: str, config: str) -> None:
        self.sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        self.host.wait_for_startups()
        self.clock.now += TRANSITION
        assert self.status(endpoint) == "InService"

    def status(self, endpoint: str) -> str:
        status: str = self.sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        return status

    def invoke(self, endpoint: str, **extra: Any) -> tuple[str, Any]:
        """(the variant that answered, what it answered)."""
        answer = self.runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=extra.pop("Body", b"[1]"),
            ContentType="application/json",
            Accept="application/json",
            **extra,
        )
        return answer["InvokedProductionVariant"], json.loads(answer["Body"].read())

    def models_answering(self, endpoint: str, times: int) -> Counter[str]:
        return Counter(self.invoke(endpoint)[1]["model"] for _ in range(times))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    clock = FakeClock()
    host = TrackingHost(tmp_path / "models")
    sagemaker_ext.set_clock(clock)
    sagemaker_ext.install(host)
    sagemaker_ext.set_transition_seconds(TRANSITION)
    try:
        with mock_aws():
            boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
            yield Sandbox(
                host,
                clock,
                boto3.client("sagemaker", region_name=REGION),
                boto3.client("sagemaker-runtime", region_name=REGION),
            )
    finally:
        sagemaker_ext.uninstall()
        sagemaker_ext.set_clock(__import__("time").monotonic)
        host.close()


def _error(call: Any) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response["Error"])


# --- routing by weight -------------------------------------------------------------------------


def test_invocations_are_routed_by_weight_and_seeded(sandbox: Sandbox) -> None:
    for name in ("blue", "green", "dark"):
        sandbox.model(name)
    config = sandbox.config(
        "weighted", [("blue", "blue", 90.0), ("green", "green", 10.0), ("dark", "dark", 0.0)]
    )
    sandbox.in_service("ep", config)
    answered = [sandbox.invoke("ep") for _ in range(200)]
    # The header names the variant whose model answered.
    assert all(variant == body["model"] for variant, body in answered)
    split = Counter(variant for variant, _ in answered)
    assert set(split) == {"blue", "green"}  # weight 0 never answers untargeted
    assert 165 <= split["blue"] <= 195 and split["blue"] + split["green"] == 200
    # A weight of 0 is reported as AWS reports it (moto left it out), and still answers when
    # targeted.
    described = sandbox.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"]
    assert [(v["VariantName"], v["CurrentWeight"]) for v in described] == [
        ("blue", 90.0),
        ("green", 10.0),
        ("dark", 0.0),
    ]
    assert sandbox.invoke("ep", TargetVariant="dark") == ("dark", {"model": "dark"})
    with pytest.raises(sandbox.runtime.exceptions.ValidationError, match="not present"):
        sandbox.invoke("ep", TargetVariant="nowhere")

    # Seeded: started again from the same seed, the same invocations reach the same variants.
    sagemaker_ext.seed_routing()
    again = [sandbox.invoke("ep")[0] for _ in range(200)]
    assert again == [variant for variant, _ in answered]
    sagemaker_ext.seed_routing("another seed")
    assert [sandbox.invoke("ep")[0] for _ in range(200)] != again


def test_weights_change_routing_once_their_update_is_done(sandbox: Sandbox) -> None:
    for name in ("blue", "green"):
        sandbox.model(name)
    sandbox.in_service("ep", sandbox.config("ab", [("blue", "blue", 1.0), ("green", "green", 0.0)]))
    assert sandbox.models_answering("ep", 20) == {"blue": 20}
    sandbox.sm.update_endpoint_weights_and_capacities(
        EndpointName="ep",
        DesiredWeightsAndCapacities=[
            {"VariantName": "blue", "DesiredWeight": 0.0},
            {"VariantName": "green", "DesiredWeight": 2.0},
        ],
    )
    assert sandbox.status("ep") == "Updating"
    assert sandbox.models_answering("ep", 20) == {"blue": 20}  # the old weights meanwhile
    sandbox.clock.now += TRANSITION
    assert sandbox.status("ep") == "InService"
    assert sandbox.models_answering("ep", 20) == {"green": 20}

    unknown = _error(
        lambda: sandbox.sm.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[{"VariantName": "purple", "DesiredWeight": 1.0}],
        )
    )
    assert unknown == {
        "Code": "ValidationException",
        "Message": 'The variant name(s) "purple" is/are not present within endpoint '
        'configuration "ab".',
    }
    all_zero = _error(
        lambda: sandbox.sm.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[{"VariantName": "green", "DesiredWeight": 0.0}],
        )
    )
    assert all_zero["Code"] == "ValidationException" and "greater than 0" in all_zero["Message"]
    assert sandbox.status("ep") == "InService"  # a refused update changes nothing
    with pytest.raises(sandbox.sm.exceptions.ClientError, match="greater than 0"):
        sandbox.config("zero", [("blue", "blue", 0.0), ("green", "green", 0.0)])


# --- shadow variants ---------------------------------------------------------------------------


def test_a_shadow_variant_gets_a_copy_of_each_invocation_and_answers_for_real(
    sandbox: Sandbox, iris: dict[str, Any]
) -> None:
    sandbox.model("blue")
    sandbox.model("iris", iris["archive"])
    config = sandbox.config("shadowed", [("live", "blue", 1.0)], shadow=("candidate", "iris"))
    described = sandbox.sm.describe_endpoint_config(EndpointConfigName=config)
    assert described["ShadowProductionVariants"] == [
        {
            "VariantName": "candidate",
            "ModelName": "iris",
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
        }
    ]
    sandbox.sm.create_endpoint(EndpointName="ep", EndpointConfigName=config)
    creating = sandbox.sm.describe_endpoint(EndpointName="ep")
    pending_shadow = creating["PendingDeploymentSummary"]["ShadowProductionVariants"]
    assert [(v["VariantName"], v["VariantStatus"][0]["Status"]) for v in pending_shadow] == [
        ("candidate", "Creating")
    ]
    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION
    endpoint = sandbox.sm.describe_endpoint(EndpointName="ep")
    assert endpoint["ShadowProductionVariants"] == [
        {
            "VariantName": "candidate",
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "CurrentInstanceCount": 1,
            "DesiredInstanceCount": 1,
        }
    ]
    body = json.dumps(iris["samples"]).encode()
    for _ in range(3):
        # The caller gets the production variant's answer, never the shadow's.
        assert sandbox.invoke("ep", Body=body) == ("live", {"model": "blue"})
    assert sagemaker_ext.shadows.drain(30)
    records = sagemaker_ext.shadows.records("ep")
    assert len(records) == 3
    assert {json.dumps(r, sort_keys=True) for r in records} == {
        json.dumps(
            {
                "variant": "candidate",
                "production_variant": "live",
                "status": 200,
                "content_type": "application/json",
                "body": json.dumps(iris["expected"].tolist()),
            },
            sort_keys=True,
        )
    }
    with pytest.raises(sandbox.runtime.exceptions.ValidationError, match="not present"):
        sandbox.invoke("ep", TargetVariant="candidate")  # a shadow is no production variant


def test_shadow_configs_aws_refuses_are_refused(sandbox: Sandbox) -> None:
    for name in ("blue", "green"):
        sandbox.model(name)
    live = {
        "VariantName": "live",
        "ModelName": "blue",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    shadow = {**live, "VariantName": "shadow", "ModelName": "green"}
    serverless = {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1}}
    refused: list[tuple[dict[str, Any], str]] = [
        ({"ShadowProductionVariants": [shadow, {**shadow, "VariantName": "s2"}]}, "one shadow"),
        (
            {
                "ProductionVariants": [live, {**live, "VariantName": "other"}],
                "ShadowProductionVariants": [shadow],
            },
            "maximum of one production variant",
        ),
        (
            {
                "ProductionVariants": [{"VariantName": "live", "ModelName": "blue", **serverless}],
                "ShadowProductionVariants": [shadow],
            },
            "serverless",
        ),
        (
            {
                "ShadowProductionVariants": [shadow],
                "AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out/"}},
            },
            "asynchronous",
        ),
        ({"ShadowProductionVariants": [{**shadow, "VariantName": "live"}]}, "unique"),
        ({"ShadowProductionVariants": [{**shadow, "InstanceType": "ml.inf1.xlarge"}]}, "Inf1"),
    ]
    for number, (request, problem) in enumerate(refused):
        full = {"EndpointConfigName": f"c{number}", "ProductionVariants": [live], **request}
        error = _error(lambda full=full: sandbox.sm.create_endpoint_config(**full))
        assert error["Code"] == "ValidationException" and problem in error["Message"], error
    names = [c["EndpointConfigName"] for c in sandbox.sm.list_endpoint_configs()["EndpointConfigs"]]
    assert names == []


class GatedInvoker:
    """Answers production variants at once; shadows only once the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def start(self, targets: tuple[InvocationTarget, ...]) -> _Startup:
        startup = _Startup()
        startup.finish(None)
        return startup

    def invoke(
        self, target: InvocationTarget, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        if target.variant.variant_name == "shadow":
            assert self.gate.wait(30)
            if body == b"fail":
                raise ModelInvocationError(500, "predict_fn raised ValueError: " + "x" * 10_000)
        return json.dumps({"from": target.variant.model_name}).encode(), "application/json"

    def release(self, deployment_keys: Iterable[str]) -> None:
        pass


def test_a_shadow_never_delays_or_changes_the_answer_and_its_errors_are_kept(
    sandbox: Sandbox,
) -> None:
    invoker = GatedInvoker()
    sagemaker_ext.install(invoker)
    sandbox.sm.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={})
    sandbox.config("c", [("live", "m", 1.0)], shadow=("shadow", "m"))
    sandbox.sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    sandbox.clock.now += TRANSITION
    # The shadow is stuck, yet both callers get the production answer.
    assert sandbox.invoke("ep") == ("live", {"from": "m"})
    assert sandbox.invoke("ep", Body=b"fail") == ("live", {"from": "m"})
    assert not sagemaker_ext.shadows.drain(0.05)
    invoker.gate.set()
    assert sagemaker_ext.shadows.drain(30)
    ok, failed = sagemaker_ext.shadows.records("ep")
    assert (ok["status"], ok["body"]) == (200, '{"from": "m"}')
    assert (failed["status"], failed["content_type"]) == (500, "text/plain")
    assert failed["body"].startswith("predict_fn raised ValueError: xxx")
    assert len(failed["body"]) < sagemaker_ext.SHADOW_BODY_LIMIT + 100  # capped


# --- traffic shifting --------------------------------------------------------------------------


def _canary(alarm: str | None = None, percent: int = 25) -> dict[str, Any]:
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
                "WaitIntervalInSeconds": 600,
            },
            "TerminationWaitInSeconds": 600,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }
    if alarm is not None:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": alarm}]}
    return config


def _pending_status(sandbox: Sandbox, endpoint: str) -> dict[str, Any]:
    described = sandbox.sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "Updating"
    (variant,) = described["PendingDeploymentSummary"]["ProductionVariants"]
    (status,) = variant["VariantStatus"]
    return {k: v for k, v in status.items() if k != "StartTime"}


def _blue_green(sandbox: Sandbox) -> None:
    for name in ("blue", "green"):
        sandbox.model(name)
        sandbox.config(f"c-{name}", [("main", name, 1.0)], instances=4)
    sandbox.in_service("ep", "c-blue")


def test_a_canary_update_shifts_a_share_then_everything(sandbox: Sandbox) -> None:
    _blue_green(sandbox)
    sandbox.sm.update_endpoint(
        EndpointName="ep", EndpointConfigName="c-green", DeploymentConfig=_canary()
    )
    assert _pending_status(sandbox, "ep") == {"Status": "Creating"}
    assert sandbox.models_answering("ep", 10) == {"blue": 10}  # the new fleet is not up yet

    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION  # provisioned: the canary takes a quarter
    assert _pending_status(sandbox, "ep") == {
        "Status": "Baking",
        "StatusMessage": "Baking: 25% of the traffic on the new fleet",
    }
    split = sandbox.models_answering("ep", 200)
    assert 30 <= split["green"] <= 70 and split["blue"] + split["green"] == 200
    assert sandbox.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c-blue"

    sandbox.clock.now += 600 * SCALE  # the canary baked: everything moves, a final bake
    assert _pending_status(sandbox, "ep")["StatusMessage"] == (
        "Baking: 100% of the traffic on the new fleet"
    )
    assert sandbox.models_answering("ep", 20) == {"green": 20}
    sandbox.clock.now += 600 * SCALE  # the termination wait: the old fleet still up
    assert _pending_status(sandbox, "ep")["StatusMessage"].startswith("Baking done")
    assert sandbox.models_answering("ep", 20) == {"green": 20}
    assert sandbox.host.released == []

    sandbox.clock.now += 600 * SCALE
    described = sandbox.sm.describe_endpoint(EndpointName="ep")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
        "InService",
        "c-green",
    )
    assert "PendingDeploymentSummary" not in described and "FailureReason" not in described
    assert len(sandbox.host.released) == 1 and "c-blue" in sandbox.host.released[0]
    assert sandbox.models_answering("ep", 10) == {"green": 10}


def test_linear_and_rolling_updates_shift_step_by_step(sandbox: Sandbox) -> None:
    _blue_green(sandbox)
    linear = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 2},  # of 4: halves
                "WaitIntervalInSeconds": 120,
            }
        }
    }
    sandbox.sm.update_endpoint(
        EndpointName="ep", EndpointConfigName="c-green", DeploymentConfig=linear
    )
    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION
    assert _pending_status(sandbox, "ep")["StatusMessage"].startswith("Baking: 50%")
    assert set(sandbox.models_answering("ep", 40)) == {"blue", "green"}
    sandbox.clock.now += 120 * SCALE
    assert _pending_status(sandbox, "ep")["StatusMessage"].startswith("Baking: 100%")
    sandbox.clock.now += 120 * SCALE  # no termination wait asked: done
    assert sandbox.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c-green"

    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            "WaitIntervalInSeconds": 60,
        }
    }
    sandbox.sm.update_endpoint(
        EndpointName="ep", EndpointConfigName="c-blue", DeploymentConfig=rolling
    )
    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION
    for share in ("25%", "50%", "75%", "100%"):
        assert _pending_status(sandbox, "ep")["StatusMessage"].startswith(f"Baking: {share}")
        sandbox.clock.now += 60 * SCALE
    assert sandbox.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c-blue"


def test_guardrail_updates_aws_refuses_are_refused(sandbox: Sandbox) -> None:
    for name in ("blue", "green"):
        sandbox.model(name)
    sandbox.config("one", [("main", "blue", 1.0)])
    sandbox.config("renamed", [("other", "green", 1.0)])
    sandbox.config("two", [("main", "blue", 1.0), ("extra", "green", 1.0)])
    sandbox.in_service("ep", "one")
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 0,
        }
    }
    for config, deployment, problem in [
        ("renamed", _canary(), "same variant names"),
        ("two", rolling, "multi-variant"),
    ]:
        error = _error(
            lambda config=config, deployment=deployment: sandbox.sm.update_endpoint(
                EndpointName="ep", EndpointConfigName=config, DeploymentConfig=deployment
            )
        )
        assert error["Code"] == "ValidationException" and problem in error["Message"]
        assert sandbox.status("ep") == "InService"
    # All at once, another variant name is fine.
    sandbox.sm.update_endpoint(EndpointName="ep", EndpointConfigName="renamed")
    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION
    assert sandbox.invoke("ep") == ("other", {"model": "green"})


# --- rollback alarms ---------------------------------------------------------------------------


def test_an_alarm_during_the_update_rolls_it_back(sandbox: Sandbox) -> None:
    _blue_green(sandbox)
    cloudwatch: Any = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="HighErrors",
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )

    def alarm_state() -> str:
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=["HighErrors"])["MetricAlarms"]
        state: str = alarm["StateValue"]
        return state

    sagemaker_ext.faults.alarm_during_next_update("Unlisted")
    sagemaker_ext.faults.alarm_during_next_update("HighErrors")
    sandbox.sm.update_endpoint(
        EndpointName="ep", EndpointConfigName="c-green", DeploymentConfig=_canary("HighErrors")
    )
    # Only the alarm the update lists is spent.
    assert sagemaker_ext.faults.describe()["alarm_next_update"] == ["Unlisted"]
    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION
    assert set(sandbox.models_answering("ep", 40)) == {"blue", "green"}  # the canary serves
    assert alarm_state() == "OK"

    sandbox.clock.now += 600 * SCALE / 2  # halfway through the canary's bake the alarm trips
    assert _pending_status(sandbox, "ep") == {
        "Status": "Deleting",
        "StatusMessage": 'Rolling back: CloudWatch alarm "HighErrors" is in ALARM state',
    }
    assert alarm_state() == "ALARM"
    assert sandbox.models_answering("ep", 20) == {"blue": 20}  # all traffic back at once

    sandbox.clock.now += TRANSITION  # the new fleet is torn down
    described = sandbox.sm.describe_endpoint(EndpointName="ep")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
        "InService",
        "c-blue",
    )
    assert 'CloudWatch alarm "HighErrors"' in described["FailureReason"]
    assert "rolled back" in described["FailureReason"]
    assert alarm_state() == "OK"  # the fault is spent
    assert sandbox.models_answering("ep", 10) == {"blue": 10}
    assert len(sandbox.host.released) == 1 and "c-green" in sandbox.host.released[0]

    # An alarm CloudWatch does not have still trips; the next update succeeds again.
    sagemaker_ext.faults.alarm_during_next_update("Nowhere")
    all_at_once: Any = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "Nowhere"}]},
    }
    for expected in ("c-blue", "c-green"):
        sandbox.sm.update_endpoint(
            EndpointName="ep", EndpointConfigName="c-green", DeploymentConfig=all_at_once
        )
        sandbox.host.wait_for_startups()
        sandbox.clock.now += 2 * TRANSITION
        described = sandbox.sm.describe_endpoint(EndpointName="ep")
        assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
            "InService",
            expected,
        )


def test_an_alarm_set_in_cloudwatch_during_a_bake_rolls_the_update_back(
    sandbox: Sandbox,
) -> None:
    _blue_green(sandbox)
    cloudwatch: Any = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="Latency",
        MetricName="ModelLatency",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=100,
        ComparisonOperator="GreaterThanThreshold",
    )
    sandbox.sm.update_endpoint(
        EndpointName="ep", EndpointConfigName="c-green", DeploymentConfig=_canary("Latency")
    )
    sandbox.host.wait_for_startups()
    sandbox.clock.now += TRANSITION
    assert _pending_status(sandbox, "ep")["Status"] == "Baking"
    cloudwatch.set_alarm_state(AlarmName="Latency", StateValue="ALARM", StateReason="slow")
    assert _pending_status(sandbox, "ep")["Status"] == "Deleting"
    sandbox.clock.now += TRANSITION
    described = sandbox.sm.describe_endpoint(EndpointName="ep")
    assert described["EndpointConfigName"] == "c-blue"
    assert 'CloudWatch alarm "Latency"' in described["FailureReason"]


# --- the control API and the CLI ---------------------------------------------------------------


def test_the_alarm_fault_and_shadow_records_through_the_cli_and_control_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from werkzeug.serving import make_server

    from deployspec import cli
    from deployspec.errors import SandboxError
    from deployspec.sandbox import control
    from deployspec.sandbox.app import build_app

    host = ModelHost(tmp_path / "models")
    server = make_server("127.0.0.1", 0, build_app({"pid": 0}, host), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    info = control.SandboxInfo(
        pid=0, port=server.server_port, endpoint_url=url, region=REGION, started_at=0
    )
    monkeypatch.setattr(control, "status", lambda home=None: info)
    try:
        cli.main(["sandbox", "fault", "--alarm", "HighErrors"])
        assert "alarm HighErrors will trip" in capsys.readouterr().out
        faults = control.FaultClient(info)
        assert faults.faults()["alarm_next_update"] == ["HighErrors"]
        with pytest.raises(SystemExit) as neither:
            cli.main(["sandbox", "fault"])
        assert neither.value.code == 1 and "--alarm NAME" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            cli.main(["sandbox", "fault", "throttle", "--alarm", "HighErrors"])
        faults.clear()
        assert faults.faults()["alarm_next_update"] == []

        # What the shadow mirror keeps, the control API serves.
        target = InvocationTarget(
            "123456789012",
            REGION,
            "ep",
            "d",
            sagemaker_ext.VariantTarget("live", "m", IMAGE, None, {}),
            shadows=(sagemaker_ext.VariantTarget("shadow", "m", IMAGE, None, {}),),
        )
        invoker = GatedInvoker()
        invoker.gate.set()
        sagemaker_ext.shadows.submit(invoker, target, b"1", "text/csv", "*/*")
        assert sagemaker_ext.shadows.drain(30)
        assert faults.shadow_records("ep") == [
            {
                "variant": "shadow",
                "production_variant": "live",
                "status": 200,
                "content_type": "application/json",
                "body": '{"from": "m"}',
            }
        ]
        assert faults.shadow_records("elsewhere") == []
        with pytest.raises(SandboxError, match="'endpoint' must be given"):
            faults._call("GET", "/shadow")
        faults.reset()
        assert faults.shadow_records("ep") == []
    finally:
        server.shutdown()
        sagemaker_ext.uninstall()
        host.close()
