"""The gateway's inference-component verbs, with botocore's Stubber: the exact requests, what
is read back, the refusal of what does not fit explained, the scaling of a component's copies
(down to zero and back), and an inference-component endpoint's config read as one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from deployspec.aws import Gateway
from deployspec.errors import AwsError, UnsupportedShapeError
from deployspec.resources import (
    CONCURRENT_REQUESTS_PER_COPY,
    COPY_COUNT_DIMENSION,
    ComputeRequirements,
    InferenceComponent,
    ManagedInstanceScaling,
    RollingUpdate,
    Scaling,
)
from tests.test_aws_gateway import isolated_aws, new_session, stubbed

__all__ = ["isolated_aws"]  # the autouse fixture, used by name

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:inference-component"
ENDPOINT_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/assistants"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
WHEN = datetime(2026, 1, 1, 12, 0, 0)

CHAT = InferenceComponent(
    name="assistants-chat",
    endpoint_name="assistants",
    model_name="assistants-0123456789",
    compute=ComputeRequirements(
        min_memory_mb=16384, cpu_cores=4.0, accelerators=2.0, max_memory_mb=32768
    ),
    startup_health_check_timeout=600,
    model_data_download_timeout=900,
    copy_count=2,
)
LORA = InferenceComponent(
    name="assistants-chat-lora",
    endpoint_name="assistants",
    base_component="assistants-chat",
    artifact_url="s3://bucket/assistants/" + "a" * 64 + "/model.tar.gz",
)
CHAT_SPECIFICATION = {
    "ModelName": "assistants-0123456789",
    "ComputeResourceRequirements": {
        "MinMemoryRequiredInMb": 16384,
        "NumberOfCpuCoresRequired": 4.0,
        "NumberOfAcceleratorDevicesRequired": 2.0,
        "MaxMemoryRequiredInMb": 32768,
    },
    "StartupParameters": {
        "ModelDataDownloadTimeoutInSeconds": 900,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600,
    },
}
OURS = {"deployspec:managed-by": "deployspec", "deployspec:spec": "assistants"}
OURS_LIST = [{"Key": k, "Value": v} for k, v in sorted(OURS.items())]


def described(component: str, **fields: Any) -> dict[str, Any]:
    """DescribeInferenceComponent's answer, as AWS gives it (an InService model component)."""
    return {
        "InferenceComponentName": component,
        "InferenceComponentArn": f"{ARN}/{component}",
        "EndpointName": "assistants",
        "EndpointArn": ENDPOINT_ARN,
        "VariantName": "AllTraffic",
        "Specification": {
            "ModelName": "assistants-0123456789",
            "ComputeResourceRequirements": {
                "MinMemoryRequiredInMb": 16384,
                "NumberOfCpuCoresRequired": 4,
                "NumberOfAcceleratorDevicesRequired": 2,
                "MaxMemoryRequiredInMb": 32768,
            },
            "StartupParameters": {
                "ModelDataDownloadTimeoutInSeconds": 900,
                "ContainerStartupHealthCheckTimeoutInSeconds": 600,
            },
        },
        "RuntimeConfig": {"DesiredCopyCount": 2, "CurrentCopyCount": 1},
        "CreationTime": WHEN,
        "LastModifiedTime": WHEN,
        "InferenceComponentStatus": "InService",
        **fields,
    }


# --- reading ---------------------------------------------------------------------------------


def test_a_component_is_read_back_as_what_the_spec_builds() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "describe_inference_component",
        described("assistants-chat"),
        {"InferenceComponentName": "assistants-chat"},
    )

    found = gateway.describe_inference_component("assistants-chat")

    assert found is not None
    # Every attribute the spec decides equals the desired one; the rest is SageMaker's.
    assert found == InferenceComponent(
        **{
            **CHAT.__dict__,
            "status": "InService",
            "arn": f"{ARN}/assistants-chat",
            "current_copy_count": 1,
        }
    )
    stubber.assert_no_pending_responses()


