"""deployspec.aws.Gateway: round trips against moto, exact requests and errors with Stubber.

No test can reach AWS: credentials are dummies, config files point nowhere, and botocore's
HTTP sender is replaced by one that fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import boto3
import botocore.httpsession
import botocore.loaders
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
from botocore.exceptions import EndpointConnectionError
from botocore.retries.bucket import TokenBucket
from botocore.stub import Stubber
from moto import mock_aws

from deployspec import __version__
from deployspec.aws import Call, Gateway, deployment_config
from deployspec.errors import AwsError
from deployspec.resources import (
    Capacity,
    DataCapture,
    Deployment,
    EndpointConfig,
    Model,
    Scaling,
    ServerlessConfig,
    Variant,
    Vpc,
    scaling_resource_id,
)
from tests.conftest import isolate_aws

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
MiB = 1024 * 1024


# Parsing botocore's SageMaker model takes most of a second; one loader parses it once.
_LOADER = botocore.loaders.create_loader()


def new_session(region: str = REGION) -> boto3.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name=region)


@pytest.fixture(autouse=True)
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path, REGION)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def no_network(self: object, request: AWSPreparedRequest) -> None:
        raise AssertionError(f"a test tried to reach {request.url}")

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", no_network)


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def gateway(moto: None) -> Gateway:
    return Gateway(new_session())


def stubbed(service: str, **kwargs: Any) -> tuple[Gateway, Stubber]:
    gateway = Gateway(new_session(), **kwargs)
    stubber = Stubber(gateway._client(service))
    stubber.activate()
    return gateway, stubber


ACCOUNT = "123456789012"


def stubbed_s3() -> tuple[Gateway, Stubber]:
    """S3 stubbed, and STS answering that the caller (the expected bucket owner) is ACCOUNT."""
    gateway, stubber = stubbed("s3")
    sts = Stubber(gateway._client("sts"))
    identity = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "UserId": "AIDA1"}
    sts.add_response("get_caller_identity", identity, {})
    sts.activate()
    return gateway, stubber


def reads_and_writes(calls: list[Call]) -> tuple[int, int]:
    writes = sum(call.mutating for call in calls)
    return len(calls) - writes, writes


def sklearn_model(name: str = "iris-m1", **overrides: Any) -> Model:
    fields: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "model_data_url": "s3://bucket/iris/abc/model.tar.gz",
        "environment": {"SAGEMAKER_PROGRAM": "inference.py", "LOG_LEVEL": "info"},
        "execution_role_arn": ROLE,
    }
    return Model(**{**fields, **overrides})


# --- SageMaker round trips (moto) ----------------------------------------------------------


def test_model_round_trip_with_tags(gateway: Gateway) -> None:
    # moto drops EnableNetworkIsolation (always False); the Stubber test below covers it.
    model = sklearn_model(vpc=Vpc(subnets=("subnet-1",), security_groups=("sg-1",)))
    tags = {"deployspec:spec": "iris", "team": "ml"}

    arn = gateway.create_model(model, tags)

    assert arn == "arn:aws:sagemaker:eu-west-1:123456789012:model/iris-m1"
    assert gateway.describe_model("iris-m1") == Model(**{**model.__dict__, "arn": arn})
    assert gateway.list_tags(arn) == tags
    assert gateway.calls == [
        Call("sagemaker", "CreateModel", True),
        Call("sagemaker", "DescribeModel", False),
        Call("sagemaker", "ListTags", False),
    ]


def test_create_model_request_and_network_isolation_read_back() -> None:
    gateway, stubber = stubbed("sagemaker")
    model = sklearn_model(network_isolation=True)
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model/iris-m1"
    stubber.add_response(
        "create_model",
        {"ModelArn": arn},
        {
            "ModelName": "iris-m1",
            "PrimaryContainer": {
                "Image": IMAGE,
                "Environment": model.environment,
                "ModelDataUrl": "s3://bucket/iris/abc/model.tar.gz",
            },
            "ExecutionRoleArn": ROLE,
            "EnableNetworkIsolation": True,
            "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
        },
    )
    stubber.add_response(
        "describe_model",
        {
            "ModelName": "iris-m1",
            "PrimaryContainer": {
                "Image": IMAGE,
                "Environment": model.environment,
                "ModelDataUrl": "s3://bucket/iris/abc/model.tar.gz",
            },
            "ExecutionRoleArn": ROLE,
            "EnableNetworkIsolation": True,
            "CreationTime": datetime(2026, 1, 1),
            "ModelArn": arn,
        },
        {"ModelName": "iris-m1"},
    )

    assert gateway.create_model(model, {"b": "2", "a": "1"}) == arn
    assert gateway.describe_model("iris-m1") == Model(**{**model.__dict__, "arn": arn})
    stubber.assert_no_pending_responses()


def test_model_without_vpc_reads_as_none_and_data_source_url_is_read(gateway: Gateway) -> None:
    raw = new_session().client("sagemaker")
    raw.create_model(
        ModelName="uncompressed",
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataSource": {
                "S3DataSource": {
                    "S3Uri": "s3://bucket/prefix/",
                    "S3DataType": "S3Prefix",
                    "CompressionType": "None",
                }
            },
        },
        ExecutionRoleArn=ROLE,
    )

    model = gateway.describe_model("uncompressed")

    assert model is not None
    # Uncompressed, as deployspec sends it: ModelDataSource, not a model.tar.gz URL.
    assert model.model_data_url is None
    assert model.model_data_source == "s3://bucket/prefix/"
    assert model.vpc is None
    assert model.environment == {}
    assert model.network_isolation is False


def test_serverless_config_round_trip(gateway: Gateway) -> None:
    config = EndpointConfig(
        name="iris-c1",
        variants=(
            Variant(
                model_name="iris-m1",
                serverless=ServerlessConfig(
                    memory_mb=2048, max_concurrency=5, provisioned_concurrency=2
                ),
            ),
        ),
    )
    gateway.create_model(sklearn_model(), {})

    arn = gateway.create_endpoint_config(config, {"deployspec:spec": "iris"})

    assert gateway.describe_endpoint_config("iris-c1") == EndpointConfig(
        name=config.name, variants=config.variants, arn=arn
    )
    assert gateway.list_tags(arn) == {"deployspec:spec": "iris"}


def test_realtime_config_with_data_capture_round_trip(gateway: Gateway) -> None:
    config = EndpointConfig(
        name="iris-c2",
        variants=(
            Variant(
                model_name="iris-m1",
                instance_type="ml.m5.xlarge",
                initial_instance_count=2,
                volume_size_gb=30,
                initial_weight=1.0,
            ),
        ),
        data_capture=DataCapture(destination="s3://bucket/capture", sampling_percent=20),
    )

    gateway.create_model(sklearn_model(), {})
    arn = gateway.create_endpoint_config(config, {})

    assert gateway.describe_endpoint_config("iris-c2") == EndpointConfig(
        name=config.name, variants=config.variants, data_capture=config.data_capture, arn=arn
    )
    raw = new_session().client("sagemaker").describe_endpoint_config(EndpointConfigName="iris-c2")
    capture = raw["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]


def production_variant(name: str, model: str, **fields: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, **fields}


def test_a_config_of_two_variants_and_a_shadow_is_read_whole() -> None:
    gateway, stubber = stubbed("sagemaker")
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/iris-c3"
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "iris-c3",
            "EndpointConfigArn": arn,
            "CreationTime": datetime(2026, 1, 1),
            "ProductionVariants": [
                production_variant(
                    "current",
                    "iris-m1",
                    InstanceType="ml.m5.large",
                    InitialInstanceCount=2,
                    InitialVariantWeight=90.0,
                ),
                production_variant(
                    "challenger",
                    "iris-m2",
                    ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                    InitialVariantWeight=10.0,
                ),
            ],
            "ShadowProductionVariants": [
                production_variant(
                    "shadow",
                    "iris-m3",
                    InstanceType="ml.c5.large",
                    InitialInstanceCount=1,
                    VolumeSizeInGB=8,
                )
            ],
        },
        {"EndpointConfigName": "iris-c3"},
    )

    config = gateway.describe_endpoint_config("iris-c3")

    stubber.assert_no_pending_responses()
    assert config == EndpointConfig(
        name="iris-c3",
        variants=(
            Variant("iris-m1", "current", None, "ml.m5.large", 2, None, 90.0),
            Variant("iris-m2", "challenger", ServerlessConfig(2048, 5), initial_weight=10.0),
        ),
        arn=arn,
        # No InitialVariantWeight given: SageMaker's default, 1.
        shadow_variants=(Variant("iris-m3", "shadow", None, "ml.c5.large", 1, 8, 1.0),),
    )
    assert config.model_names == ("iris-m1", "iris-m2", "iris-m3")


def test_an_endpoint_reports_its_shadow_variants_apart() -> None:
    gateway, stubber = stubbed("sagemaker")

    def live(name: str, weight: float, count: int) -> dict[str, Any]:
        return {
            "VariantName": name,
            "CurrentWeight": weight,
            "DesiredWeight": weight,
            "CurrentInstanceCount": count,
            "DesiredInstanceCount": count,
        }

    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": "iris",
            "EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/iris",
            "EndpointConfigName": "iris-c3",
            "EndpointStatus": "InService",
            "CreationTime": datetime(2026, 1, 1),
            "LastModifiedTime": datetime(2026, 1, 2),
            "ProductionVariants": [live("current", 90.0, 2), live("challenger", 10.0, 1)],
            "ShadowProductionVariants": [live("shadow", 1.0, 1)],
        },
        {"EndpointName": "iris"},
    )

    endpoint = gateway.describe_endpoint("iris")

    assert endpoint is not None
    assert [v.variant_name for v in endpoint.variants] == ["current", "challenger"]
    assert [v.variant_name for v in endpoint.shadow_variants] == ["shadow"]
    shadow = endpoint.live_variant("shadow")
    assert shadow is not None and shadow.desired_instance_count == 1


def test_endpoint_lifecycle_and_missing_resources(gateway: Gateway) -> None:
    gateway.create_model(sklearn_model(), {})
    config = EndpointConfig(
        name="iris-c1",
        variants=(
            Variant(model_name="iris-m1", instance_type="ml.m5.xlarge", initial_instance_count=1),
        ),
    )
    gateway.create_endpoint_config(config, {})
    gateway.calls.clear()

    arn = gateway.create_endpoint("iris", "iris-c1", {"deployspec:spec": "iris"})
    endpoint = gateway.describe_endpoint("iris")

    assert endpoint is not None
    assert endpoint.arn == arn
    assert endpoint.config_name == "iris-c1"
    assert endpoint.status == "InService"
    assert endpoint.failure_reason is None
    assert [v.variant_name for v in endpoint.variants] == ["AllTraffic"]
    assert endpoint.last_modified is not None
    assert datetime.fromisoformat(endpoint.last_modified).tzinfo is not None
    gateway.update_capacities("iris", {"AllTraffic": Capacity(instance_count=3, weight=0.5)})
    # Nothing to set: no call.
    gateway.update_capacities("iris", {"AllTraffic": Capacity()})
    gateway.update_capacities("iris", {})
    scaled = gateway.describe_endpoint("iris")
    assert scaled is not None
    assert scaled.variants[0].desired_instance_count == 3
    assert scaled.variants[0].desired_weight == 0.5
    assert gateway.delete_endpoint("iris") is True
    assert gateway.delete_endpoint("iris") is False
    assert gateway.describe_endpoint("iris") is None
    assert gateway.delete_endpoint_config("iris-c1") is True
    assert gateway.delete_endpoint_config("iris-c1") is False
    assert gateway.describe_endpoint_config("iris-c1") is None
    assert gateway.delete_model("iris-m1") is True
    assert gateway.delete_model("iris-m1") is False
    assert gateway.describe_model("iris-m1") is None
    assert reads_and_writes(gateway.calls) == (5, 8)


def test_listing_filters_by_name_oldest_first(gateway: Gateway) -> None:
    for name in ("iris-m1", "other-m1", "iris-m2"):
        gateway.create_model(sklearn_model(name), {})
        gateway.create_endpoint_config(
            EndpointConfig(
                name=name.replace("-m", "-c"),
                variants=(Variant(model_name=name, serverless=ServerlessConfig(2048, 5)),),
            ),
            {},
        )
    gateway.calls.clear()

    models = gateway.list_models("iris")
    configs = gateway.list_endpoint_configs("iris")

    assert [name for name, _, _ in models] == ["iris-m1", "iris-m2"]
    assert [name for name, _, _ in configs] == ["iris-c1", "iris-c2"]
    assert all(datetime.fromisoformat(created) for _, created, _ in models + configs)
    assert models[0][2] == "arn:aws:sagemaker:eu-west-1:123456789012:model/iris-m1"
    assert configs[1][2] == "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/iris-c2"
    assert gateway.calls == [
        Call("sagemaker", "ListModels", False),
        Call("sagemaker", "ListEndpointConfigs", False),
    ]


def test_tags_are_added_and_removed_and_empty_changes_make_no_call(gateway: Gateway) -> None:
    arn = gateway.create_model(sklearn_model(), {"a": "1"})
    gateway.calls.clear()

    gateway.add_tags(arn, {"b": "2", "c": "3"})
    gateway.delete_tags(arn, ["a", "c"])
    gateway.add_tags(arn, {})
    gateway.delete_tags(arn, [])

    assert gateway.list_tags(arn) == {"b": "2"}
    assert gateway.calls == [
        Call("sagemaker", "AddTags", True),
        Call("sagemaker", "DeleteTags", True),
        Call("sagemaker", "ListTags", False),
    ]


def test_account_id_is_read_once(gateway: Gateway) -> None:
    assert gateway.account_id() == "123456789012"
    assert gateway.account_id() == "123456789012"
    assert gateway.calls == [Call("sts", "GetCallerIdentity", False)]


def test_invoke_endpoint_returns_body_and_content_type(gateway: Gateway) -> None:
    answer = gateway.invoke_endpoint("iris", b"[[1, 2]]", "application/json", "*/*")

    assert isinstance(answer.body, bytes)
    assert answer.content_type
    assert gateway.calls == [Call("sagemaker-runtime", "InvokeEndpoint", False)]


# --- S3 (moto) -----------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_create_bucket_is_private_and_encrypted(moto: None, region: str) -> None:
    gateway = Gateway(new_session(region))

    assert gateway.bucket_exists("artifacts") is False
    gateway.create_bucket("artifacts")
    assert gateway.bucket_exists("artifacts") is True

    s3 = new_session(region).client("s3")
    location = s3.get_bucket_location(Bucket="artifacts")["LocationConstraint"]
    assert location == (None if region == "us-east-1" else region)
    rules = s3.get_bucket_encryption(Bucket="artifacts")["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket="artifacts")["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="artifacts")["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": ""}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert [call.operation for call in gateway.calls] == [
        "GetCallerIdentity",  # the expected bucket owner, read once
        "HeadBucket",
        "CreateBucket",
        "PutBucketEncryption",
        "PutPublicAccessBlock",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "HeadBucket",
    ]


def test_create_bucket_again_still_locks_it_down(gateway: Gateway) -> None:
    gateway.create_bucket("artifacts")
    gateway.create_bucket("artifacts")

    # The second finds its lifecycle rule there and leaves the rules alone.
    assert reads_and_writes(gateway.calls) == (3, 7)


def test_create_bucket_keeps_lifecycle_rules_someone_set(gateway: Gateway) -> None:
    s3: Any = new_session().client("s3")
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    theirs = {
        "ID": "expire-logs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="artifacts", LifecycleConfiguration={"Rules": [theirs]}
    )

    gateway.create_bucket("artifacts")

    rules = s3.get_bucket_lifecycle_configuration(Bucket="artifacts")["Rules"]
    assert [r["ID"] for r in rules] == ["expire-logs"]
    assert "PutBucketLifecycleConfiguration" not in [c.operation for c in gateway.calls]


def test_incomplete_uploads_of_the_key_are_aborted(gateway: Gateway, tmp_path: Path) -> None:
    gateway.create_bucket("artifacts")
    s3 = new_session().client("s3")
    key = "deployspec/iris/abc/model.tar.gz"
    for _ in range(2):  # two killed applies
        s3.create_multipart_upload(Bucket="artifacts", Key=key)
    # A longer key under the same prefix is not this object's: left alone.
    s3.create_multipart_upload(Bucket="artifacts", Key=key + ".other")
    gateway.calls.clear()

    assert gateway.abort_incomplete_uploads(f"s3://artifacts/{key}") == 2
    assert gateway.abort_incomplete_uploads(f"s3://artifacts/{key}") == 0

    left = s3.list_multipart_uploads(Bucket="artifacts").get("Uploads", [])
    assert [u["Key"] for u in left] == [key + ".other"]
    assert [c.operation for c in gateway.calls] == [
        "ListMultipartUploads",
        "AbortMultipartUpload",
        "AbortMultipartUpload",
        "ListMultipartUploads",
    ]


def test_multipart_upload_with_progress(moto: None, tmp_path: Path) -> None:
    gateway = Gateway(new_session(), multipart_chunk_bytes=5 * MiB)
    gateway.create_bucket("artifacts")
    artifact = tmp_path / "model.tar.gz"
    data = bytes(range(256)) * (11 * MiB // 256)
    artifact.write_bytes(data)
    uri = "s3://artifacts/iris/abc/model.tar.gz"
    progress: list[int] = []
    gateway.calls.clear()

    assert gateway.object_exists(uri) is False
    gateway.upload_file(artifact, uri, progress.append)
    assert gateway.object_exists(uri) is True

    assert sum(progress) == len(data)
    stored = new_session().client("s3").get_object(Bucket="artifacts", Key="iris/abc/model.tar.gz")
    assert stored["Body"].read() == data
    operations = [call.operation for call in gateway.calls]
    assert operations.count("UploadPart") == 3
    assert operations[0] == "HeadObject"
    assert operations[1] == "CreateMultipartUpload"
    assert operations[-2:] == ["CompleteMultipartUpload", "HeadObject"]
    assert reads_and_writes(gateway.calls) == (2, 5)


def test_delete_object(gateway: Gateway, tmp_path: Path) -> None:
    gateway.create_bucket("artifacts")
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"tiny")
    gateway.upload_file(artifact, "s3://artifacts/k/model.tar.gz")

    gateway.delete_object("s3://artifacts/k/model.tar.gz")
    gateway.delete_object("s3://artifacts/k/model.tar.gz")

    assert gateway.object_exists("s3://artifacts/k/model.tar.gz") is False


def test_small_upload_is_one_put(gateway: Gateway, tmp_path: Path) -> None:
    gateway.create_bucket("artifacts")
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"tiny")
    gateway.calls.clear()

    gateway.upload_file(artifact, "s3://artifacts/k/model.tar.gz")

    assert gateway.calls == [Call("s3", "PutObject", True)]


def test_every_s3_call_names_the_expected_bucket_owner(moto: None, tmp_path: Path) -> None:
    gateway = Gateway(new_session(), multipart_chunk_bytes=5 * MiB)
    sent: list[tuple[str, dict[str, Any]]] = []

    def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((str(model.name), dict(params)))

    gateway._client("s3").meta.events.register("before-parameter-build.s3.*", capture)
    small, large = tmp_path / "small.tar.gz", tmp_path / "large.tar.gz"
    small.write_bytes(b"tiny")
    large.write_bytes(b"x" * (6 * MiB))

    assert gateway.bucket_exists("artifacts") is False
    gateway.create_bucket("artifacts")
    # An upload a killed apply left, made outside the gateway (moto's S3 is shared).
    new_session().client("s3").create_multipart_upload(Bucket="artifacts", Key="p/a/model.tar.gz")
    assert gateway.object_exists("s3://artifacts/p/a/model.tar.gz") is False
    assert gateway.abort_incomplete_uploads("s3://artifacts/p/a/model.tar.gz") == 1
    gateway.upload_file(small, "s3://artifacts/p/a/model.tar.gz")
    gateway.upload_file(large, "s3://artifacts/p/b/model.tar.gz")
    gateway.delete_object("s3://artifacts/p/a/model.tar.gz")

    operations = {operation for operation, _ in sent}
    assert operations == {
        "HeadBucket",
        "CreateBucket",
        "PutBucketEncryption",
        "PutPublicAccessBlock",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "HeadObject",
        "ListMultipartUploads",
        "AbortMultipartUpload",
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "DeleteObject",
    }
    # CreateBucket takes no owner: S3 refuses it for a name another account holds.
    unnamed = [
        op
        for op, params in sent
        if op != "CreateBucket" and params.get("ExpectedBucketOwner") != ACCOUNT
    ]
    assert unnamed == []


def test_head_and_delete_requests_carry_the_owner() -> None:
    gateway, stubber = stubbed_s3()
    owner = {"ExpectedBucketOwner": ACCOUNT}
    stubber.add_response("head_bucket", {}, {"Bucket": "artifacts", **owner})
    stubber.add_response("head_object", {}, {"Bucket": "artifacts", "Key": "k", **owner})
    stubber.add_response("delete_object", {}, {"Bucket": "artifacts", "Key": "k", **owner})

    assert gateway.bucket_exists("artifacts") is True
    assert gateway.object_exists("s3://artifacts/k") is True
    gateway.delete_object("s3://artifacts/k")

    stubber.assert_no_pending_responses()


def test_a_bucket_of_another_account_is_refused_by_name() -> None:
    gateway, stubber = stubbed_s3()
    # S3 answers 403 when ExpectedBucketOwner does not match; without it, the squatter's
    # bucket answers: another account owns it.
    stubber.add_client_error("head_object", "403", "Forbidden", http_status_code=403)
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    stubber.add_response("head_bucket", {}, {"Bucket": "sagemaker-eu-west-1-123456789012"})

    with pytest.raises(AwsError) as raised:
        gateway.object_exists("s3://sagemaker-eu-west-1-123456789012/p/model.tar.gz")

    assert "'sagemaker-eu-west-1-123456789012' belongs to another AWS account" in str(raised.value)
    assert ACCOUNT in str(raised.value)
    assert raised.value.hint is not None and "`bucket:`" in raised.value.hint
    stubber.assert_no_pending_responses()


def test_a_refused_head_bucket_probes_once_without_the_owner() -> None:
    gateway, stubber = stubbed_s3()
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    stubber.add_response("head_bucket", {}, {"Bucket": "artifacts"})

    with pytest.raises(AwsError, match="belongs to another AWS account"):
        gateway.bucket_exists("artifacts")
    stubber.assert_no_pending_responses()


def test_access_denied_that_cannot_be_told_apart_names_both_causes(tmp_path: Path) -> None:
    gateway, stubber = stubbed_s3()
    stubber.add_client_error("put_object", "AccessDenied", "Access Denied", http_status_code=403)
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"tiny")

    with pytest.raises(AwsError) as raised:
        gateway.upload_file(artifact, "s3://artifacts/k/model.tar.gz")

    assert "AccessDenied" in str(raised.value)
    hint = raised.value.hint or ""
    assert "s3:PutObject" in hint
    assert "belongs to another account" in hint and "`bucket:`" in hint


def test_an_upload_aborted_by_another_apply_says_to_run_again() -> None:
    from botocore.exceptions import ClientError

    from deployspec.aws import _translate_client

    error = ClientError(
        {"Error": {"Code": "NoSuchUpload", "Message": "The specified upload does not exist."}},
        "CompleteMultipartUpload",
    )

    translated = _translate_client(error, "s3", "s3://artifacts/k/model.tar.gz", ())

    assert translated.hint is not None and "run apply again" in translated.hint


def test_object_in_missing_bucket_does_not_exist(gateway: Gateway) -> None:
    assert gateway.object_exists("s3://no-such-bucket/key") is False


def test_upload_to_missing_bucket_is_an_aws_error(gateway: Gateway, tmp_path: Path) -> None:
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"tiny")

    with pytest.raises(AwsError) as raised:
        gateway.upload_file(artifact, "s3://no-such-bucket/k/model.tar.gz")

    assert "NoSuchBucket" in str(raised.value)
    assert raised.value.hint is not None


def test_not_an_s3_uri_is_refused(gateway: Gateway) -> None:
    with pytest.raises(AwsError, match="not an S3 object URI"):
        gateway.object_exists("https://bucket/key")
    assert gateway.calls == []


# --- Application Auto Scaling (moto) --------------------------------------------------------


def test_scaling_round_trip(gateway: Gateway) -> None:
    resource_id = scaling_resource_id("iris")
    scaling = Scaling(
        resource_id=resource_id,
        min_capacity=1,
        max_capacity=4,
        target_value=70.0,
        scale_in_cooldown=300,
        scale_out_cooldown=60,
        policy_name=None,
    )

    assert gateway.describe_scaling(resource_id) is None
    assert len(gateway.calls) == 1
    gateway.put_scaling(scaling)
    gateway.calls.clear()

    found = gateway.describe_scaling(resource_id)

    assert found == Scaling(**{**scaling.__dict__, "policy_name": "deployspec-invocations"})
    assert gateway.calls == [
        Call("application-autoscaling", "DescribeScalableTargets", False),
        Call("application-autoscaling", "DescribeScalingPolicies", False),
    ]
    assert gateway.delete_scaling(resource_id) is True
    assert gateway.delete_scaling(resource_id) is False
    assert gateway.describe_scaling(resource_id) is None


def test_scaling_without_target_value_registers_only_the_target(gateway: Gateway) -> None:
    resource_id = scaling_resource_id("iris")

    gateway.put_scaling(Scaling(resource_id, 1, 2, None, None, None, None))

    assert gateway.describe_scaling(resource_id) == Scaling(
        resource_id, 1, 2, None, None, None, None
    )
    assert [call.operation for call in gateway.calls] == [
        "RegisterScalableTarget",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
    ]


SCALABLE = {
    "ServiceNamespace": "sagemaker",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}


def scalable_target(resource_id: str, low: int, high: int) -> dict[str, Any]:
    return {
        **SCALABLE,
        "ResourceId": resource_id,
        "MinCapacity": low,
        "MaxCapacity": high,
        "RoleARN": "arn:aws:iam::123456789012:role/aws-service-role/autoscaling",
        "CreationTime": datetime(2026, 1, 1),
    }


def invocations_policy(resource_id: str, target: float) -> dict[str, Any]:
    return {
        **SCALABLE,
        "PolicyARN": f"arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:{resource_id}",
        "PolicyName": "deployspec-invocations",
        "ResourceId": resource_id,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": target,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
        "CreationTime": datetime(2026, 1, 1),
    }


@pytest.mark.parametrize("found", [("current", "challenger"), ("challenger",)])
def test_describe_scalings_reads_every_target_in_one_call(found: tuple[str, ...]) -> None:
    """One DescribeScalableTargets for all the variants, then one DescribeScalingPolicies for
    each target found (none for a variant without one), in the order the ids were given."""
    gateway, stubber = stubbed("application-autoscaling")
    ids = [scaling_resource_id("iris", "current"), scaling_resource_id("iris", "challenger")]
    targets = {
        ids[0]: scalable_target(ids[0], 1, 4),
        ids[1]: scalable_target(ids[1], 2, 6),
    }
    wanted = [scaling_resource_id("iris", name) for name in found]
    stubber.add_response(
        "describe_scalable_targets",
        # AWS's order is not the order asked in.
        {"ScalableTargets": [targets[i] for i in reversed(wanted)]},
        # Every dimension: a serverless variant scales its provisioned concurrency instead.
        {"ServiceNamespace": "sagemaker", "ResourceIds": ids},
    )
    for resource_id in wanted:
        stubber.add_response(
            "describe_scaling_policies",
            {
                "ScalingPolicies": [
                    invocations_policy(resource_id, 70.0 if "current" in resource_id else 50.0)
                ]
            },
            {**SCALABLE, "ResourceId": resource_id},
        )

    scalings = gateway.describe_scalings(ids)

    stubber.assert_no_pending_responses()
    everything = {
        ids[0]: Scaling(ids[0], 1, 4, 70.0, 300, 60, "deployspec-invocations"),
        ids[1]: Scaling(ids[1], 2, 6, 50.0, 300, 60, "deployspec-invocations"),
    }
    assert scalings == [everything[i] for i in wanted]
    assert [call.operation for call in gateway.calls] == [
        "DescribeScalableTargets",
        *(["DescribeScalingPolicies"] * len(wanted)),
    ]
    assert gateway.describe_scalings([]) == []
    assert len(gateway.calls) == 1 + len(wanted)


# --- UpdateEndpoint requests (Stubber: moto has no UpdateEndpoint) --------------------------


def blue_green(routing: dict[str, Any], timeout: int = 1800) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }


UPDATE_CASES: list[tuple[Deployment, dict[str, Any]]] = [
    (
        Deployment("all_at_once"),
        blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}),
    ),
    (
        Deployment("canary", step_percent=10, step_wait_seconds=300, rollback_alarms=("p99",)),
        {
            **blue_green(
                {
                    "Type": "CANARY",
                    "WaitIntervalInSeconds": 300,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                }
            ),
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "p99"}]},
        },
    ),
    (
        Deployment("linear", step_percent=25, step_wait_seconds=60, timeout_seconds=60),
        blue_green(
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 60,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            },
            timeout=600,
        ),
    ),
    (
        Deployment(
            "rolling",
            step_percent=50,
            step_wait_seconds=120,
            rollback_alarms=("errors", "latency"),
            timeout_seconds=100_000,
        ),
        {
            "RollingUpdatePolicy": {
                "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 120,
                "MaximumExecutionTimeoutInSeconds": 28800,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "errors"}, {"AlarmName": "latency"}]
            },
        },
    ),
]


@pytest.mark.parametrize(("deployment", "expected"), UPDATE_CASES, ids=lambda c: str(c)[:40])
def test_update_endpoint_sends_the_deployment_config(
    deployment: Deployment, expected: dict[str, Any]
) -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/iris"},
        {
            "EndpointName": "iris",
            "EndpointConfigName": "iris-c2",
            "RetainAllVariantProperties": False,
            "DeploymentConfig": expected,
        },
    )

    gateway.update_endpoint("iris", "iris-c2", deployment)

    stubber.assert_no_pending_responses()
    assert gateway.calls == [Call("sagemaker", "UpdateEndpoint", True)]


def test_update_endpoint_without_deployment_sends_no_deployment_config() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/iris"},
        {
            "EndpointName": "iris",
            "EndpointConfigName": "iris-c2",
            "RetainAllVariantProperties": False,
        },
    )

    gateway.update_endpoint("iris", "iris-c2", None)

    stubber.assert_no_pending_responses()


def test_update_endpoint_can_keep_the_autoscaled_instance_count() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/iris"},
        {
            "EndpointName": "iris",
            "EndpointConfigName": "iris-c2",
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [
                {"VariantPropertyType": "DesiredWeight"},
                {"VariantPropertyType": "DataCaptureConfig"},
            ],
            "DeploymentConfig": blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}),
        },
    )

    gateway.update_endpoint(
        "iris", "iris-c2", Deployment("all_at_once"), retain_instance_count=True
    )

    stubber.assert_no_pending_responses()


def test_update_capacities_sets_every_variant_in_one_call() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "update_endpoint_weights_and_capacities",
        {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/iris"},
        {
            "EndpointName": "iris",
            "DesiredWeightsAndCapacities": [
                {"VariantName": "current", "DesiredInstanceCount": 3, "DesiredWeight": 80.0},
                {"VariantName": "challenger", "DesiredWeight": 20.0},
            ],
        },
    )

    gateway.update_capacities(
        "iris",
        {
            "current": Capacity(instance_count=3, weight=80.0),
            "challenger": Capacity(weight=20.0),
            # Nothing to set on it: left out of the request.
            "shadow": Capacity(),
        },
    )

    stubber.assert_no_pending_responses()
    assert gateway.calls == [Call("sagemaker", "UpdateEndpointWeightsAndCapacities", True)]


def test_traffic_shifting_without_a_step_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="step_percent"):
        deployment_config(Deployment("canary"))


def test_update_of_an_in_progress_endpoint_keeps_the_message() -> None:
    gateway, stubber = stubbed("sagemaker")
    message = 'Cannot update in-progress endpoint "arn:aws:sagemaker:eu-west-1:1:endpoint/iris".'
    stubber.add_client_error("update_endpoint", "ValidationException", message)

    with pytest.raises(AwsError) as raised:
        gateway.update_endpoint("iris", "iris-c2", None)

    assert message in str(raised.value)
    assert "UpdateEndpoint" in str(raised.value)
    assert raised.value.hint is not None and "InService" in raised.value.hint


# --- error translation (Stubber) -----------------------------------------------------------


def test_could_not_find_is_none_but_other_validation_errors_are_errors() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_client_error(
        "describe_endpoint",
        "ValidationException",
        'Could not find endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/iris".',
    )
    stubber.add_client_error(
        "describe_endpoint", "ValidationException", "1 validation error detected: EndpointName"
    )

    assert gateway.describe_endpoint("iris") is None
    with pytest.raises(AwsError, match="1 validation error detected"):
        gateway.describe_endpoint("iris")
    assert reads_and_writes(gateway.calls) == (2, 0)


def test_access_denied_names_the_missing_action() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_client_error(
        "create_model",
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:PassRole "
        "on resource: arn:aws:iam::123456789012:role/SageMakerExecution",
        http_status_code=400,
    )
    stubber.add_client_error("create_endpoint", "AccessDeniedException", "denied")

    with pytest.raises(AwsError) as passrole:
        gateway.create_model(sklearn_model(), {})
    with pytest.raises(AwsError) as create:
        gateway.create_endpoint("iris", "iris-c1", {})

    assert "AWS CreateModel 'iris-m1' failed: AccessDeniedException" in str(passrole.value)
    assert passrole.value.hint is not None and "iam:PassRole" in passrole.value.hint
    assert create.value.hint is not None and "sagemaker:CreateEndpoint" in create.value.hint
    assert "sagemaker:AddTags" in create.value.hint


def test_forbidden_head_object_hints_at_s3_permissions() -> None:
    gateway, stubber = stubbed_s3()
    stubber.add_client_error("head_object", "403", "Forbidden", http_status_code=403)
    # The bucket answers with our account as its owner: the 403 is about permissions.
    stubber.add_response("head_bucket", {}, {"Bucket": "artifacts", "ExpectedBucketOwner": ACCOUNT})

    with pytest.raises(AwsError) as raised:
        gateway.object_exists("s3://artifacts/iris/model.tar.gz")

    assert raised.value.hint is not None
    assert "s3:GetObject" in raised.value.hint and "s3:ListBucket" in raised.value.hint
    assert "another account" not in raised.value.hint


@pytest.mark.parametrize(
    ("code", "hint_word"),
    [
        ("ExpiredTokenException", "expired"),
        ("UnrecognizedClientException", "invalid"),
        ("ResourceLimitExceeded", "quota"),
    ],
)
def test_actionable_errors_carry_a_hint(code: str, hint_word: str) -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_client_error("create_endpoint", code, "the message from AWS")

    with pytest.raises(AwsError) as raised:
        gateway.create_endpoint("iris", "iris-c1", {})

    assert f"{code}: the message from AWS" in str(raised.value)
    assert raised.value.hint is not None and hint_word in raised.value.hint


def test_environment_values_never_reach_error_messages() -> None:
    gateway, stubber = stubbed("sagemaker")
    secret = "sk-live-0123456789abcdef"
    model = sklearn_model(environment={"API_TOKEN": secret, "MODE": "fast"})
    stubber.add_client_error(
        "create_model",
        "ValidationException",
        f"1 validation error detected: Value '{{API_TOKEN={secret}, MODE=fast}}' at "
        "'primaryContainer.environment' failed to satisfy constraint: Map value must satisfy "
        "constraint: [Member must have length less than or equal to 1024]",
    )
    stubber.add_client_error("create_model", "InternalFailure", f"echoing {secret} verbatim")

    with pytest.raises(AwsError) as structured:
        gateway.create_model(model, {})
    with pytest.raises(AwsError) as literal:
        gateway.create_model(model, {})

    assert secret not in structured.value.format()
    assert "MODE=fast" not in structured.value.format()
    assert "primaryContainer.environment" in str(structured.value)
    assert secret not in literal.value.format()


def test_client_side_validation_hides_environment_values() -> None:
    gateway = Gateway(new_session())
    model = sklearn_model(environment=cast(Any, {"TOKEN": 918273645}))

    with pytest.raises(AwsError) as raised:
        gateway.create_model(model, {})

    assert "Environment.TOKEN, value: (redacted)" in str(raised.value)
    assert "918273645" not in raised.value.format()


def test_model_errors_show_the_original_message_and_logs() -> None:
    gateway, stubber = stubbed("sagemaker-runtime")
    stubber.add_client_error(
        "invoke_endpoint",
        "ModelError",
        "Received client error (400) from primary with message ...",
        http_status_code=424,
        modeled_fields={
            "OriginalMessage": "ValueError: expected 4 features",
            "LogStreamArn": "arn:aws:logs:eu-west-1:1:log-group:/aws/sagemaker/Endpoints/iris",
        },
    )

    with pytest.raises(AwsError) as raised:
        gateway.invoke_endpoint("iris", b"[[1]]", "application/json", "application/json")

    assert "expected 4 features" in str(raised.value)
    assert raised.value.hint is not None and "/aws/sagemaker/Endpoints/iris" in raised.value.hint


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("413", "HTTP content length exceeded 6291456 bytes.", 413),
        ("ValidationError", "Request 8f1e has oversize body.", 400),
    ],
)
def test_oversize_bodies_say_what_the_limits_are(code: str, message: str, status: int) -> None:
    gateway, stubber = stubbed("sagemaker-runtime")
    stubber.add_client_error("invoke_endpoint", code, message, http_status_code=status)

    with pytest.raises(AwsError) as raised:
        gateway.invoke_endpoint("iris", b"[[1]]", "application/json", "application/json")

    assert message in str(raised.value)
    assert raised.value.hint is not None and "4 MB for serverless" in raised.value.hint


class _ThrottlingBody:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


def test_throttling_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # Backoff and the adaptive token bucket are botocore's own; waiting them out proves nothing.
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)
    monkeypatch.setattr(TokenBucket, "acquire", lambda *_args, **_kwargs: True)
    gateway = Gateway(new_session(), max_attempts=2)
    sent: list[AWSPreparedRequest] = []

    def throttle(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        headers = HTTPHeaders()
        headers["x-amzn-requestid"] = "r"
        return AWSResponse(request.url, 400, headers, _ThrottlingBody())

    events = gateway._client("sagemaker").meta.events
    events.register_first("before-send.*.*", cast("Callable[..., None]", throttle))

    with pytest.raises(AwsError) as raised:
        gateway.describe_endpoint("iris")

    # botocore's max_attempts counts retries: one request plus two retries.
    assert len(sent) == 3
    assert "ThrottlingException: Rate exceeded (still throttled after 2 retries)" in str(
        raised.value
    )
    assert gateway.calls == [Call("sagemaker", "DescribeEndpoint", False)]
    user_agent = sent[0].headers["User-Agent"]
    assert f"deployspec/{__version__}".encode() in user_agent
    assert b"retry-mode#adaptive" in user_agent


def test_unreachable_endpoint_hints_at_region_and_endpoint_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)
    url = "http://127.0.0.1:5999"
    gateway = Gateway(new_session(), endpoint_url=url, max_attempts=0)

    def refuse(request: AWSPreparedRequest, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=request.url)

    gateway._client("sagemaker").meta.events.register_first("before-send.*.*", refuse)

    with pytest.raises(AwsError) as raised:
        gateway.describe_model("iris-m1")

    assert raised.value.hint is not None
    assert url in raised.value.hint and "AWS_ENDPOINT_URL" in raised.value.hint


def test_missing_credentials_explain_how_to_configure_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    gateway = Gateway(new_session())

    with pytest.raises(AwsError) as raised:
        gateway.describe_endpoint("iris")

    assert "Unable to locate credentials" in str(raised.value)
    hint = raised.value.hint or ""
    assert "aws configure" in hint and "--profile" in hint and "--sandbox" in hint


# --- connecting ----------------------------------------------------------------------------


def test_connect_without_a_region_says_where_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    with pytest.raises(AwsError, match="region") as raised:
        Gateway.connect(profile=None, region=None)

    hint = raised.value.hint or ""
    assert "--region" in hint and "region:" in hint and "AWS_REGION" in hint


def test_connect_with_an_unknown_profile_names_it() -> None:
    with pytest.raises(AwsError, match="'nope'"):
        Gateway.connect(profile="nope", region=REGION)


def test_connect_uses_the_region_and_endpoint_given() -> None:
    gateway = Gateway.connect(profile=None, region="ap-south-1", endpoint_url="http://sandbox:5")

    client = gateway._client("sagemaker")

    assert gateway.region == "ap-south-1"
    assert client.meta.endpoint_url == "http://sandbox:5"
    # botocore's max_attempts counts retries; it stores the total with the first attempt.
    retries = client.meta.config.retries  # type: ignore[attr-defined]
    assert retries == {"mode": "adaptive", "total_max_attempts": 11}
    assert gateway.calls == []


def test_aws_endpoint_url_from_the_environment_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:5123")

    gateway = Gateway.connect(profile=None, region=None)

    assert gateway.region == REGION
    assert gateway._client("s3").meta.endpoint_url == "http://localhost:5123"


def test_clients_are_created_once_per_service() -> None:
    gateway = Gateway(new_session())

    make: Callable[[str], object] = gateway._client

    assert make("sagemaker") is make("sagemaker")
    assert make("sagemaker") is not make("s3")
