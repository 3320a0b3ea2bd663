"""Inference components for moto's SageMaker: several models on one endpoint, scaled by copies.

Contract (moto has no inference-component operation; `patches()` adds them, installed with
sagemaker_ext's, which calls the hooks below from CreateEndpointConfig, CreateEndpoint,
DescribeEndpoint, UpdateEndpoint, DeleteEndpoint, InvokeEndpoint and every settling of
transitions):

- Endpoint configs for components: a production variant without ModelName, which needs the
  config's ExecutionRoleArn (kept, and returned by DescribeEndpointConfig), an InstanceType of
  instance_sizes.py's table and no ServerlessConfig; such a config mixes no variant with a
  ModelName and has no shadow variants or AsyncInferenceConfig. ManagedInstanceScaling
  {Status ENABLED, MinInstanceCount (0 allowed), MaxInstanceCount} is accepted on it only
  ("ManagedInstanceScaling is only supported for inference component endpoints." otherwise,
  AWS's words), with Min <= InitialInstanceCount <= Max. CreateEndpoint of such a config goes
  InService with InitialInstanceCount instances and no model; DescribeEndpoint's variant
  summary carries ManagedInstanceScaling and RoutingConfig. An endpoint with components cannot
  be deleted, nor updated to a config whose variants have a ModelName or lack a variant its
  components use (the wording of these refusals is the sandbox's).
- CreateInferenceComponent / DescribeInferenceComponent / ListInferenceComponents /
  UpdateInferenceComponent / UpdateInferenceComponentRuntimeConfig / DeleteInferenceComponent
  with the request and response shapes of botocore's service model (the request is validated
  against it: lengths, patterns, enums, ranges, AWS's "1 validation error detected" wording),
  ARNs `arn:aws:sagemaker:<region>:<account>:inference-component/<name>`. Describe returns the
  keys AWS returns: Specification as requested (ModelName, Container with DeployedImage for an
  Image, StartupParameters, ComputeResourceRequirements, BaseInferenceComponentName),
  RuntimeConfig {DesiredCopyCount, CurrentCopyCount} (none for an adapter, which runs on its
  base's copies), FailureReason once something failed, LastDeploymentConfig after an update
  that had one. List filters by EndpointNameEquals, VariantNameEquals, StatusEquals,
  NameContains and the four time bounds, sorts by Name, CreationTime (default) or Status,
  Descending by default, and pages (MaxResults 1-100, default 10; NextToken).
- States as AWS's: Creating -> InService (or Failed with FailureReason), Updating -> InService
  (a rolled back update: InService on the old specification with FailureReason), Deleting ->
  gone. Each takes one transition delay of sagemaker_ext's (`transition_seconds`, timed by its
  clock, settled lazily like endpoints), and lasts as long as the component's container takes
  to come up (the invoker's `start`, as for endpoints: model data that cannot be downloaded,
  or a container failing its ping health check, fail the create and roll the update back, the
  container's output going to CloudWatch Logs `/aws/sagemaker/InferenceComponents/<name>`) and
  as long as instances it waits for are being provisioned. An update's rolling policy adds
  (batches - 1) x WaitIntervalInSeconds, scaled as endpoint deployments are; an alarm of its
  AutoRollbackConfiguration in ALARM state when the update would finish rolls it back. During
  an update the component keeps answering with its old specification.
- Capacity: each copy takes NumberOfCpuCoresRequired, NumberOfAcceleratorDevicesRequired and
  MinMemoryRequiredInMb of one instance (instance_sizes.py; what is not given takes none);
  copies are packed first fit, components in the order they were created, as if SageMaker
  consolidated them at once, every copy already placed before any further one: as on AWS, more
  copies of one component never take another's place, they wait for room. A copy needing more
  of anything than one instance of the type has is a ValidationException at
  Create/UpdateInferenceComponent, and so are copies that cannot all be placed on the
  instances the endpoint can have (its instance count; with managed instance scaling,
  MaxInstanceCount) next to its other components' copies. Copies the endpoint
  lacks room for after UpdateInferenceComponentRuntimeConfig (as an autoscaler's desired count
  beyond MaxInstanceCount) are not refused: they stay pending (DesiredCopyCount above
  CurrentCopyCount, the component InService) until room frees up. With managed instance scaling
  the endpoint adds the instances its copies need, up to MaxInstanceCount, and releases idle
  ones down to MinInstanceCount (0: scale to zero, when no copy is left), each change one
  transition delay later; DescribeEndpoint's DesiredInstanceCount shows the change at once and
  CurrentInstanceCount once it is done. CopyCount 0 is refused at create, allowed afterwards.
- Adapters (BaseInferenceComponentName, Container.ArtifactUrl, no compute, no RuntimeConfig)
  need their base InService on the same endpoint and take no capacity; their ArtifactUrl must
  exist in moto's S3 (the create fails otherwise, as the download would). A base with adapters
  cannot be deleted ("... is a base inference component for one or more associated adapter
  inference components"); neither can a component that is Creating or Updating.
- Tags: CreateInferenceComponent's, and AddTags / ListTags / DeleteTags on the component's ARN.
- Invocations: InvokeEndpoint / InvokeEndpointWithResponseStream with InferenceComponentName
  run that component's model (its ModelName's container, or its Container) through the
  invoker like any variant's; an adapter answers with its base's model (the sandbox runs no
  LoRA weights: the adapter's artifact is only checked to exist). Refused as AWS refuses them
  (ValidationError): no InferenceComponentName on an endpoint of components ("Inference
  Component Name header is required ..."), one on an endpoint of models ("... is not
  allowed ..."), a component the endpoint does not have, and one without a copy ("Inference
  Component has no capacity to process this request. ...", also while it is Creating).

Not reproduced: Specifications (one per instance type of an instance pool), accelerator
partitions, DataCacheConfig and SchedulingConfig beyond echoing them, the rolling update's
extra capacity and MaximumExecutionTimeoutInSeconds, ScaleInPolicy, the
NoCapacityInvocationFailures metric. One model worker serves all of a component's copies.

Capacities come from instance_sizes.py, which takes accelerator counts from deployspec.gpus:
the one part of this module that knows about deployspec.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter

from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.async_inference import validation_message, violations
from deployspec.sandbox.instance_sizes import InstanceSize, UnknownInstanceSize, size_of
from deployspec.sandbox.sagemaker_ext import (
    ContainerFailure,
    ContainerStartup,
    InvocationTarget,
    RuntimeValidationError,
    VariantTarget,
)

ARN_KIND = "inference-component"
# A component keeps answering while these last; Creating has no copy yet.
_SERVING = frozenset({"InService", "Updating"})
_IN_PROGRESS = frozenset({"Creating", "Updating", "Deleting"})
DEFAULT_MAX_RESULTS = 10
# AWS's CAPACITY_PERCENT bounds for an inference component's rolling update batch.
BATCH_PERCENT = (5, 50)

# AWS's words (terraform-provider-aws #40644, #45926; the SageMaker scale-to-zero post;
# reported InvokeEndpoint errors).
NOT_AN_IC_ENDPOINT = (
    "Invalid request provided: Inference Components are not supported in this Endpoint. "
    "Please make sure this endpoint can deploy inference components."
)
MANAGED_SCALING_ONLY = "ManagedInstanceScaling is only supported for inference component endpoints."
HEADER_REQUIRED = (
    "Inference Component Name header is required for endpoints to which you plan to deploy "
    "inference components. Please include Inference Component Name header or consider using "
    "SageMaker models."
)
HEADER_NOT_ALLOWED = (
    "Inference Component Name header is not allowed for endpoints to which you dont plan to "
    "deploy inference components. Please remove the Inference Component Name header and try "
    "again."
)
NO_CAPACITY = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may "
    "be in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)


# --- bookkeeping ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Need:
    """What one copy takes of an instance."""

    cpus: float = 0.0
    accelerators: float = 0.0
    memory_mib: int = 0

    def fits(self, room: list[float]) -> bool:
        return (
            self.cpus <= room[0] + 1e-9
            and self.accelerators <= room[1] + 1e-9
            and self.memory_mib <= room[2]
        )


@dataclass
class _Change:
    """A component's transition in progress."""

    kind: Literal["create", "update", "runtime", "delete"]
    due: float
    specification: dict[str, Any] | None = None
    """An update's new specification."""
    target: VariantTarget | None = None
    key: str | None = None
    startup: ContainerStartup | None = None
    waited: bool = False
    """Its container was still coming up when the transition was due."""
    deployment_config: dict[str, Any] | None = None
    copies: int | None = None
    """The copy count before the change (an update rolled back returns to it)."""


