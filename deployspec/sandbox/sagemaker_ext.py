"""What moto's SageMaker lacks, patched onto its backend and response classes.

Contract: `install(invoker)` patches moto 5.x in place (idempotent; `uninstall()` restores every
attribute it touched). Afterwards, in server mode and under `mock_aws` alike:

- Endpoints move Creating -> InService, Updating -> InService and Deleting -> gone after a delay
  read from moto's state manager, model name `sagemaker::endpoint` (`{"progression":
  "immediate"}` by default, `{"progression": "time", "seconds": S}` through
  `set_transition_seconds`, at most an hour). Transitions are settled lazily, from timestamps,
  under one lock, whenever endpoints are read or changed: no timers, and no threads of this
  module's own (an invoker may bring containers up on its own; see below).
- UpdateEndpoint exists (RetainAllVariantProperties, ExcludeRetainedVariantProperties,
  DeploymentConfig, RetainDeploymentConfig); while Updating, DescribeEndpoint shows the old
  config plus PendingDeploymentSummary, as AWS does.
- Creating a model, endpoint config or endpoint whose name exists, and looking up a missing one,
  fail with AWS's ValidationException messages instead of overwriting or moto's wording.
- `faults` makes the next create or update of a named endpoint fail (update: rolled back to the
  old config with a FailureReason, or Failed).
- Endpoint configs accept every instance type in botocore's ProductionVariantInstanceType enum
  (moto's own list stops at older families such as ml.m5 and rejects ml.g5, ml.m6i, ml.inf2).
- DescribeModel, DescribeEndpointConfig and DescribeEndpoint return the keys AWS returns: an
  optional member that was never set is omitted (moto answers `VpcConfig: {}`, `Containers: []`,
  `DataCaptureConfig: {}`, which SDKs copy back into invalid requests), and DescribeEndpoint's
  DataCaptureConfig is the DataCaptureConfigSummary of botocore's model, not the config's input.
- AddTags overwrites the value of a key the resource already has, as AWS does (moto appends a
  second tag with the same key).
- UpdateEndpointWeightsAndCapacities changes only the properties the request names (moto set
  the others to None) and, as AWS, shows the new DesiredWeight / DesiredInstanceCount while
  the endpoint is Updating, the Current* values following once it is InService again.
- With an invoker installed, creating or updating an endpoint brings its containers up
  (`EndpointInvoker.start`): the endpoint stays Creating or Updating until they are up, and when
  one is not, the create ends Failed and the update is rolled back to the old config, with
  SageMaker's FailureReason (model data that cannot be downloaded; a container that does not
  pass the ping health check). What the container said is written to CloudWatch Logs,
  `/aws/sagemaker/Endpoints/<endpoint>`, as SageMaker does.
- With an invoker installed, InvokeEndpoint runs the endpoint's current model through it and
  answers with its output, or with a ModelError shaped like SageMaker runtime's (HTTP 424).
  Bodies over the endpoint's limit are refused as AWS refuses them: over 4 MB on a serverless
  endpoint (ValidationError), over the service model's 6 MB on a real-time one (HTTP 413); a
  model's response over the same limits is a ModelError, and model error texts are capped.

Nothing here knows about deployspec: the module is meant to be offered to moto as it stands.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.moto_api import state_manager
from moto.sagemaker.exceptions import SagemakerClientError, ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    SageMakerModelBackend,
    sagemaker_backends,
)
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

ENDPOINT_STATE_MODEL = "sagemaker::endpoint"

# Statuses in which AWS refuses UpdateEndpoint/DeleteEndpoint with "in-progress".
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# An endpoint keeps answering on its current config while an update is rolled out.
SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})

_LOCK = threading.RLock()
_clock: Callable[[], float] = time.monotonic


class RuntimeValidationError(ServiceException):
    """SageMaker runtime's own spelling of a validation error (not ValidationException)."""

    code = "ValidationError"


@dataclass(frozen=True)
class VariantTarget:
    """What one production variant runs, captured when the endpoint is created or updated."""

    variant_name: str
    model_name: str
    image: str | None
    model_data_url: str | None
    environment: Mapping[str, str]
    serverless: bool = False


@dataclass(frozen=True)
class Deployment:
    """An endpoint config as an endpoint runs it; `key` changes whenever what runs changes."""

    key: str
    endpoint_config_name: str
    variants: tuple[VariantTarget, ...]


@dataclass(frozen=True)
class InvocationTarget:
    account_id: str
    region: str
    endpoint_name: str
    deployment_key: str
    variant: VariantTarget


class ModelInvocationError(Exception):
    """The model could not answer; becomes SageMaker runtime's ModelError."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class ContainerFailure:
    """Why a variant's container did not come up; SageMaker fails the create or rolls back."""

    variant_name: str
    kind: Literal["model_data", "health_check"]
    detail: str
    """What the container logged (its error and traceback), for CloudWatch Logs."""
    url: str | None = None
    """The model data that could not be downloaded (kind "model_data")."""


