"""What moto's SageMaker lacks, patched onto its backend and response classes.

Contract: `install(invoker)` patches moto 5.x in place (idempotent; `uninstall()` restores every
attribute it touched). Afterwards, in server mode and under `mock_aws` alike:

- Endpoints move Creating -> InService, Updating -> InService and Deleting -> gone after a delay
  read from moto's state manager, model name `sagemaker::endpoint` (`{"progression":
  "immediate"}` by default, `{"progression": "time", "seconds": S}` through
  `set_transition_seconds`, at most an hour). Transitions are settled lazily, from timestamps,
  under one lock, whenever endpoints are read, changed or invoked: no timers. The module's one
  thread of its own copies invocations to shadow variants (below); an invoker may bring
  containers up on threads of its own.
- UpdateEndpoint exists (RetainAllVariantProperties, ExcludeRetainedVariantProperties,
  DeploymentConfig, RetainDeploymentConfig); while Updating, DescribeEndpoint shows the old
  config plus PendingDeploymentSummary, as AWS does.
- Updates shift traffic as their DeploymentConfig says (the one given, or the retained one).
  The new fleet is provisioned first (the transition delay, and until its containers are up;
  PendingDeploymentSummary variants `Creating`), the old fleet taking all traffic. Then
  BlueGreenUpdatePolicy ALL_AT_ONCE moves all traffic to it, CANARY first CanarySize then all,
  LINEAR LinearStepSize more per step, RollingUpdatePolicy MaximumBatchSize more per batch
  (a CAPACITY_PERCENT share, or INSTANCE_COUNT over the new config's instance count). Each
  step is a baking period of WaitIntervalInSeconds (pending variants `Baking`, StatusMessage
  naming the share); after the last one, TerminationWaitInSeconds with all traffic on the new
  fleet; then the endpoint is InService on the new config. Waits are AWS seconds scaled by
  the transition delay at the time of the update: `transition_seconds / AWS_SECONDS_PER_
  TRANSITION` sandbox seconds per AWS second (one transition stands for a minute of AWS's
  time; 0 makes every wait instant). An update without DeploymentConfig switches at once once
  provisioned. As AWS's guardrail exclusions say, endpoints with Inf1 instances, an
  AcceleratorType or serverless variants fall back to all at once with no baking; canary,
  linear and rolling updates need the same variant names in the old and new config, and
  rolling updates are refused for serverless and multi-variant endpoints (ValidationException;
  the wording is the sandbox's, AWS's is not public). CanarySize and LinearStepSize limits
  (at most 50 %, 10-50 %) and MaximumExecutionTimeoutInSeconds are not enforced.
- Rollback alarms: while a baking period runs, an alarm of the DeploymentConfig's
  AutoRollbackConfiguration in ALARM state in moto's CloudWatch (`set_alarm_state`), or the
  one-shot fault `faults.alarm_during_next_update(NAME)` for an update that lists NAME (it
  trips halfway through the first baking period, moto's alarm of that name, if there is one,
  going to ALARM and back to OK once the rollback is done), rolls the update back: all traffic
  returns to the old fleet at once, the new one is torn down (one transition delay, pending
  variants `Deleting`), and the endpoint is InService on the old config with a FailureReason
  naming the alarm.
- Invocations without TargetVariant go to a production variant picked at random in
  proportion to its current weight (InitialVariantWeight, 1.0 when not given; then
  UpdateEndpointWeightsAndCapacities' DesiredWeight once that update is done); a variant of
  weight 0 answers only when targeted. During an update the new fleet takes its share of the
  invocations (then by its own weights), TargetVariant included. The draws come from one
  `random.Random` per process, seeded at `install()` (and by `seed_routing`) from
  $DEPLOYSPEC_SANDBOX_SEED (any text), else `DEFAULT_SEED`: the same calls get the same
  variants. `x-Amzn-Invoked-Production-Variant` names the variant that answered.
  CreateEndpointConfig and UpdateEndpointWeightsAndCapacities refuse weights that are all 0.
- Shadow variants: CreateEndpointConfig keeps ShadowProductionVariants (moto drops them);
  DescribeEndpointConfig, DescribeEndpoint and PendingDeploymentSummary return them as AWS
  does. AWS's rules are refused at CreateEndpointConfig, as its docs word them: at most one
  shadow variant, and then at most one production variant; none with serverless variants,
  AsyncInferenceConfig, multi-model or multi-container models, Inf1 instances or an
  AcceleratorType; a shadow's name must differ from the production variant's. The invoker
  brings a shadow's container up like any variant's. Every invocation answered by the
  production variant is copied to the shadow after the answer, on the module's thread (a
  bounded queue: copies beyond it are dropped, as sampling would), never delaying or changing
  the caller's answer; `shadows.records(endpoint)` keeps the last `SHADOW_RECORDS` answers
  (variant, status, content type, body capped at `SHADOW_BODY_LIMIT` characters), which the
  sandbox's log also shows.
- Creating a model, endpoint config or endpoint whose name exists, and looking up a missing one,
  fail with AWS's ValidationException messages instead of overwriting or moto's wording.
- `faults` makes the next create or update of a named endpoint fail (update: rolled back to the
  old config with a FailureReason, or Failed), or trips a rollback alarm (above).
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
  the endpoint is Updating, the Current* values following once it is InService again (and
  routing with them); a variant the endpoint lacks gets AWS's ValidationException.
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
- InvokeEndpointWithResponseStream is streaming.py's (AWS event-stream frames, eventstream.py).
- A model created from a Model Registry package (a container with ModelPackageName, which must
  exist: CreateModel answers moto's ValidationException otherwise) runs the package's
  InferenceSpecification.Containers[0]: its Image, ModelDataUrl or ModelDataSource and
  Environment, the model's own Environment over it, as SageMaker deploys a package.
- Async inference (AsyncInferenceConfig, InvokeEndpointAsync run in the background) and
  multi-model endpoints (Mode MultiModel, TargetModel) are async_inference.py's and
  multi_model.py's, each with its contract; this module calls them from CreateModel,
  CreateEndpointConfig, UpdateEndpoint, DescribeEndpoint, InvokeEndpoint and install().
- Inference components (configs whose variants name no model, with ExecutionRoleArn and
  ManagedInstanceScaling; the six inference-component operations; capacity and managed
  instance scaling; InvokeEndpoint's InferenceComponentName) are inference_components.py's;
  this module calls it from CreateEndpointConfig, CreateEndpoint, DescribeEndpoint,
  UpdateEndpoint, DeleteEndpoint, InvokeEndpoint and each settling of transitions, and
  DescribeEndpoint's variants carry their config's ManagedInstanceScaling and RoutingConfig.

Nothing here knows about deployspec: the module is meant to be offered to moto as it stands.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import queue
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

from deployspec.sandbox import autoscaling_ext

ENDPOINT_STATE_MODEL = "sagemaker::endpoint"

# Statuses in which AWS refuses UpdateEndpoint/DeleteEndpoint with "in-progress".
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# An endpoint keeps answering on its current config while an update is rolled out.
SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})

_LOCK = threading.RLock()
LOCK = _LOCK
"""The lock every change of the extension's state is made under (re-entrant)."""
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
    multi_model: bool = False
    """The container's Mode is MultiModel: ModelDataUrl is a prefix; invocations name a
    TargetModel under it (multi_model.py)."""
    model_data_source: Mapping[str, Any] | None = None
    """The container's ModelDataSource (S3DataSource: uncompressed weights under a prefix)."""


