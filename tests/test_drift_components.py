"""`drift` on an endpoint of inference components: the config, ownership and tags are judged as
for any endpoint; the components, their copies and the instances SageMaker scales are left to
`plan`, and drift says so instead of calling SageMaker's own scaling drift."""

from __future__ import annotations

from dataclasses import replace

from deployspec.drift import COMPONENTS, Cause, Live, Wanted, classify
from deployspec.naming import content_name
from deployspec.resources import (
    CONCURRENT_REQUESTS_PER_COPY,
    TAG_APPLIED,
    Endpoint,
    EndpointConfig,
    LiveVariant,
    ManagedInstanceScaling,
    Scaling,
    Variant,
    ownership_tags,
)
from deployspec.wire import endpoint_config_request

HOST = Variant(
    None,
    instance_type="ml.m5.xlarge",
    initial_instance_count=1,
    managed_scaling=ManagedInstanceScaling(0, 2),
)
CONFIG = EndpointConfig("", (HOST,), execution_role_arn="arn:aws:iam::123456789012:role/R")
CONFIG = replace(CONFIG, name=content_name("duo", endpoint_config_request(CONFIG)))
COPIES = Scaling(
    "inference-component/duo-first", 0, 3, 4.0, 300, 60, "p", CONCURRENT_REQUESTS_PER_COPY
)
WANTED = Wanted(
    spec_name="duo",
    config=CONFIG,
    user_tags={},
    scalings=(COPIES,),
    deployment=None,
    components=True,
)


def live(instances: int, config: str = CONFIG.name) -> Live:
    """Our endpoint as the last apply of WANTED left it, SageMaker having scaled its instances."""
    record = WANTED.record
    assert record is not None
    return Live(
        Endpoint(
            "duo",
            config,
            "InService",
            arn="arn:endpoint",
            variants=(LiveVariant("AllTraffic", 1.0, 1.0, instances, instances),),
        ),
        tags={**ownership_tags("duo"), TAG_APPLIED: record.value},
    )


def test_instances_scaled_by_sagemaker_are_no_drift_and_components_are_left_to_plan() -> None:
    for instances in (0, 2, 5):
        assessment = classify(WANTED, live(instances))
        assert assessment.findings == ()
        assert COMPONENTS in assessment.unchecked


def test_the_config_of_a_components_endpoint_is_still_judged() -> None:
    found = classify(WANTED, live(1, config="hand-made-config"))
    assert [f.attribute for f in found.findings if f.cause is Cause.DRIFT] == ["endpoint_config"]
    assert COMPONENTS in found.unchecked
