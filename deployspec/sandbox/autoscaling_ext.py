"""Application Auto Scaling in the sandbox: the scalable dimensions AWS has, not only those moto
lists.

Contract: `install()` (idempotent; `uninstall()` restores moto's) makes moto's Application Auto
Scaling accept every ScalableDimension of botocore's service model, the list AWS validates
against. moto's own enum predates some of them, among them SageMaker's
`sagemaker:variant:DesiredProvisionedConcurrency` (serverless provisioned concurrency) and
`sagemaker:inference-component:DesiredCopyCount`, and refuses them with a ValidationException
AWS would not send. A dimension outside botocore's list is still refused with moto's (AWS's)
message. DescribeScalingPolicies answers as AWS does where moto does not: PolicyNames filters
(moto ignores it), ResourceId matches whole ids (moto matches any part of the one given), and
pages hold 10 policies unless MaxResults says otherwise (AWS's default; moto's is 100), so that
counting its calls counts what AWS would be asked.
"""

from __future__ import annotations

import json
import threading
from enum import Enum
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()
_saved: dict[ModuleType, Any] = {}
_saved_methods: dict[str, Any] = {}
# AWS's page size for DescribeScalingPolicies (MaxResults 1-10, default 10).
POLICIES_PER_PAGE = 10


def _aws_dimensions() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("application-autoscaling")
    values: list[str] = model.shape_for("ScalableDimension").enum  # type: ignore[attr-defined]
    return Enum("ScalableDimensionValueSet", {value: value for value in values})


def install() -> None:
    from moto.applicationautoscaling import models, responses

    with _LOCK:
        if _saved:
            return
        dimensions = _aws_dimensions()
        for module in (models, responses):
            _saved[module] = module.ScalableDimensionValueSet
            module.ScalableDimensionValueSet = dimensions  # type: ignore[attr-defined]
        handler = responses.ApplicationAutoScalingResponse
        _saved_methods["describe_scaling_policies"] = handler.describe_scaling_policies
        handler.describe_scaling_policies = _describe_scaling_policies  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.applicationautoscaling import responses

    with _LOCK:
        for module, value in _saved.items():
            module.ScalableDimensionValueSet = value  # type: ignore[attr-defined]
        _saved.clear()
        for name, method in _saved_methods.items():
            setattr(responses.ApplicationAutoScalingResponse, name, method)
        _saved_methods.clear()


def _describe_scaling_policies(self: Any) -> str:
    """DescribeScalingPolicies: the namespace's policies, filtered by ResourceId (the whole
    id), ScalableDimension and PolicyNames, each given, in pages of MaxResults (default 10)."""
    from moto.applicationautoscaling.responses import _build_policy

    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    names = self._get_param("PolicyNames")
    found = [
        policy
        for policy in self.applicationautoscaling_backend.policies.values()
        if policy.service_namespace == namespace
        and (not resource_id or policy.resource_id == resource_id)
        and (not dimension or policy.scalable_dimension == dimension)
        and (not names or policy.policy_name in names)
    ]
    size = self._get_int_param("MaxResults") or POLICIES_PER_PAGE
    start = int(self._get_param("NextToken") or 0)
    end = start + size
    return json.dumps(
        {
            "ScalingPolicies": [_build_policy(p) for p in found[start:end]],
            "NextToken": str(end) if end < len(found) else None,
        }
    )