class ContainerStartup(Protocol):
    """A deployment's containers being brought up in the background."""

    def finished(self) -> bool: ...

    def failure(self) -> ContainerFailure | None:
        """The first container that did not come up; None when all did (or are not yet)."""


class EndpointInvoker(Protocol):
    def invoke(
        self, target: InvocationTarget, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]: ...

    def start(self, targets: tuple[InvocationTarget, ...]) -> ContainerStartup:
        """Bring up the containers of a deployment being created or updated, without blocking:
        SageMaker's download of the model data and its ping health check."""

    def release(self, deployment_keys: Iterable[str]) -> None:
        """No endpoint runs these deployments any more; their resources may go."""


@dataclass(frozen=True)
class UpdateFault:
    reason: str
    rollback: bool


class EndpointFaults:
    """One-shot failures armed per endpoint name (any account or region)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._create: dict[str, str] = {}
        self._update: dict[str, UpdateFault] = {}
        self._refuse: dict[str, str] = {}

    def fail_next_create(self, endpoint_name: str, reason: str) -> None:
        with self._lock:
            self._create[endpoint_name] = reason

    def fail_next_update(self, endpoint_name: str, reason: str, *, rollback: bool = True) -> None:
        with self._lock:
            self._update[endpoint_name] = UpdateFault(reason, rollback)

    def refuse_next_update(self, endpoint_name: str, reason: str) -> None:
        """The next UpdateEndpoint call itself fails (as for an exceeded quota): the endpoint
        never starts updating."""
        with self._lock:
            self._refuse[endpoint_name] = reason

    def take_refusal(self, endpoint_name: str) -> str | None:
        with self._lock:
            return self._refuse.pop(endpoint_name, None)

    def take_create(self, endpoint_name: str) -> str | None:
        with self._lock:
            return self._create.pop(endpoint_name, None)

    def take_update(self, endpoint_name: str) -> UpdateFault | None:
        with self._lock:
            return self._update.pop(endpoint_name, None)

    def clear(self) -> None:
        with self._lock:
            self._create.clear()
            self._update.clear()
            self._refuse.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next_create": dict(self._create),
                "fail_next_update": {
                    name: {"reason": f.reason, "rollback": f.rollback}
                    for name, f in self._update.items()
                },
                "refuse_next_update": dict(self._refuse),
            }


class ResourceLimitExceeded(SagemakerClientError):
    """SageMaker's answer when a request would exceed an account quota."""

    code = "ResourceLimitExceeded"


faults = EndpointFaults()
_invoker: EndpointInvoker | None = None


def set_clock(clock: Callable[[], float]) -> None:
    """Replace the monotonic clock transitions are timed with (tests)."""
    global _clock
    _clock = clock


# Real transitions take minutes; a delay beyond an hour would only leave endpoints stuck.
MAX_TRANSITION_SECONDS = 3600.0


def set_transition_seconds(seconds: float) -> None:
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_TRANSITION_SECONDS:
        raise ValueError(
            f"transition seconds must be a number from 0 to {MAX_TRANSITION_SECONDS:g}, "
            f"not {seconds!r}"
        )
    if seconds == 0:
        state_manager.set_transition(ENDPOINT_STATE_MODEL, {"progression": "immediate"})
    else:
        state_manager.set_transition(
            ENDPOINT_STATE_MODEL, {"progression": "time", "seconds": seconds}
        )


def transition_seconds() -> float:
    config = state_manager.get_transition(ENDPOINT_STATE_MODEL)
    if config.get("progression") == "time":
        return float(config.get("seconds", 0))
    # "manual" progression (advance per describe) is not supported; it behaves as immediate.
    return 0.0


# --- bookkeeping kept on each backend instance -------------------------------------------------


@dataclass
class _Transition:
    kind: Literal["create", "update", "delete", "capacity"]
    due: float
    started: datetime
    failure: str | None = None
    rollback: bool = True
    deployment: Deployment | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    raw_variants: list[dict[str, Any]] = field(default_factory=list)
    data_capture_config: Any = None
    startup: ContainerStartup | None = None


@dataclass
class _Book:
    pending: dict[str, _Transition] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)


def _book(backend: SageMakerModelBackend) -> _Book:
    # Kept in the instance dict so that moto's reset (which empties __dict__) clears it too.
    book = backend.__dict__.get("_endpoint_lifecycle")
    if not isinstance(book, _Book):
        book = _Book()
        backend.__dict__["_endpoint_lifecycle"] = book
    return book


def _arn(backend: SageMakerModelBackend, kind: str, name: str) -> str:
    return arn_formatter(kind, name, backend.account_id, backend.region_name)


