"""Application Auto Scaling in the sandbox: the scalable dimensions AWS has, not only those moto
lists.

Contract: `install()` (idempotent; `uninstall()` restores moto's) makes moto's Application Auto
Scaling accept every ScalableDimension of botocore's service model, the list AWS validates
against. moto's own enum predates some of them, among them SageMaker's
`sagemaker:variant:DesiredProvisionedConcurrency` (serverless provisioned concurrency) and
`sagemaker:inference-component:DesiredCopyCount`, and refuses them with a ValidationException
AWS would not send. Nothing else of moto's behaviour changes: a dimension outside botocore's
list is still refused with moto's (AWS's) message.
"""

from __future__ import annotations

import threading
from enum import Enum
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()
_saved: dict[ModuleType, Any] = {}


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


def uninstall() -> None:
    with _LOCK:
        for module, value in _saved.items():
            module.ScalableDimensionValueSet = value  # type: ignore[attr-defined]
        _saved.clear()
