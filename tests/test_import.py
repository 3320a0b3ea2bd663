"""`deployspec import` and adoption in place, without the sandbox: the image tables read
backwards, what a spec cannot express, the environment and secrets, the YAML written, the
planner's and the applier's side of adoption, and state's reads on moto in-process.

The CLI against the sandbox is in tests/test_import_e2e.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
import yaml
from moto import mock_aws

from deployspec.applier import Applier
from deployspec.aws import Gateway
from deployspec.desired import build_desired
from deployspec.errors import NotManagedError, UnsupportedShapeError
from deployspec.images import ImageMatch, framework_of_image, spec_image
from deployspec.importer import (
    _scalar,
    config_shape,
    import_endpoint,
    model_shape,
    scaling_shape,
    unexpressed,
)
from deployspec.plan import Action, Change, Kind, Plan
from deployspec.planner import flatten, make_plan
from deployspec.resources import (
    TAG_ADOPTED,
    TAG_MANAGED_BY,
    TAG_PREVIOUS,
    TAG_PRUNED,
    TAG_SPEC,
    ServerlessConfig,
    Variant,
    ownership_tags,
)
from deployspec.spec import load_spec
from deployspec.state import Actual, adoption_differences, read_actual, recorded_stand_in
from deployspec.yamlsource import parse_yaml
from tests.conftest import VALID_SKLEARN, isolate_aws, run_cli
from tests.test_applier import OURS, Clock, FakeGateway, endpoint
from tests.test_planner import TAGS, D, desired, live_endpoint

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
ARCHIVE = "s3://models-bucket/iris/model.tar.gz"
SOURCE = "s3://models-bucket/iris/sourcedir.tar.gz"

# --- the image tables, read backwards -------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "instance_type", "expected"),
    [
        (SKLEARN, None, ImageMatch("sklearn", "1.2-1")),
        (SKLEARN, "ml.m5.large", ImageMatch("sklearn", "1.2-1")),
        (
            f"{DLC}/tensorflow-inference:2.3.0-cpu",
            "ml.m5.xlarge",
            ImageMatch("tensorflow", "2.3.0"),
        ),
        # The SDK builds the tag from the version it is given: an alias comes back as the alias.
        (f"{DLC}/pytorch-inference:2.1-cpu-py310", "ml.m5.xlarge", ImageMatch("pytorch", "2.1")),
        (
            f"{DLC}/pytorch-inference:2.1.0-gpu-py310",
            "ml.g5.xlarge",
            ImageMatch("pytorch", "2.1.0"),
        ),
        # Another Python than the version's newest: named.
        (
            f"{DLC}/pytorch-inference:1.8.1-cpu-py3",
            "ml.m5.xlarge",
            ImageMatch("pytorch", "1.8.1", "py3"),
        ),
        (
            f"{DLC}/huggingface-pytorch-inference:2.1.0-transformers4.37.0-gpu-py310-cu118-ubuntu20.04",
            "ml.g5.xlarge",
            ImageMatch("huggingface", "4.37.0"),
        ),
        # A GPU image on a CPU instance: not what a spec gets there.
        (f"{DLC}/pytorch-inference:2.1.0-gpu-py310", "ml.m5.xlarge", None),
        # Another region's registry, an account's own image, no tag.
        (SKLEARN.replace("us-east-1", "eu-west-1"), None, None),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1", None, None),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn", None, None),
    ],
    ids=lambda v: str(v)[-40:] if isinstance(v, str) else None,
)
def test_an_image_is_read_back_as_the_spec_fields_that_give_it(
    uri: str, instance_type: str | None, expected: ImageMatch | None
) -> None:
    found = framework_of_image(uri, REGION, instance_type)
    assert found == expected
    if found is not None:
        produced = spec_image(
            found.framework,
            REGION,
            found.version,
            py_version=found.py_version,
            instance_type=instance_type,
            base_framework_version=found.base_framework_version,
        )
        assert produced == uri


def test_every_newest_version_of_every_table_reads_back() -> None:
    from deployspec import catalog

    for framework in catalog.FRAMEWORK_TABLES:
        versions, _ = catalog.supported_versions(framework)
        for version in versions[-3:]:
            instance_type = "ml.g5.xlarge" if framework == "huggingface" else "ml.m5.xlarge"
            try:
                uri = spec_image(
                    framework, REGION, version, py_version=None, instance_type=instance_type
                )
            except Exception:  # a version without a build for this processor
                continue
            found = framework_of_image(uri, REGION, instance_type)
            assert found is not None and found.framework == framework, (framework, version)
            again = spec_image(
                framework,
                REGION,
                found.version,
                py_version=found.py_version,
                instance_type=instance_type,
                base_framework_version=found.base_framework_version,
            )
            assert again == uri


# --- what a spec cannot express ----------------------------------------------------------------

VARIANT = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
SERVERLESS_VARIANT = {
    "VariantName": "AllTraffic",
    "ModelName": "m",
    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
}
CONTAINER = {"Image": SKLEARN, "ModelDataUrl": ARCHIVE, "Environment": {}}


def config(**extra: Any) -> dict[str, Any]:
    return {"EndpointConfigName": "c", "ProductionVariants": [VARIANT], **extra}


def model(container: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"ModelName": "m", "PrimaryContainer": container or CONTAINER, **extra}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (config(), []),
        # What AWS may report for what was never set.
        (
            config(
                EnableNetworkIsolation=False,
                ProductionVariants=[
                    {
                        **VARIANT,
                        "RoutingConfig": {"RoutingStrategy": "RANDOM"},
                        "ManagedInstanceScaling": {"Status": "DISABLED"},
                        "EnableSSMAccess": False,
                    }
                ],
                DataCaptureConfig={"EnableCapture": False, "KmsKeyId": "k"},
            ),
            [],
        ),
        # Several production variants, or one and a shadow: a spec's variants: and shadow:.
        (config(ProductionVariants=[VARIANT, {**VARIANT, "VariantName": "b"}]), []),
        (config(ShadowProductionVariants=[{**VARIANT, "VariantName": "shadow"}]), []),
        (
            config(
                ShadowProductionVariants=[
                    {**VARIANT, "VariantName": "s1"},
                    {**VARIANT, "VariantName": "s2"},
                ]
            ),
            ["2 shadow variants (s1, s2; a spec has at most one)"],
        ),
        (
            config(
                ProductionVariants=[VARIANT, {**VARIANT, "VariantName": "b"}],
                ShadowProductionVariants=[{**VARIANT, "VariantName": "s"}],
            ),
            ["a shadow variant beside 2 production variants (a spec pairs its shadow with one)"],
        ),
        (
            config(ProductionVariants=[SERVERLESS_VARIANT, {**VARIANT, "VariantName": "b"}]),
            [
                "a serverless variant (AllTraffic) beside other production variants (a spec's "
                "serverless variant is the endpoint's only one)"
            ],
        ),
        (
            config(
                ProductionVariants=[SERVERLESS_VARIANT],
                ShadowProductionVariants=[{**SERVERLESS_VARIANT, "VariantName": "s"}],
                AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://b/o"}},
            ),
            [
                "a shadow variant beside a serverless variant",
                "a shadow variant without instances (a spec's shadow is real-time)",
                "a shadow variant on an asynchronous endpoint",
            ],
        ),
        (
            config(
                ProductionVariants=[
                    {**VARIANT, "InitialVariantWeight": 0.0},
                    {**VARIANT, "VariantName": "b", "InitialVariantWeight": 0},
                ]
            ),
            ["production variants all of weight 0 (in a spec some variant has traffic)"],
        ),
        (
            config(
                ProductionVariants=[
                    VARIANT,
                    {**VARIANT, "VariantName": "b", "ModelDataDownloadTimeoutInSeconds": 600},
                ],
                ShadowProductionVariants=[{"VariantName": "s", "InstanceType": "ml.m5.large"}],
            ),
            [
                "a shadow variant beside 2 production variants (a spec pairs its shadow with one)",
                "variant b: a model download timeout (ModelDataDownloadTimeoutInSeconds)",
                "inference components (variant s names no model)",
            ],
        ),
        (
            config(
                ProductionVariants=[{"VariantName": "AllTraffic", "InstanceType": "ml.m5.large"}]
            ),
            ["inference components (variant AllTraffic names no model)"],
        ),
        (
            config(
                AsyncInferenceConfig={
                    "OutputConfig": {"S3OutputPath": "s3://b/o", "KmsKeyId": "k"}
                },
                KmsKeyId="k",
            ),
            [
                "a KMS key for the instances' storage volumes (KmsKeyId)",
                "asynchronous answers encrypted with a KMS key (AsyncInferenceConfig KmsKeyId)",
            ],
        ),
        (
            config(ProductionVariants=[{**VARIANT, "ModelDataDownloadTimeoutInSeconds": 600}]),
            ["variant AllTraffic: a model download timeout (ModelDataDownloadTimeoutInSeconds)"],
        ),
        (
            config(
                DataCaptureConfig={
                    "EnableCapture": True,
                    "InitialSamplingPercentage": 10,
                    "DestinationS3Uri": "s3://b/c",
                    "CaptureOptions": [{"CaptureMode": "Input"}],
                    "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
                }
            ),
            [
                "data capture of Input only (a spec captures requests and responses)",
                "data capture content types (DataCaptureConfig.CaptureContentTypeHeader)",
            ],
        ),
        (config(SomethingNew={"x": 1}), ["SomethingNew"]),
    ],
    ids=[
        "plain",
        "defaults",
        "two-variants",
        "shadow",
        "two-shadows",
        "shadow-beside-two",
        "serverless-beside-another",
        "serverless-shadow-async",
        "all-weights-zero",
        "each-variant-checked",
        "components",
        "async-kms",
        "variant-extra",
        "capture",
        "unknown",
    ],
)
def test_config_shapes(data: dict[str, Any], expected: list[str]) -> None:
    assert config_shape(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (model(EnableNetworkIsolation=True, DeploymentRecommendation={"Status": "COMPLETED"}), []),
        (
            model(
                {
                    **CONTAINER,
                    "Mode": "SingleModel",
                    "ImageConfig": {"RepositoryAccessMode": "Platform"},
                    "ModelDataSource": {
                        "S3DataSource": {
                            "S3Uri": ARCHIVE,
                            "S3DataType": "S3Object",
                            "CompressionType": "Gzip",
                        }
                    },
                }
            ),
            [],
        ),
        (
            {"ModelName": "m", "Containers": [CONTAINER, {**CONTAINER, "ContainerHostname": "b"}]},
            [f"2 containers (an inference pipeline: {SKLEARN}, b)"],
        ),
        (model({**CONTAINER, "Mode": "MultiModel"}), ["multi-model mode (Mode MultiModel)"]),
        (
            model(
                {
                    "Image": SKLEARN,
                    "ModelDataSource": {
                        "S3DataSource": {
                            "S3Uri": "s3://b/prefix/",
                            "S3DataType": "S3Prefix",
                            "CompressionType": "None",
                        }
                    },
                }
            ),
            [
                "model data that is not one model.tar.gz (ModelDataSource: an S3 prefix, "
                "uncompressed data, or an access config)"
            ],
        ),
        (
            model({"Image": SKLEARN, "ImageConfig": {"RepositoryAccessMode": "Vpc"}}),
            [
                "no model data (the image holds the model; a spec's model.artifacts names it)",
                "an image from a private registry (ImageConfig)",
            ],
        ),
        (
            model({**CONTAINER, "ModelPackageName": "pkg"}),
            [
                "a model package named pkg (ModelPackageName; a spec's package: is a version's "
                "ARN, or a group whose latest Approved version it deploys)",
                "a model package with container settings of its own beside it (Image, "
                "ModelDataUrl)",
            ],
        ),
        (
            # A registry version alone is `package: <ARN>`.
            model(
                {
                    "ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:"
                    "model-package/churn/3",
                    "Environment": {"A": "1"},
                }
            ),
            [],
        ),
    ],
    ids=[
        "plain",
        "defaults",
        "pipeline",
        "multi-model",
        "uncompressed",
        "private-image",
        "package",
        "package-version",
    ],
)
def test_model_shapes(data: dict[str, Any], expected: list[str]) -> None:
    assert model_shape(data) == expected


def _policy(name: str, kind: str = "TargetTrackingScaling", **tracking: Any) -> dict[str, Any]:
    metric = {"PredefinedMetricSpecification": {"PredefinedMetricType": tracking.pop("metric")}}
    if kind != "TargetTrackingScaling":
        return {"PolicyName": name, "PolicyType": kind}
    return {
        "PolicyName": name,
        "PolicyType": kind,
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0, **metric, **tracking},
    }


INVOCATIONS = "SageMakerVariantInvocationsPerInstance"
TARGET = {"ResourceId": "endpoint/e/variant/AllTraffic", "MinCapacity": 1, "MaxCapacity": 4}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, []),
        ({"ScalableTargets": [TARGET], "ScalingPolicies": [_policy("p", metric=INVOCATIONS)]}, []),
        (
            {"ScalableTargets": [TARGET], "ScalingPolicies": []},
            [
                "autoscaling without a target-tracking policy on invocations per instance (a "
                "spec's autoscaling is one)"
            ],
        ),
        (
            {
                "ScalableTargets": [{**TARGET, "MinCapacity": 0}],
                "ScalingPolicies": [
                    _policy("p", metric=INVOCATIONS, DisableScaleIn=True),
                    _policy("cpu", metric="SageMakerVariantCPUUtilization"),
                    _policy("steps", "StepScaling", metric=None),
                ],
            },
            [
                "autoscaling down to 0 instances (a spec's autoscaling.min is at least 1)",
                "policy p never scales in (DisableScaleIn)",
                "autoscaling policies a spec cannot express: cpu (TargetTrackingScaling on "
                "SageMakerVariantCPUUtilization), steps (StepScaling)",
            ],
        ),
    ],
    ids=["none", "one-policy", "no-policy", "several"],
)
def test_scaling_shapes(data: dict[str, Any] | None, expected: list[str]) -> None:
    assert scaling_shape(data) == expected


def test_unexpressed_says_which_resource_holds_what() -> None:
    found = unexpressed(config(KmsKeyId="k"), model({**CONTAINER, "Mode": "MultiModel"}))
    assert found == [
        "config: a KMS key for the instances' storage volumes (KmsKeyId)",
        "model: multi-model mode (Mode MultiModel)",
    ]


# --- YAML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "s3://bucket/key with space/model.tar.gz",
        "arn:aws:iam::123456789012:role/x",
        "yes",
        "No",
        "null",
        "010",
        "1.2-1",
        "2.10",
        "",
        " leading space",
        "trailing:",
        "a: b",
        "x #y",
        'quote " and \\ backslash',
        "tab\tnew\nline",
        "ünïcödé ✓ 😀",
        "\u2028line separator",
        "- dash",
        "@at",
        "*star",
        "&amp",
        "!bang",
        "%percent",
        "[x]",
        "{x: 1}",
        "~",
    ],
)
def test_scalars_read_back_as_the_same_string(value: str) -> None:
    line = f"key: {_scalar(value)}\n"
    assert yaml.safe_load(line) == {"key": value}
    assert parse_yaml(line, "x.yaml").data == {"key": value}


# --- import_endpoint on moto -----------------------------------------------------------------


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gateway]:
    isolate_aws(monkeypatch, tmp_path, REGION)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="models-bucket")
        yield Gateway(boto3.Session(region_name=REGION))


def sagemaker() -> Any:
    return boto3.client("sagemaker", region_name=REGION)


def hand_made(
    name: str = "iris",
    *,
    environment: dict[str, str] | None = None,
    image: str = SKLEARN,
    variant: dict[str, Any] | None = None,
    config_extra: dict[str, Any] | None = None,
    model_extra: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """An endpoint made with boto3, as the SDK makes one."""
    sm = sagemaker()
    env = (
        {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_REGION": REGION,
        }
        if environment is None
        else environment
    )
    sm.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": image, "ModelDataUrl": ARCHIVE, "Environment": env},
        **(model_extra or {}),
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                **(variant or {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}),
            }
        ],
        **(config_extra or {}),
    )
    given = {"team": "ml"} if tags is None else tags
    sm.create_endpoint(
        EndpointName=name,
        EndpointConfigName=f"{name}-config",
        Tags=[{"Key": k, "Value": v} for k, v in given.items()],
    )


def spec_data(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_an_sdk_model_is_imported_with_its_environment_mapped(gateway: Gateway) -> None:
    hand_made(tags={"team": "ml", "aws:cloudformation:stack-name": "s", "deployspec:x": "y"})
    imported = import_endpoint(gateway, "iris")
    data = spec_data(imported.text)
    assert data == {
        "name": "iris",
        "region": REGION,
        "role": ROLE,
        "tags": {"team": "ml"},  # neither AWS's own nor deployspec's
        "model": {
            "framework": "sklearn",
            "version": "1.2-1",
            "artifacts": ARCHIVE,
            "env": {
                # SAGEMAKER_REGION is the region deployspec sets by itself: not written.
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
            },
        },
        "serverless": {"memory_mb": 2048, "max_concurrency": 5},
    }
    assert imported.in_place
    assert (imported.config_name, imported.model_name) == ("iris-config", "iris-model")
    header = imported.text.split("\nname:")[0]
    assert header.startswith("# Written by `deployspec import iris` on ")
    assert all(line.startswith("#") for line in header.splitlines())
    assert "endpoint config iris-config, model iris-model" in " ".join(header.split())
    [code] = [n for n in imported.notes if "inference script" in n]
    assert f"is in the source archive {SOURCE}" in code


def test_code_inside_the_archive_and_no_region_are_said(gateway: Gateway) -> None:
    hand_made(environment={"SAGEMAKER_PROGRAM": "serve.py", "HF_TASK": "text-classification"})
    imported = import_endpoint(gateway, "iris")
    env = spec_data(imported.text)["model"]["env"]
    assert env == {"HF_TASK": "text-classification", "SAGEMAKER_PROGRAM": "serve.py"}
    notes = " ".join(imported.notes)
    assert f"the inference script serve.py is in code/ of {ARCHIVE}" in notes
    # deployspec always sets SAGEMAKER_REGION: this model cannot be adopted in place.
    assert "has no SAGEMAKER_REGION" in notes
    assert not imported.in_place
    assert "differ from the live ones in model.environment" in notes
    assert "creates deployspec's own model and config" in imported.text


def test_secret_looking_values_become_ssm_references_never_written(gateway: Gateway) -> None:
    secrets = {"API_TOKEN": "not-much-of-a-token", "DB": "postgres://app:hunter2@db:5432/x"}
    hand_made(
        environment={
            "SAGEMAKER_REGION": REGION,
            "SAGEMAKER_PROGRAM": "inference.py",
            "LOG_LEVEL": "info",
            **secrets,
        }
    )
    imported = import_endpoint(gateway, "iris")
    shown = imported.text + " ".join(imported.notes)
    assert "not-much-of-a-token" not in shown and "hunter2" not in shown
    env = spec_data(imported.text)["model"]["env"]
    assert env == {
        "API_TOKEN": {"ssm": "/iris/API_TOKEN"},
        "DB": {"ssm": "/iris/DB"},
        "LOG_LEVEL": "info",
        "SAGEMAKER_PROGRAM": "inference.py",
    }
    assert "  API_TOKEN: {ssm: /iris/API_TOKEN}  # TODO: create it\n" in imported.text
    assert any("SSM parameter /iris/DB, which you must create" in n for n in imported.notes)
    # With the parameters holding the live values, the model is the live one.
    assert imported.in_place


def test_an_image_of_the_users_own_is_custom(gateway: Gateway) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/server:1.0"
    hand_made(image=image, environment={"SAGEMAKER_REGION": REGION})
    imported = import_endpoint(gateway, "iris")
    assert spec_data(imported.text)["model"] == {
        "framework": "custom",
        "image": image,
        "artifacts": ARCHIVE,
    }
    assert imported.in_place
    assert any("written as framework: custom" in n for n in imported.notes)


def test_a_scikit_learn_model_naming_no_script_is_custom(gateway: Gateway) -> None:
    hand_made(environment={"SAGEMAKER_REGION": REGION})
    imported = import_endpoint(gateway, "iris")
    section = spec_data(imported.text)["model"]
    assert (section["framework"], section["image"]) == ("custom", SKLEARN)
    assert any("needs an inference script, and the model names none" in n for n in imported.notes)
    assert imported.in_place


def test_awkward_values_survive_yaml_and_templating(gateway: Gateway) -> None:
    env = {
        "SAGEMAKER_REGION": REGION,
        "SAGEMAKER_PROGRAM": "inference.py",
        "GREETING": 'say "{{ hi }}" {% if %} {# no #}',
        "YES": "yes",
        "VERSION": "2.10",
        "PATH_LIKE": "a: b # c",
    }
    hand_made(environment=env, tags={"owner": "team a", "cost-center": "0042"})
    imported = import_endpoint(gateway, "iris")
    # import_endpoint loaded the spec as validate does (templates rendered) and built it back:
    # equal to the live model means every value came back intact.
    assert imported.in_place
    assert "{% raw %}" in imported.text


def test_a_realtime_endpoint_with_capture_and_volume(gateway: Gateway) -> None:
    hand_made(
        environment={"SAGEMAKER_REGION": REGION, "SAGEMAKER_PROGRAM": "inference.py"},
        variant={
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 3,
            "VolumeSizeInGB": 30,
            "InitialVariantWeight": 1.0,
        },
        config_extra={
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": "s3://models-bucket/capture",
                "CaptureOptions": [{"CaptureMode": "Output"}, {"CaptureMode": "Input"}],
            }
        },
    )
    imported = import_endpoint(gateway, "iris")
    data = spec_data(imported.text)
    assert data["realtime"] == {
        "instance_type": "ml.m5.large",
        "instance_count": 3,
        "volume_size_gb": 30,
    }
    assert data["data_capture"] == {
        "destination": "s3://models-bucket/capture",
        "sampling_percent": 100,
    }
    assert imported.in_place


def test_another_variant_name_and_weight_are_said(gateway: Gateway) -> None:
    sm = sagemaker()
    hand_made(environment={"SAGEMAKER_REGION": REGION, "SAGEMAKER_PROGRAM": "inference.py"})
    sm.create_endpoint_config(
        EndpointConfigName="other",
        ProductionVariants=[
            {
                "VariantName": "variant-1",
                "ModelName": "iris-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 2.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName="other", EndpointConfigName="other")
    imported = import_endpoint(gateway, "other")
    notes = " ".join(imported.notes)
    assert "the endpoint's variant is named variant-1; a spec's is always AllTraffic" in notes
    assert "variant variant-1 has weight 2.0" in notes
    assert "differ from the live ones in config.variant" in notes
    assert not imported.in_place


def test_shapes_a_spec_cannot_express_are_refused_all_named(gateway: Gateway) -> None:
    hand_made(
        environment={"SAGEMAKER_REGION": REGION},
        variant={"InstanceType": "ml.m5.large", "InitialInstanceCount": 1},
        config_extra={"KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k"},
        model_extra={"VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}},
    )
    with pytest.raises(UnsupportedShapeError) as raised:
        import_endpoint(gateway, "iris")
    message = str(raised.value)
    assert message.startswith("endpoint iris cannot be imported: it has a KMS key")
    assert "VPC" not in message  # a spec says vpc:
    assert "one model, in one container" in str(raised.value.hint)


def test_an_asynchronous_endpoint_is_imported_with_its_async_block(gateway: Gateway) -> None:
    hand_made(
        variant={"InstanceType": "ml.m5.large", "InitialInstanceCount": 1},
        config_extra={
            "AsyncInferenceConfig": {
                "OutputConfig": {
                    "S3OutputPath": "s3://models-bucket/out/",
                    "NotificationConfig": {
                        "SuccessTopic": "arn:aws:sns:us-east-1:123456789012:done"
                    },
                },
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 3},
            }
        },
    )
    imported = import_endpoint(gateway, "iris")
    assert spec_data(imported.text)["async"] == {
        "output": "s3://models-bucket/out/",
        "success_topic": "arn:aws:sns:us-east-1:123456789012:done",
        "max_concurrent_invocations_per_instance": 3,
    }
    assert imported.in_place


def test_a_missing_endpoint_and_another_specs_endpoint(gateway: Gateway) -> None:
    with pytest.raises(Exception, match="endpoint 'nowhere' does not exist in us-east-1"):
        import_endpoint(gateway, "nowhere")
    hand_made(tags={**ownership_tags("other")})
    with pytest.raises(Exception, match="managed by deployspec for spec 'other'"):
        import_endpoint(gateway, "iris")


def test_the_gateway_reads_only(gateway: Gateway) -> None:
    hand_made()
    gateway.calls.clear()
    import_endpoint(gateway, "iris")
    assert gateway.calls and all(not c.mutating for c in gateway.calls), gateway.calls


# --- endpoints of several variants: variants: and shadow: ----------------------------------------

SPLIT_ENV = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_REGION": REGION}


def realtime_variant(name: str, model: str, weight: float, count: int = 1) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
        "InitialVariantWeight": weight,
    }


def split_endpoint(
    variants: list[dict[str, Any]],
    models: dict[str, dict[str, str]] | None = None,
    roles: dict[str, str] | None = None,
) -> None:
    """Endpoint split on config split-config, its models (by name: their environment) made
    with boto3, each its own archive."""
    sm = sagemaker()
    for model, environment in (models or {"blue": SPLIT_ENV, "green": SPLIT_ENV}).items():
        sm.create_model(
            ModelName=model,
            ExecutionRoleArn=(roles or {}).get(model, ROLE),
            PrimaryContainer={
                "Image": SKLEARN,
                "ModelDataUrl": f"s3://models-bucket/{model}/model.tar.gz",
                "Environment": environment,
            },
        )
    sm.create_endpoint_config(EndpointConfigName="split-config", ProductionVariants=variants)
    sm.create_endpoint(
        EndpointName="split",
        EndpointConfigName="split-config",
        Tags=[{"Key": "team", "Value": "ml"}],
    )


def autoscale(variant: str, low: int, high: int, target: float) -> None:
    scaling = boto3.client("application-autoscaling", region_name=REGION)
    scope: dict[str, Any] = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/split/variant/{variant}",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    scaling.register_scalable_target(**scope, MinCapacity=low, MaxCapacity=high)
    scaling.put_scaling_policy(
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
        **scope,
    )


def sklearn_model(model: str, **env: Any) -> dict[str, Any]:
    return {
        "framework": "sklearn",
        "version": "1.2-1",
        "artifacts": f"s3://models-bucket/{model}/model.tar.gz",
        "env": {"SAGEMAKER_PROGRAM": "inference.py", **env},
    }


def test_two_variants_are_imported_as_variants_each_with_its_model(gateway: Gateway) -> None:
    split_endpoint(
        [realtime_variant("blue", "blue", 0.9, count=2), realtime_variant("green", "green", 0.1)]
    )
    autoscale("blue", 1, 4, 70.0)
    imported = import_endpoint(gateway, "split")
    assert spec_data(imported.text) == {
        "name": "split",
        "region": REGION,
        "role": ROLE,
        "tags": {"team": "ml"},
        "variants": [
            {
                "name": "blue",
                "weight": 0.9,
                "model": sklearn_model("blue"),
                "realtime": {
                    "instance_type": "ml.m5.large",
                    "instance_count": 2,
                    "autoscaling": {"min": 1, "max": 4, "target_invocations_per_instance": 70},
                },
            },
            {
                "name": "green",
                "weight": 0.1,
                "model": sklearn_model("green"),
                "realtime": {"instance_type": "ml.m5.large", "instance_count": 1},
            },
        ],
    }
    assert "  - name: blue\n    weight: 0.9\n    model:\n      framework: sklearn\n" in (
        imported.text
    )
    # Built back, the spec holds exactly what runs; still, such an endpoint is not adopted in
    # place: deployspec makes its own models and config of that content.
    assert not imported.in_place and not imported.managed
    notes = " ".join(imported.notes)
    assert "differ from the live ones" not in notes
    assert "an endpoint of several variants is never adopted in place" in notes
    assert (imported.config_name, imported.model_names) == ("split-config", ("blue", "green"))
    assert "endpoint config split-config, models blue, green." in " ".join(imported.text.split())
    assert "creates deployspec's own models and config" in " ".join(imported.text.split())

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "deployment.yaml"
        path.write_text(imported.text)
        wanted = build_desired(load_spec(path), region=REGION, role=ROLE)
    assert [(v.variant_name, v.initial_weight) for v in wanted.config.variants] == [
        ("blue", 0.9),
        ("green", 0.1),
    ]
    plan = make_plan(wanted, read_actual(gateway, wanted), adopt=True)
    created = sorted((c.kind.value, c.name) for c in plan.changes if c.action is CREATE)
    assert created == sorted(
        [("model", m.name) for m in wanted.models] + [("endpoint_config", wanted.config.name)]
    )
    assert plan.target_config == wanted.config.name


def test_variants_serving_one_model_share_the_top_level_model(gateway: Gateway) -> None:
    split_endpoint(
        [realtime_variant("a", "shared", 1.0), realtime_variant("b", "shared", 3.0)],
        models={"shared": SPLIT_ENV},
    )
    imported = import_endpoint(gateway, "split")
    data = spec_data(imported.text)
    assert data["model"] == sklearn_model("shared")
    assert data["variants"] == [
        {
            "name": "a",
            "weight": 1,
            "realtime": {"instance_type": "ml.m5.large", "instance_count": 1},
        },
        {
            "name": "b",
            "weight": 3,
            "realtime": {"instance_type": "ml.m5.large", "instance_count": 1},
        },
    ]
    assert imported.model_names == ("shared",) and not imported.in_place
    # The model's notes are said once, not once per variant serving it.
    assert len(imported.notes) == len(set(imported.notes))
    assert len([n for n in imported.notes if "the inference script" in n]) == 1


def test_a_secret_in_a_variants_own_model_is_read_from_a_parameter_of_that_variant(
    gateway: Gateway,
) -> None:
    split_endpoint(
        [realtime_variant("blue", "blue", 1.0), realtime_variant("green", "green", 1.0)],
        models={"blue": SPLIT_ENV, "green": {**SPLIT_ENV, "API_TOKEN": "not-much-of-a-token"}},
    )
    imported = import_endpoint(gateway, "split")
    assert "not-much-of-a-token" not in imported.text + " ".join(imported.notes)
    green = spec_data(imported.text)["variants"][1]["model"]
    assert green["env"]["API_TOKEN"] == {"ssm": "/split/green/API_TOKEN"}
    assert any(n.startswith("model green: env API_TOKEN looks secret") for n in imported.notes), (
        imported.notes
    )
    # Built back with the parameter holding the live value: the model is the live one.
    assert "differ from the live ones" not in " ".join(imported.notes)


class WithShadow:
    """The moto gateway, the endpoint config reported with a shadow variant (moto keeps
    none; the sandbox does, tests/test_import_e2e.py)."""

    def __init__(self, gateway: Gateway, shadow: dict[str, Any]) -> None:
        self.gateway, self.shadow = gateway, shadow

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)

    def describe_whole(self, kind: str, name: str) -> dict[str, Any] | None:
        data = self.gateway.describe_whole(kind, name)
        if kind == "endpoint_config" and data is not None:
            data = {**data, "ShadowProductionVariants": [self.shadow]}
        return data

    def describe_endpoint_config(self, name: str) -> Any:
        config = self.gateway.describe_endpoint_config(name)
        shadow = Variant(
            model_name=self.shadow["ModelName"],
            variant_name=self.shadow["VariantName"],
            instance_type=self.shadow["InstanceType"],
            initial_instance_count=self.shadow["InitialInstanceCount"],
            initial_weight=self.shadow["InitialVariantWeight"],
        )
        return replace(config, shadow_variants=(shadow,)) if config else None


def test_a_shadow_variant_is_imported_as_shadow(gateway: Gateway) -> None:
    split_endpoint([realtime_variant("AllTraffic", "blue", 1.0)])
    with_shadow = WithShadow(gateway, realtime_variant("candidate", "green", 1.0))
    imported = import_endpoint(cast(Gateway, with_shadow), "split")
    data = spec_data(imported.text)
    assert "model" not in data
    assert data["variants"] == [
        {
            "name": "AllTraffic",
            "weight": 1,
            "model": sklearn_model("blue"),
            "realtime": {"instance_type": "ml.m5.large", "instance_count": 1},
        }
    ]
    assert data["shadow"] == {
        "name": "candidate",
        "model": sklearn_model("green"),
        "realtime": {"instance_type": "ml.m5.large", "instance_count": 1},
    }
    assert imported.model_names == ("blue", "green")
    assert "differ from the live ones" not in " ".join(imported.notes)


def test_a_shadow_of_another_weight_is_said(gateway: Gateway) -> None:
    split_endpoint([realtime_variant("AllTraffic", "blue", 1.0)])
    with_shadow = WithShadow(gateway, realtime_variant("candidate", "green", 0.5))
    imported = import_endpoint(cast(Gateway, with_shadow), "split")
    notes = " ".join(imported.notes)
    assert "shadow variant candidate has weight 0.5, its production variant AllTraffic 1.0" in (
        notes
    )
    assert "differ from the live ones in variants.candidate.initial_weight" in notes


def test_variants_a_spec_cannot_express_are_refused_all_named(gateway: Gateway) -> None:
    split_endpoint(
        [
            realtime_variant("blue", "blue", 1.0),
            {**realtime_variant("green", "green", 1.0), "ModelDataDownloadTimeoutInSeconds": 600},
        ],
        roles={"green": "arn:aws:iam::123456789012:role/Other"},
    )
    with pytest.raises(UnsupportedShapeError) as raised:
        import_endpoint(gateway, "split")
    message = str(raised.value)
    assert message.startswith("endpoint split cannot be imported: it has variant green: a model")
    assert "models of 2 execution roles" in message
    assert "up to 10 real-time ones, or one and a shadow" in str(raised.value.hint)


def test_deployspecs_own_endpoint_of_two_variants_imports_back_to_its_config(
    gateway: Gateway, tmp_path: Path
) -> None:
    """A lost spec recovered: the same content, so the same names, and nothing to change."""
    text = f"""\