def test_an_adapter_is_read_without_a_copy_count_of_its_own() -> None:
    gateway, stubber = stubbed("sagemaker")
    adapter = described(
        "assistants-chat-lora",
        Specification={
            "BaseInferenceComponentName": "assistants-chat",
            "Container": {"ArtifactUrl": LORA.artifact_url},
        },
        # AWS reports the copies the adapter runs on: its base's, not its own to compare.
        RuntimeConfig={"DesiredCopyCount": 2, "CurrentCopyCount": 2},
        InferenceComponentStatus="Failed",
        FailureReason="the adapter archive is not a LoRA adapter",
    )
    stubber.add_response("describe_inference_component", adapter)

    found = gateway.describe_inference_component("assistants-chat-lora")

    assert found is not None
    assert (found.base_component, found.artifact_url, found.compute) == (
        "assistants-chat",
        LORA.artifact_url,
        None,
    )
    assert (found.copy_count, found.current_copy_count) == (None, 2)
    assert (found.status, found.failure_reason) == (
        "Failed",
        "the adapter archive is not a LoRA adapter",
    )


def test_a_missing_component_is_none() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_client_error(
        "describe_inference_component",
        "ValidationException",
        'Could not find inference component "arn:aws:sagemaker:eu-west-1:123456789012:'
        'inference-component/assistants-chat".',
    )
    assert gateway.describe_inference_component("assistants-chat") is None


def test_an_endpoints_components_are_listed_every_page_oldest_first() -> None:
    gateway, stubber = stubbed("sagemaker")

    def summary(name: str, created: datetime, endpoint: str = "assistants") -> dict[str, Any]:
        return {
            "InferenceComponentName": name,
            "InferenceComponentArn": f"{ARN}/{name}",
            "EndpointName": endpoint,
            "EndpointArn": ENDPOINT_ARN,
            "VariantName": "AllTraffic",
            "CreationTime": created,
            "LastModifiedTime": created,
            "InferenceComponentStatus": "InService",
        }

    later = datetime(2026, 1, 2, 12, 0, 0)
    stubber.add_response(
        "list_inference_components",
        {"InferenceComponents": [summary("assistants-b", later)], "NextToken": "page-2"},
        {"EndpointNameEquals": "assistants"},
    )
    stubber.add_response(
        "list_inference_components",
        {
            "InferenceComponents": [
                summary("assistants-a", WHEN),
                # A filter a server ignored must not hand another endpoint's component over.
                summary("other-x", WHEN, endpoint="other"),
            ]
        },
        {"EndpointNameEquals": "assistants", "NextToken": "page-2"},
    )

    found = gateway.list_inference_components("assistants")

    assert [name for name, _, _ in found] == ["assistants-a", "assistants-b"]
    assert found[0][2] == f"{ARN}/assistants-a"
    assert [c.operation for c in gateway.calls] == ["ListInferenceComponents"] * 2
    stubber.assert_no_pending_responses()


def test_an_inference_component_endpoints_config_is_read_as_one() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "assistants-0123456789",
            "EndpointConfigArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/a",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "InstanceType": "ml.g5.12xlarge",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1.0,
                    "ManagedInstanceScaling": {
                        "Status": "ENABLED",
                        "MinInstanceCount": 0,
                        "MaxInstanceCount": 2,
                    },
                    "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
                }
            ],
            "ExecutionRoleArn": ROLE,
            "CreationTime": WHEN,
        },
    )

    config = gateway.describe_endpoint_config("assistants-0123456789")

    assert config is not None
    (variant,) = config.variants
    assert variant.model_name is None
    assert variant.managed_scaling == ManagedInstanceScaling(0, 2)
    assert variant.routing_strategy == "LEAST_OUTSTANDING_REQUESTS"
    assert config.execution_role_arn == ROLE
    assert config.model_names == ()


@pytest.mark.parametrize(
    ("variants", "shadows", "expected"),
    [
        (
            [{"VariantName": "a"}, {"VariantName": "b", "ModelName": "m"}],
            [],
            r"a variant without a model \(a: an inference-component endpoint's\) beside "
            "variants of a model",
        ),
        (
            [{"VariantName": "a", "ModelName": "m"}],
            [{"VariantName": "s"}],
            r"a variant without a model \(s: a shadow of inference components\)",
        ),
    ],
    ids=["beside-a-model", "shadow"],
)
def test_components_beside_models_are_a_shape_still_refused(
    variants: list[dict[str, Any]], shadows: list[dict[str, Any]], expected: str
) -> None:
    gateway, stubber = stubbed("sagemaker")
    sized = [{"InstanceType": "ml.m5.large", "InitialInstanceCount": 1, **v} for v in variants]
    response: dict[str, Any] = {
        "EndpointConfigName": "x",
        "EndpointConfigArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/x",
        "ProductionVariants": sized,
        "CreationTime": WHEN,
    }
    if shadows:
        response["ShadowProductionVariants"] = [
            {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1, **v} for v in shadows
        ]
    stubber.add_response("describe_endpoint_config", response)
    with pytest.raises(UnsupportedShapeError, match=expected):
        gateway.describe_endpoint_config("x")