def _snapshot(backend: SageMakerModelBackend, config_name: str) -> Deployment:
    config = backend.endpoint_configs[config_name]
    variants = []
    for variant in config.production_variants:
        model = backend._models.get(variant["ModelName"])
        if model is None:
            arn = _arn(backend, "model", variant["ModelName"])
            raise ValidationError(message=f'Could not find model "{arn}".')
        container = model.primary_container or (model.containers[0] if model.containers else {})
        variants.append(
            VariantTarget(
                variant_name=variant["VariantName"],
                model_name=model.model_name,
                image=container.get("Image"),
                model_data_url=container.get("ModelDataUrl"),
                environment=dict(container.get("Environment") or {}),
                serverless=bool(variant.get("ServerlessConfig")),
            )
        )
    digest = hashlib.sha256(
        json.dumps([v.__dict__ for v in variants], sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    raw_key = f"{backend.account_id}-{backend.region_name}-{config_name}-{digest}"
    return Deployment(
        key=re.sub(r"[^A-Za-z0-9-]", "_", raw_key),
        endpoint_config_name=config_name,
        variants=tuple(variants),
    )


def _schedule(
    backend: SageMakerModelBackend,
    endpoint: FakeEndpoint,
    kind: Literal["create", "update", "delete", "capacity"],
    status: str,
    **details: Any,
) -> None:
    endpoint.endpoint_status = status
    _book(backend).pending[endpoint.endpoint_name] = _Transition(
        kind=kind, due=_clock() + transition_seconds(), started=utcnow(), **details
    )


def _drop_deployment(book: _Book, endpoint_name: str) -> list[str]:
    old = book.deployments.pop(endpoint_name, None)
    return _unused(book, old)


def _unused(book: _Book, deployment: Deployment | None) -> list[str]:
    if deployment is None:
        return []
    if any(d.key == deployment.key for d in book.deployments.values()):
        return []
    return [deployment.key]


def _complete(
    backend: SageMakerModelBackend, book: _Book, endpoint: FakeEndpoint, t: _Transition
) -> list[str]:
    name = endpoint.endpoint_name
    if t.kind == "delete":
        backend.endpoints.pop(name, None)
        return _drop_deployment(book, name)
    endpoint.last_modified_time = utcnow()
    if t.kind == "capacity":
        endpoint.endpoint_status = "InService"
        for variant in endpoint.production_variants:
            for desired, current in _CAPACITY_KEYS.items():
                if variant.get(desired) is not None:
                    variant[current] = variant[desired]
        return []
    failure = t.failure if t.failure is not None else _startup_failure(backend, name, t)
    if t.kind == "create":
        if failure is not None:
            endpoint.endpoint_status = "Failed"
            setattr(endpoint, "failure_reason", failure)  # noqa: B010 - moto types it as None
            return _unused(book, t.deployment)
        endpoint.endpoint_status = "InService"
        book.deployments[name] = _deployment_of(t)
        return []
    if failure is not None:
        setattr(endpoint, "failure_reason", failure)  # noqa: B010 - moto types it as None
        if t.rollback:
            endpoint.endpoint_status = "InService"
            return _unused(book, t.deployment)
        endpoint.endpoint_status = "Failed"
        return _drop_deployment(book, name) + _unused(book, t.deployment)
    deployment = _deployment_of(t)
    endpoint.endpoint_config_name = deployment.endpoint_config_name
    endpoint.production_variants = t.variants
    endpoint.data_capture_config = t.data_capture_config
    endpoint.endpoint_status = "InService"
    old = book.deployments.get(name)
    book.deployments[name] = deployment
    if old is not None and old.key != deployment.key:
        return _unused(book, old)
    return []


def _settle(backend: SageMakerModelBackend) -> list[str]:
    """Apply every transition that is due; returns deployment keys no endpoint runs any more."""
    book = _book(backend)
    now = _clock()
    released: list[str] = []
    for name, transition in sorted(book.pending.items(), key=lambda item: item[1].due):
        if transition.due > now:
            continue
        if transition.startup is not None and not transition.startup.finished():
            continue  # as on AWS, Creating and Updating last until the containers are up
        del book.pending[name]
        endpoint = backend.endpoints.get(name)
        if endpoint is not None:
            released += _complete(backend, book, endpoint, transition)
    return released


def _start_containers(
    backend: SageMakerModelBackend, endpoint_name: str, deployment: Deployment
) -> ContainerStartup | None:
    invoker = _invoker
    if invoker is None:
        return None
    targets = tuple(
        InvocationTarget(
            backend.account_id, backend.region_name, endpoint_name, deployment.key, variant
        )
        for variant in deployment.variants
    )
    return invoker.start(targets)


def _startup_failure(
    backend: SageMakerModelBackend, endpoint_name: str, t: _Transition
) -> str | None:
    """SageMaker's FailureReason for containers that did not come up, or None."""
    failure = t.startup.failure() if t.startup is not None else None
    if failure is None:
        return None
    if failure.kind == "model_data":
        # Before any container runs, so nothing is logged.
        return (
            f'Failed to download model data for container "container_1" from URL: '
            f'"{failure.url}". Please ensure that there is an object located at the URL and '
            "that the role passed to CreateModel has permissions to download the object."
        )
    _log_container_failure(backend, endpoint_name, failure)
    return (
        f"The primary container for production variant {failure.variant_name} did not pass "
        "the ping health check. Please check CloudWatch logs for this endpoint."
    )


def _log_container_failure(
    backend: SageMakerModelBackend, endpoint_name: str, failure: ContainerFailure
) -> None:
    """Write what the container said where SageMaker writes it: the endpoint's log group."""
    from moto.logs.models import logs_backends

    logs = logs_backends[backend.account_id][backend.region_name]
    group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    stream = f"{failure.variant_name}/i-{uuid.uuid4().hex[:17]}"
    logs.ensure_log_group(group)
    logs.ensure_log_stream(group, stream)
    now = int(time.time() * 1000)
    lines = failure.detail.splitlines() or [failure.detail]
    logs.put_log_events(group, stream, [{"timestamp": now, "message": line} for line in lines])


def _release(keys: list[str]) -> None:
    invoker = _invoker
    if keys and invoker is not None:
        invoker.release(keys)


def _missing_endpoint(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(message=f'Could not find endpoint "{_arn(backend, "endpoint", name)}".')


def _missing_config(backend: SageMakerModelBackend, name: str) -> ValidationError:
    arn = _arn(backend, "endpoint-config", name)
    return ValidationError(message=f'Could not find endpoint configuration "{arn}".')


def _missing_model(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(message=f'Could not find model "{_arn(backend, "model", name)}".')


# --- backend methods ---------------------------------------------------------------------------


def create_model(self: SageMakerModelBackend, model_name: str, **kwargs: Any) -> Any:
    with _LOCK:
        if model_name in self._models:
            arn = _arn(self, "model", model_name)
            raise ValidationError(message=f'Cannot create already existing model "{arn}".')
        return _original(SageMakerModelBackend, "create_model")(
            self, model_name=model_name, **kwargs
        )


def describe_model(self: SageMakerModelBackend, model_name: str) -> Any:
    with _LOCK:
        if model_name not in self._models:
            raise _missing_model(self, model_name)
        return _original(SageMakerModelBackend, "describe_model")(self, model_name)


def delete_model(self: SageMakerModelBackend, model_name: str) -> None:
    with _LOCK:
        if model_name not in self._models:
            raise _missing_model(self, model_name)
        _original(SageMakerModelBackend, "delete_model")(self, model_name)


def create_endpoint_config(
    self: SageMakerModelBackend,
    endpoint_config_name: str,
    production_variants: list[dict[str, Any]],
    **kwargs: Any,
) -> Any:
    with _LOCK:
        if endpoint_config_name in self.endpoint_configs:
            arn = _arn(self, "endpoint-config", endpoint_config_name)
            raise ValidationError(
                message=f'Cannot create already existing endpoint configuration "{arn}".'
            )
        for variant in production_variants or []:
            if variant.get("ModelName") not in self._models:
                raise _missing_model(self, str(variant.get("ModelName")))
        return _original(SageMakerModelBackend, "create_endpoint_config")(
            self,
            endpoint_config_name=endpoint_config_name,
            production_variants=production_variants,
            **kwargs,
        )


def describe_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str) -> Any:
    with _LOCK:
        if endpoint_config_name not in self.endpoint_configs:
            raise _missing_config(self, endpoint_config_name)
        return _original(SageMakerModelBackend, "describe_endpoint_config")(
            self, endpoint_config_name
        )


def delete_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str) -> None:
    # AWS lets a config in use be deleted; endpoints keep running what they captured.
    with _LOCK:
        if endpoint_config_name not in self.endpoint_configs:
            raise _missing_config(self, endpoint_config_name)
        _original(SageMakerModelBackend, "delete_endpoint_config")(self, endpoint_config_name)


def create_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    tags: list[dict[str, str]] | None = None,
) -> Any:
    with _LOCK:
        released = _settle(self)
        if endpoint_name in self.endpoints:
            arn = _arn(self, "endpoint", endpoint_name)
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        if endpoint_config_name not in self.endpoint_configs:
            raise _missing_config(self, endpoint_config_name)
        deployment = _snapshot(self, endpoint_config_name)
        endpoint = _original(SageMakerModelBackend, "create_endpoint")(
            self,
            endpoint_name=endpoint_name,
            endpoint_config_name=endpoint_config_name,
            tags=tags or [],
        )
        fault = faults.take_create(endpoint_name)
        _schedule(
            self,
            endpoint,
            "create",
            "Creating",
            failure=fault,
            deployment=deployment,
            variants=[dict(v) for v in endpoint.production_variants],
            raw_variants=list(self.endpoint_configs[endpoint_config_name].production_variants),
            startup=None if fault else _start_containers(self, endpoint_name, deployment),
        )
    _release(released)
    return endpoint


def describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
    with _LOCK:
        released = _settle(self)
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise _missing_endpoint(self, endpoint_name)
        response: dict[str, Any] = endpoint.response_object
        pending = _book(self).pending.get(endpoint_name)
        if pending is not None and pending.deployment is not None:
            response["PendingDeploymentSummary"] = _pending_summary(pending)
    _release(released)
    return response


def _deployment_of(t: _Transition) -> Deployment:
    """The deployment a create or update transition brings (only deletes have none)."""
    if t.deployment is None:
        raise RuntimeError(f"the {t.kind} transition carries no deployment")
    return t.deployment


def _pending_summary(t: _Transition) -> dict[str, Any]:
    deployment = _deployment_of(t)
    instance_types = {v["VariantName"]: v.get("InstanceType") for v in t.raw_variants}
    variants = []
    for variant in t.variants:
        summary = {k: v for k, v in variant.items() if not k.startswith("Current")}
        summary["VariantStatus"] = [{"Status": "Creating", "StartTime": t.started}]
        if instance_types.get(variant["VariantName"]):
            summary["InstanceType"] = instance_types[variant["VariantName"]]
        variants.append(summary)
    return {
        "EndpointConfigName": deployment.endpoint_config_name,
        "ProductionVariants": variants,
        "StartTime": t.started,
    }


def list_endpoints(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    with _LOCK:
        released = _settle(self)
        result = _original(SageMakerModelBackend, "list_endpoints")(self, *args, **kwargs)
    _release(released)
    return result


def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
    with _LOCK:
        released = _settle(self)
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise _missing_endpoint(self, endpoint_name)
        if endpoint.endpoint_status in IN_PROGRESS:
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        _schedule(self, endpoint, "delete", "Deleting")
        released += _settle(self)
    _release(released)


def update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    retain_all_variant_properties: bool | None = None,
    exclude_retained_variant_properties: list[dict[str, str]] | None = None,
    deployment_config: dict[str, Any] | None = None,
    retain_deployment_config: bool | None = None,
) -> str:
    with _LOCK:
        released = _settle(self)
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise _missing_endpoint(self, endpoint_name)
        if endpoint.endpoint_status in IN_PROGRESS:
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        if endpoint.endpoint_status == "Failed":
            raise ValidationError(message=f'Cannot update failed endpoint "{endpoint.arn}".')
        refusal = faults.take_refusal(endpoint_name)
        if refusal is not None:
            raise ResourceLimitExceeded(refusal)
        config = self.endpoint_configs.get(endpoint_config_name)
        if config is None:
            raise _missing_config(self, endpoint_config_name)
        _refuse_type_change_under_autoscaling(self, endpoint, list(config.production_variants))
        deployment = _snapshot(self, endpoint_config_name)
        excluded = {p.get("VariantPropertyType") for p in exclude_retained_variant_properties or []}
        retain = bool(retain_all_variant_properties)
        variants = _variants_after_update(
            endpoint, list(config.production_variants), retain=retain, excluded=excluded
        )
        if retain and "DataCaptureConfig" not in excluded:
            data_capture = endpoint.data_capture_config
        else:
            data_capture = config.data_capture_config
        if deployment_config is not None:
            setattr(endpoint, "last_deployment_config", deployment_config)  # noqa: B010
        elif not retain_deployment_config and hasattr(endpoint, "last_deployment_config"):
            delattr(endpoint, "last_deployment_config")
        setattr(endpoint, "failure_reason", None)  # noqa: B010 - a new attempt clears the last one
        fault = faults.take_update(endpoint_name)
        _schedule(
            self,
            endpoint,
            "update",
            "Updating",
            failure=fault.reason if fault else None,
            rollback=fault.rollback if fault else True,
            deployment=deployment,
            variants=variants,
            raw_variants=list(config.production_variants),
            data_capture_config=data_capture,
            startup=None if fault else _start_containers(self, endpoint_name, deployment),
        )
        arn: str = endpoint.arn
    _release(released)
    return arn


def _refuse_type_change_under_autoscaling(
    backend: SageMakerModelBackend, endpoint: FakeEndpoint, new_variants: list[dict[str, Any]]
) -> None:
    """AWS refuses to change a variant's instance type while Application Auto Scaling has a
    scalable target on it; deployspec's plans deregister first, and this keeps them honest."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    current_config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    if current_config is None:
        return
    current = {v["VariantName"]: v.get("InstanceType") for v in current_config.production_variants}
    scaling = applicationautoscaling_backends[backend.account_id][backend.region_name]
    targets = scaling.targets.get("sagemaker:variant:DesiredInstanceCount", {})
    blocked = [
        v["VariantName"]
        for v in new_variants
        if v["VariantName"] in current
        and v.get("InstanceType") != current[v["VariantName"]]
        and f"endpoint/{endpoint.endpoint_name}/variant/{v['VariantName']}" in targets
    ]
    if blocked:
        # AWS's wording, as near as public reports give it.
        raise ValidationError(
            message=f'The variant(s) "{blocked}" must not have auto scaling configured to change '
            "the instance type. Deregister the scalable target(s) first."
        )


def _variants_after_update(
    endpoint: FakeEndpoint,
    new_variants: list[dict[str, Any]],
    *,
    retain: bool,
    excluded: set[str | None],
) -> list[dict[str, Any]]:
    variants = endpoint._process_production_variants(new_variants)
    if not retain:
        return variants
    current = {v["VariantName"]: v for v in endpoint.production_variants}
    retained = {
        "DesiredInstanceCount": ("CurrentInstanceCount", "DesiredInstanceCount"),
        "DesiredWeight": ("CurrentWeight", "DesiredWeight"),
    }
    for variant in variants:
        before = current.get(variant["VariantName"])
        if before is None:
            continue
        for prop, keys in retained.items():
            if prop in excluded:
                continue
            for key in keys:
                if key in before:
                    variant[key] = before[key]
    return variants


def add_tags(
    self: SageMakerModelBackend, arn: str, tags: list[dict[str, str]]
) -> list[dict[str, str]]:
    """AWS overwrites the value of a key the resource already has; moto appended a second tag."""
    with _LOCK:
        resource = self._get_resource_from_arn(arn)
        merged: dict[str, dict[str, str]] = {tag["Key"]: tag for tag in resource.tags}
        for tag in tags:
            merged[tag["Key"]] = dict(tag)
        resource.tags = list(merged.values())
        result: list[dict[str, str]] = resource.tags
        return result


# UpdateEndpointWeightsAndCapacities: each property a request may set, with the summary key
# DescribeEndpoint reports it under while the update runs (Desired*) and once it is done.
_CAPACITY_KEYS = {
    "DesiredWeight": "CurrentWeight",
    "DesiredInstanceCount": "CurrentInstanceCount",
}


def update_endpoint_weights_and_capacities(
    self: SageMakerModelBackend,
    endpoint_name: str,
    desired_weights_and_capacities: list[dict[str, Any]],
    **kwargs: Any,
) -> str:
    """As AWS: a property the request leaves out keeps its value (moto set it to None), and
    the variant's Current* values follow its Desired* ones once the update completes."""
    with _LOCK:
        released = _settle(self)
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status in IN_PROGRESS:
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        before = {
            v["VariantName"]: dict(v) for v in (endpoint.production_variants if endpoint else [])
        }
        arn: str = _original(SageMakerModelBackend, "update_endpoint_weights_and_capacities")(
            self,
            endpoint_name=endpoint_name,
            desired_weights_and_capacities=desired_weights_and_capacities,
            **kwargs,
        )
        updated = self.endpoints[endpoint_name]
        asked = {item.get("VariantName"): item for item in desired_weights_and_capacities}
        for variant in updated.production_variants:
            request = asked.get(variant["VariantName"])
            if request is None:
                continue
            old = before.get(variant["VariantName"], {})
            for desired, current in _CAPACITY_KEYS.items():
                kept = (current,) if request.get(desired) is not None else (desired, current)
                for key in kept:
                    if key in old:
                        variant[key] = old[key]
                    else:
                        variant.pop(key, None)
        _schedule(self, updated, "capacity", "Updating")
    _release(released)
    return arn


def resolve_invocation(
    account_id: str, region: str, endpoint_name: str, target_variant: str | None
) -> InvocationTarget:
    """What InvokeEndpoint should run now, or AWS's ValidationError."""
    backend = sagemaker_backends[account_id][region]
    with _LOCK:
        released = _settle(backend)
        endpoint = backend.endpoints.get(endpoint_name)
        deployment = _book(backend).deployments.get(endpoint_name)
        if endpoint is None or endpoint.endpoint_status not in SERVING or deployment is None:
            raise RuntimeValidationError(
                f"Endpoint {endpoint_name} of account {account_id} not found."
            )
    _release(released)
    if target_variant:
        for variant in deployment.variants:
            if variant.variant_name == target_variant:
                break
        else:
            raise RuntimeValidationError(
                f"The variant {target_variant} is not present within endpoint {endpoint_name}."
            )
    else:
        variant = deployment.variants[0]
    return InvocationTarget(account_id, region, endpoint_name, deployment.key, variant)


# Serverless endpoints take at most 4 MB per request (SageMaker's serverless limits page); no
# service model states it, unlike the real-time limit read from botocore below.
SERVERLESS_MAX_PAYLOAD = 4 * 1024 * 1024


@functools.cache
def realtime_max_payload() -> int:
    """InvokeEndpoint's Body limit, from botocore's sagemaker-runtime model (6 MB)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    request = model.operation_model("InvokeEndpoint").input_shape
    if request is None:
        raise RuntimeError("botocore's sagemaker-runtime model has no InvokeEndpoint input")
    return int(request.members["Body"].metadata["max"])


def _payload_limit(target: InvocationTarget) -> int:
    return SERVERLESS_MAX_PAYLOAD if target.variant.serverless else realtime_max_payload()


def _oversize(target: InvocationTarget, size: int) -> TYPE_RESPONSE | None:
    """AWS's refusal of a request body over the endpoint's limit, or None when it fits."""
    if target.variant.serverless:
        if size <= SERVERLESS_MAX_PAYLOAD:
            return None
        raise RuntimeValidationError(f"Request {uuid.uuid4()} has oversize body.")
    limit = realtime_max_payload()
    if size <= limit:
        return None
    # The front end answers before SageMaker does: a bare 413, which botocore names by its code.
    return (
        413,
        {"status": "413"},
        json.dumps({"message": f"HTTP content length exceeded {limit} bytes."}),
    )


@functools.cache
def _instance_types() -> tuple[str, ...]:
    import botocore.session
    from botocore.model import StringShape

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.shape_for("ProductionVariantInstanceType")
    if not isinstance(shape, StringShape):
        raise RuntimeError("botocore's ProductionVariantInstanceType is no longer a string enum")
    return tuple(shape.enum)


def validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
    if instance_type not in _instance_types():
        raise ValidationError(
            message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: "
            f"Member must satisfy enum value set: {list(_instance_types())}"
        )


# --- what AWS returns --------------------------------------------------------------------------


@functools.cache
def _output_shape(operation: str) -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model(operation).output_shape
    if shape is None:
        raise RuntimeError(f"botocore's sagemaker model has no output for {operation}")
    return shape


def omit_unset(value: Any, shape: Any) -> Any:
    """`value` as AWS would send it for `shape` (a botocore shape): keys the shape does not have
    are dropped, and so are optional members that were never set (None, or an empty structure
    or list, which AWS omits and which SDKs that copy a description back would send as an
    invalid request). Required members and maps are kept as they are."""
    from botocore.model import ListShape, StructureShape

    if isinstance(shape, StructureShape) and isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, member_value in value.items():
            member = shape.members.get(key)
            if member is None:
                continue
            cleaned = omit_unset(member_value, member)
            unset = cleaned is None or (
                isinstance(member, StructureShape | ListShape)
                and isinstance(cleaned, dict | list)
                and not cleaned
            )
            if unset and key not in shape.required_members:
                continue
            result[key] = cleaned
        return result
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [omit_unset(item, shape.member) for item in value]
    return value


def data_capture_summary(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfigSummary for the DataCaptureConfig an endpoint runs."""
    if not config:
        return None
    # "Whether data capture should be enabled or disabled (defaults to enabled)."
    enabled = bool(config.get("EnableCapture", True))
    summary: dict[str, Any] = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config.get("InitialSamplingPercentage"),
        "DestinationS3Uri": config.get("DestinationS3Uri"),
    }
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    return summary