name: split
region: {REGION}
role: {ROLE}
variants:
  - name: blue
    weight: 90
    model: {{framework: sklearn, version: "1.2-1", artifacts: "s3://models-bucket/blue/model.tar.gz",
      env: {{SAGEMAKER_PROGRAM: inference.py}}}}
    realtime:
      instance_type: ml.m5.large
      autoscaling: {{min: 1, max: 3, target_invocations_per_instance: 50}}
  - name: green
    weight: 10
    model: {{framework: sklearn, version: "1.2-1", artifacts: "s3://models-bucket/green/model.tar.gz",
      env: {{SAGEMAKER_PROGRAM: inference.py}}}}
    realtime: {{instance_type: ml.m5.large}}
"""
    wanted = desired_of(tmp_path, text)
    clock = Clock()
    plan = make_plan(wanted, read_actual(gateway, wanted))
    Applier(gateway, sleep=clock.sleep, clock=clock.time).apply(plan)

    imported = import_endpoint(gateway, "split")
    assert imported.managed and imported.in_place
    assert imported.config_name == wanted.config.name
    assert "its models and config are the endpoint's own" in " ".join(imported.text.split())
    again = desired_of(tmp_path, imported.text)
    assert again.config.name == wanted.config.name
    assert [m.name for m in again.models] == [m.name for m in wanted.models]
    assert not make_plan(again, read_actual(gateway, again)).has_changes


# --- the sklearn rule, for an s3:// archive holding its script -----------------------------------


def test_sklearn_without_entry_point_needs_the_script_named_in_env(
    write_spec: Any, project: Path
) -> None:
    from deployspec.errors import SpecError

    def problems(text: str) -> str:
        with pytest.raises(SpecError) as raised:
            load_spec(write_spec(text))
        return " ".join(d.message for d in raised.value.diagnostics)

    s3 = VALID_SKLEARN.replace("./model", ARCHIVE).replace("  entry_point: inference.py\n", "")
    assert "sklearn needs model.entry_point" in problems(s3)
    named = s3.replace("serverless:", "  env: {SAGEMAKER_PROGRAM: inference.py}\nserverless:")
    assert load_spec(write_spec(named)).spec.models["model"].env == {
        "SAGEMAKER_PROGRAM": "inference.py"
    }
    # A local folder is packaged by deployspec: its script is entry_point, always.
    assert "sklearn needs model.entry_point" in problems(named.replace(ARCHIVE, "./model"))


# --- --out ---------------------------------------------------------------------------------------


def test_out_never_overwrites_nor_follows_links(tmp_path: Path) -> None:
    existing = tmp_path / "deployment.yaml"
    existing.write_text("mine\n")
    refused = run_cli("import", "iris", "--out", str(existing))
    assert refused.returncode == 1 and "exists: deployspec does not overwrite it" in refused.stderr
    assert "--force" in refused.stderr
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")
    refused = run_cli("import", "iris", "--out", str(link), "--force")
    assert refused.returncode == 1 and "is a symbolic link" in refused.stderr
    assert not (tmp_path / "elsewhere.yaml").exists()
    refused = run_cli("import", "iris", "--out", str(tmp_path / "no" / "x.yaml"))
    assert refused.returncode == 1 and "does not exist" in refused.stderr
    assert existing.read_text() == "mine\n"


# --- the planner: adoption in place, and with differences ---------------------------------------

HAND_MODEL = replace(D.models[0], name="hand-model", arn="arn:hand-model")
D_MODEL = D.models[0]
D_ARTIFACTS = {D.artifacts[0].s3_uri: "present"}
HAND_CONFIG = replace(
    D.config,
    name="hand-config",
    variants=(replace(D.config.variants[0], model_name="hand-model"),),
    arn="arn:hand-config",
)
RECORD = f"hand-config {D.config.name}"


def candidate(**kw: Any) -> Actual:
    """An endpoint made by hand on HAND_CONFIG, its content the desired one."""
    options: dict[str, Any] = {
        "endpoint": live_endpoint("hand-config"),
        "endpoint_tags": {"team": "ml"},
        "current_config": HAND_CONFIG,
        "current_models": (HAND_MODEL,),
        "desired_config_exists": True,
        "existing_models": frozenset({D_MODEL.name}),
        "stand_in": "hand-config",
        "owned": (),
        **kw,
    }
    return Actual(**options)


def adopted(**kw: Any) -> Actual:
    """The endpoint once adopted in place: state reads it as serving the desired config."""
    options: dict[str, Any] = {
        "endpoint": live_endpoint("hand-config"),
        "endpoint_tags": {**TAGS, TAG_ADOPTED: RECORD},
        "desired_config_exists": True,
        "existing_models": frozenset({D_MODEL.name}),
        "stand_in": "hand-config",
        **kw,
    }
    return Actual(**options)


M, C, E = Kind.MODEL, Kind.ENDPOINT_CONFIG, Kind.ENDPOINT
CREATE, UPDATE, REPLACE = Action.CREATE, Action.UPDATE, Action.REPLACE
COPIED = "holds this content but is not deployspec's: the same content is created under its "

ROWS: list[tuple[str, dict[str, Any], Actual, bool, list[tuple[Kind, str, Action, str]], str]] = [
    # (name, desired tweaks, actual, adopt, [(kind, name, action, reason fragment)], target)
    (
        "adopt in place: only the endpoint's tags",
        {},
        candidate(),
        True,
        [(E, "iris", UPDATE, "adopted in place: it keeps serving hand-config")],
        "hand-config",
    ),
    ("adopted and unchanged: nothing", {}, adopted(), False, [], "hand-config"),
    (
        "adopted, user tags changed: the endpoint's only",
        {"tags": {"team": "vision", **ownership_tags("iris")}},
        adopted(),
        False,
        [(E, "iris", UPDATE, "tags changed")],
        "hand-config",
    ),
    (
        "adopted, then the spec changes: deployspec's own, and an update",
        {},
        adopted(
            stand_in=None,
            current_config=replace(
                HAND_CONFIG,
                variants=(replace(HAND_CONFIG.variants[0], serverless=ServerlessConfig(1024, 5)),),
            ),
            current_models=(HAND_MODEL,),
            desired_config_exists=False,
            existing_models=frozenset(),
            artifacts=D_ARTIFACTS,
            owned=(),
        ),
        False,
        [
            (M, D_MODEL.name, CREATE, f"model hand-model {COPIED}"),
            (C, D.config.name, CREATE, "variants.AllTraffic.serverless.memory_mb: 1024 → 2048"),
            (E, "iris", UPDATE, "new endpoint config: "),
        ],
        D.config.name,
    ),
    (
        "adopt with differences: new resources, the differing fields said",
        {},
        candidate(
            stand_in=None,
            current_models=(replace(HAND_MODEL, image="other:1"),),
            desired_config_exists=False,
            existing_models=frozenset(),
            artifacts=D_ARTIFACTS,
        ),
        True,
        [
            (M, D_MODEL.name, CREATE, f"image: other:1 → {D_MODEL.image[:40]}"),
            (
                C,
                D.config.name,
                CREATE,
                "variants.AllTraffic.model_name: hand-model → iris-aaaaaaaaaa",
            ),
            (E, "iris", UPDATE, "new endpoint config: "),
        ],
        D.config.name,
    ),
    (
        "adopt what holds more than a spec says: new resources, what said",
        {},
        candidate(
            stand_in=None,
            not_adoptable=("config: a KMS key for the instances' storage volumes (KmsKeyId)",),
            desired_config_exists=False,
            existing_models=frozenset(),
            artifacts=D_ARTIFACTS,
        ),
        True,
        [
            (M, D_MODEL.name, CREATE, "and holds config: a KMS key"),
            (
                C,
                D.config.name,
                CREATE,
                "variants.AllTraffic.model_name: hand-model → iris-aaaaaaaaaa",
            ),
            (E, "iris", UPDATE, "new endpoint config: "),
        ],
        D.config.name,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_adoption_plans(row: tuple[Any, ...]) -> None:
    _, tweaks, actual, adopt, expected, target = row
    plan = make_plan(desired(**tweaks), actual, adopt=adopt)
    shape = [(c.kind, c.name, c.action) for c in plan.changes]
    assert shape == [(k, n, a) for k, n, a, _ in expected]
    for change, (*_, fragment) in zip(plan.changes, expected, strict=True):
        assert any(fragment in reason for reason in change.reasons), change.reasons
    assert plan.target_config == target
    assert Plan.from_json(plan.to_json()) == plan
    endpoint_changes = [c for c in plan.changes if c.kind is E]
    for change in endpoint_changes:
        after = change.after or {}
        assert after["config_name"] == target
        tags = after["tags"]
        # The record stays while the endpoint serves the stand-in, and goes when it leaves it.
        assert (tags.get(TAG_ADOPTED) == RECORD) is (target == "hand-config")
        assert tags[TAG_MANAGED_BY] == "deployspec" and tags[TAG_SPEC] == "iris"
    # The stand-in and its model are never written.
    assert not [c for c in plan.changes if c.name in ("hand-config", "hand-model")]


def test_the_adoption_notes_say_what_becomes_of_the_endpoints_config() -> None:
    plan = make_plan(D, candidate(), adopt=True)
    assert "hold what the spec asks for: they stay, standing for" in plan.notes[1]
    different = candidate(
        stand_in=None,
        current_models=(replace(HAND_MODEL, image="other:1"),),
        desired_config_exists=False,
        existing_models=frozenset(),
        artifacts=D_ARTIFACTS,
    )
    plan = make_plan(D, different, adopt=True)
    assert "differ from the spec in model.image" in plan.notes[1]
    assert "those two are left as they are" in plan.notes[1]


def test_a_failed_adopted_endpoint_is_replaced_on_deployspecs_own_config() -> None:
    # state gives no stand-in for a broken endpoint: it needs the desired config itself.
    failed = live_endpoint("hand-config", status="Failed", failure_reason="oom")
    actual = Actual(
        endpoint=failed,
        endpoint_tags={**TAGS, TAG_ADOPTED: RECORD},
        current_config=HAND_CONFIG,
        current_models=(HAND_MODEL,),
        artifacts=D_ARTIFACTS,
        owned=(),
    )
    plan = make_plan(D, actual)
    replaced = plan.changes[-1]
    assert (replaced.kind, replaced.action) == (E, REPLACE)
    after = replaced.after or {}
    assert after["config_name"] == D.config.name
    assert TAG_ADOPTED not in after["tags"] and after["tags"][TAG_PRUNED]


def test_the_recorded_stand_in_holds_only_while_it_is_true() -> None:
    tags = {**ownership_tags("iris"), TAG_ADOPTED: RECORD}
    assert recorded_stand_in(live_endpoint("hand-config"), tags, D) == "hand-config"
    # Another spec content, another config served, a broken or deleted endpoint, not ours.
    assert (
        recorded_stand_in(
            live_endpoint("hand-config"),
            tags,
            replace(D, config=replace(D.config, name="iris-dddddddddd")),
        )
        is None
    )
    assert recorded_stand_in(live_endpoint("iris-0000000000"), tags, D) is None
    assert recorded_stand_in(live_endpoint("hand-config", status="Failed"), tags, D) is None
    assert recorded_stand_in(live_endpoint("hand-config", status="Deleting"), tags, D) is None
    assert recorded_stand_in(live_endpoint("hand-config"), {TAG_ADOPTED: RECORD}, D) is None
    assert recorded_stand_in(None, tags, D) is None


def test_adoption_differences_ignore_names_but_nothing_else() -> None:
    assert adoption_differences(HAND_CONFIG, HAND_MODEL, D) == []
    renamed = replace(
        HAND_CONFIG, variants=(replace(HAND_CONFIG.variants[0], variant_name="primary"),)
    )
    env = replace(HAND_MODEL, environment={**HAND_MODEL.environment, "X": "1"})
    assert adoption_differences(renamed, env, D) == ["model.environment", "config.variants"]


# --- the applier's guard ---------------------------------------------------------------------


class HandMade(FakeGateway):
    """The fake gateway, where hand-config is not deployspec's."""

    def list_tags(self, arn: str) -> dict[str, str]:
        return {} if arn == "arn:config/hand-config" else super().list_tags(arn)


