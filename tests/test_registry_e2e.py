"""Models from the SageMaker Model Registry (`model.package`), end to end: the CLI as a separate
process against a private sandbox, a scikit-learn package registered with boto3, real
predictions; and the request, validation and gateway rules around it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.aws import Gateway
from deployspec.errors import AwsError
from deployspec.resources import Model
from deployspec.sandbox import control
from deployspec.wire import model_request
from tests.conftest import REPO, run_cli, tar_gz
from tests.conftest import sandbox_client as client

SPECIES = ["setosa", "versicolor", "virginica"]
BUCKET = "registry-models"
GROUP = "iris-registry"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
# SageMaker's scikit-learn image, as a registered package names it (the sandbox runs the
# framework its image names, with the scikit-learn installed here).
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BODY = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]})

SPEC = f"""\
name: iris-registry
region: us-east-1
role: {ROLE}
model:
  framework: sklearn
  package: {GROUP}
  env: {{LOG_LEVEL: info}}
realtime:
  instance_type: ml.m5.large
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    try:
        yield {
            "info": info,
            "env": {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)},
        }
    finally:
        control.stop(home)


def gateway(sandbox: dict[str, Any]) -> Gateway:
    return Gateway.local(
        endpoint_url=sandbox["info"].endpoint_url,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )


def cli(sandbox: dict[str, Any], *args: str) -> Any:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=180)


@pytest.fixture(scope="module")
def archive_url(sandbox: dict[str, Any], trained_iris_model: Path) -> str:
    """The iris model as the SDK registers one: model.joblib and code/inference.py."""
    archive = tar_gz(
        {
            "model.joblib": (trained_iris_model / "model.joblib").read_bytes(),
            "code/inference.py": (REPO / "examples/sklearn-iris/inference.py").read_bytes(),
        }
    )
    s3 = client(sandbox, "s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="iris/model.tar.gz", Body=archive)
    return f"s3://{BUCKET}/iris/model.tar.gz"


def register(sandbox: dict[str, Any], url: str, status: str, group: str = GROUP) -> str:
    sm = client(sandbox)
    if not sm.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=group)
    created = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataUrl": url,
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    },
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )
    return str(created["ModelPackageArn"])


def test_a_group_deploys_its_latest_approved_version_and_a_saved_plan_keeps_its_own(
    sandbox: dict[str, Any], archive_url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "deployment.yaml"
    spec.write_text(SPEC)
    first = register(sandbox, archive_url, "Approved")
    register(sandbox, archive_url, "PendingManualApproval")  # never the one deployed

    saved = tmp_path / "first.plan.json"
    planned = cli(sandbox, "plan", str(spec), "--out", str(saved))
    assert planned.returncode == 0, planned.stderr
    assert f"model.package {GROUP}: its latest Approved version is {first}" in planned.stdout
    assert json.loads(saved.read_text())["inputs"]["packages"] == {"model": first}

    # A newer version approved between plan and apply: the saved plan deploys the version it
    # showed (what was reviewed), not the newer one; plan again to deploy that.
    newer = register(sandbox, archive_url, "Approved")
    applied = cli(sandbox, "apply", str(saved), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    sm = client(sandbox)
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="iris-registry")["EndpointConfigName"]
    )
    model_name = config["ProductionVariants"][0]["ModelName"]
    container = sm.describe_model(ModelName=model_name)["PrimaryContainer"]
    assert container["ModelPackageName"] == first
    assert "Image" not in container and "ModelDataUrl" not in container

    answered = cli(sandbox, "invoke", str(spec), "--body", BODY)
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["predictions"] == SPECIES

    again = cli(sandbox, "plan", str(spec))
    assert again.returncode == 0, again.stderr
    assert f"latest Approved version is {newer}" in again.stdout
    assert f"model_package_name: {first} → {newer}" in again.stdout
    updated = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert updated.returncode == 0, updated.stderr
    assert "No changes" in cli(sandbox, "plan", str(spec)).stdout
    answered = cli(sandbox, "invoke", str(spec), "--body", BODY)
    assert json.loads(answered.stdout)["predictions"] == SPECIES

    # The version a saved plan recorded, rejected before it is applied: refused.
    third = register(sandbox, archive_url, "Approved")
    pinned = tmp_path / "third.plan.json"
    assert cli(sandbox, "plan", str(spec), "--out", str(pinned)).returncode == 0
    sm.update_model_package(ModelPackageArn=third, ModelApprovalStatus="Rejected")
    refused = cli(sandbox, "apply", str(pinned), "--auto-approve")
    assert refused.returncode == 1
    assert f"the saved plan deploys {third}" in refused.stderr
    assert "now Rejected" in refused.stderr

    assert cli(sandbox, "destroy", str(spec), "--auto-approve").returncode == 0