# AWS's cap on the message of a model's error is not documented; this keeps a runaway exception
# text (megabytes) from being repeated in Message and OriginalMessage.
MAX_MODEL_MESSAGE = 8 * 1024


def cap_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters cut)"


# --- response handlers -------------------------------------------------------------------------


def _handle_describe_model(self: SageMakerResponse) -> ActionResult:
    model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))
    return ActionResult(omit_unset(model.response_object, _output_shape("DescribeModel")))


def _handle_describe_endpoint_config(self: SageMakerResponse) -> ActionResult:
    response = self.sagemaker_backend.describe_endpoint_config(
        self._get_param("EndpointConfigName")
    )
    return ActionResult(omit_unset(response, _output_shape("DescribeEndpointConfig")))


def _handle_describe_endpoint(self: SageMakerResponse) -> ActionResult:
    response = dict(self.sagemaker_backend.describe_endpoint(self._get_param("EndpointName")))
    response["DataCaptureConfig"] = data_capture_summary(response.get("DataCaptureConfig"))
    return ActionResult(omit_unset(response, _output_shape("DescribeEndpoint")))


def _handle_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = update_endpoint(
        self.sagemaker_backend,
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        retain_all_variant_properties=self._get_param("RetainAllVariantProperties"),
        exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
        deployment_config=self._get_param("DeploymentConfig"),
        retain_deployment_config=self._get_param("RetainDeploymentConfig"),
    )
    return ActionResult({"EndpointArn": arn})