def tagging(record: str | None = RECORD) -> Change:
    after_tags = {**OURS, **({TAG_ADOPTED: record} if record else {})}
    return Change(
        Kind.ENDPOINT,
        "iris",
        Action.UPDATE,
        {"config_name": "hand-config", "tags": {"team": "ml"}},
        {"config_name": "hand-config", "tags": after_tags},
    )


def guarded(gateway: FakeGateway, change: Change, *, adopt: bool) -> list[str]:
    plan = Plan(
        spec_name="iris",
        endpoint_name="iris",
        region=REGION,
        account="123456789012",
        changes=(change,),
        fingerprint={},
        target_config="hand-config",
        adopt=adopt,
    )
    clock = Clock()
    Applier(cast(Gateway, gateway), sleep=clock.sleep, clock=clock.time).apply(plan)
    return gateway.log


def test_the_guard_lets_an_adopting_plan_keep_the_endpoints_own_config() -> None:
    gateway = HandMade([endpoint("hand-config")], tags={"team": "ml"})
    log = guarded(gateway, tagging(), adopt=True)
    assert "UpdateEndpoint" not in log and "AddTags" in log


def test_the_guard_lets_an_adopted_endpoint_keep_it() -> None:
    gateway = HandMade([endpoint("hand-config")], tags={**OURS, TAG_ADOPTED: RECORD})
    log = guarded(gateway, tagging(), adopt=False)
    assert "UpdateEndpoint" not in log