@dataclass
class _Component:
    name: str
    arn: str
    endpoint_name: str
    endpoint_arn: str
    variant_name: str
    specification: dict[str, Any]
    desired_copies: int
    """DesiredCopyCount: what was asked for last."""
    copies: int
    """The copy count in effect (placed as far as there is room)."""
    created: datetime
    modified: datetime
    seq: int
    tags: list[dict[str, str]]
    status: str = "Creating"
    current_copies: int = 0
    failure_reason: str | None = None
    key: str | None = None
    target: VariantTarget | None = None
    change: _Change | None = None
    served: bool = False
    last_deployment_config: dict[str, Any] | None = None

    @property
    def base(self) -> str | None:
        base = self.specification.get("BaseInferenceComponentName")
        return str(base) if base else None


@dataclass
class _Fleet:
    """The instances of one variant of an endpoint of components."""

    config_name: str
    instance_type: str
    managed: tuple[int, int] | None
    current: int
    desired: int
    ready_at: float | None = None

    def provisioning(self) -> bool:
        return self.ready_at is not None and self.desired > self.current


@dataclass
class _Book:
    components: dict[str, _Component] = field(default_factory=dict)
    fleets: dict[tuple[str, str], _Fleet] = field(default_factory=dict)
    seq: int = 0
    # Wall time of a reading of the transition clock: events are settled lazily, after the fact.
    wall: datetime = field(default_factory=utcnow)
    clock: float = field(default_factory=lambda: sagemaker_ext.clock_now())

    def at(self, moment: float) -> datetime:
        wall = self.wall + timedelta(seconds=moment - self.clock)
        # Milliseconds, as the API answers: a time read back then filters as it was kept.
        return wall.replace(microsecond=wall.microsecond // 1000 * 1000)


def _book(backend: SageMakerModelBackend) -> _Book:
    # In the instance dict: moto's reset (which empties __dict__) forgets every component.
    book = backend.__dict__.get("_inference_components")
    if not isinstance(book, _Book):
        book = _Book()
        backend.__dict__["_inference_components"] = book
    return book


def _arn(backend: SageMakerModelBackend, name: str) -> str:
    return arn_formatter(ARN_KIND, name, backend.account_id, backend.region_name)


def _missing(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(message=f'Could not find inference component "{_arn(backend, name)}".')


def _component(backend: SageMakerModelBackend, name: str) -> _Component:
    found = _book(backend).components.get(name)
    if found is None:
        raise _missing(backend, name)
    return found


# --- endpoint configs and endpoints --------------------------------------------------------------


def is_component_variant(variant: Mapping[str, Any]) -> bool:
    """A production variant that hosts inference components: it names no model."""
    return not variant.get("ModelName")


def check_endpoint_config(
    production_variants: list[dict[str, Any]],
    shadow_variants: list[dict[str, Any]],
    execution_role_arn: str | None,
    async_inference_config: Any,
) -> None:
    """CreateEndpointConfig: the rules of a config for inference components (module docstring)."""
    for variant in production_variants:
        scaling = variant.get("ManagedInstanceScaling")
        if scaling and not is_component_variant(variant):
            raise ValidationError(message=MANAGED_SCALING_ONLY)
    hosting = [v for v in production_variants if is_component_variant(v)]
    if not hosting:
        for shadow in shadow_variants:
            if is_component_variant(shadow):
                raise ValidationError(
                    message=f'Shadow variant "{shadow.get("VariantName")}" has no ModelName: '
                    "shadow variants run a model, they cannot host inference components."
                )
        return
    names = ", ".join(str(v.get("VariantName")) for v in hosting)
    if len(hosting) != len(production_variants):
        raise ValidationError(
            message=f"Production variants without a ModelName ({names}) host inference "
            "components; an endpoint configuration cannot mix them with variants that name a "
            "model."
        )
    if not execution_role_arn:
        raise ValidationError(
            message=f"ExecutionRoleArn is required: production variants without a ModelName "
            f"({names}) host inference components, which run with the endpoint "
            "configuration's execution role."
        )
    if shadow_variants:
        raise ValidationError(
            message="Shadow variants are not supported on endpoints that host inference components."
        )
    if async_inference_config:
        raise ValidationError(
            message="AsyncInferenceConfig is not supported on endpoints that host inference "
            "components."
        )
    for variant in hosting:
        _check_component_variant(variant)


def _check_component_variant(variant: Mapping[str, Any]) -> None:
    name = variant.get("VariantName")
    if variant.get("ServerlessConfig") or not variant.get("InstanceType"):
        raise ValidationError(
            message=f'Production variant "{name}" hosts inference components: it needs an '
            "InstanceType (serverless variants cannot host inference components)."
        )
    try:
        size_of(str(variant["InstanceType"]))
    except UnknownInstanceSize as error:
        raise ValidationError(message=f'Production variant "{name}": {error}.') from error
    scaling = variant.get("ManagedInstanceScaling") or {}
    if scaling.get("Status") != "ENABLED":
        return
    low, high = scaling.get("MinInstanceCount"), scaling.get("MaxInstanceCount")
    if low is None or high is None:
        raise ValidationError(
            message=f'Production variant "{name}": ManagedInstanceScaling with Status ENABLED '
            "needs MinInstanceCount and MaxInstanceCount."
        )
    initial = int(variant.get("InitialInstanceCount") or 1)
    if not int(low) <= initial <= int(high):
        raise ValidationError(
            message=f'Production variant "{name}": InitialInstanceCount {initial} must be '
            f"between ManagedInstanceScaling's MinInstanceCount {low} and MaxInstanceCount "
            f"{high}."
        )


def refuse_endpoint_delete(backend: SageMakerModelBackend, endpoint: FakeEndpoint) -> None:
    """DeleteEndpoint: its inference components go first."""
    names = _on_endpoint(backend, endpoint.endpoint_name)
    if names:
        raise ValidationError(
            message=f'Cannot delete endpoint "{endpoint.arn}": it hosts inference components '
            f"({', '.join(names)}). Delete them first."
        )


def check_endpoint_update(
    backend: SageMakerModelBackend, endpoint: FakeEndpoint, new_variants: list[dict[str, Any]]
) -> None:
    """UpdateEndpoint: the endpoint's components need their variants, model-less, in the new
    config."""
    used = {
        c.variant_name
        for c in _book(backend).components.values()
        if c.endpoint_name == endpoint.endpoint_name
    }
    if not used:
        return
    hosting = {str(v.get("VariantName")) for v in new_variants if is_component_variant(v)}
    lacking = sorted(used - hosting)
    if lacking:
        raise ValidationError(
            message=f'Cannot update endpoint "{endpoint.arn}": its inference components run on '
            f"variant(s) {', '.join(lacking)}, which the new endpoint configuration lacks or "
            "gives a ModelName. Delete the inference components first."
        )


def _on_endpoint(backend: SageMakerModelBackend, endpoint_name: str) -> list[str]:
    return sorted(
        c.name for c in _book(backend).components.values() if c.endpoint_name == endpoint_name
    )


def variant_summary_extras(variant: Mapping[str, Any]) -> dict[str, Any]:
    """The members of DescribeEndpoint's ProductionVariantSummary copied from the config."""
    return {
        key: variant[key] for key in ("ManagedInstanceScaling", "RoutingConfig") if variant.get(key)
    }


# --- capacity ----------------------------------------------------------------------------------


def _need(specification: Mapping[str, Any]) -> _Need:
    required = specification.get("ComputeResourceRequirements") or {}
    return _Need(
        cpus=float(required.get("NumberOfCpuCoresRequired") or 0),
        accelerators=float(required.get("NumberOfAcceleratorDevicesRequired") or 0),
        memory_mib=int(required.get("MinMemoryRequiredInMb") or 0),
    )


def _pack(
    size: InstanceSize, demands: Iterable[tuple[str, int, _Need]], limit: int | None
) -> tuple[dict[str, int], int]:
    """First-fit placement of each demand's copies (name, copies, need), in order, on at most
    `limit` instances (None: as many as it takes): copies placed per name, instances used."""
    rooms: list[list[float]] = []
    placed: dict[str, int] = {}
    for name, copies, need in demands:
        placed.setdefault(name, 0)
        for _ in range(copies):
            room = next((r for r in rooms if need.fits(r)), None)
            if room is None and (limit is None or len(rooms) < limit):
                fresh = [float(size.vcpus), float(size.accelerators), float(size.memory_mib)]
                if need.fits(fresh):
                    rooms.append(fresh)
                    room = fresh
            if room is None:
                continue
            room[0] -= need.cpus
            room[1] -= need.accelerators
            room[2] -= need.memory_mib
            placed[name] += 1
    return placed, len(rooms)


def _hosted(book: _Book, endpoint: str, variant: str) -> list[_Component]:
    """The components with copies on a variant, those already serving first, then by age."""
    found = [
        c
        for c in book.components.values()
        if c.endpoint_name == endpoint and c.variant_name == variant and c.base is None
    ]
    return sorted(found, key=lambda c: (not c.served, c.seq))


def _demands(components: Iterable[_Component]) -> list[tuple[str, int, _Need]]:
    """What the instances are sized for: the copies asked for, and those still running until
    fewer are in effect (an instance is released once idle), of components not failed or
    going."""
    return _held_first(
        [
            (c, max(c.desired_copies, c.copies), _need(_pending_spec(c)))
            for c in components
            if c.status in ("Creating", "InService", "Updating")
        ]
    )


def _held_first(wanted: list[tuple[_Component, int, _Need]]) -> list[tuple[str, int, _Need]]:
    """Demands for `_pack`, the copies each component already has placed first (in the
    components' order), then every further copy: SageMaker never takes a placed copy from one
    component to give another more; copies beyond the room wait until it frees up."""
    held = [(c.name, min(count, c.current_copies), need) for c, count, need in wanted]
    more = [(c.name, count - min(count, c.current_copies), need) for c, count, need in wanted]
    return [*held, *more]


def _pending_spec(component: _Component) -> dict[str, Any]:
    change = component.change
    if change is not None and change.specification is not None:
        return change.specification
    return component.specification


def _units(value: float, unit: str) -> str:
    """`value unit`, the unit's noun in the plural unless value is 1 ("MB of memory" stays)."""
    if value == 1 or " of " in unit:
        return f"{value:g} {unit}"
    return f"{value:g} {unit}s"


def _check_fits(
    backend: SageMakerModelBackend,
    book: _Book,
    name: str,
    endpoint: FakeEndpoint,
    variant_name: str,
    specification: Mapping[str, Any],
    copies: int,
) -> None:
    """AWS's refusal of copies that one instance cannot hold, or that the endpoint cannot place
    on the instances it can have."""
    fleet = _fleet(backend, book, endpoint, variant_name)
    if fleet is None:
        return
    size = size_of(fleet.instance_type)
    need = _need(specification)
    for asked, has, unit in (
        (need.accelerators, size.accelerators, "accelerator device"),
        (need.cpus, size.vcpus, "CPU core"),
        (need.memory_mib, size.memory_mib, "MB of memory"),
    ):
        if asked > has:
            raise ValidationError(
                message=f"Inference component {name} requires {_units(asked, unit)} per copy, "
                f"which exceeds the {_units(has, unit)} of one {fleet.instance_type} instance: "
                "every copy must fit on one instance of the endpoint."
            )
    others = [c for c in _hosted(book, endpoint.endpoint_name, variant_name) if c.name != name]
    limit = fleet.managed[1] if fleet.managed is not None else fleet.current
    placed, _ = _pack(size, [*_demands(others), (name, copies, need)], limit)
    if placed.get(name, 0) < copies:
        where = (
            f"at most {limit} instance(s) (ManagedInstanceScaling's MaxInstanceCount)"
            if fleet.managed is not None
            else f"its {limit} instance(s)"
        )
        raise ValidationError(
            message=f"Insufficient capacity on endpoint {endpoint.endpoint_name} for the "
            f"{copies} copies of inference component {name}: {placed.get(name, 0)} fit on "
            f"{where} of type {fleet.instance_type} next to the copies of its other inference "
            f"components; each copy needs {_need_text(need)}."
        )


def _need_text(need: _Need) -> str:
    parts = [f"{need.memory_mib} MB of memory"]
    if need.cpus:
        parts.append(_units(need.cpus, "CPU core"))
    if need.accelerators:
        parts.append(_units(need.accelerators, "accelerator device"))
    return ", ".join(parts)


def _fleet(
    backend: SageMakerModelBackend, book: _Book, endpoint: FakeEndpoint, variant_name: str
) -> _Fleet | None:
    """The instances of a variant hosting components, followed from the endpoint's config."""
    variants = sagemaker_ext.variant_configs(endpoint)
    config = variants.get(variant_name)
    if config is None or not is_component_variant(config):
        return None
    summary = next(
        (s for s in endpoint.production_variants if s.get("VariantName") == variant_name), {}
    )
    reported = summary.get("CurrentInstanceCount")
    counted = int(reported if reported is not None else config.get("InitialInstanceCount") or 0)
    key = (endpoint.endpoint_name, variant_name)
    fleet = book.fleets.get(key)
    scaling = config.get("ManagedInstanceScaling") or {}
    managed = (
        (int(scaling.get("MinInstanceCount") or 0), int(scaling.get("MaxInstanceCount") or 1))
        if scaling.get("Status") == "ENABLED"
        else None
    )
    if fleet is None or fleet.config_name != endpoint.endpoint_config_name:
        # A new config brings its own fleet (UpdateEndpoint provisions the new one).
        fleet = _Fleet(
            config_name=endpoint.endpoint_config_name,
            instance_type=str(config.get("InstanceType")),
            managed=managed,
            current=counted,
            desired=counted,
        )
        book.fleets[key] = fleet
    if fleet.managed is None:
        # Without managed scaling the count is the endpoint's own (UpdateEndpointWeights...).
        fleet.current = fleet.desired = counted
    return fleet


def _rebalance(backend: SageMakerModelBackend, book: _Book, at: float) -> None:
    """Size each fleet for its components' copies, and place the copies in effect."""
    for endpoint in list(backend.endpoints.values()):
        if endpoint.endpoint_status not in sagemaker_ext.SERVING:
            continue
        for variant_name, config in sagemaker_ext.variant_configs(endpoint).items():
            if not is_component_variant(config):
                continue
            fleet = _fleet(backend, book, endpoint, variant_name)
            if fleet is None:
                continue
            hosted = _hosted(book, endpoint.endpoint_name, variant_name)
            size = size_of(fleet.instance_type)
            if fleet.managed is not None:
                low, high = fleet.managed
                _, used = _pack(size, _demands(hosted), high)
                _resize(fleet, max(low, min(high, used)), at)
            serving = _held_first(
                [(c, c.copies, _need(c.specification)) for c in hosted if c.status in _SERVING]
            )
            placed, _ = _pack(size, serving, fleet.current)
            for component in hosted:
                component.current_copies = placed.get(component.name, 0)
            if fleet.managed is not None:
                for summary in endpoint.production_variants:
                    if summary.get("VariantName") == variant_name:
                        summary["CurrentInstanceCount"] = fleet.current
                        summary["DesiredInstanceCount"] = fleet.desired
    gone = {key for key in book.fleets if key[0] not in backend.endpoints}
    for key in gone:
        del book.fleets[key]


def _resize(fleet: _Fleet, target: int, at: float) -> None:
    if target == fleet.desired:
        return
    if target == fleet.current:
        fleet.desired, fleet.ready_at = target, None
        return
    delay = sagemaker_ext.transition_seconds()
    fleet.desired = target
    if delay == 0:
        fleet.current, fleet.ready_at = target, None
    else:
        # Provisioning (or releasing) instances takes as long as any transition.
        fleet.ready_at = at + delay


# --- settling ----------------------------------------------------------------------------------

_Apply = Callable[[float], list[str]]
"""An event, applied at the moment it fell due; returns the deployment keys it frees."""


def settle(backend: SageMakerModelBackend) -> list[str]:
    """Apply every change that is due, in the order they fell due; returns deployment keys no
    component runs any more (for the invoker to release). Called under sagemaker_ext's lock."""
    book = _book(backend)
    now = sagemaker_ext.clock_now()
    released: list[str] = []
    for _ in range(10_000):  # each round applies one event; a bound against a logic error
        event = _next_event(backend, book, now)
        if event is None:
            break
        moment, apply = event
        released += apply(moment)
        _rebalance(backend, book, moment)
    _rebalance(backend, book, now)
    return released


def _next_event(
    backend: SageMakerModelBackend, book: _Book, now: float
) -> tuple[float, _Apply] | None:
    events: list[tuple[float, int, _Apply]] = []
    for fleet in book.fleets.values():
        ready = fleet.ready_at
        if ready is not None and ready <= now:
            events.append((ready, 0, _fleet_ready(fleet)))
    for component in book.components.values():
        change = component.change
        if change is None or change.due > now:
            continue
        if change.startup is not None and not change.startup.finished():
            # As on AWS, the transition lasts until the container is up.
            change.waited = True
            continue
        moment = now if change.waited else change.due
        hosts = book.fleets.get((component.endpoint_name, component.variant_name))
        if change.kind != "delete" and hosts is not None and hosts.provisioning():
            ready = hosts.ready_at if hosts.ready_at is not None else moment
            if ready > now:
                continue  # waits for the instances its copies need
            moment = max(moment, ready)
        events.append((moment, 1, _completion(backend, book, component)))
    if not events:
        return None
    moment, _, apply = min(events, key=lambda e: (e[0], e[1]))
    return moment, apply


def _fleet_ready(fleet: _Fleet) -> _Apply:
    def apply(_: float) -> list[str]:
        fleet.current, fleet.ready_at = fleet.desired, None
        return []

    return apply


def _completion(backend: SageMakerModelBackend, book: _Book, component: _Component) -> _Apply:
    def apply(at: float) -> list[str]:
        change = component.change
        component.change = None
        if change is None:
            return []
        component.modified = book.at(at)
        if change.kind == "delete":
            del book.components[component.name]
            return [component.key] if component.key else []
        if change.kind == "runtime":
            component.copies = component.desired_copies
            component.status = "InService"
            return []
        if change.kind == "create":
            failure = _failure(backend, component, change)
            if failure is not None:
                component.status, component.failure_reason = "Failed", failure
                component.copies = 0
                return [component.key] if component.key else []
            component.status, component.served = "InService", True
            return []
        return _finish_update(backend, component, change)

    return apply


def _finish_update(
    backend: SageMakerModelBackend, component: _Component, change: _Change
) -> list[str]:
    failure = _failure(backend, component, change)
    if failure is None:
        failure = _alarm_rollback(backend, change)
    component.status = "InService"
    if failure is not None:
        # Rolled back: the old specification and copy count stay, the new fleet goes.
        component.failure_reason = failure
        if change.copies is not None:
            component.desired_copies = component.copies = change.copies
        return [change.key] if change.key and change.key != component.key else []
    old = component.key
    if change.specification is not None:
        component.specification = change.specification
    if change.target is not None:
        component.target, component.key = change.target, change.key
    component.copies = component.desired_copies
    if change.deployment_config is not None:
        component.last_deployment_config = change.deployment_config
    return [old] if old and old != component.key else []


def _failure(backend: SageMakerModelBackend, component: _Component, change: _Change) -> str | None:
    """Why a create or update failed: the container, or an adapter's missing artifact."""
    failed = change.startup.failure() if change.startup is not None else None
    if failed is not None:
        return _startup_reason(backend, component, failed)
    specification = change.specification or component.specification
    if specification.get("BaseInferenceComponentName"):
        url = str((specification.get("Container") or {}).get("ArtifactUrl") or "")
        if url.startswith("s3://") and not _object_exists(backend, url):
            return _download_reason(url)
    return None


def _object_exists(backend: SageMakerModelBackend, url: str) -> bool:
    from deployspec.sandbox.hosting import stat_moto_object

    try:
        return stat_moto_object(backend.account_id, backend.region_name, url) is not None
    except sagemaker_ext.ModelInvocationError:
        return False


def _download_reason(url: str | None) -> str:
    return (
        f'Failed to download model data for container "container_1" from URL: "{url}". '
        "Please ensure that there is an object located at the URL and that the role passed "
        "to CreateModel has permissions to download the object."
    )


def _startup_reason(
    backend: SageMakerModelBackend, component: _Component, failure: ContainerFailure
) -> str:
    if failure.kind == "model_data":
        return _download_reason(failure.url)
    _log_container(backend, component.name, failure)
    # AWS's wording for a component's container is not public; this follows the endpoint's.
    reason = (
        f"The container for inference component {component.name} did not pass the ping "
        "health check. Please check CloudWatch logs for this inference component."
    )
    if failure.reason:
        reason = sagemaker_ext.cap_text(f"{reason} The container said: {failure.reason}", 960)
    return reason


def _log_container(backend: SageMakerModelBackend, name: str, failure: ContainerFailure) -> None:
    from moto.logs.models import logs_backends

    logs = logs_backends[backend.account_id][backend.region_name]
    group = f"/aws/sagemaker/InferenceComponents/{name}"
    stream = f"{failure.variant_name}/i-{uuid.uuid4().hex[:17]}"
    logs.ensure_log_group(group)
    logs.ensure_log_stream(group, stream)
    now = int(time.time() * 1000)
    lines = failure.detail.splitlines() or [failure.detail]
    logs.put_log_events(group, stream, [{"timestamp": now, "message": line} for line in lines])


def _alarm_rollback(backend: SageMakerModelBackend, change: _Change) -> str | None:
    config = change.deployment_config or {}
    alarms = tuple(
        str(alarm["AlarmName"])
        for alarm in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        if alarm.get("AlarmName")
    )
    tripped = sagemaker_ext.alarm_in_alarm(backend, alarms)
    if tripped is None:
        return None
    return (
        f'Inference component update rolled back: CloudWatch alarm "{tripped}" of the '
        "AutoRollbackConfiguration is in ALARM state. The previous specification is back in "
        "service."
    )


# --- the operations ------------------------------------------------------------------------------


def _validate(operation: str, request: Mapping[str, Any]) -> None:
    from deployspec.sandbox.async_inference import _operation_input

    found = violations(dict(request), _operation_input("sagemaker", operation), "")
    found += _float_violations(request)
    if found:
        raise ValidationError(message=validation_message(found))


def _float_violations(request: Mapping[str, Any]) -> list[str]:
    """The float minimums botocore's shape has, which the shared validator checks only for
    integers."""
    found: list[str] = []
    for owner in ("specification", "desiredRuntimeConfig"):
        specification = request.get(owner[0].upper() + owner[1:])
        if not isinstance(specification, Mapping):
            continue
        required = specification.get("ComputeResourceRequirements")
        if not isinstance(required, Mapping):
            continue
        for member, low in (
            ("NumberOfCpuCoresRequired", 0.25),
            ("NumberOfAcceleratorDevicesRequired", 1.0),
        ):
            value = required.get(member)
            if isinstance(value, int | float) and value < low:
                path = f"{owner}.computeResourceRequirements.{member[0].lower()}{member[1:]}"
                found.append(
                    f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                    f"have value greater than or equal to {low}"
                )
    return found


def _check_specification(
    backend: SageMakerModelBackend,
    name: str,
    specification: Mapping[str, Any] | None,
    specifications: Any,
) -> dict[str, Any]:
    if specifications:
        if specification:
            raise ValidationError(
                message="Specification and Specifications cannot both be given: use one."
            )
        raise ValidationError(
            message="The sandbox supports Specification only: Specifications (one per instance "
            "type of an instance pool) is not reproduced."
        )
    if not specification:
        raise ValidationError(message="Specification is required.")
    spec = dict(specification)
    container = spec.get("Container") or {}
    required = spec.get("ComputeResourceRequirements")
    if spec.get("BaseInferenceComponentName"):
        if spec.get("ModelName") or required:
            raise ValidationError(
                message=f"Inference component {name} is an adapter "
                "(BaseInferenceComponentName): it runs on its base's compute, so it takes "
                "neither ModelName nor ComputeResourceRequirements."
            )
        if not container.get("ArtifactUrl"):
            raise ValidationError(
                message=f"Inference component {name} is an adapter: its Container.ArtifactUrl "
                "must name the adapter's artifacts."
            )
        return spec
    if spec.get("ModelName") and spec.get("Container"):
        raise ValidationError(
            message="Specification takes ModelName or Container, not both: the model names its "
            "container."
        )
    if not spec.get("ModelName") and not container.get("Image"):
        raise ValidationError(
            message="Specification needs a ModelName, or a Container with an Image (or a "
            "BaseInferenceComponentName for an adapter)."
        )
    if not required:
        raise ValidationError(
            message=f"Inference component {name} needs ComputeResourceRequirements "
            "(MinMemoryRequiredInMb at least): only an adapter runs on another's compute."
        )
    if required.get("AcceleratorPartitionType"):
        raise ValidationError(
            message="AcceleratorPartitionType needs an endpoint whose production variant "
            "declares AcceleratorPartitionLayouts; this endpoint's declares none."
        )
    high = required.get("MaxMemoryRequiredInMb")
    if high is not None and int(high) < int(required.get("MinMemoryRequiredInMb") or 0):
        raise ValidationError(
            message=f"MaxMemoryRequiredInMb {high} is below MinMemoryRequiredInMb "
            f"{required.get('MinMemoryRequiredInMb')}."
        )
    if spec.get("ModelName"):
        model = backend._models.get(str(spec["ModelName"]))
        if model is None:
            raise sagemaker_ext.missing_model(backend, str(spec["ModelName"]))
        containers = [model.primary_container or {}, *(model.containers or [])]
        if any(c.get("Mode") == "MultiModel" for c in containers):
            raise ValidationError(
                message=f"Model {model.model_name} is a multi-model model (Mode MultiModel): "
                "inference components host one model each."
            )
    return spec


def _target(
    backend: SageMakerModelBackend, name: str, variant: str, spec: Mapping[str, Any]
) -> VariantTarget:
    """What a component's copies run: its model's container, or its own Container."""
    model_name = spec.get("ModelName")
    if model_name:
        model = backend._models[str(model_name)]
        primary = model.primary_container or (model.containers[0] if model.containers else {})
        container = sagemaker_ext.running_container(backend, primary)
        label = model.model_name
    else:
        container = spec.get("Container") or {}
        label = name
    return VariantTarget(
        variant_name=variant,
        model_name=label,
        image=container.get("Image"),
        model_data_url=container.get("ModelDataUrl") or container.get("ArtifactUrl"),
        environment=dict(container.get("Environment") or {}),
        model_data_source=container.get("ModelDataSource") or None,
    )


def _key(backend: SageMakerModelBackend, name: str, seq: int, target: VariantTarget) -> str:
    digest = hashlib.sha256(
        json.dumps(target.__dict__, sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    raw = f"ic-{backend.account_id}-{backend.region_name}-{name}-{seq}-{digest}"
    return re.sub(r"[^A-Za-z0-9-]", "_", raw)


def _start(
    backend: SageMakerModelBackend, endpoint_name: str, key: str, target: VariantTarget
) -> ContainerStartup | None:
    invoker = sagemaker_ext.installed_invoker()
    if invoker is None:
        return None
    return invoker.start(
        (InvocationTarget(backend.account_id, backend.region_name, endpoint_name, key, target),)
    )


def _serving_endpoint(backend: SageMakerModelBackend, endpoint_name: str) -> FakeEndpoint:
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        raise sagemaker_ext.missing_endpoint(backend, endpoint_name)
    return endpoint


def create(
    backend: SageMakerModelBackend,
    request: Mapping[str, Any],
) -> str:
    _validate("CreateInferenceComponent", request)
    name = str(request["InferenceComponentName"])
    with sagemaker_ext.LOCK:
        released = sagemaker_ext.settle_all(backend)
        try:
            arn = _create(backend, name, request)
        finally:
            sagemaker_ext.release(released)
    return arn


def _create(backend: SageMakerModelBackend, name: str, request: Mapping[str, Any]) -> str:
    book = _book(backend)
    if name in book.components:
        raise ValidationError(
            message=f'Cannot create already existing inference component "{_arn(backend, name)}".'
        )
    endpoint = _serving_endpoint(backend, str(request["EndpointName"]))
    spec = _check_specification(
        backend, name, request.get("Specification"), request.get("Specifications")
    )
    runtime = request.get("RuntimeConfig")
    base_name = spec.get("BaseInferenceComponentName")
    base = book.components.get(str(base_name)) if base_name else None
    variant = request.get("VariantName")
    if base_name:
        variant = _check_adapter(backend, name, endpoint, base, str(base_name), variant, runtime)
    else:
        variant = _check_host(endpoint, variant)
        if runtime is None:
            raise ValidationError(
                message=f"Inference component {name} needs a RuntimeConfig with its CopyCount."
            )
    if endpoint.endpoint_status != "InService":
        raise ValidationError(
            message=f'Endpoint "{endpoint.arn}" is {endpoint.endpoint_status}: inference '
            "components can be created only on an endpoint that is InService."
        )
    copies = int((runtime or {}).get("CopyCount", 0))
    if not base_name and copies < 1:
        raise ValidationError(
            message=f"CopyCount {copies} is not allowed when creating inference component "
            f"{name}: it needs at least 1 copy (UpdateInferenceComponentRuntimeConfig may set "
            "0 afterwards)."
        )
    if not base_name:
        _check_fits(backend, book, name, endpoint, variant, spec, copies)
    now = sagemaker_ext.clock_now()
    book.seq += 1
    component = _Component(
        name=name,
        arn=_arn(backend, name),
        endpoint_name=endpoint.endpoint_name,
        endpoint_arn=endpoint.arn,
        variant_name=variant,
        specification=spec,
        desired_copies=copies,
        copies=copies,
        created=book.at(now),
        modified=book.at(now),
        seq=book.seq,
        tags=[dict(t) for t in request.get("Tags") or []],
    )
    change = _Change("create", due=now + sagemaker_ext.transition_seconds())
    if not base_name:
        component.target = _target(backend, name, variant, spec)
        component.key = _key(backend, name, book.seq, component.target)
        change.startup = _start(backend, endpoint.endpoint_name, component.key, component.target)
    component.change = change
    book.components[name] = component
    _rebalance(backend, book, now)
    return component.arn


def _check_host(endpoint: FakeEndpoint, variant: Any) -> str:
    """The variant a component goes on: one of the endpoint's, without a model."""
    configs = sagemaker_ext.variant_configs(endpoint)
    if variant is None:
        if len(configs) != 1:
            raise ValidationError(
                message=f'VariantName is required: endpoint "{endpoint.arn}" has '
                f"{len(configs)} production variants."
            )
        variant = next(iter(configs))
    config = configs.get(str(variant))
    if config is None:
        raise ValidationError(
            message=f'Production variant "{variant}" is not present in endpoint "{endpoint.arn}".'
        )
    if not is_component_variant(config):
        raise ValidationError(message=NOT_AN_IC_ENDPOINT)
    return str(variant)


def _check_adapter(
    backend: SageMakerModelBackend,
    name: str,
    endpoint: FakeEndpoint,
    base: _Component | None,
    base_name: str,
    variant: Any,
    runtime: Any,
) -> str:
    if base is None:
        raise _missing(backend, base_name)
    if base.base is not None:
        raise ValidationError(
            message=f"Inference component {base_name} is itself an adapter: an adapter's base "
            "must be an inference component that hosts a model."
        )
    if base.endpoint_name != endpoint.endpoint_name:
        raise ValidationError(
            message=f"The base inference component {base_name} is on endpoint "
            f"{base.endpoint_name}, not {endpoint.endpoint_name}: an adapter goes on its "
            "base's endpoint."
        )
    if variant is not None and str(variant) != base.variant_name:
        raise ValidationError(
            message=f"The base inference component {base_name} is on variant "
            f"{base.variant_name}, not {variant}."
        )
    if runtime is not None:
        raise ValidationError(
            message=f"Inference component {name} is an adapter: it runs on the copies of "
            f"{base_name}, so it takes no RuntimeConfig."
        )
    if base.status != "InService":
        raise ValidationError(
            message=f"The base inference component {base_name} is {base.status}: an adapter "
            "needs its base InService."
        )
    return base.variant_name


def update(backend: SageMakerModelBackend, request: Mapping[str, Any]) -> str:
    _validate("UpdateInferenceComponent", request)
    with sagemaker_ext.LOCK:
        released = sagemaker_ext.settle_all(backend)
        try:
            arn = _update(backend, request)
        finally:
            sagemaker_ext.release(released)
    return arn


def _updatable(component: _Component) -> None:
    if component.status in _IN_PROGRESS:
        raise ValidationError(
            message=f'Cannot update in-progress inference component "{component.arn}" '
            f"({component.status})."
        )
    if component.status == "Failed":
        raise ValidationError(
            message=f'Cannot update failed inference component "{component.arn}": delete it '
            "and create it again."
        )


def _update(backend: SageMakerModelBackend, request: Mapping[str, Any]) -> str:
    book = _book(backend)
    component = _component(backend, str(request["InferenceComponentName"]))
    given = request.get("Specification") or request.get("Specifications")
    runtime = request.get("RuntimeConfig")
    if not given and runtime is None:
        raise ValidationError(
            message="UpdateInferenceComponent needs a Specification or a RuntimeConfig."
        )
    _updatable(component)
    spec = (
        _check_specification(
            backend,
            component.name,
            request.get("Specification"),
            request.get("Specifications"),
        )
        if given
        else dict(component.specification)
    )
    if bool(spec.get("BaseInferenceComponentName")) != (component.base is not None):
        raise ValidationError(
            message=f"Inference component {component.name} cannot change between an adapter "
            "and a component that hosts a model: delete it and create it again."
        )
    if component.base is not None and runtime is not None:
        raise ValidationError(
            message=f"Inference component {component.name} is an adapter: it takes no "
            "RuntimeConfig."
        )
    copies = int(runtime["CopyCount"]) if runtime is not None else component.desired_copies
    deployment = request.get("DeploymentConfig")
    _check_rolling(deployment)
    endpoint = _serving_endpoint(backend, component.endpoint_name)
    if component.base is None:
        _check_fits(backend, book, component.name, endpoint, component.variant_name, spec, copies)
    now = sagemaker_ext.clock_now()
    change = _Change(
        "update",
        due=now + sagemaker_ext.transition_seconds() + _rolling_wait(deployment, copies),
        specification=spec,
        deployment_config=dict(deployment) if deployment else None,
        copies=component.desired_copies,
    )
    if component.base is None:
        target = _target(backend, component.name, component.variant_name, spec)
        change.target = target
        if target == component.target:
            change.key = component.key
        else:
            book.seq += 1
            change.key = _key(backend, component.name, book.seq, target)
            change.startup = _start(backend, component.endpoint_name, change.key, target)
    component.change = change
    component.desired_copies = copies
    component.status = "Updating"
    component.failure_reason = None  # a new attempt clears the last one's
    component.modified = book.at(now)
    _rebalance(backend, book, now)
    return component.arn


def _check_rolling(deployment: Mapping[str, Any] | None) -> None:
    policy = (deployment or {}).get("RollingUpdatePolicy") or {}
    for member in ("MaximumBatchSize", "RollbackMaximumBatchSize"):
        size = policy.get(member) or {}
        low, high = BATCH_PERCENT
        if size.get("Type") == "CAPACITY_PERCENT" and not low <= int(size["Value"]) <= high:
            raise ValidationError(
                message=f"{member} of Type CAPACITY_PERCENT must have a Value from {low} to "
                f"{high}, not {size['Value']}."
            )


def _rolling_wait(deployment: Mapping[str, Any] | None, copies: int) -> float:
    """The rolling update's waits between batches, in sandbox seconds."""
    policy = (deployment or {}).get("RollingUpdatePolicy") or {}
    size = policy.get("MaximumBatchSize") or {}
    if not size or copies <= 1:
        return 0.0
    value = int(size.get("Value") or 1)
    batch = math.ceil(copies * value / 100) if size.get("Type") == "CAPACITY_PERCENT" else value
    batches = math.ceil(copies / max(batch, 1))
    wait = float(policy.get("WaitIntervalInSeconds") or 0)
    scale = sagemaker_ext.transition_seconds() / sagemaker_ext.AWS_SECONDS_PER_TRANSITION
    return (batches - 1) * wait * scale


def update_runtime_config(backend: SageMakerModelBackend, request: Mapping[str, Any]) -> str:
    _validate("UpdateInferenceComponentRuntimeConfig", request)
    with sagemaker_ext.LOCK:
        released = sagemaker_ext.settle_all(backend)
        try:
            book = _book(backend)
            component = _component(backend, str(request["InferenceComponentName"]))
            _updatable(component)
            if component.base is not None:
                raise ValidationError(
                    message=f"Inference component {component.name} is an adapter: it runs on "
                    "its base's copies and has no copy count of its own."
                )
            now = sagemaker_ext.clock_now()
            component.desired_copies = int(request["DesiredRuntimeConfig"]["CopyCount"])
            component.change = _Change("runtime", due=now + sagemaker_ext.transition_seconds())
            component.status = "Updating"
            component.modified = book.at(now)
            _rebalance(backend, book, now)
            arn = component.arn
        finally:
            sagemaker_ext.release(released)
    return arn


def delete(backend: SageMakerModelBackend, request: Mapping[str, Any]) -> None:
    _validate("DeleteInferenceComponent", request)
    with sagemaker_ext.LOCK:
        released = sagemaker_ext.settle_all(backend)
        try:
            book = _book(backend)
            component = _component(backend, str(request["InferenceComponentName"]))
            if component.status == "Deleting":
                raise ValidationError(
                    message=f'Inference component "{component.arn}" is already being deleted '
                    "(DELETE_IN_PROGRESS)."
                )
            if component.status in _IN_PROGRESS:
                raise ValidationError(
                    message=f'Cannot delete in-progress inference component "{component.arn}" '
                    f"({component.status})."
                )
            adapters = sorted(c.name for c in book.components.values() if c.base == component.name)
            if adapters:
                raise ValidationError(
                    message=f"Inference component {component.name} is a base inference "
                    "component for one or more associated adapter inference components "
                    f"({', '.join(adapters)}). Delete them first."
                )
            now = sagemaker_ext.clock_now()
            component.status = "Deleting"
            component.change = _Change("delete", due=now + sagemaker_ext.transition_seconds())
            component.modified = book.at(now)
            _rebalance(backend, book, now)
            released += sagemaker_ext.settle_all(backend)
        finally:
            sagemaker_ext.release(released)


def describe(backend: SageMakerModelBackend, name: str) -> dict[str, Any]:
    with sagemaker_ext.LOCK:
        released = sagemaker_ext.settle_all(backend)
        try:
            component = _component(backend, name)
            response: dict[str, Any] = {
                "InferenceComponentName": component.name,
                "InferenceComponentArn": component.arn,
                "EndpointName": component.endpoint_name,
                "EndpointArn": component.endpoint_arn,
                "VariantName": component.variant_name,
                "FailureReason": component.failure_reason,
                "Specification": _specification_summary(component),
                "CreationTime": component.created,
                "LastModifiedTime": component.modified,
                "InferenceComponentStatus": component.status,
                "LastDeploymentConfig": component.last_deployment_config,
            }
            if component.base is None:
                response["RuntimeConfig"] = {
                    "DesiredCopyCount": component.desired_copies,
                    "CurrentCopyCount": component.current_copies,
                }
        finally:
            sagemaker_ext.release(released)
    return dict(
        sagemaker_ext.omit_unset(response, sagemaker_ext.output_shape("DescribeInferenceComponent"))
    )


def _specification_summary(component: _Component) -> dict[str, Any]:
    """Specification as Describe shows it: an Image becomes the DeployedImage it resolved to."""
    summary = dict(component.specification)
    container = dict(summary.get("Container") or {})
    image = container.pop("Image", None)
    if image:
        container["DeployedImage"] = {
            "SpecifiedImage": image,
            "ResolvedImage": _resolved(str(image)),
            "ResolutionTime": component.created,
        }
    if container:
        summary["Container"] = container
    return summary


def _resolved(image: str) -> str:
    """The image by digest, as SageMaker resolves a tag when it deploys (a made-up digest:
    the sandbox pulls no image)."""
    repository = image.split("@", 1)[0]
    head, _, last = repository.rpartition("/")
    name = last.split(":", 1)[0]
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{head}/{name}@sha256:{digest}" if head else f"{name}@sha256:{digest}"


def list_components(backend: SageMakerModelBackend, request: Mapping[str, Any]) -> dict[str, Any]:
    _validate("ListInferenceComponents", request)
    with sagemaker_ext.LOCK:
        released = sagemaker_ext.settle_all(backend)
        try:
            found = [c for c in _book(backend).components.values() if _matches(c, request)]
            summaries = [
                {
                    "CreationTime": c.created,
                    "InferenceComponentArn": c.arn,
                    "InferenceComponentName": c.name,
                    "EndpointArn": c.endpoint_arn,
                    "EndpointName": c.endpoint_name,
                    "VariantName": c.variant_name,
                    "InferenceComponentStatus": c.status,
                    "LastModifiedTime": c.modified,
                    "_order": (c.created, c.seq),
                }
                for c in found
            ]
        finally:
            sagemaker_ext.release(released)
    sort_by = request.get("SortBy") or "CreationTime"
    sort_key = {
        "Name": lambda s: (s["InferenceComponentName"],),
        "CreationTime": lambda s: s["_order"],
        "Status": lambda s: (s["InferenceComponentStatus"], s["InferenceComponentName"]),
    }[sort_by]
    summaries.sort(key=sort_key, reverse=(request.get("SortOrder") or "Descending") == "Descending")
    start = _token_offset(request.get("NextToken"))
    size = int(request.get("MaxResults") or DEFAULT_MAX_RESULTS)
    page = summaries[start : start + size]
    for summary in page:
        del summary["_order"]
    result: dict[str, Any] = {"InferenceComponents": page}
    if start + size < len(summaries):
        result["NextToken"] = base64.urlsafe_b64encode(
            json.dumps({"offset": start + size}).encode()
        ).decode()
    return result


def _token_offset(token: Any) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token).encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise ValidationError(message=f"Invalid pagination token: {token}") from error
    if not isinstance(offset, int) or offset < 0:
        raise ValidationError(message=f"Invalid pagination token: {token}")
    return offset


def _matches(component: _Component, request: Mapping[str, Any]) -> bool:
    checks: list[tuple[str, Callable[[Any], bool]]] = [
        ("EndpointNameEquals", lambda v: component.endpoint_name == v),
        ("VariantNameEquals", lambda v: component.variant_name == v),
        ("StatusEquals", lambda v: component.status == v),
        ("NameContains", lambda v: str(v) in component.name),
        ("CreationTimeBefore", lambda v: component.created < _when(v)),
        ("CreationTimeAfter", lambda v: component.created > _when(v)),
        ("LastModifiedTimeBefore", lambda v: component.modified < _when(v)),
        ("LastModifiedTimeAfter", lambda v: component.modified > _when(v)),
    ]
    return all(test(request[key]) for key, test in checks if request.get(key) is not None)


def _when(value: Any) -> datetime:
    """A request's timestamp as moto's naive UTC datetimes."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        try:
            moment = datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


# --- tags --------------------------------------------------------------------------------------


def tagged(backend: SageMakerModelBackend, arn: str) -> _Component | None:
    """The component an ARN names, for AddTags / ListTags / DeleteTags; None for other kinds."""
    resource = arn.split(":")[-1]
    kind, _, name = resource.partition("/")
    if kind != ARN_KIND:
        return None
    with sagemaker_ext.LOCK:
        return _component(backend, name)


# --- invocations -------------------------------------------------------------------------------


def resolve(
    account_id: str, region: str, endpoint: FakeEndpoint, component_name: str | None
) -> InvocationTarget | None:
    """The target of an invocation of an endpoint (called under sagemaker_ext's lock, settled):
    None for an endpoint of models without InferenceComponentName (routed as variants are),
    else the component's, or AWS's ValidationError."""
    backend = sagemaker_backends[account_id][region]
    hosts_components = any(
        is_component_variant(v) for v in sagemaker_ext.variant_configs(endpoint).values()
    )
    if not hosts_components:
        if component_name:
            raise RuntimeValidationError(HEADER_NOT_ALLOWED)
        return None
    if not component_name:
        raise RuntimeValidationError(HEADER_REQUIRED)
    component = _book(backend).components.get(component_name)
    if component is None or component.endpoint_name != endpoint.endpoint_name:
        # AWS's wording for this case is not public.
        raise RuntimeValidationError(
            f"Inference component {component_name} is not present within endpoint "
            f"{endpoint.endpoint_name}."
        )
    serving = component
    if component.base is not None:
        base = _book(backend).components.get(component.base)
        if base is None or component.status not in _SERVING:
            raise RuntimeValidationError(NO_CAPACITY)
        serving = base
    if (
        serving.status not in _SERVING
        or serving.current_copies < 1
        or serving.target is None
        or serving.key is None
    ):
        raise RuntimeValidationError(NO_CAPACITY)
    return InvocationTarget(account_id, region, endpoint.endpoint_name, serving.key, serving.target)


# --- response handlers -------------------------------------------------------------------------


def _params(response: SageMakerResponse, names: Iterable[str]) -> dict[str, Any]:
    return {name: value for name in names if (value := response._get_param(name)) is not None}


def _handle_create(self: SageMakerResponse) -> ActionResult:
    request = _params(
        self,
        (
            "InferenceComponentName",
            "EndpointName",
            "VariantName",
            "Specification",
            "Specifications",
            "RuntimeConfig",
            "Tags",
        ),
    )
    return ActionResult({"InferenceComponentArn": create(self.sagemaker_backend, request)})


def _handle_describe(self: SageMakerResponse) -> ActionResult:
    request = _params(self, ("InferenceComponentName",))
    _validate("DescribeInferenceComponent", request)
    return ActionResult(describe(self.sagemaker_backend, str(request["InferenceComponentName"])))


def _handle_list(self: SageMakerResponse) -> ActionResult:
    request = _params(
        self,
        (
            "SortBy",
            "SortOrder",
            "NextToken",
            "MaxResults",
            "NameContains",
            "CreationTimeBefore",
            "CreationTimeAfter",
            "LastModifiedTimeBefore",
            "LastModifiedTimeAfter",
            "StatusEquals",
            "EndpointNameEquals",
            "VariantNameEquals",
        ),
    )
    return ActionResult(list_components(self.sagemaker_backend, request))


def _handle_update(self: SageMakerResponse) -> ActionResult:
    request = _params(
        self,
        (
            "InferenceComponentName",
            "Specification",
            "Specifications",
            "RuntimeConfig",
            "DeploymentConfig",
        ),
    )
    return ActionResult({"InferenceComponentArn": update(self.sagemaker_backend, request)})


def _handle_update_runtime_config(self: SageMakerResponse) -> ActionResult:
    request = _params(self, ("InferenceComponentName", "DesiredRuntimeConfig"))
    arn = update_runtime_config(self.sagemaker_backend, request)
    return ActionResult({"InferenceComponentArn": arn})


def _handle_delete(self: SageMakerResponse) -> ActionResult:
    delete(self.sagemaker_backend, _params(self, ("InferenceComponentName",)))
    return EmptyResult()


def _get_resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
    found = tagged(self, arn)
    if found is not None:
        return found
    return sagemaker_ext.original_method(SageMakerModelBackend, "_get_resource_from_arn")(self, arn)


def _validate_production_variants(
    self: SageMakerModelBackend, production_variants: list[dict[str, Any]]
) -> None:
    """moto's check, which requires a ModelName, for the variants that name one."""
    named = [v for v in production_variants if not is_component_variant(v)]
    sagemaker_ext.original_method(SageMakerModelBackend, "validate_production_variants")(
        self, named
    )


def patches() -> list[tuple[type, str, Any]]:
    """What sagemaker_ext.install() patches into moto for inference components."""
    return [
        (SageMakerResponse, "create_inference_component", _handle_create),
        (SageMakerResponse, "describe_inference_component", _handle_describe),
        (SageMakerResponse, "list_inference_components", _handle_list),
        (SageMakerResponse, "update_inference_component", _handle_update),
        (
            SageMakerResponse,
            "update_inference_component_runtime_config",
            _handle_update_runtime_config,
        ),
        (SageMakerResponse, "delete_inference_component", _handle_delete),
        (SageMakerModelBackend, "_get_resource_from_arn", _get_resource_from_arn),
        (SageMakerModelBackend, "validate_production_variants", _validate_production_variants),
    ]
