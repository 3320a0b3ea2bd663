"""`deployspec import` end to end, the CLI against the sandbox: an endpoint made with plain boto3
as the SageMaker SDK makes one is imported, validates, is adopted in place (only tags added),
then plans no changes at two reads, answers, follows a spec change the normal way, and is
destroyed without touching the model and config its maker left. An endpoint of two variants is
imported into `variants:` and adopted onto deployspec's own models and config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, tar_gz
from tests.test_e2e import EXAMPLES, calls, cli, iris, iris_model, sandbox, sandbox_client, sm

__all__ = ["iris", "iris_model", "sandbox", "sm"]  # fixtures, used by name

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
BUCKET = "sagemaker-us-east-1-123456789012"
# What the SDK's image_uris.retrieve("sklearn", "us-east-1", "1.9-0") gives, on CPU and serverless.
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
STAMP = "2026-11-30-12-00-00-000"


def sdk_model(sandbox: dict[str, Any], sm: Any, iris_model: Path, name: str) -> str:
    """A model as the SDK's SKLearnModel(entry_point="inference.py").deploy() makes it: the
    weights in model.tar.gz, the script in a sourcedir.tar.gz that SAGEMAKER_SUBMIT_DIRECTORY
    names, its container environment, a timestamped name."""
    s3 = sandbox_client(sandbox, "s3")
    s3.create_bucket(Bucket=BUCKET)
    prefix = f"{name}-{STAMP}"
    weights = (iris_model / "model.joblib").read_bytes()
    script = (EXAMPLES / "sklearn-iris" / "inference.py").read_bytes()
    s3.put_object(
        Bucket=BUCKET, Key=f"{prefix}/model.tar.gz", Body=tar_gz({"model.joblib": weights})
    )
    source = f"{prefix}/source/sourcedir.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=source, Body=tar_gz({"inference.py": script}))
    model = f"sagemaker-scikit-learn-{STAMP}"
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{BUCKET}/{prefix}/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/{source}",
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "SAGEMAKER_REGION": "us-east-1",
            },
        },
    )
    return model


def sdk_endpoint(sm: Any, name: str, model: str, variant: dict[str, Any], **config: Any) -> str:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model, **variant}],
        **config,
    )
    sm.create_endpoint(
        EndpointName=name, EndpointConfigName=name, Tags=[{"Key": "team", "Value": "ml"}]
    )
    in_service(sm, name)
    return name


def in_service(sm: Any, name: str) -> None:
    """As the SDK's deploy() does, wait for the endpoint (the sandbox's transitions are short)."""
    for _ in range(100):
        if sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService":
            return
        time.sleep(0.1)
    raise AssertionError(f"endpoint {name} never came InService")


def tags_of(sm: Any, name: str) -> dict[str, str]:
    arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def test_an_sdk_endpoint_is_imported_adopted_in_place_and_left_its_own_resources(
    sandbox: dict[str, Any], sm: Any, iris_model: Path, tmp_path: Path
) -> None:
    model = sdk_model(sandbox, sm, iris_model, "iris-sdk")
    config = f"sagemaker-scikit-learn-{STAMP}"
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    sm.create_endpoint(
        EndpointName="iris-sdk", EndpointConfigName=config, Tags=[{"Key": "team", "Value": "ml"}]
    )
    in_service(sm, "iris-sdk")
    spec = tmp_path / "deployment.yaml"

    imported = cli(sandbox, "import", "iris-sdk", "--out", str(spec))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == ""
    text = spec.read_text()
    assert "framework: sklearn" in text and 'version: "1.9-0"' in text
    assert f"artifacts: s3://{BUCKET}/iris-sdk-{STAMP}/model.tar.gz" in text
    assert "SAGEMAKER_PROGRAM: inference.py" in text
    assert "SAGEMAKER_REGION" not in text.split("\nname:")[1]  # region: says it
    assert "team: ml" in text and "deployspec:" not in text.split("\nname:")[1]
    assert "adopting it only adds deployspec's tags" in imported.stderr
    assert "the inference script inference.py is in the source archive" in imported.stderr
    # Refused again without --force; the same on stdout.
    again = cli(sandbox, "import", "iris-sdk", "--out", str(spec))
    assert again.returncode == 1 and "--force" in again.stderr
    printed = cli(sandbox, "import", "iris-sdk")
    assert printed.returncode == 0
    assert printed.stdout.split("\nname:")[1] == text.split("\nname:")[1]

    validated = run_cli("validate", str(spec))
    assert validated.returncode == 0, validated.stdout + validated.stderr

    sandbox["faults"].clear_calls()
    planned = cli(sandbox, "plan", str(spec), "--adopt", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    document = json.loads(planned.stdout)
    [change] = document["changes"]
    assert (change["address"], change["action"]) == ("endpoint.iris-sdk", "update")
    assert change["after"]["config_name"] == change["before"]["config_name"] == config
    added = {k: v for k, v in change["after"]["tags"].items() if k not in change["before"]["tags"]}
    assert set(added) == {
        "deployspec:managed-by",
        "deployspec:spec",
        "deployspec:spec-digest",
        "deployspec:applied",
        "deployspec:pruned-for",
        "deployspec:adopted-config",
    }
    assert added["deployspec:adopted-config"].startswith(f"{config} iris-sdk-")
    assert document["target_config"] == config
    assert calls(sandbox)[1] == []

    # A saved adoption plan is planned again and applied as saved.
    saved = tmp_path / "plan.json"
    assert cli(sandbox, "plan", str(spec), "--adopt", "--out", str(saved)).returncode == 0
    sandbox["faults"].clear_calls()
    applied = cli(sandbox, "apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    assert "0 added, 1 changed, 0 destroyed" in applied.stdout
    writes = calls(sandbox)[1]
    assert writes and set(writes) == {"AddTags"}, writes
    assert sm.describe_endpoint(EndpointName="iris-sdk")["EndpointConfigName"] == config

    sandbox["faults"].clear_calls()
    unchanged = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout.endswith("matches the spec.\n")
    reads, writes = calls(sandbox)
    # The two reads of an unchanged spec, plus what every spec with an s3:// archive costs:
    # whose bucket it is (HeadBucket, against the caller's account).
    assert writes == [], writes
    assert sorted(reads) == [
        "DescribeEndpoint",
        "GetCallerIdentity",
        "HeadBucket",
        "ListTags",
    ], reads
    status = cli(sandbox, "status", str(spec))
    assert "matches spec:   yes" in status.stdout, status.stdout
    assert "managed:" not in status.stdout
    body = f"@{EXAMPLES / 'sklearn-iris' / 'input.json'}"
    answer = cli(sandbox, "invoke", str(spec), "--body", body)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"predictions": ["setosa", "versicolor", "virginica"]}
    # Rollback has nothing of deployspec's to go back to: never the user's config.
    refused = cli(sandbox, "rollback", str(spec), "--auto-approve")
    assert refused.returncode == 1 and "no kept config" in refused.stderr

    # A spec change takes the normal path: deployspec's own model and config, an update.
    spec.write_text(spec.read_text().replace("memory_mb: 2048", "memory_mb: 3072"))
    changed = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert changed.returncode == 0, changed.stderr
    assert "2 added, 1 changed, 0 destroyed" in changed.stdout
    live = sm.describe_endpoint(EndpointName="iris-sdk")
    assert live["EndpointConfigName"].startswith("iris-sdk-")
    assert "deployspec:adopted-config" not in tags_of(sm, "iris-sdk")
    assert tags_of(sm, "iris-sdk")["deployspec:previous-config"] == config
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0
    answer = cli(sandbox, "invoke", str(spec), "--body", body)
    assert json.loads(answer.stdout)["predictions"][0] == "setosa", answer.stderr

    destroyed = cli(sandbox, "destroy", str(spec), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    assert sm.list_endpoints()["Endpoints"] == []
    models = [m["ModelName"] for m in sm.list_models()["Models"]]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert models == [model] and configs == [config]  # the SDK's, never deployspec's
    arn = sm.describe_model(ModelName=model)["ModelArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_an_autoscaled_realtime_endpoint_with_data_capture_is_adopted_in_place(
    sandbox: dict[str, Any], sm: Any, iris_model: Path, tmp_path: Path
) -> None:
    model = sdk_model(sandbox, sm, iris_model, "iris-rt")
    sdk_endpoint(
        sm,
        "iris-rt",
        model,
        {"InstanceType": "ml.m5.large", "InitialInstanceCount": 2, "InitialVariantWeight": 1.0},
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    scaling = sandbox_client(sandbox, "application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/iris-rt/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=2, MaxCapacity=6)
    scaling.put_scaling_policy(
        PolicyName="invocations-70",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 60,
        },
        **target,
    )
    spec = tmp_path / "deployment.yaml"

    imported = cli(sandbox, "import", "iris-rt", "--out", str(spec))
    assert imported.returncode == 0, imported.stderr
    text = spec.read_text()
    for line in (
        "instance_type: ml.m5.large",
        "instance_count: 2",
        "min: 2",
        "max: 6",
        "target_invocations_per_instance: 70",
        "scale_in_cooldown: 600",
        f"destination: s3://{BUCKET}/capture",
        "sampling_percent: 20",
    ):
        assert line in text, line
    assert "scale_out_cooldown" not in text  # the spec's default
    assert run_cli("validate", str(spec)).returncode == 0

    planned = cli(sandbox, "plan", str(spec), "--adopt")
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in planned.stdout
    assert "adopted in place" in planned.stdout
    applied = cli(sandbox, "apply", str(spec), "--adopt", "--auto-approve")
    assert applied.returncode == 0, applied.stderr

    sandbox["faults"].clear_calls()
    unchanged = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    reads, writes = calls(sandbox)
    assert writes == []
    # DescribeEndpoint and ListTags, the two autoscaling reads, and the one owner check of the
    # bucket of the archive and the captured data.
    assert sorted(reads) == [
        "DescribeEndpoint",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "GetCallerIdentity",
        "HeadBucket",
        "ListTags",
    ], reads
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["invocations-70"]


def test_an_endpoint_of_two_variants_is_imported_as_variants_and_adopted(
    sandbox: dict[str, Any], sm: Any, iris_model: Path, tmp_path: Path
) -> None:
    """An A/B endpoint made with boto3: imported into variants: (each variant its weight, its
    model, its capacity, its autoscaling), adopted onto deployspec's own models and config of
    the same content, answering from both variants, destroyed without touching its maker's."""
    model = sdk_model(sandbox, sm, iris_model, "split")
    container = sm.describe_model(ModelName=model)["PrimaryContainer"]
    sm.create_model(
        ModelName="challenger",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": container["Image"],
            "ModelDataUrl": container["ModelDataUrl"],
            "Environment": {**container["Environment"], "SAGEMAKER_CONTAINER_LOG_LEVEL": "30"},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="split",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": served,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": weight,
            }
            for variant, served, weight in (
                ("current", model, 0.9),
                ("challenger", "challenger", 0.1),
            )
        ],
    )
    sm.create_endpoint(
        EndpointName="split", EndpointConfigName="split", Tags=[{"Key": "team", "Value": "ml"}]
    )
    in_service(sm, "split")
    scaling = sandbox_client(sandbox, "application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/split/variant/current",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)
    scaling.put_scaling_policy(
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
        **target,
    )
    spec = tmp_path / "deployment.yaml"

    imported = cli(sandbox, "import", "split", "--out", str(spec))
    assert imported.returncode == 0, imported.stderr
    text = spec.read_text()
    assert "\nvariants:\n  - name: current\n    weight: 0.9\n    model:\n" in text, text
    assert "\n  - name: challenger\n    weight: 0.1\n    model:\n" in text, text
    assert 'SAGEMAKER_CONTAINER_LOG_LEVEL: "30"' in text  # the challenger's own model
    assert "target_invocations_per_instance: 50" in text
    assert "\nmodel:" not in text  # each variant serves a model of its own
    assert "never adopted in place" in imported.stderr
    validated = run_cli("validate", str(spec))
    assert validated.returncode == 0, validated.stdout + validated.stderr

    planned = cli(sandbox, "plan", str(spec), "--adopt", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    changes = {
        (c["address"].split(".")[0], c["action"]) for c in json.loads(planned.stdout)["changes"]
    }
    assert {("model", "create"), ("endpoint_config", "create"), ("endpoint", "update")} <= changes
    applied = cli(sandbox, "apply", str(spec), "--adopt", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    live = sm.describe_endpoint(EndpointName="split")
    assert live["EndpointConfigName"].startswith("split-")
    assert [(v["VariantName"], v["CurrentWeight"]) for v in live["ProductionVariants"]] == [
        ("current", 0.9),
        ("challenger", 0.1),
    ]
    unchanged = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    body = f"@{EXAMPLES / 'sklearn-iris' / 'input.json'}"
    for variant in ("current", "challenger"):
        answer = cli(sandbox, "invoke", str(spec), "--body", body, "--variant", variant)
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["predictions"][0] == "setosa"
    drift = cli(sandbox, "drift", str(spec))
    assert drift.returncode == 0 and "\nno drift\n" in drift.stdout, drift.stdout + drift.stderr

    destroyed = cli(sandbox, "destroy", str(spec), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    models = sorted(m["ModelName"] for m in sm.list_models()["Models"])
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert models == sorted([model, "challenger"]) and configs == ["split"]


def test_an_endpoint_of_variants_a_spec_cannot_express_is_refused_naming_them(
    sandbox: dict[str, Any], sm: Any, tmp_path: Path
) -> None:
    for model in ("blue", "green"):
        sm.create_model(
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{model}.tar.gz"},
        )
    sm.create_endpoint_config(
        EndpointConfigName="split",
        ProductionVariants=[
            {
                "VariantName": model,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 0.5,
                **({"ModelDataDownloadTimeoutInSeconds": 600} if model == "green" else {}),
            }
            for model in ("blue", "green")
        ],
    )
    sm.create_endpoint(EndpointName="split", EndpointConfigName="split")
    spec = tmp_path / "deployment.yaml"
    refused = cli(sandbox, "import", "split", "--out", str(spec))
    assert refused.returncode == 1
    assert (
        "endpoint split cannot be imported: it has variant green: a model download timeout "
        "(ModelDataDownloadTimeoutInSeconds)"
    ) in refused.stderr
    assert "hint:" in refused.stderr and "Traceback" not in refused.stderr
    assert not spec.exists()
    missing = cli(sandbox, "import", "nowhere")
    assert missing.returncode == 1 and "endpoint 'nowhere' does not exist" in missing.stderr


def test_an_endpoint_of_deployspecs_own_imports_back_to_no_changes(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    """A lost spec recovered: the imported spec names the same content, so the same resources."""
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    spec = tmp_path / "deployment.yaml"
    imported = cli(sandbox, "import", "iris", "--out", str(spec))
    assert imported.returncode == 0, imported.stderr
    assert "managed by deployspec already" in imported.stderr
    assert f"`deployspec plan {spec}`" in imported.stderr
    assert "project: deployspec-examples" in spec.read_text()
    again = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