@pytest.mark.parametrize(
    ("serving", "tags", "change", "adopt"),
    [
        # Never onto a config deployspec did not make, even recorded as adopted.
        ("iris-a", {"team": "ml"}, tagging(), True),
        ("iris-a", {**OURS, TAG_ADOPTED: RECORD}, tagging(), False),
        # Serving it, but nothing records it as adopted.
        ("hand-config", {"team": "ml"}, tagging(None), True),
        ("hand-config", dict(OURS), tagging(None), False),
        # Only an adopting plan may record it itself.
        ("hand-config", dict(OURS), tagging(), False),
    ],
    ids=["adopt-onto", "adopted-onto", "adopt-unrecorded", "unrecorded", "self-recorded"],
)
def test_the_guard_refuses_any_other_unowned_config(
    serving: str, tags: dict[str, str], change: Change, adopt: bool
) -> None:
    gateway = HandMade([endpoint(serving)], tags=tags)
    with pytest.raises(NotManagedError, match="it uses endpoint_config hand-config"):
        guarded(gateway, change, adopt=adopt)
    assert "UpdateEndpoint" not in gateway.log and "AddTags" not in gateway.log


# --- state on moto: what adoption in place reads --------------------------------------------

SPEC = f"""\
name: iris
region: us-east-1
role: {ROLE}
model:
  framework: sklearn
  version: "1.2-1"
  artifacts: {ARCHIVE}
  env:
    SAGEMAKER_PROGRAM: inference.py
realtime:
  instance_type: ml.m5.large
"""


