"""`deployspec import` and adoption in place, without the sandbox: the image tables read
backwards, what a spec cannot express, the environment and secrets, the YAML written, the
planner's and the applier's side of adoption, and state's reads on moto in-process.

The CLI against the sandbox is in tests/test_import_e2e.py.
"""

from __future__ import annotations

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
        (
            config(ProductionVariants=[VARIANT, {**VARIANT, "VariantName": "b"}]),
            ["2 production variants (AllTraffic, b)"],
        ),
        (
            config(ShadowProductionVariants=[{**VARIANT, "VariantName": "shadow"}]),
            ["1 shadow variant (shadow)"],
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
            ["a model package (ModelPackageName)"],
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
    assert load_spec(write_spec(named)).spec.model.env == {"SAGEMAKER_PROGRAM": "inference.py"}
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

HAND_MODEL = replace(D.model, name="hand-model", arn="arn:hand-model")
HAND_CONFIG = replace(
    D.config,
    name="hand-config",
    variant=replace(D.config.variant, model_name="hand-model"),
    arn="arn:hand-config",
)
RECORD = f"hand-config {D.config.name}"


def candidate(**kw: Any) -> Actual:
    """An endpoint made by hand on HAND_CONFIG, its content the desired one."""
    options: dict[str, Any] = {
        "endpoint": live_endpoint("hand-config"),
        "endpoint_tags": {"team": "ml"},
        "current_config": HAND_CONFIG,
        "current_model": HAND_MODEL,
        "desired_config_exists": True,
        "desired_model_exists": True,
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
        "desired_model_exists": True,
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
                variant=replace(HAND_CONFIG.variant, serverless=ServerlessConfig(1024, 5)),
            ),
            current_model=HAND_MODEL,
            desired_config_exists=False,
            desired_model_exists=False,
            artifact_exists=True,
            owned=(),
        ),
        False,
        [
            (M, D.model.name, CREATE, f"model hand-model {COPIED}"),
            (C, D.config.name, CREATE, "variant.serverless.memory_mb: 1024 → 2048"),
            (E, "iris", UPDATE, "new endpoint config: "),
        ],
        D.config.name,
    ),
    (
        "adopt with differences: new resources, the differing fields said",
        {},
        candidate(
            stand_in=None,
            current_model=replace(HAND_MODEL, image="other:1"),
            desired_config_exists=False,
            desired_model_exists=False,
            artifact_exists=True,
        ),
        True,
        [
            (M, D.model.name, CREATE, f"image: other:1 → {D.model.image[:40]}"),
            (C, D.config.name, CREATE, "variant.model_name: hand-model → iris-aaaaaaaaaa"),
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
            desired_model_exists=False,
            artifact_exists=True,
        ),
        True,
        [
            (M, D.model.name, CREATE, "and holds config: a KMS key"),
            (C, D.config.name, CREATE, "variant.model_name: hand-model → iris-aaaaaaaaaa"),
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
        current_model=replace(HAND_MODEL, image="other:1"),
        desired_config_exists=False,
        desired_model_exists=False,
        artifact_exists=True,
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
        current_model=HAND_MODEL,
        artifact_exists=True,
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
    renamed = replace(HAND_CONFIG, variant=replace(HAND_CONFIG.variant, variant_name="primary"))
    env = replace(HAND_MODEL, environment={**HAND_MODEL.environment, "X": "1"})
    assert adoption_differences(renamed, env, D) == ["model.environment", "config.variant"]


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
    assert actual.desired_config_exists and actual.desired_model_exists

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