@dataclass(frozen=True)
class Deployment:
    """An endpoint config as an endpoint runs it; `key` changes whenever what runs changes."""

    key: str
    endpoint_config_name: str
    variants: tuple[VariantTarget, ...]
    shadows: tuple[VariantTarget, ...] = ()
    """ShadowProductionVariants: they get a copy of what the production variant answers."""
    async_inference_config: Mapping[str, Any] | None = None
    """The config's AsyncInferenceConfig: invoked through InvokeEndpointAsync only
    (async_inference.py)."""


@dataclass(frozen=True)
class InvocationTarget:
    account_id: str
    region: str
    endpoint_name: str
    deployment_key: str
    variant: VariantTarget
    shadows: tuple[VariantTarget, ...] = ()
    """The shadow variants of the deployment answering, to be sent a copy of the invocation."""
    target_model: str | None = None
    """A multi-model variant's TargetModel: the archive under its ModelDataUrl prefix."""


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
    reason: str | None = None
    """What the container said it needs, added to the FailureReason (a Hub model the sandbox
    cannot download, say)."""


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
        self._alarms: set[str] = set()

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

    def alarm_during_next_update(self, alarm_name: str) -> None:
        """CloudWatch alarm `alarm_name` goes into ALARM during the next update of any endpoint
        whose AutoRollbackConfiguration lists it, which SageMaker then rolls back. The alarm
        need not exist in moto's CloudWatch; when it does, its state follows."""
        with self._lock:
            self._alarms.add(alarm_name)

    def take_alarm(self, listed: Iterable[str]) -> str | None:
        """The first of `listed` armed to trip, disarmed now; None when none is."""
        with self._lock:
            for name in listed:
                if name in self._alarms:
                    self._alarms.discard(name)
                    return name
            return None

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
            self._alarms.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next_create": dict(self._create),
                "fail_next_update": {
                    name: {"reason": f.reason, "rollback": f.rollback}
                    for name, f in self._update.items()
                },
                "refuse_next_update": dict(self._refuse),
                "alarm_next_update": sorted(self._alarms),
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


# How many seconds of AWS's time one sandbox transition stands for: deployment waits
# (WaitIntervalInSeconds, TerminationWaitInSeconds) last wait * transition / this.
AWS_SECONDS_PER_TRANSITION = 60.0


# --- routing -----------------------------------------------------------------------------------

SEED_ENV = "DEPLOYSPEC_SANDBOX_SEED"
DEFAULT_SEED = "deployspec-sandbox"
# AWS's default when InitialVariantWeight is not given.
DEFAULT_WEIGHT = 1.0
_routing = random.Random(DEFAULT_SEED)


def seed_routing(seed: str | None = None) -> None:
    """Start the routing draws again from `seed` (None: $DEPLOYSPEC_SANDBOX_SEED, else
    DEFAULT_SEED); the same invocations then reach the same variants."""
    with _LOCK:
        _routing.seed(seed if seed is not None else os.environ.get(SEED_ENV) or DEFAULT_SEED)


def _weight(summary: Mapping[str, Any] | None) -> float:
    """The weight a variant routes with: the current one (the desired one only while an
    update of the weights has not completed)."""
    for key in ("CurrentWeight", "DesiredWeight"):
        value = (summary or {}).get(key)
        if value is not None:
            return float(value)
    return DEFAULT_WEIGHT


def _pick_weighted(
    variants: tuple[VariantTarget, ...], summaries: list[dict[str, Any]], endpoint_name: str
) -> VariantTarget:
    by_name = {s.get("VariantName"): s for s in summaries}
    weighted = [(v, _weight(by_name.get(v.variant_name))) for v in variants]
    candidates = [(v, w) for v, w in weighted if w > 0]
    if not candidates:
        # Refused where weights are set; kept for an endpoint moto was given directly.
        raise RuntimeValidationError(
            f"Endpoint {endpoint_name} has no production variant with a weight above 0."
        )
    if len(candidates) == 1:
        return candidates[0][0]
    draw = _routing.random() * sum(w for _, w in candidates)
    for variant, weight in candidates:
        draw -= weight
        if draw < 0:
            return variant
    return candidates[-1][0]  # float rounding at the very top of the range


# --- shadow copies -----------------------------------------------------------------------------

# The answers kept per endpoint, and the characters of each body kept.
SHADOW_RECORDS = 100
SHADOW_BODY_LIMIT = 4096
# Copies waiting for the shadow's model beyond this are dropped: a slow shadow must not make
# the sandbox hold an unbounded backlog of request bodies.
SHADOW_QUEUE = 256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _ShadowCopy:
    invoker: EndpointInvoker
    target: InvocationTarget
    production_variant: str
    body: bytes
    content_type: str
    accept: str