def test_a_version_arn_is_deployed_as_it_is(
    sandbox: dict[str, Any], archive_url: str, tmp_path: Path
) -> None:
    # Pending, never approved: a version named by its ARN is the user's choice.
    arn = register(sandbox, archive_url, "PendingManualApproval", group="iris-pinned")
    spec = tmp_path / "deployment.yaml"
    spec.write_text(
        SPEC.replace(f"package: {GROUP}", f"package: {arn}").replace(
            "name: iris-registry", "name: iris-pinned"
        )
    )
    planned = cli(sandbox, "plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    assert "latest Approved" not in planned.stdout
    assert arn in planned.stdout


def test_groups_without_an_approved_version_or_that_do_not_exist_are_named(
    sandbox: dict[str, Any], archive_url: str
) -> None:
    register(sandbox, archive_url, "PendingManualApproval", group="iris-pending")
    with pytest.raises(AwsError) as pending:
        gateway(sandbox).latest_approved_package("iris-pending")
    assert "has no Approved version (newest first: 1 PendingManualApproval)" in str(pending.value)
    assert "update-model-package" in (pending.value.hint or "")
    with pytest.raises(AwsError) as missing:
        gateway(sandbox).latest_approved_package("no-such-group")
    assert "there is no model package group 'no-such-group'" in str(missing.value)
    client(sandbox).create_model_package_group(ModelPackageGroupName="iris-empty")
    with pytest.raises(AwsError, match="has no versions yet"):
        gateway(sandbox).latest_approved_package("iris-empty")


def test_the_sandbox_refuses_a_model_of_a_package_that_does_not_exist(
    sandbox: dict[str, Any],
) -> None:
    missing = "arn:aws:sagemaker:us-east-1:123456789012:model-package/nowhere/1"
    with pytest.raises(client(sandbox).exceptions.ClientError, match="not found"):
        client(sandbox).create_model(
            ModelName="orphan",
            PrimaryContainer={"ModelPackageName": missing},
            ExecutionRoleArn=ROLE,
        )


def test_a_package_model_sends_the_package_and_its_environment_alone() -> None:
    model = Model(
        name="m",
        image="",
        model_data_url=None,
        environment={"A": "1"},
        execution_role_arn=ROLE,
        model_package_name="arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
    )
    assert model_request(model)["PrimaryContainer"] == {
        "ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
        "Environment": {"A": "1"},
    }
    newer = dataclasses.replace(
        model, model_package_name="arn:aws:sagemaker:us-east-1:123456789012:model-package/g/2"
    )
    assert model_request(newer) != model_request(model)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('  version: "1.2-1"\n', "model.version: model.package deploys a Model Registry version"),
        ("  entry_point: inference.py\n", "model.entry_point: model.package deploys"),
        ("  image: 1.dkr.ecr.us-east-1.amazonaws.com/x:1\n", "model.image: model.package"),
        ("  artifacts: ./model\n", "a model comes from exactly one"),
    ],
)
def test_validate_leaves_image_and_data_to_the_package(
    tmp_path: Path, extra: str, message: str
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "inference.py").write_text("def model_fn(d):\n    return None\n")
    spec = tmp_path / "deployment.yaml"
    spec.write_text(SPEC.replace(f"  package: {GROUP}\n", f"  package: {GROUP}\n{extra}"))
    checked = run_cli("validate", str(spec))
    assert checked.returncode == 1
    assert message in checked.stderr + checked.stdout


def test_validate_accepts_a_package_without_a_version_or_script(tmp_path: Path) -> None:
    spec = tmp_path / "deployment.yaml"
    spec.write_text(SPEC)
    checked = run_cli("validate", str(spec))
    assert checked.returncode == 0, checked.stderr
    spec.write_text(SPEC.replace(GROUP, "not_a_group"))
    refused = run_cli("validate", str(spec))
    assert refused.returncode == 1
    assert "names no model package" in refused.stderr + refused.stdout