# --- writing ---------------------------------------------------------------------------------


def test_create_sends_the_specification_copies_variant_and_tags() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "create_inference_component",
        {"InferenceComponentArn": f"{ARN}/assistants-chat"},
        {
            "InferenceComponentName": "assistants-chat",
            "EndpointName": "assistants",
            "VariantName": "AllTraffic",
            "Specification": CHAT_SPECIFICATION,
            "RuntimeConfig": {"CopyCount": 2},
            "Tags": OURS_LIST,
        },
    )
    assert gateway.create_inference_component(CHAT, OURS) == f"{ARN}/assistants-chat"
    stubber.assert_no_pending_responses()


def test_an_adapter_is_created_on_its_base_without_a_variant_or_copies() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "create_inference_component",
        {"InferenceComponentArn": f"{ARN}/assistants-chat-lora"},
        {
            "InferenceComponentName": "assistants-chat-lora",
            "EndpointName": "assistants",
            "Specification": {
                "BaseInferenceComponentName": "assistants-chat",
                "Container": {"ArtifactUrl": LORA.artifact_url},
            },
            "Tags": OURS_LIST,
        },
    )
    gateway.create_inference_component(LORA, OURS)
    stubber.assert_no_pending_responses()


def test_an_update_sends_the_specification_its_rolling_policy_and_new_copies() -> None:
    gateway, stubber = stubbed("sagemaker")
    policy = RollingUpdate("CAPACITY_PERCENT", 50, 30, 1200, "COPY_COUNT", 1)
    stubber.add_response(
        "update_inference_component",
        {"InferenceComponentArn": f"{ARN}/assistants-chat"},
        {
            "InferenceComponentName": "assistants-chat",
            "Specification": CHAT_SPECIFICATION,
            "RuntimeConfig": {"CopyCount": 3},
            "DeploymentConfig": {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                    "WaitIntervalInSeconds": 30,
                    "MaximumExecutionTimeoutInSeconds": 1200,
                    "RollbackMaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
                }
            },
        },
    )
    gateway.update_inference_component(CHAT, policy, copy_count=3)
    stubber.assert_no_pending_responses()


def test_an_update_without_policy_or_copy_change_sends_the_specification_alone() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "update_inference_component",
        {"InferenceComponentArn": f"{ARN}/assistants-chat"},
        {"InferenceComponentName": "assistants-chat", "Specification": CHAT_SPECIFICATION},
    )
    gateway.update_inference_component(CHAT, None)
    stubber.assert_no_pending_responses()


def test_a_copy_count_alone_is_one_write_of_the_runtime_config() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "update_inference_component_runtime_config",
        {"InferenceComponentArn": f"{ARN}/assistants-chat"},
        {"InferenceComponentName": "assistants-chat", "DesiredRuntimeConfig": {"CopyCount": 4}},
    )
    gateway.update_inference_component_copies(CHAT, 4)
    assert [(c.operation, c.mutating) for c in gateway.calls] == [
        ("UpdateInferenceComponentRuntimeConfig", True)
    ]


def test_deleting_a_missing_component_says_so() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_response(
        "delete_inference_component", {}, {"InferenceComponentName": "assistants-chat"}
    )
    stubber.add_client_error(
        "delete_inference_component",
        "ValidationException",
        'Could not find inference component "assistants-chat".',
    )
    assert gateway.delete_inference_component("assistants-chat") is True
    assert gateway.delete_inference_component("assistants-chat") is False


# --- what does not fit -----------------------------------------------------------------------


