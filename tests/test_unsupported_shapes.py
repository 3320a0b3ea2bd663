"""Endpoints of shapes deployspec does not manage yet are reported as such, never misread;
those it reads now (several variants) are shown and adopted as any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from deployspec.aws import Gateway
from deployspec.errors import UnsupportedShapeError
from tests.test_e2e import cli, iris, iris_model, sandbox, sm

__all__ = ["iris", "iris_model", "sandbox", "sm"]  # fixtures, used by name

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"
SERVERLESS = {"MemorySizeInMB": 1024, "MaxConcurrency": 1}


def _described(variants: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "EndpointConfigName": "iris-0123456789",
        "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/iris",
        "ProductionVariants": variants,
        "CreationTime": "2026-01-01T00:00:00Z",
        **extra,
    }


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            _described(
                [{"VariantName": "a", "ModelName": "m1", "InstanceType": "ml.m5.large"}],
                ShadowProductionVariants=[{"VariantName": "s", "InstanceType": "ml.m5.large"}],
            ),
            r"a variant without a model \(s:",
        ),
    ],
    ids=["component-shadow"],
)
def test_the_gateway_names_shapes_it_cannot_read(response: dict[str, Any], expected: str) -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    gateway = Gateway(session)
    with Stubber(gateway._sagemaker()) as stubber:
        stubber.add_response("describe_endpoint_config", response)
        with pytest.raises(UnsupportedShapeError, match=expected):
            gateway.describe_endpoint_config("iris-0123456789")


def test_a_two_variant_endpoint_made_by_hand_is_shown_and_adopted_with_a_config_of_our_own(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    """Several variants are a shape deployspec reads now: status lists them, and adopting the
    endpoint for a one-variant spec gives it deployspec's own config (never in place)."""
    for model in ("hand-a", "hand-b"):
        sm.create_model(ModelName=model, PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(
        EndpointConfigName="hand-cfg",
        ProductionVariants=[
            {
                "VariantName": name,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
            for name, model in (("a", "hand-a"), ("b", "hand-b"))
        ],
    )
    sm.create_endpoint(EndpointName="iris", EndpointConfigName="hand-cfg")
    status = cli(sandbox, "status", str(iris))
    assert status.returncode == 0, status.stderr
    assert "variant a: " in status.stdout and "variant b: " in status.stdout
    assert "managed:        no" in status.stdout
    planned = cli(sandbox, "plan", str(iris), "--adopt")
    assert planned.returncode == 0, planned.stderr
    assert "endpoint iris will be adopted" in planned.stdout
    assert "endpoint_config.iris-" in planned.stdout and "will be created" in planned.stdout
    assert "Traceback" not in planned.stderr