def _handle_invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    invoker = _invoker
    if invoker is None:
        # moto's canned-result stub reads the body as text; we switched the class to raw bytes.
        if isinstance(self.body, bytes):
            self.body = self.body.decode("utf-8", "replace")
        result: TYPE_RESPONSE = _original(SageMakerRuntimeResponse, "invoke_endpoint")(self)
        return result
    endpoint_name = unquote(self.path.split("/")[2])
    target = resolve_invocation(
        self.current_account,
        self.region,
        endpoint_name,
        self.headers.get("X-Amzn-SageMaker-Target-Variant"),
    )
    body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body).encode()
    refused = _oversize(target, len(body))
    if refused is not None:
        return refused
    content_type = self.headers.get("Content-Type") or "application/octet-stream"
    accept = self.headers.get("Accept") or "*/*"
    try:
        output, output_type = invoker.invoke(target, body, content_type, accept)
    except ModelInvocationError as error:
        return _model_error(target, error)
    limit = _payload_limit(target)
    if len(output) > limit:
        # SageMaker's response limit is the request's; its wording for a breach is not public.
        return _model_error(
            target,
            ModelInvocationError(
                500,
                f"the model's response of {len(output):,} bytes is over the {limit:,}-byte "
                "limit of an InvokeEndpoint response",
            ),
        )
    headers = {
        "Content-Type": output_type,
        "x-Amzn-Invoked-Production-Variant": target.variant.variant_name,
    }
    return 200, headers, output