def _endpoint_of_one_instance(stubber: Stubber, instance_type: str) -> None:
    """What the gateway reads, on a refusal, to say what the endpoint has."""
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": "assistants",
            "EndpointArn": ENDPOINT_ARN,
            "EndpointConfigName": "assistants-0123456789",
            "EndpointStatus": "InService",
            "CreationTime": WHEN,
            "LastModifiedTime": WHEN,
        },
        {"EndpointName": "assistants"},
    )
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "assistants-0123456789",
            "EndpointConfigArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/a",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "InstanceType": instance_type,
                    "InitialInstanceCount": 1,
                }
            ],
            "ExecutionRoleArn": ROLE,
            "CreationTime": WHEN,
        },
        {"EndpointConfigName": "assistants-0123456789"},
    )


def test_a_component_needing_more_accelerators_than_an_instance_has_is_explained() -> None:
    gateway, stubber = stubbed("sagemaker")
    wide = InferenceComponent(**{**CHAT.__dict__, "compute": ComputeRequirements(16384, 4.0, 8.0)})
    stubber.add_client_error(
        "create_inference_component",
        "ValidationException",
        "Inference component assistants-chat requires 8 accelerator devices per copy, which "
        "exceeds the 4 accelerator devices of one ml.g5.12xlarge instance: every copy must fit "
        "on one instance of the endpoint.",
    )
    _endpoint_of_one_instance(stubber, "ml.g5.12xlarge")

    with pytest.raises(AwsError) as raised:
        gateway.create_inference_component(wide, OURS)

    text = str(raised.value)
    assert "requires 8 accelerator devices per copy" in text  # AWS's own words, kept
    assert "asks, per copy, for 8 accelerators, 4 CPU cores, 16384 MB memory" in text
    assert "its 2 copies ask for 16 accelerators, 8 CPU cores, 32768 MB memory" in text
    assert "runs ml.g5.12xlarge (4 nvidia accelerators each), 1 instance" in text
    assert raised.value.hint is not None
    assert "realtime.instance_type" in raised.value.hint
    assert "realtime.managed_scaling.max" in raised.value.hint
    stubber.assert_no_pending_responses()


def test_copies_that_do_not_fit_on_a_cpu_instance_are_explained() -> None:
    gateway, stubber = stubbed("sagemaker")
    small = InferenceComponent(
        **{**CHAT.__dict__, "compute": ComputeRequirements(1024, 1.0), "copy_count": 1}
    )
    stubber.add_client_error(
        "update_inference_component_runtime_config",
        "ValidationException",
        "Insufficient capacity on endpoint assistants for the 6 copies of inference component "
        "assistants-chat: 2 fit on its 1 instance(s) of type ml.m5.large; each copy needs "
        "1024 MB of memory, 1 CPU core.",
    )
    _endpoint_of_one_instance(stubber, "ml.m5.large")

    with pytest.raises(AwsError) as raised:
        gateway.update_inference_component_copies(small, 6)

    text = str(raised.value)
    assert "its 6 copies ask for 6 CPU cores, 6144 MB memory" in text
    assert "runs ml.m5.large (no accelerators each), 1 instance" in text


def test_other_refusals_are_translated_as_any_other() -> None:
    gateway, stubber = stubbed("sagemaker")
    stubber.add_client_error(
        "create_inference_component",
        "ValidationException",
        "CopyCount 0 is not allowed when creating inference component assistants-chat.",
    )
    with pytest.raises(AwsError) as raised:
        gateway.create_inference_component(CHAT, OURS)
    assert "CopyCount 0 is not allowed" in str(raised.value)
    assert "asks, per copy" not in str(raised.value)
    # Nothing was read to explain it: no DescribeEndpoint after the refusal.
    assert [c.operation for c in gateway.calls] == ["CreateInferenceComponent"]


# --- scaling a component's copies -------------------------------------------------------------

COPIES = Scaling(
    resource_id="inference-component/assistants-chat",
    min_capacity=0,
    max_capacity=4,
    target_value=4.0,
    scale_in_cooldown=300,
    scale_out_cooldown=60,
    policy_name="deployspec-assistants-chat-concurrency",
    metric=CONCURRENT_REQUESTS_PER_COPY,
    scale_from_zero=True,
)
EMBED_COPIES = Scaling(
    resource_id="inference-component/assistants-embed",
    min_capacity=1,
    max_capacity=2,
    target_value=8.0,
    scale_in_cooldown=None,
    scale_out_cooldown=None,
    policy_name="deployspec-assistants-embed-concurrency",
    metric=CONCURRENT_REQUESTS_PER_COPY,
)