class ShadowMirror:
    """Sends shadow variants their copies on one thread of its own and keeps their answers."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queue: queue.Queue[_ShadowCopy] = queue.Queue(maxsize=SHADOW_QUEUE)
        self._records: dict[str, deque[dict[str, Any]]] = {}
        self._unfinished = 0
        self._thread: threading.Thread | None = None

    def submit(
        self,
        invoker: EndpointInvoker,
        target: InvocationTarget,
        body: bytes,
        content_type: str,
        accept: str,
    ) -> None:
        """Queue a copy of an invocation `target` answered for each of its shadows; returns at
        once (a full queue drops the copy)."""
        for shadow in target.shadows:
            copy = _ShadowCopy(
                invoker,
                InvocationTarget(
                    target.account_id,
                    target.region,
                    target.endpoint_name,
                    target.deployment_key,
                    shadow,
                ),
                target.variant.variant_name,
                body,
                content_type,
                accept,
            )
            with self._lock:
                try:
                    self._queue.put_nowait(copy)
                except queue.Full:
                    log.warning(
                        "endpoint %s: copy for shadow variant %s dropped (%d copies waiting)",
                        target.endpoint_name,
                        shadow.variant_name,
                        SHADOW_QUEUE,
                    )
                    continue
                self._unfinished += 1
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="sandbox-shadow-copies", daemon=True
                    )
                    self._thread.start()

    def records(self, endpoint_name: str) -> list[dict[str, Any]]:
        """The shadows' latest answers for `endpoint_name`, oldest first."""
        with self._lock:
            return [dict(r) for r in self._records.get(endpoint_name, ())]

    def drain(self, timeout: float) -> bool:
        """Wait until every queued copy has been answered; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._unfinished == 0, timeout)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _run(self) -> None:
        while True:
            copy = self._queue.get()
            try:
                record = self._answer(copy)
                with self._lock:
                    kept = self._records.setdefault(
                        copy.target.endpoint_name, deque(maxlen=SHADOW_RECORDS)
                    )
                    kept.append(record)
            finally:
                with self._lock:
                    self._unfinished -= 1
                    self._lock.notify_all()

    def _answer(self, copy: _ShadowCopy) -> dict[str, Any]:
        target = copy.target
        try:
            output, output_type = copy.invoker.invoke(
                target, copy.body, copy.content_type, copy.accept
            )
            status, content_type = 200, output_type
            text = output.decode("utf-8", "replace")
        except ModelInvocationError as error:
            status, content_type, text = error.status_code, "text/plain", error.message
        except Exception as error:  # a fault of the sandbox must not end the copies for good
            log.exception("endpoint %s: copying to shadow variant failed", target.endpoint_name)
            status, content_type, text = 500, "text/plain", f"{type(error).__name__}: {error}"
        body = cap_text(text, SHADOW_BODY_LIMIT)
        log.info(
            "endpoint %s: shadow variant %s answered %d (%s): %s",
            target.endpoint_name,
            target.variant.variant_name,
            status,
            content_type,
            cap_text(body, 200),
        )
        return {
            "variant": target.variant.variant_name,
            "production_variant": copy.production_variant,
            "status": status,
            "content_type": content_type,
            "body": body,
        }


shadows = ShadowMirror()


def mirror_to_shadows(
    target: InvocationTarget, body: bytes, content_type: str, accept: str
) -> None:
    """Copy an invocation the production variant answered to the deployment's shadows."""
    invoker = _invoker
    if invoker is not None and target.shadows:
        shadows.submit(invoker, target, body, content_type, accept)


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
    shadow_variants: list[dict[str, Any]] = field(default_factory=list)
    begun: float = 0.0
    """The clock's reading when the transition was scheduled (for the phases' StartTime)."""
    rollout: _Rollout | None = None
    """How an update moves traffic once its fleet is up (updates only)."""
    variant_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The new config's production variants as requested, by name (creates and updates)."""

    def at(self, moment: float) -> datetime:
        """The wall time of a reading of the transition clock."""
        return self.started + timedelta(seconds=moment - self.begun)


@dataclass(frozen=True)
class _Step:
    share: float
    """The share of invocations the new fleet takes during the step."""
    bake: float
    """How long the step's baking period lasts, in sandbox seconds."""


@dataclass
class _Rollout:
    """An update's traffic shifting, and how far it has come (see the module docstring)."""

    steps: tuple[_Step, ...] = ()
    termination: float = 0.0
    alarms: tuple[str, ...] = ()
    """The AutoRollbackConfiguration's alarm names."""
    injected_alarm: str | None = None
    """The alarm the fault trips halfway through the first baking period."""
    teardown: float = 0.0
    """How long tearing the new fleet down takes when the update is rolled back."""
    waited_for_startup: bool = False
    provisioned_at: float | None = None
    rollback_at: float | None = None
    rollback_alarm: str | None = None

    def baking(self) -> float:
        return sum(step.bake for step in self.steps)

    def share(self, now: float) -> float:
        """The share of invocations the new fleet takes at `now`."""
        rolled_back = self.rollback_at is not None and now >= self.rollback_at
        if self.provisioned_at is None or rolled_back:
            return 0.0
        elapsed = now - self.provisioned_at
        for step in self.steps:
            if elapsed < step.bake:
                return step.share
            elapsed -= step.bake
        return 1.0

    def phase(self, now: float) -> tuple[float, str]:
        """When the new fleet's current phase began, and its StatusMessage, once provisioned."""
        start = self.provisioned_at or 0.0
        for step in self.steps:
            if now < start + step.bake:
                break
            start += step.bake
        else:
            if self.steps:
                return start, "Baking done: all traffic on the new fleet until the old one goes"
            return start, "All traffic on the new fleet"
        return start, f"Baking: {self.share(now):.0%} of the traffic on the new fleet"


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


