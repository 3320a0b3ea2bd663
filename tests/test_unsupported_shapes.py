"""Endpoints of shapes deployspec does not manage yet are reported as such, never misread."""

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
                [
                    {"VariantName": "a", "ModelName": "m1", "ServerlessConfig": SERVERLESS},
                    {"VariantName": "b", "ModelName": "m2", "ServerlessConfig": SERVERLESS},
                ]
            ),
            r"2 production variants \(a, b\)",
        ),
        (
            _described([{"VariantName": "a", "InstanceType": "ml.m5.large"}]),
            "a variant without a model",
        ),
        (
            _described(
                [{"VariantName": "a", "ModelName": "m1", "ServerlessConfig": SERVERLESS}],
                ShadowProductionVariants=[
                    {"VariantName": "s", "ModelName": "m2", "ServerlessConfig": SERVERLESS}
                ],
            ),
            "shadow variants",
        ),
    ],
    ids=["two-variants", "components", "shadow"],
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


@pytest.mark.parametrize("command", ["status", "plan"])
def test_status_and_adopt_report_a_two_variant_endpoint(
    sandbox: dict[str, Any], sm: Any, iris: Path, command: str
) -> None:
    for model in ("hand-a", "hand-b"):
        sm.create_model(ModelName=model, PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(
        EndpointConfigName="hand-cfg",
        ProductionVariants=[
            {"VariantName": name, "ModelName": model, "ServerlessConfig": SERVERLESS}
            for name, model in (("a", "hand-a"), ("b", "hand-b"))
        ],
    )
    sm.create_endpoint(EndpointName="iris", EndpointConfigName="hand-cfg")
    result = cli(sandbox, command, str(iris), *(["--adopt"] if command == "plan" else []))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "hand-cfg has 2 production variants (a, b)" in result.stderr