def _model_error(target: InvocationTarget, error: ModelInvocationError) -> TYPE_RESPONSE:
    side = "client" if 400 <= error.status_code < 500 else "server"
    region, account = target.region, target.account_id
    log_group = f"/aws/sagemaker/Endpoints/{target.endpoint_name}"
    original = cap_text(error.message, MAX_MODEL_MESSAGE)
    message = (
        f"Received {side} error ({error.status_code}) from {target.variant.variant_name} "
        f'with message "{original}". See https://{region}.console.aws.amazon.com/'
        f"cloudwatch/home?region={region}#logEventViewer:group={log_group} "
        f"in account {account} for more information."
    )
    body = {
        "ErrorCode": f"{side.upper()}_ERROR_FROM_MODEL",
        "Message": message,
        "OriginalStatusCode": error.status_code,
        "OriginalMessage": original,
        "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{log_group}",
    }
    # moto takes the status from the headers, not from the tuple's first element.
    headers = {
        "status": "424",
        "Content-Type": "application/json",
        "X-Amzn-ErrorType": "ModelError",
    }
    return 424, headers, json.dumps(body)


# --- installation ------------------------------------------------------------------------------

_MISSING = object()
_saved: dict[tuple[type, str], Any] = {}


def _original(cls: type, name: str) -> Any:
    return _saved[(cls, name)]