def desired_of(tmp_path: Path, text: str = SPEC) -> Any:
    path = tmp_path / "deployment.yaml"
    path.write_text(text)
    return build_desired(load_spec(path), region=REGION, role=ROLE)


def realtime_hand_made(**config_extra: Any) -> None:
    hand_made(
        environment={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_REGION": REGION},
        variant={"InstanceType": "ml.m5.large", "InitialInstanceCount": 1},
        config_extra=config_extra,
    )


def test_state_finds_the_stand_in_then_reads_twice(gateway: Gateway, tmp_path: Path) -> None:
    realtime_hand_made()
    wanted = desired_of(tmp_path)
    actual = read_actual(gateway, wanted)
    assert actual.stand_in == "iris-config" and actual.not_adoptable == ()
    assert actual.desired_config_exists and wanted.models[0].name in actual.existing_models

    plan = make_plan(wanted, actual, adopt=True)
    clock = Clock()
    Applier(gateway, sleep=clock.sleep, clock=clock.time).apply(plan)
    sm = sagemaker()
    assert sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"] == "iris-config"
    for arn in ("model/iris-model", "endpoint-config/iris-config"):
        tags = sm.list_tags(ResourceArn=f"arn:aws:sagemaker:{REGION}:123456789012:{arn}")
        assert tags["Tags"] == []

    gateway.calls.clear()
    again = read_actual(gateway, wanted)
    sagemaker_reads = [c.operation for c in gateway.calls if c.service == "sagemaker"]
    assert sagemaker_reads == ["DescribeEndpoint", "ListTags"]
    assert again.stand_in == "iris-config"
    assert not make_plan(wanted, again).has_changes


def test_state_names_what_keeps_a_config_from_standing_in(gateway: Gateway, tmp_path: Path) -> None:
    realtime_hand_made(KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/k")
    actual = read_actual(gateway, desired_of(tmp_path))
    assert actual.stand_in is None
    assert actual.not_adoptable == (
        "config: a KMS key for the instances' storage volumes (KmsKeyId)",
    )
    assert not actual.desired_config_exists


def test_state_never_takes_a_config_for_our_own_endpoint(gateway: Gateway, tmp_path: Path) -> None:
    """Our endpoint moved by hand to a config of the same content is moved back, not adopted."""
    realtime_hand_made()
    sm = sagemaker()
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    sm.add_tags(
        ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in ownership_tags("iris").items()]
    )
    wanted = desired_of(tmp_path)
    actual = read_actual(gateway, wanted)
    assert actual.stand_in is None
    plan = make_plan(wanted, actual)
    [update] = [c for c in plan.changes if c.kind is Kind.ENDPOINT]
    assert flatten(update.after or {})["config_name"] == wanted.config.name
    assert TAG_PREVIOUS in (update.after or {})["tags"]


def test_imported_specs_plan_the_stand_in(gateway: Gateway, tmp_path: Path) -> None:
    """import → the spec → state: the endpoint's config stands in for the spec's."""
    realtime_hand_made()
    imported = import_endpoint(gateway, "iris")
    assert imported.in_place
    path = tmp_path / "deployment.yaml"
    path.write_text(imported.text)
    wanted = build_desired(load_spec(path), region=REGION, role=ROLE)
    actual = read_actual(gateway, wanted)
    assert actual.stand_in == "iris-config"
    plan = make_plan(wanted, actual, adopt=True)
    assert [(c.kind, c.action) for c in plan.changes] == [(Kind.ENDPOINT, Action.UPDATE)]
    assert plan.target_config == "iris-config"