def test_copies_scaling_from_zero_register_tracking_a_step_policy_and_its_alarm() -> None:
    gateway = Gateway(new_session())
    scaling = Stubber(gateway._autoscaling())
    cloudwatch = Stubber(gateway._client("cloudwatch"))
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": COPIES.resource_id,
        "ScalableDimension": COPY_COUNT_DIMENSION,
    }
    scaling.add_response(
        "register_scalable_target", {}, {**target, "MinCapacity": 0, "MaxCapacity": 4}
    )
    scaling.add_response(
        "put_scaling_policy",
        {"PolicyARN": "arn:policy/tracking", "Alarms": []},
        {
            **target,
            "PolicyName": "deployspec-assistants-chat-concurrency",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 4.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": CONCURRENT_REQUESTS_PER_COPY
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        },
    )
    scaling.add_response(
        "put_scaling_policy",
        {"PolicyARN": "arn:policy/from-zero", "Alarms": []},
        {
            **target,
            # The component's own name: read with every other component's policies by name.
            "PolicyName": "deployspec-assistants-chat-copies-from-zero",
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "MetricAggregationType": "Maximum",
                "Cooldown": 60,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            },
        },
    )
    cloudwatch.add_response(
        "put_metric_alarm",
        {},
        {
            "AlarmName": "deployspec-assistants-chat-copies-from-zero",
            "AlarmDescription": ANY,
            "Namespace": "AWS/SageMaker",
            "MetricName": "NoCapacityInvocationFailures",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": "assistants-chat"}],
            "Statistic": "Maximum",
            "Period": 30,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "missing",
            "AlarmActions": ["arn:policy/from-zero"],
        },
    )
    with scaling, cloudwatch:
        gateway.put_scaling(COPIES)
    scaling.assert_no_pending_responses()
    cloudwatch.assert_no_pending_responses()


def test_copies_scaling_of_every_component_is_read_in_two_calls() -> None:
    """One DescribeScalableTargets for the targets, one DescribeScalingPolicies (paged) for
    every component's policies, asked for by their names: a no-op plan autoscaling each of
    five components reads two scaling calls, not six."""
    gateway, stubber = stubbed("application-autoscaling")
    ids = [COPIES.resource_id, EMBED_COPIES.resource_id, "inference-component/assistants-gone"]

    def target(scaling: Scaling) -> dict[str, Any]:
        return {
            "ServiceNamespace": "sagemaker",
            "ResourceId": scaling.resource_id,
            "ScalableDimension": COPY_COUNT_DIMENSION,
            "MinCapacity": scaling.min_capacity,
            "MaxCapacity": scaling.max_capacity,
            "RoleARN": "arn:role",
            "CreationTime": WHEN,
        }

    stubber.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": [target(COPIES), target(EMBED_COPIES)]},
        {"ServiceNamespace": "sagemaker", "ResourceIds": ids},
    )

    def policy(resource_id: str, name: str, kind: str, **config: Any) -> dict[str, Any]:
        return {
            "PolicyARN": f"arn:policy/{name}",
            "PolicyName": name,
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource_id,
            "ScalableDimension": COPY_COUNT_DIMENSION,
            "PolicyType": kind,
            "CreationTime": WHEN,
            **config,
        }

    def tracking(value: float, **cooldowns: int) -> dict[str, Any]:
        return {
            "TargetValue": value,
            "PredefinedMetricSpecification": {"PredefinedMetricType": CONCURRENT_REQUESTS_PER_COPY},
            **cooldowns,
        }

    names = sorted(
        [
            "deployspec-assistants-chat-concurrency",
            "deployspec-assistants-chat-copies-from-zero",
            "deployspec-assistants-embed-concurrency",
            "deployspec-assistants-embed-copies-from-zero",
        ]
    )
    chat, embed = COPIES.resource_id, EMBED_COPIES.resource_id
    stubber.add_response(
        "describe_scaling_policies",
        {
            "ScalingPolicies": [
                policy(
                    chat,
                    "deployspec-assistants-chat-concurrency",
                    "TargetTrackingScaling",
                    TargetTrackingScalingPolicyConfiguration=tracking(
                        4.0, ScaleInCooldown=300, ScaleOutCooldown=60
                    ),
                ),
                # The names filter is the namespace's: another endpoint's component under a
                # name asked for counts for nothing here, nor does a name not asked for.
                policy(
                    "inference-component/elsewhere",
                    "deployspec-assistants-embed-concurrency",
                    "TargetTrackingScaling",
                    TargetTrackingScalingPolicyConfiguration=tracking(99.0),
                ),
                policy(
                    embed,
                    "hand-made",
                    "TargetTrackingScaling",
                    TargetTrackingScalingPolicyConfiguration=tracking(50.0),
                ),
            ],
            "NextToken": "page-2",
        },
        {"ServiceNamespace": "sagemaker", "PolicyNames": names},
    )
    stubber.add_response(
        "describe_scaling_policies",
        {
            "ScalingPolicies": [
                policy(chat, "deployspec-assistants-chat-copies-from-zero", "StepScaling"),
                policy(
                    embed,
                    "deployspec-assistants-embed-concurrency",
                    "TargetTrackingScaling",
                    TargetTrackingScalingPolicyConfiguration=tracking(8.0),
                ),
            ]
        },
        {"ServiceNamespace": "sagemaker", "PolicyNames": names, "NextToken": "page-2"},
    )

    assert gateway.describe_scalings(ids) == [COPIES, EMBED_COPIES]
    stubber.assert_no_pending_responses()