def _patches() -> list[tuple[type, str, Any]]:
    backend_methods: list[Callable[..., Any]] = [
        create_model,
        describe_model,
        delete_model,
        create_endpoint_config,
        describe_endpoint_config,
        delete_endpoint_config,
        create_endpoint,
        describe_endpoint,
        list_endpoints,
        delete_endpoint,
        update_endpoint,
        update_endpoint_weights_and_capacities,
        add_tags,
    ]
    patches: list[tuple[type, str, Any]] = [
        (SageMakerModelBackend, f.__name__, f) for f in backend_methods
    ]
    patches += [
        (FakeEndpointConfig, "validate_instance_type", validate_instance_type),
        (SageMakerResponse, "update_endpoint", _handle_update_endpoint),
        (SageMakerResponse, "describe_model", _handle_describe_model),
        (SageMakerResponse, "describe_endpoint_config", _handle_describe_endpoint_config),
        (SageMakerResponse, "describe_endpoint", _handle_describe_endpoint),
        (SageMakerRuntimeResponse, "invoke_endpoint", _handle_invoke_endpoint),
        # Bodies of InvokeEndpoint are arbitrary bytes; moto would decode them as UTF-8.
        (SageMakerRuntimeResponse, "use_raw_body", True),
    ]
    return patches


def install(invoker: EndpointInvoker | None = None) -> None:
    """Patch moto (idempotent); `invoker` replaces any previous one."""
    global _invoker
    with _LOCK:
        _invoker = invoker
        state_manager.register_default_transition(
            ENDPOINT_STATE_MODEL, {"progression": "immediate"}
        )
        if _saved:
            return
        for cls, name, value in _patches():
            _saved[(cls, name)] = cls.__dict__.get(name, _MISSING)
            setattr(cls, name, value)


def uninstall() -> None:
    """Restore moto's own methods and forget faults, transitions and the invoker."""
    global _invoker
    with _LOCK:
        for (cls, name), value in _saved.items():
            if value is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value)
        _saved.clear()
        _invoker = None
        faults.clear()
        state_manager.unset_transition(ENDPOINT_STATE_MODEL)
