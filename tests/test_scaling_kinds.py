"""The gateway's three kinds of autoscaling, against moto's Application Auto Scaling and
CloudWatch: invocations per instance, an asynchronous endpoint's backlog down to zero (with the
step policy and alarm that bring its first instance back), and serverless provisioned
concurrency. What put_scaling writes, describe_scalings reads back as the same Scaling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from deployspec.aws import Gateway, from_zero_alarm
from deployspec.resources import BACKLOG, PROVISIONED_CONCURRENCY, Scaling
from deployspec.sandbox import autoscaling_ext
from tests.conftest import isolate_aws

REGION = "us-east-1"
ASYNC_ID = "endpoint/queue/variant/AllTraffic"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gateway]:
    isolate_aws(monkeypatch, tmp_path, REGION)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    # moto's list of scalable dimensions lacks provisioned concurrency; the sandbox adds it.
    autoscaling_ext.install()
    try:
        with mock_aws():
            yield Gateway(boto3.Session(region_name=REGION))
    finally:
        autoscaling_ext.uninstall()


def scaling(resource_id: str = ASYNC_ID, **kw: object) -> Scaling:
    options: dict[str, object] = {
        "resource_id": resource_id,
        "min_capacity": 0,
        "max_capacity": 3,
        "target_value": 5.0,
        "scale_in_cooldown": 300,
        "scale_out_cooldown": 60,
        "policy_name": "deployspec-invocations",
        "metric": BACKLOG,
        "scale_from_zero": True,
        **kw,
    }
    return Scaling(**options)  # type: ignore[arg-type]


def alarms(gateway: Gateway, name: str) -> list[dict[str, object]]:
    found = gateway._client("cloudwatch").describe_alarms(AlarmNames=[name])  # type: ignore[attr-defined]
    return list(found["MetricAlarms"])


def test_backlog_scaling_to_zero_is_read_back_as_written_with_its_alarm(gateway: Gateway) -> None:
    wanted = scaling()
    gateway.put_scaling(wanted)

    assert gateway.describe_scalings([ASYNC_ID]) == [wanted]
    policies = gateway._autoscaling().describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=ASYNC_ID
    )["ScalingPolicies"]
    tracking = next(p for p in policies if p["PolicyType"] == "TargetTrackingScaling")
    metric = tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert metric["Dimensions"] == [{"Name": "EndpointName", "Value": "queue"}]
    step = next(p for p in policies if p["PolicyType"] == "StepScaling")
    found = alarms(gateway, from_zero_alarm(ASYNC_ID))
    assert [a["MetricName"] for a in found] == ["HasBacklogWithoutCapacity"]
    assert found[0]["AlarmActions"] == [step["PolicyARN"]]


def test_raising_min_from_zero_removes_the_step_policy_and_alarm(gateway: Gateway) -> None:
    gateway.put_scaling(scaling())
    raised = scaling(min_capacity=1, scale_from_zero=False)
    gateway.put_scaling(raised)

    assert gateway.describe_scalings([ASYNC_ID]) == [raised]
    assert alarms(gateway, from_zero_alarm(ASYNC_ID)) == []


def test_deleting_backlog_scaling_removes_its_alarm(gateway: Gateway) -> None:
    gateway.put_scaling(scaling())
    assert gateway.delete_scaling(ASYNC_ID, BACKLOG) is True

    assert gateway.describe_scalings([ASYNC_ID]) == []
    assert alarms(gateway, from_zero_alarm(ASYNC_ID)) == []
    assert gateway.delete_scaling(ASYNC_ID, BACKLOG) is False


def test_provisioned_concurrency_scales_its_own_dimension(gateway: Gateway) -> None:
    serverless = scaling(
        "endpoint/api/variant/AllTraffic",
        min_capacity=1,
        max_capacity=10,
        target_value=0.7,
        metric=PROVISIONED_CONCURRENCY,
        scale_from_zero=False,
    )
    gateway.put_scaling(serverless)

    assert gateway.describe_scalings(["endpoint/api/variant/AllTraffic"]) == [serverless]
    target = gateway._autoscaling().describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=["endpoint/api/variant/AllTraffic"]
    )["ScalableTargets"][0]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert gateway.delete_scaling("endpoint/api/variant/AllTraffic", PROVISIONED_CONCURRENCY)
    assert gateway.describe_scalings(["endpoint/api/variant/AllTraffic"]) == []


def test_several_variants_are_read_in_one_targets_call(gateway: Gateway) -> None:
    first = scaling(
        "endpoint/ab/variant/a",
        min_capacity=1,
        metric="SageMakerVariantInvocationsPerInstance",
        scale_from_zero=False,
        target_value=100.0,
    )
    second = scaling(
        "endpoint/ab/variant/b",
        min_capacity=1,
        metric="SageMakerVariantInvocationsPerInstance",
        scale_from_zero=False,
        target_value=50.0,
    )
    gateway.put_scaling(first)
    gateway.put_scaling(second)

    found = gateway.describe_scalings(
        ["endpoint/ab/variant/a", "endpoint/ab/variant/missing", "endpoint/ab/variant/b"]
    )
    assert found == [first, second]