def _shadow_variants(config: FakeEndpointConfig) -> list[dict[str, Any]]:
    """The config's ShadowProductionVariants (kept by create_endpoint_config; moto has none)."""
    return list(getattr(config, "shadow_production_variants", None) or [])


def _containers_of(create_model_kwargs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    primary = create_model_kwargs.get("primary_container")
    return [primary] if primary else list(create_model_kwargs.get("containers") or [])


def _running_container(
    backend: SageMakerModelBackend, container: Mapping[str, Any]
) -> Mapping[str, Any]:
    """What a model's container runs: itself, or for a ModelPackageName the package's first
    container, the model's Environment over the package's (a package deleted since runs
    nothing: no image)."""
    name = container.get("ModelPackageName")
    if not name:
        return container
    try:
        package = backend.describe_model_package(name)
    except ValidationError:
        return {"Environment": container.get("Environment") or {}}
    specification = package.inference_specification or {}
    first = dict((specification.get("Containers") or [{}])[0])
    first["Environment"] = {
        **(first.get("Environment") or {}),
        **(container.get("Environment") or {}),
    }
    return first


def _variant_target(backend: SageMakerModelBackend, variant: Mapping[str, Any]) -> VariantTarget:
    model = backend._models.get(variant["ModelName"])
    if model is None:
        raise _missing_model(backend, variant["ModelName"])
    container = _running_container(
        backend, model.primary_container or (model.containers[0] if model.containers else {})
    )
    return VariantTarget(
        variant_name=variant["VariantName"],
        model_name=model.model_name,
        image=container.get("Image"),
        model_data_url=container.get("ModelDataUrl"),
        environment=dict(container.get("Environment") or {}),
        serverless=bool(variant.get("ServerlessConfig")),
        multi_model=container.get("Mode") == "MultiModel",
        model_data_source=container.get("ModelDataSource") or None,
    )


def _snapshot(backend: SageMakerModelBackend, config_name: str) -> Deployment:
    config = backend.endpoint_configs[config_name]
    # A variant without a model hosts inference components, which run on their own.
    variants = [
        _variant_target(backend, v) for v in config.production_variants if v.get("ModelName")
    ]
    shadow_variants = [_variant_target(backend, v) for v in _shadow_variants(config)]
    digest = hashlib.sha256(
        json.dumps(
            [v.__dict__ for v in variants + shadow_variants], sort_keys=True, default=str
        ).encode()
    ).hexdigest()[:12]
    raw_key = f"{backend.account_id}-{backend.region_name}-{config_name}-{digest}"
    return Deployment(
        key=re.sub(r"[^A-Za-z0-9-]", "_", raw_key),
        endpoint_config_name=config_name,
        variants=tuple(variants),
        shadows=tuple(shadow_variants),
        async_inference_config=config.async_inference_config or None,
    )


def _schedule(
    backend: SageMakerModelBackend,
    endpoint: FakeEndpoint,
    kind: Literal["create", "update", "delete", "capacity"],
    status: str,
    **details: Any,
) -> None:
    endpoint.endpoint_status = status
    now = _clock()
    _book(backend).pending[endpoint.endpoint_name] = _Transition(
        kind=kind, due=now + transition_seconds(), started=utcnow(), begun=now, **details
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
        setattr(endpoint, "variant_configs", t.variant_configs)  # noqa: B010 - not moto's
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
    setattr(endpoint, "shadow_production_variants", t.shadow_variants)  # noqa: B010 - not moto's
    endpoint.data_capture_config = t.data_capture_config
    setattr(endpoint, "variant_configs", t.variant_configs)  # noqa: B010 - not moto's
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
        if not _over(backend, name, transition, now):
            continue
        del book.pending[name]
        endpoint = backend.endpoints.get(name)
        if endpoint is not None:
            released += _complete(backend, book, endpoint, transition)
    from deployspec.sandbox import inference_components

    return released + inference_components.settle(backend)


def _over(backend: SageMakerModelBackend, name: str, t: _Transition, now: float) -> bool:
    """Whether transition `t` of endpoint `name` is done at `now`; moves an update through its
    traffic shifting (and a rollback) on the way."""
    if t.due > now:
        return False
    rollout = t.rollout
    if rollout is None or rollout.provisioned_at is None:
        if t.startup is not None and not t.startup.finished():
            # As on AWS, Creating and Updating last until the containers are up.
            if rollout is not None:
                rollout.waited_for_startup = True
            return False
        if rollout is None:
            return True
        # Up by the transition's end, or (containers slower than that) now.
        rollout.provisioned_at = now if rollout.waited_for_startup else t.due
        if t.failure is None:
            t.failure = _startup_failure(backend, name, t)
        if t.failure is not None:
            return True  # the new fleet never takes traffic: rolled back (or Failed) at once
    provisioned = rollout.provisioned_at
    if rollout.rollback_at is None:
        _watch_alarms(backend, rollout, provisioned, now)
    if rollout.rollback_at is not None:
        if now < rollout.rollback_at + rollout.teardown:
            return False
        t.failure = _alarm_failure(rollout.rollback_alarm)
        t.rollback = True
        if rollout.rollback_alarm == rollout.injected_alarm:
            _set_alarm_state(
                backend,
                rollout.rollback_alarm,
                "OK",
                "deployspec sandbox: the alarm fault is spent, traffic is back on the old fleet",
            )
        return True
    return now >= provisioned + rollout.baking() + rollout.termination


def _watch_alarms(
    backend: SageMakerModelBackend, rollout: _Rollout, provisioned: float, now: float
) -> None:
    """Start the rollback when an alarm trips during a baking period."""
    if not rollout.steps:
        return  # no baking period: nothing watches the alarms
    if rollout.injected_alarm is not None:
        trips = provisioned + rollout.steps[0].bake / 2
        if now >= trips:
            rollout.rollback_at, rollout.rollback_alarm = trips, rollout.injected_alarm
            _set_alarm_state(
                backend,
                rollout.injected_alarm,
                "ALARM",
                "deployspec sandbox: alarm fault injected during the endpoint's update",
            )
            return
    if provisioned <= now < provisioned + rollout.baking():
        tripped = _alarm_in_alarm(backend, rollout.alarms)
        if tripped is not None:
            rollout.rollback_at, rollout.rollback_alarm = now, tripped


def _cloudwatch(backend: SageMakerModelBackend) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[backend.account_id][backend.region_name]


def _alarm_in_alarm(backend: SageMakerModelBackend, names: tuple[str, ...]) -> str | None:
    if not names:
        return None
    for alarm in _cloudwatch(backend).get_alarms_by_alarm_names(list(names)):
        if alarm.state_value == "ALARM":
            return str(alarm.name)
    return None


def _set_alarm_state(
    backend: SageMakerModelBackend, name: str | None, state: str, reason: str
) -> None:
    """As CloudWatch's SetAlarmState would, when moto's CloudWatch has the alarm."""
    cloudwatch = _cloudwatch(backend)
    if name is not None and name in cloudwatch.alarms:
        cloudwatch.set_alarm_state(name, reason, None, state)


def _alarm_failure(alarm: str | None) -> str:
    # AWS's FailureReason for an alarm rollback is not public; this names what happened.
    return (
        f'Endpoint update rolled back: CloudWatch alarm "{alarm}" of the '
        "AutoRollbackConfiguration went into ALARM state during the deployment's baking "
        "period. Traffic is back on the previous endpoint configuration."
    )


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
        for variant in deployment.variants + deployment.shadows
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
    reason = (
        f"The primary container for production variant {failure.variant_name} did not pass "
        "the ping health check. Please check CloudWatch logs for this endpoint."
    )
    if failure.reason:
        # AWS's sentence first (callers match it), then what the sandbox knows; FailureReason
        # is at most 1024 characters.
        reason = cap_text(f"{reason} The container said: {failure.reason}", 960)
    return reason


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
        _check_model_shape(kwargs)
        for container in _containers_of(kwargs):
            if container.get("ModelPackageName"):
                # moto's ValidationError for a package that does not exist.
                self.describe_model_package(container["ModelPackageName"])
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
        shadow_variants = list(kwargs.pop("shadow_production_variants", None) or [])
        execution_role_arn = kwargs.pop("execution_role_arn", None)
        from deployspec.sandbox import inference_components

        inference_components.check_endpoint_config(
            production_variants or [],
            shadow_variants,
            execution_role_arn,
            kwargs.get("async_inference_config"),
        )
        for variant in [*(production_variants or []), *shadow_variants]:
            if variant.get("ModelName") and variant["ModelName"] not in self._models:
                raise _missing_model(self, str(variant.get("ModelName")))
        _refuse_zero_weights([_initial_weight(v) for v in production_variants or []])
        _check_config_shape(self, production_variants or [], kwargs.get("async_inference_config"))
        if shadow_variants:
            async_config = kwargs.get("async_inference_config")
            _refuse_shadow_config(self, production_variants or [], shadow_variants, async_config)
        config = _original(SageMakerModelBackend, "create_endpoint_config")(
            self,
            endpoint_config_name=endpoint_config_name,
            production_variants=production_variants,
            **kwargs,
        )
        if shadow_variants:
            setattr(config, "shadow_production_variants", shadow_variants)  # noqa: B010
        if execution_role_arn:
            setattr(config, "execution_role_arn", execution_role_arn)  # noqa: B010 - not moto's
        return config


def _initial_weight(variant: Mapping[str, Any]) -> float:
    weight = variant.get("InitialVariantWeight")
    return DEFAULT_WEIGHT if weight is None else float(weight)


def _refuse_zero_weights(weights: list[float]) -> None:
    # AWS refuses a set of variants none of which could take traffic; its wording is not public.
    if weights and not any(w > 0 for w in weights):
        raise ValidationError(
            message="At least one production variant must have a weight greater than 0: "
            "with every weight 0 no variant would receive traffic."
        )


def _refuse_shadow_config(
    backend: SageMakerModelBackend,
    production: list[dict[str, Any]],
    shadow_variants: list[dict[str, Any]],
    async_config: Any,
) -> None:
    """AWS's shadow variant rules (the developer guide's "Create a shadow test" note and its
    shadow test exclusions); the messages are the sandbox's, AWS's are not public."""
    if len(shadow_variants) > 1:
        raise ValidationError(
            message="SageMaker supports a maximum of one shadow variant per endpoint; "
            f"{len(shadow_variants)} ShadowProductionVariants were given."
        )
    if len(production) > 1:
        raise ValidationError(
            message="For an endpoint with a shadow variant, there can be a maximum of one "
            f"production variant; {len(production)} ProductionVariants were given."
        )
    names = {v.get("VariantName") for v in production}
    for shadow in shadow_variants:
        if shadow.get("VariantName") in names:
            raise ValidationError(
                message=f'The shadow variant name "{shadow.get("VariantName")}" is also a '
                "production variant's: variant names must be unique within the endpoint "
                "configuration."
            )
        if "InstanceType" in shadow:
            _check_instance_type(str(shadow["InstanceType"]))
    if async_config:
        raise ValidationError(
            message="Shadow variants are not supported with asynchronous inference "
            "(AsyncInferenceConfig)."
        )
    for variant in [*production, *shadow_variants]:
        name = variant.get("VariantName")
        if variant.get("ServerlessConfig"):
            raise ValidationError(
                message="Shadow variants are not supported with serverless inference: variant "
                f'"{name}" has a ServerlessConfig.'
            )
        if str(variant.get("InstanceType", "")).startswith("ml.inf1."):
            raise ValidationError(
                message=f"Shadow variants are not supported on endpoints that use Inf1 "
                f'instances: variant "{name}" uses {variant["InstanceType"]}.'
            )
        if variant.get("AcceleratorType"):
            raise ValidationError(
                message="Shadow variants are not supported on Amazon Elastic Inference "
                f'endpoints: variant "{name}" has an AcceleratorType.'
            )
        model = backend._models[variant["ModelName"]]
        containers = list(model.containers or [])
        if len(containers) > 1:
            raise ValidationError(
                message="Shadow variants are not supported on multiple-container endpoints: "
                f'model "{model.model_name}" has {len(containers)} containers.'
            )
        primary = model.primary_container or (containers[0] if containers else {})
        if primary.get("Mode") == "MultiModel":
            raise ValidationError(
                message="Shadow variants are not supported on multi-model endpoints: model "
                f'"{model.model_name}" has Mode MultiModel.'
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
        config = self.endpoint_configs[endpoint_config_name]
        endpoint.production_variants = _summaries(endpoint, list(config.production_variants))
        shadow_variants = _summaries(endpoint, _shadow_variants(config))
        setattr(endpoint, "shadow_production_variants", shadow_variants)  # noqa: B010
        fault = faults.take_create(endpoint_name)
        _schedule(
            self,
            endpoint,
            "create",
            "Creating",
            failure=fault,
            deployment=deployment,
            variants=[dict(v) for v in endpoint.production_variants],
            shadow_variants=[dict(v) for v in shadow_variants],
            raw_variants=[*config.production_variants, *_shadow_variants(config)],
            startup=None if fault else _start_containers(self, endpoint_name, deployment),
            variant_configs=_variant_configs_of(config),
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
            response["PendingDeploymentSummary"] = _pending_summary(pending, _clock())
        running = _book(self).deployments.get(endpoint_name)
        if running is None and pending is not None:
            running = pending.deployment  # Creating: the config it is being created with
        if running is not None and running.async_inference_config:
            response["AsyncInferenceConfig"] = running.async_inference_config
    _release(released)
    return response


def _summaries(endpoint: FakeEndpoint, variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariantSummary of each variant: moto's, with the weight AWS
    reports also when it is 0 or was not given (moto leaves both out)."""
    from deployspec.sandbox import inference_components

    summaries = endpoint._process_production_variants(variants)
    for summary, variant in zip(summaries, variants, strict=True):
        weight = _initial_weight(variant)
        summary.setdefault("CurrentWeight", weight)
        summary.setdefault("DesiredWeight", weight)
        summary.update(inference_components.variant_summary_extras(variant))
    return summaries


def _variant_configs_of(config: FakeEndpointConfig) -> dict[str, dict[str, Any]]:
    return {str(v["VariantName"]): dict(v) for v in config.production_variants}


def variant_configs(endpoint: FakeEndpoint) -> dict[str, dict[str, Any]]:
    """The production variants of the config an endpoint runs, as requested, by name (empty
    until it is first InService)."""
    configs: dict[str, dict[str, Any]] = getattr(endpoint, "variant_configs", None) or {}
    return configs


def _deployment_of(t: _Transition) -> Deployment:
    """The deployment a create or update transition brings (only deletes have none)."""
    if t.deployment is None:
        raise RuntimeError(f"the {t.kind} transition carries no deployment")
    return t.deployment


def _pending_summary(t: _Transition, now: float) -> dict[str, Any]:
    deployment = _deployment_of(t)
    # raw_variants holds the config's production and shadow variants as they were requested.
    instance_types = {v["VariantName"]: v.get("InstanceType") for v in t.raw_variants}
    status = _pending_status(t, now)

    def summaries(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = []
        for variant in variants:
            summary = {k: v for k, v in variant.items() if not k.startswith("Current")}
            summary["VariantStatus"] = [dict(status)]
            if instance_types.get(variant["VariantName"]):
                summary["InstanceType"] = instance_types[variant["VariantName"]]
            result.append(summary)
        return result

    pending = {
        "EndpointConfigName": deployment.endpoint_config_name,
        "ProductionVariants": summaries(t.variants),
        "StartTime": t.started,
    }
    if t.shadow_variants:
        pending["ShadowProductionVariants"] = summaries(t.shadow_variants)
    return pending


def _pending_status(t: _Transition, now: float) -> dict[str, Any]:
    """The new fleet's ProductionVariantStatus at `now`."""
    rollout = t.rollout
    if rollout is None or rollout.provisioned_at is None:
        return {"Status": "Creating", "StartTime": t.started}
    if rollout.rollback_at is not None and now >= rollout.rollback_at:
        return {
            "Status": "Deleting",
            "StatusMessage": f'Rolling back: CloudWatch alarm "{rollout.rollback_alarm}" is in '
            "ALARM state",
            "StartTime": t.at(rollout.rollback_at),
        }
    start, message = rollout.phase(now)
    status = "Baking" if rollout.steps else "ActivatingTraffic"
    return {"Status": status, "StatusMessage": message, "StartTime": t.at(start)}


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
        from deployspec.sandbox import inference_components

        inference_components.refuse_endpoint_delete(self, endpoint)
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
        _check_update_shape(_book(self).deployments.get(endpoint_name), config)
        from deployspec.sandbox import inference_components

        inference_components.check_endpoint_update(self, endpoint, list(config.production_variants))
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
        effective = deployment_config
        if effective is None and retain_deployment_config:
            effective = getattr(endpoint, "last_deployment_config", None)
        rollout = _rollout(endpoint, effective, list(config.production_variants), variants)
        if deployment_config is not None:
            setattr(endpoint, "last_deployment_config", deployment_config)  # noqa: B010
        elif not retain_deployment_config and hasattr(endpoint, "last_deployment_config"):
            delattr(endpoint, "last_deployment_config")
        setattr(endpoint, "failure_reason", None)  # noqa: B010 - a new attempt clears the last one
        fault = faults.take_update(endpoint_name)
        if fault is None and rollout.steps:
            rollout.injected_alarm = faults.take_alarm(rollout.alarms)
        _schedule(
            self,
            endpoint,
            "update",
            "Updating",
            failure=fault.reason if fault else None,
            rollback=fault.rollback if fault else True,
            deployment=deployment,
            variants=variants,
            shadow_variants=_summaries(endpoint, _shadow_variants(config)),
            raw_variants=[*config.production_variants, *_shadow_variants(config)],
            data_capture_config=data_capture,
            startup=None if fault else _start_containers(self, endpoint_name, deployment),
            rollout=rollout,
            variant_configs=_variant_configs_of(config),
        )
        arn: str = endpoint.arn
    _release(released)
    return arn


def _rollout(
    endpoint: FakeEndpoint,
    config: Mapping[str, Any] | None,
    new_variants: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
) -> _Rollout:
    """How an update with DeploymentConfig `config` to `new_variants` (as requested; as the
    endpoint will describe them: `summaries`) shifts traffic (see the module docstring), or
    AWS's refusal of it."""
    teardown = transition_seconds()
    if not config:
        return _Rollout(teardown=teardown)
    scale = transition_seconds() / AWS_SECONDS_PER_TRANSITION
    alarms = tuple(
        str(alarm["AlarmName"])
        for alarm in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        if alarm.get("AlarmName")
    )
    rolling = config.get("RollingUpdatePolicy")
    blue_green = config.get("BlueGreenUpdatePolicy") or {}
    routing = blue_green.get("TrafficRoutingConfiguration") or {}
    kind = "ROLLING" if rolling else str(routing.get("Type") or "ALL_AT_ONCE")
    serverless = any(v.get("ServerlessConfig") for v in new_variants)
    if rolling and (serverless or len(new_variants) > 1):
        raise ValidationError(
            message="Rolling deployments are not supported for serverless or multi-variant "
            "endpoints; use a BlueGreenUpdatePolicy."
        )
    old_names = sorted(v["VariantName"] for v in endpoint.production_variants)
    new_names = sorted(v["VariantName"] for v in new_variants)
    if kind != "ALL_AT_ONCE" and old_names != new_names:
        raise ValidationError(
            message="When doing a blue/green deployment with traffic shifting or a rolling "
            "deployment, the new endpoint configuration must have the same variant names as "
            f"the old one: {old_names} now, {new_names} in the new configuration."
        )
    excluded = serverless or any(
        str(v.get("InstanceType", "")).startswith("ml.inf1.") or v.get("AcceleratorType")
        for v in new_variants
    )
    if excluded:
        # AWS's guardrail exclusions: all at once, no final baking period.
        return _Rollout(alarms=alarms, teardown=teardown)
    # The new fleet's size: the counts the update retains, else the config's.
    instances = sum(int(v.get("DesiredInstanceCount") or 1) for v in summaries)
    if rolling:
        wait = float(rolling.get("WaitIntervalInSeconds") or 0) * scale
        batch = _capacity_share(rolling.get("MaximumBatchSize"), instances, "MaximumBatchSize")
        return _Rollout(_linear(batch, wait), alarms=alarms, teardown=teardown)
    wait = float(routing.get("WaitIntervalInSeconds") or 0) * scale
    termination = float(blue_green.get("TerminationWaitInSeconds") or 0) * scale
    steps: tuple[_Step, ...]
    if kind == "CANARY":
        canary = _capacity_share(routing.get("CanarySize"), instances, "CanarySize")
        steps = (_Step(canary, wait), _Step(1.0, wait)) if canary < 1 else (_Step(1.0, wait),)
    elif kind == "LINEAR":
        size = _capacity_share(routing.get("LinearStepSize"), instances, "LinearStepSize")
        steps = _linear(size, wait)
    else:
        steps = (_Step(1.0, wait),)
    return _Rollout(steps, termination, alarms, teardown=teardown)


def _capacity_share(size: Mapping[str, Any] | None, instances: int, member: str) -> float:
    """The share of traffic a CapacitySize turns on: a percentage of the new fleet, or a number
    of its instances."""
    if not size:
        raise ValidationError(message=f"{member} is required for this deployment configuration.")
    value = float(size.get("Value") or 0)
    share = value / 100 if size.get("Type") == "CAPACITY_PERCENT" else value / max(instances, 1)
    return min(max(share, 0.0), 1.0) or 1.0


def _linear(size: float, wait: float) -> tuple[_Step, ...]:
    count = math.ceil(1 / size - 1e-9)
    return tuple(_Step(min(1.0, (i + 1) * size), wait) for i in range(count))


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
    variants = _summaries(endpoint, new_variants)
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
        asked = {item.get("VariantName"): item for item in desired_weights_and_capacities}
        if before and set(asked) <= set(before):  # else moto names the unknown variant
            _refuse_zero_weights(
                [
                    float(asked[name]["DesiredWeight"])
                    if asked.get(name, {}).get("DesiredWeight") is not None
                    else _weight(summary)
                    for name, summary in before.items()
                ]
            )
        arn: str = _original(SageMakerModelBackend, "update_endpoint_weights_and_capacities")(
            self,
            endpoint_name=endpoint_name,
            desired_weights_and_capacities=desired_weights_and_capacities,
            **kwargs,
        )
        updated = self.endpoints[endpoint_name]
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
    account_id: str,
    region: str,
    endpoint_name: str,
    target_variant: str | None,
    component: str | None = None,
) -> InvocationTarget:
    """What InvokeEndpoint should run now (InferenceComponentName `component`: that inference
    component's model), or AWS's ValidationError."""
    from deployspec.sandbox import inference_components

    backend = sagemaker_backends[account_id][region]
    released: list[str] = []
    try:
        with _LOCK:
            released = _settle(backend)
            endpoint = backend.endpoints.get(endpoint_name)
            book = _book(backend)
            deployment = book.deployments.get(endpoint_name)
            if endpoint is None or endpoint.endpoint_status not in SERVING or deployment is None:
                raise RuntimeValidationError(
                    f"Endpoint {endpoint_name} of account {account_id} not found."
                )
            hosted = inference_components.resolve(account_id, region, endpoint, component)
            if hosted is not None:
                return hosted
            # The fleets that may answer, the one this invocation goes to first.
            fleets = [(deployment, endpoint.production_variants)]
            pending = book.pending.get(endpoint_name)
            rollout = pending.rollout if pending is not None else None
            share = rollout.share(_clock()) if rollout is not None else 0.0
            if pending is not None and pending.deployment is not None and share > 0:
                new_fleet = (pending.deployment, pending.variants)
                if share >= 1 or _routing.random() < share:
                    fleets.insert(0, new_fleet)
                else:
                    fleets.append(new_fleet)
            if target_variant:
                for fleet, _ in fleets:
                    found = [v for v in fleet.variants if v.variant_name == target_variant]
                    if found:
                        variant = found[0]
                        break
                else:
                    raise RuntimeValidationError(
                        f"The variant {target_variant} is not present within endpoint "
                        f"{endpoint_name}."
                    )
            else:
                fleet, summaries = fleets[0]
                variant = _pick_weighted(fleet.variants, summaries, endpoint_name)
    finally:
        _release(released)
    return InvocationTarget(
        account_id, region, endpoint_name, fleet.key, variant, shadows=fleet.shadows
    )


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
    _check_instance_type(instance_type)


def _check_instance_type(instance_type: str) -> None:
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


def _handle_create_endpoint_config(self: SageMakerResponse) -> ActionResult:
    """moto's, passing ShadowProductionVariants and ExecutionRoleArn on (moto drops them)."""
    backend: Any = self.sagemaker_backend  # typed as moto's, which takes no shadow variants
    config = backend.create_endpoint_config(
        endpoint_config_name=self._get_param("EndpointConfigName"),
        async_inference_config=self._get_param("AsyncInferenceConfig"),
        production_variants=self._get_param("ProductionVariants"),
        data_capture_config=self._get_param("DataCaptureConfig"),
        tags=self._get_param("Tags"),
        kms_key_id=self._get_param("KmsKeyId"),
        shadow_production_variants=self._get_param("ShadowProductionVariants"),
        execution_role_arn=self._get_param("ExecutionRoleArn"),
    )
    return ActionResult({"EndpointConfigArn": config.endpoint_config_arn})


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
        self.headers.get(INFERENCE_COMPONENT_HEADER),
    )
    target = _shaped_target(target, self.headers.get("X-Amzn-SageMaker-Target-Model"))
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
    finally:
        # Queued, not run: the caller's answer is neither delayed nor changed by the shadow.
        mirror_to_shadows(target, body, content_type, accept)
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


# --- async inference and multi-model endpoints: async_inference.py, multi_model.py -------------
# Imported when first needed: they import this module (and hosting's S3 helpers).


def _check_model_shape(create_model_kwargs: Mapping[str, Any]) -> None:
    from deployspec.sandbox import multi_model

    multi_model.check_model(
        create_model_kwargs.get("primary_container"), create_model_kwargs.get("containers")
    )


def _check_config_shape(
    backend: SageMakerModelBackend,
    production_variants: list[dict[str, Any]],
    async_inference_config: Mapping[str, Any] | None,
) -> None:
    from deployspec.sandbox import async_inference, multi_model

    async_inference.check_config(production_variants, async_inference_config)
    multi_model.check_config(backend, production_variants)


def _check_update_shape(running: Deployment | None, config: FakeEndpointConfig) -> None:
    from deployspec.sandbox import async_inference

    async_inference.check_update(running, config.async_inference_config)


def _shaped_target(target: InvocationTarget, target_model: str | None) -> InvocationTarget:
    """InvokeEndpoint's target after the async and multi-model rules: AWS's ValidationError
    for an async endpoint, and a multi-model variant's TargetModel (or its absence)."""
    from deployspec.sandbox import async_inference, multi_model

    async_inference.refuse_sync_invocation(target)
    return multi_model.invocation_target(target, target_model)


def current_deployment(account_id: str, region: str, endpoint_name: str) -> Deployment | None:
    """The deployment an endpoint runs now (None while it is Creating, Failed or gone)."""
    with _LOCK:
        return _book(sagemaker_backends[account_id][region]).deployments.get(endpoint_name)


def installed_invoker() -> EndpointInvoker | None:
    return _invoker


def original_method(cls: type, name: str) -> Any:
    """moto's own attribute that install() replaced."""
    return _original(cls, name)


def _extension_patches() -> list[tuple[type, str, Any]]:
    from deployspec.sandbox import async_inference, inference_components, streaming

    return async_inference.patches() + streaming.patches() + inference_components.patches()


# --- for inference_components.py ---------------------------------------------------------------

# InvokeEndpoint's InferenceComponentName, where botocore's sagemaker-runtime model puts it.
INFERENCE_COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"


def clock_now() -> float:
    """A reading of the clock transitions are timed with."""
    return _clock()


def settle_all(backend: SageMakerModelBackend) -> list[str]:
    """Apply every transition due (under LOCK); returns the deployment keys to `release`."""
    return _settle(backend)


def release(keys: list[str]) -> None:
    """Let the invoker free what no endpoint or component runs any more (outside LOCK)."""
    _release(keys)


def missing_model(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return _missing_model(backend, name)


def missing_endpoint(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return _missing_endpoint(backend, name)


def running_container(
    backend: SageMakerModelBackend, container: Mapping[str, Any]
) -> Mapping[str, Any]:
    """What a model's container runs (a registry package's container for ModelPackageName)."""
    return _running_container(backend, container)


def alarm_in_alarm(backend: SageMakerModelBackend, names: tuple[str, ...]) -> str | None:
    """The first of these CloudWatch alarms in ALARM state in moto's CloudWatch."""
    return _alarm_in_alarm(backend, names)


def output_shape(operation: str) -> Any:
    """botocore's output shape of a SageMaker operation."""
    return _output_shape(operation)


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
        (SageMakerResponse, "create_endpoint_config", _handle_create_endpoint_config),
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
        seed_routing()
        autoscaling_ext.install()
        if _saved:
            return
        for cls, name, value in _patches() + _extension_patches():
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
        autoscaling_ext.uninstall()
        _invoker = None
        faults.clear()
        shadows.clear()
        from deployspec.sandbox import async_inference

        async_inference.reset()
        state_manager.unset_transition(ENDPOINT_STATE_MODEL)