def test_a_variants_scaling_policies_are_still_read_per_target() -> None:
    """A variant's target may carry a policy of any name (an adopted endpoint's): its policies
    are read by its resource id, beside the components' read by name."""
    gateway, stubber = stubbed("application-autoscaling")
    variant = "endpoint/assistants/variant/AllTraffic"
    stubber.add_response(
        "describe_scalable_targets",
        {
            "ScalableTargets": [
                {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": variant,
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                    "MinCapacity": 1,
                    "MaxCapacity": 3,
                    "RoleARN": "arn:role",
                    "CreationTime": WHEN,
                }
            ]
        },
        {"ServiceNamespace": "sagemaker", "ResourceIds": [variant, COPIES.resource_id]},
    )
    stubber.add_response(
        "describe_scaling_policies",
        {"ScalingPolicies": []},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": variant,
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
    )
    found = gateway.describe_scalings([variant, COPIES.resource_id])
    assert [(s.resource_id, s.min_capacity, s.max_capacity) for s in found] == [(variant, 1, 3)]
    stubber.assert_no_pending_responses()


def test_removing_copies_scaling_removes_its_alarm_too() -> None:
    gateway = Gateway(new_session())
    scaling = Stubber(gateway._autoscaling())
    cloudwatch = Stubber(gateway._client("cloudwatch"))
    scaling.add_response(
        "deregister_scalable_target",
        {},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": COPIES.resource_id,
            "ScalableDimension": COPY_COUNT_DIMENSION,
        },
    )
    cloudwatch.add_response(
        "delete_alarms", {}, {"AlarmNames": ["deployspec-assistants-chat-copies-from-zero"]}
    )
    with scaling, cloudwatch:
        assert gateway.delete_scaling(COPIES.resource_id, CONCURRENT_REQUESTS_PER_COPY)
    cloudwatch.assert_no_pending_responses()


def test_a_components_alarm_is_never_named_like_a_variants() -> None:
    from deployspec.aws import from_zero_alarm

    # Spec "assistants" with component "chat", and endpoint "assistants" with variant "chat".
    assert from_zero_alarm("inference-component/assistants-chat") != from_zero_alarm(
        "endpoint/assistants/variant/chat"
    )


# --- invoking a component ---------------------------------------------------------------------


def test_an_invocation_names_its_component() -> None:
    gateway, stubber = stubbed("sagemaker-runtime")
    import io

    from botocore.response import StreamingBody

    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b'{"ok": 1}'), 9), "ContentType": "application/json"},
        {
            "EndpointName": "assistants",
            "Body": b"{}",
            "ContentType": "application/json",
            "Accept": "application/json",
            "InferenceComponentName": "assistants-chat",
        },
    )
    answer = gateway.invoke_endpoint(
        "assistants", b"{}", "application/json", "application/json", component="assistants-chat"
    )
    assert answer.body == b'{"ok": 1}'
