"""Asynchronous inference in the sandbox: AsyncInferenceConfig and InvokeEndpointAsync.

Contract (hooked in by sagemaker_ext: CreateEndpointConfig, UpdateEndpoint, DescribeEndpoint,
InvokeEndpoint, and InvokeEndpointAsync, whose moto stub is replaced while an invoker is
installed):

- CreateEndpointConfig keeps AsyncInferenceConfig as given (moto does) and DescribeEndpointConfig
  returns it without the members that were not set, as AWS does; DescribeEndpoint returns the
  one the endpoint runs. It is refused with AWS's ValidationException wording ("1 validation
  error detected: Value ... at 'asyncInferenceConfig.outputConfig.s3OutputPath' failed to
  satisfy constraint: ...") when botocore's service model says AWS would: no OutputConfig,
  S3OutputPath / S3FailurePath / KmsKeyId / topic ARNs off their patterns, an
  IncludeInferenceResponseIn value off its enum, MaxConcurrentInvocationsPerInstance outside
  1-1000. A serverless production variant with it is refused too (the wording is the
  sandbox's). UpdateEndpoint from an async config to one without is refused as AWS refuses it
  ("The AsyncInferenceConfig parameter cannot be removed from this endpoint.").
- InvokeEndpoint on an async endpoint, and InvokeEndpointAsync on one that is not, are
  ValidationErrors (the wording is the sandbox's; AWS's is not public).
- InvokeEndpointAsync (headers as botocore's model places them): InputLocation is an s3:// (or
  https:// S3) object in moto's S3, checked at once (missing: ValidationError, the sandbox's
  wording); without InputLocation, the request Body is the input. InvocationTimeoutSeconds
  (1-3600, default 900) and RequestTTLSeconds (60-21600, default 21600) are range-checked.
  The answer is HTTP 202, `{"InferenceId"}` (the caller's X-Amzn-SageMaker-Inference-Id, else
  a UUID) with X-Amzn-SageMaker-OutputLocation `<S3OutputPath>/<InferenceId>.out` (with
  S3OutputPathExtension as a folder in between, and Filename instead of `<InferenceId>.out`)
  and, when S3FailurePath is set, X-Amzn-SageMaker-FailureLocation
  `<S3FailurePath>/<InferenceId>-error.out`.
- Then, in the background, each endpoint has its own queue served by at most
  MaxConcurrentInvocationsPerInstance (1 when not set) times its instance count (at least
  one: the sandbox has no autoscaler to bring an endpoint scaled to zero back) worker threads.
  A request that waited longer than its RequestTTLSeconds fails. Otherwise the input is read,
  the endpoint's current model runs it through the invoker (a variant picked as for
  InvokeEndpoint; the invoker's timeout is InvocationTimeoutSeconds when it takes one, as
  ModelHost does), and the prediction is written to the output location with the model's
  content type, or the error (the model's message) to the failure location. When
  NotificationConfig names a SuccessTopic / ErrorTopic that moto's SNS has, a notification
  is published as SageMaker words it (awsRegion, eventTime, receivedTime, invocationStatus
  Completed / Failed, failureReason, requestParameters, responseParameters with
  outputLocation or failureLocation, inferenceId, eventVersion, eventSource, eventName
  InferenceResult); with IncludeInferenceResponseIn naming the topic and a response of at most
  128 KB, `responseBody` holds it (`{"content": base64, "encoding": "BASE64"}`: that shape is
  the sandbox's, AWS does not document it). A topic moto lacks is skipped.
- `wait_idle(timeout)` waits for every queue to empty (tests); `reset()` drops what is queued.

Not reproduced: KmsKeyId (outputs are not encrypted), CustomAttributes, the
ApproximateBacklogSizePerInstance / HasBacklogWithoutCapacity metrics and scaling on them,
scale to zero, the 1 GB input limit, the queue surviving a restart of the sandbox.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.hosting import parse_s3_url, read_moto_object, stat_moto_object
from deployspec.sandbox.sagemaker_ext import (
    Deployment,
    EndpointInvoker,
    InvocationTarget,
    ModelInvocationError,
    RuntimeValidationError,
)

log = logging.getLogger(__name__)

# AWS's defaults (InvokeEndpointAsync's documentation).
DEFAULT_INVOCATION_TIMEOUT = 900
DEFAULT_REQUEST_TTL = 21600
# ClientConfig.MaxConcurrentInvocationsPerInstance when not given ("SageMaker chooses an
# optimal value"): one, which is what one model worker serves at a time anyway.
DEFAULT_CONCURRENCY_PER_INSTANCE = 1
# "The inference response is included only if the response size is less than or equal to
# 128 KB" (AsyncInferenceNotificationConfig).
MAX_RESPONSE_IN_NOTIFICATION = 128 * 1024
SUCCESS_TOPIC_RESPONSE = "SUCCESS_NOTIFICATION_TOPIC"
ERROR_TOPIC_RESPONSE = "ERROR_NOTIFICATION_TOPIC"


# --- AWS's validation, read from botocore's service model ---------------------------------------


@functools.cache
def _shape(service: str, name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).shape_for(name)


@functools.cache
def _operation_input(service: str, operation: str) -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def _member_path(path: str, name: str) -> str:
    member = name[:1].lower() + name[1:]
    return f"{path}.{member}" if path else member


@functools.cache
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:  # Java-only syntax (\p{...}): AWS checks it, the sandbox cannot
        return None


def violations(value: Any, shape: Any, path: str) -> list[str]:
    """What AWS's request validation says of `value` for a botocore shape: required members,
    lengths, ranges, enums and patterns (botocore's client checks only types, required
    members and minimums)."""
    from botocore.model import ListShape, StructureShape

    found: list[str] = []
    constraint = f"at '{path}' failed to satisfy constraint: Member must"
    meta = shape.metadata
    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping):
            return found
        for name in shape.required_members:
            if value.get(name) is None:
                found.append(
                    f"Value null at '{_member_path(path, name)}' failed to satisfy "
                    "constraint: Member must not be null"
                )
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is not None and member_value is not None:
                found += violations(member_value, member, _member_path(path, name))
        return found
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return found
        shown = f"[{', '.join(str(v) for v in value)}]"
        if "max" in meta and len(value) > meta["max"]:
            found.append(
                f"Value '{shown}' {constraint} have length less than or equal to {meta['max']}"
            )
        enum = getattr(shape.member, "enum", None)
        if enum and any(item not in enum for item in value):
            found.append(
                f"Value '{shown}' {constraint} satisfy constraint: [Member must satisfy enum "
                f"value set: [{', '.join(enum)}]]"
            )
        elif not enum:
            for item in value:
                found += violations(item, shape.member, path)
        return found
    if isinstance(value, str) and shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            found.append(
                f"Value '{value}' {constraint} have length less than or equal to {meta['max']}"
            )
        if "min" in meta and len(value) < meta["min"]:
            found.append(
                f"Value '{value}' {constraint} have length greater than or equal to {meta['min']}"
            )
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            found.append(
                f"Value '{value}' {constraint} satisfy enum value set: [{', '.join(enum)}]"
            )
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and pattern.fullmatch(value) is None:
            found.append(
                f"Value '{value}' {constraint} satisfy regular expression pattern: "
                f"{meta['pattern']}"
            )
        return found
    numeric = shape.type_name in ("integer", "long")
    if numeric and isinstance(value, int) and not isinstance(value, bool):
        if "max" in meta and value > meta["max"]:
            found.append(
                f"Value '{value}' {constraint} have value less than or equal to {meta['max']}"
            )
        if "min" in meta and value < meta["min"]:
            found.append(
                f"Value '{value}' {constraint} have value greater than or equal to {meta['min']}"
            )
    return found


def validation_message(found: list[str]) -> str:
    count = len(found)
    return f"{count} validation error{'' if count == 1 else 's'} detected: " + "; ".join(found)


# --- the control plane ---------------------------------------------------------------------------


def check_config(
    production_variants: Iterable[Mapping[str, Any]], config: Mapping[str, Any] | None
) -> None:
    """CreateEndpointConfig: AWS's refusals of an AsyncInferenceConfig."""
    if config is None:
        return
    found = violations(config, _shape("sagemaker", "AsyncInferenceConfig"), "asyncInferenceConfig")
    if found:
        raise ValidationError(message=validation_message(found))
    serverless = [v.get("VariantName") for v in production_variants if v.get("ServerlessConfig")]
    if serverless:
        raise ValidationError(
            message=f"AsyncInferenceConfig is not supported for serverless production variants "
            f"({', '.join(str(name) for name in serverless)}): asynchronous inference runs on "
            "instances."
        )


def check_update(current: Deployment | None, new_config: Mapping[str, Any] | None) -> None:
    """UpdateEndpoint: an async endpoint stays async (sync <-> async needs a new endpoint)."""
    if current is not None and current.async_inference_config and not new_config:
        raise ValidationError(
            message="The AsyncInferenceConfig parameter cannot be removed from this endpoint."
        )


def refuse_sync_invocation(target: InvocationTarget) -> None:
    """InvokeEndpoint on an async endpoint: its requests go through InvokeEndpointAsync."""
    deployment = sagemaker_ext.current_deployment(
        target.account_id, target.region, target.endpoint_name
    )
    if deployment is not None and deployment.async_inference_config:
        raise RuntimeValidationError(
            f"Endpoint {target.endpoint_name} of account {target.account_id} is an "
            "asynchronous endpoint: invoke it with InvokeEndpointAsync."
        )


# --- S3 locations --------------------------------------------------------------------------------

# https://bucket.s3[.region].amazonaws.com/key and https://s3[.region].amazonaws.com/bucket/key
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?$")
_PATH_HOST = re.compile(r"^s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?$|^s3\.amazonaws\.com$")


def s3_url(location: str) -> str:
    """`location` as s3://bucket/key (InputLocation and the output paths may be https:// S3
    URLs); raises ModelInvocationError for anything else."""
    if location.startswith("s3://"):
        return location
    if location.startswith("https://"):
        parts = urlsplit(location)
        host, path = parts.hostname or "", unquote(parts.path.lstrip("/"))
        virtual = _VIRTUAL_HOST.match(host)
        if virtual is not None and path:
            return f"s3://{virtual.group('bucket')}/{path}"
        if _PATH_HOST.match(host) and "/" in path:
            return f"s3://{path}"
    raise ModelInvocationError(400, f"{location!r} is not an S3 location")


def _join(base: str, *names: str) -> str:
    parts = [base.rstrip("/"), *(n.strip("/") for n in names if n)]
    return "/".join(parts)


def _write_object(account_id: str, region: str, url: str, data: bytes, content_type: str) -> None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket, key = parse_s3_url(s3_url(url))
    try:
        stored = s3_backends[account_id][get_partition(region)].put_object(bucket, key, data)
    except ServiceException as error:
        raise ModelInvocationError(500, f"cannot write {url}: {error}") from error
    stored.set_metadata({"Content-Type": content_type})


# --- InvokeEndpointAsync -------------------------------------------------------------------------


@dataclass
class _Job:
    account_id: str
    region: str
    endpoint_name: str
    inference_id: str
    input_location: str | None
    body: bytes | None
    content_type: str | None
    accept: str | None
    timeout: float
    ttl: float
    output_location: str | None
    failure_location: str | None
    notification: Mapping[str, Any]
    received: datetime = field(default_factory=lambda: datetime.now(UTC))
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class _Backlog:
    """One endpoint's queue and how many threads serve it now."""

    jobs: deque[_Job] = field(default_factory=deque)
    running: int = 0


_lock = threading.Condition()
_backlogs: dict[tuple[str, str, str], _Backlog] = {}


def handle_invoke_endpoint_async(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    """SageMakerRuntimeResponse.invoke_endpoint_async, once sagemaker_ext is installed."""
    if sagemaker_ext.installed_invoker() is None:
        result: TYPE_RESPONSE = sagemaker_ext.original_method(
            SageMakerRuntimeResponse, "invoke_endpoint_async"
        )(self)
        return result
    account_id, region = self.current_account, self.region
    endpoint_name = unquote(self.path.split("/")[2])
    headers = self.headers
    # AWS's "not found" errors first; the job picks its variant when it runs.
    sagemaker_ext.resolve_invocation(account_id, region, endpoint_name, None)
    deployment = sagemaker_ext.current_deployment(account_id, region, endpoint_name)
    config = deployment.async_inference_config if deployment is not None else None
    if not config:
        raise RuntimeValidationError(
            f"Endpoint {endpoint_name} of account {account_id} is not an asynchronous "
            "endpoint: invoke it with InvokeEndpoint."
        )
    request = _request_parameters(headers)
    shape = _operation_input("sagemaker-runtime", "InvokeEndpointAsync")
    found = violations({"EndpointName": endpoint_name, **request}, shape, "")
    if found:
        raise RuntimeValidationError(validation_message(found))
    body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body).encode()
    input_location = request.get("InputLocation")
    if input_location:
        _check_input(account_id, region, input_location)
    elif not body:
        raise RuntimeValidationError(
            "InputLocation is required: the S3 location of the request's input."
        )
    inference_id = request.get("InferenceId") or str(uuid.uuid4())
    output = config.get("OutputConfig") or {}
    extension = request.get("S3OutputPathExtension") or ""
    output_path, failure_path = output.get("S3OutputPath"), output.get("S3FailurePath")
    job = _Job(
        account_id=account_id,
        region=region,
        endpoint_name=endpoint_name,
        inference_id=inference_id,
        input_location=input_location,
        body=None if input_location else body,
        content_type=request.get("ContentType"),
        accept=request.get("Accept"),
        timeout=float(request.get("InvocationTimeoutSeconds") or DEFAULT_INVOCATION_TIMEOUT),
        ttl=float(request.get("RequestTTLSeconds") or DEFAULT_REQUEST_TTL),
        output_location=(
            _join(output_path, extension, request.get("Filename") or f"{inference_id}.out")
            if output_path
            else None
        ),
        failure_location=(
            _join(failure_path, extension, f"{inference_id}-error.out") if failure_path else None
        ),
        notification=output.get("NotificationConfig") or {},
    )
    _submit(job, _concurrency(account_id, region, endpoint_name, config))
    response_headers = {"status": "202", "Content-Type": "application/json"}
    if job.output_location:
        response_headers["X-Amzn-SageMaker-OutputLocation"] = job.output_location
    if job.failure_location:
        response_headers["X-Amzn-SageMaker-FailureLocation"] = job.failure_location
    return 202, response_headers, json.dumps({"InferenceId": inference_id})


def _request_parameters(headers: Mapping[str, str]) -> dict[str, Any]:
    """The operation's header members as botocore's model places them, numbers as numbers."""
    shape = _operation_input("sagemaker-runtime", "InvokeEndpointAsync")
    request: dict[str, Any] = {}
    for name, member in shape.members.items():
        if member.serialization.get("location") != "header":
            continue
        value = headers.get(member.serialization["name"])
        if value is None:
            continue
        if member.type_name == "integer":
            try:
                request[name] = int(value)
            except ValueError as error:
                raise RuntimeValidationError(
                    f"Value '{value}' at '{_member_path('', name)}' failed to satisfy "
                    "constraint: Member must be a number"
                ) from error
        else:
            request[name] = value
    return request


def _check_input(account_id: str, region: str, location: str) -> None:
    try:
        found = stat_moto_object(account_id, region, s3_url(location)) is not None
    except ModelInvocationError:
        found = False
    if not found:
        raise RuntimeValidationError(
            f"The input location {location} does not exist or cannot be read: upload the "
            "request's input there first."
        )


def _concurrency(
    account_id: str, region: str, endpoint_name: str, config: Mapping[str, Any]
) -> int:
    per_instance = (config.get("ClientConfig") or {}).get(
        "MaxConcurrentInvocationsPerInstance"
    ) or DEFAULT_CONCURRENCY_PER_INSTANCE
    endpoint = sagemaker_backends[account_id][region].endpoints.get(endpoint_name)
    instances = 0
    for variant in endpoint.production_variants if endpoint is not None else []:
        count = variant.get("CurrentInstanceCount", variant.get("DesiredInstanceCount"))
        instances += int(count or 0)
    return max(1, int(per_instance) * instances)


def _submit(job: _Job, limit: int) -> None:
    key = (job.account_id, job.region, job.endpoint_name)
    with _lock:
        backlog = _backlogs.setdefault(key, _Backlog())
        backlog.jobs.append(job)
        if backlog.running >= limit:
            return
        backlog.running += 1
    threading.Thread(
        target=_serve, args=(backlog,), name=f"sandbox-async[{job.endpoint_name}]", daemon=True
    ).start()


def _serve(backlog: _Backlog) -> None:
    while True:
        with _lock:
            if not backlog.jobs:
                backlog.running -= 1
                _lock.notify_all()
                return
            job = backlog.jobs.popleft()
        try:
            _run(job)
        except Exception:  # a fault of the sandbox must not stop the endpoint's queue
            log.exception("async inference %s on %s failed", job.inference_id, job.endpoint_name)


def wait_idle(timeout: float) -> bool:
    """Wait until no async invocation is queued or running; False on timeout."""
    with _lock:
        return _lock.wait_for(
            lambda: all(not b.jobs and b.running == 0 for b in _backlogs.values()), timeout
        )


def reset() -> None:
    """Drop every queued invocation (those running finish)."""
    with _lock:
        for backlog in _backlogs.values():
            backlog.jobs.clear()
        _backlogs.clear()
        _lock.notify_all()


class _TimedInvoker(Protocol):
    def invoke(
        self,
        target: InvocationTarget,
        body: bytes,
        content_type: str,
        accept: str,
        timeout: float | None = None,
    ) -> tuple[bytes, str]: ...


def _invoke(
    invoker: EndpointInvoker, target: InvocationTarget, job: _Job, body: bytes
) -> tuple[bytes, str]:
    content_type = job.content_type or "application/octet-stream"
    accept = job.accept or "*/*"
    if "timeout" in inspect.signature(invoker.invoke).parameters:
        timed: _TimedInvoker = invoker  # type: ignore[assignment]
        return timed.invoke(target, body, content_type, accept, timeout=job.timeout)
    return invoker.invoke(target, body, content_type, accept)


def _run(job: _Job) -> None:
    if time.monotonic() - job.queued_at > job.ttl:
        _failed(job, f"Request expired: it waited over its RequestTTLSeconds ({job.ttl:g} s).")
        return
    invoker = sagemaker_ext.installed_invoker()
    try:
        if invoker is None:
            raise ModelInvocationError(500, "the sandbox runs no models now")
        if job.input_location is not None:
            body = read_moto_object(job.account_id, job.region, s3_url(job.input_location))
        else:
            body = job.body or b""
        target = sagemaker_ext.resolve_invocation(
            job.account_id, job.region, job.endpoint_name, None
        )
        output, output_type = _invoke(invoker, target, job, body)
    except ModelInvocationError as error:
        side = "client" if 400 <= error.status_code < 500 else "server"
        _failed(
            job,
            f"ClientError: Received {side} error ({error.status_code}) from model. See the "
            "SageMaker Endpoint logs in your account for more information.",
            error.message.encode(),
        )
        return
    except RuntimeValidationError as error:
        _failed(job, f"ClientError: {error.message}")
        return
    if job.output_location is not None:
        try:
            _write_object(job.account_id, job.region, job.output_location, output, output_type)
        except ModelInvocationError as error:
            _failed(job, f"ServerError: {error.message}")
            return
    response: dict[str, Any] = {"contentType": output_type}
    if job.output_location is not None:
        response["outputLocation"] = job.output_location
    _notify(job, "Completed", response, output, SUCCESS_TOPIC_RESPONSE, "SuccessTopic")


def _failed(job: _Job, reason: str, detail: bytes | None = None) -> None:
    log.info("async inference %s on %s failed: %s", job.inference_id, job.endpoint_name, reason)
    content = detail if detail is not None else reason.encode()
    response: dict[str, Any] = {}
    if job.failure_location is not None:
        try:
            _write_object(
                job.account_id,
                job.region,
                job.failure_location,
                content,
                "text/plain; charset=utf-8",
            )
            response["failureLocation"] = job.failure_location
        except ModelInvocationError as error:
            log.warning("async inference %s: %s", job.inference_id, error.message)
    _notify(job, "Failed", response, content, ERROR_TOPIC_RESPONSE, "ErrorTopic", reason)


def _notify(
    job: _Job,
    status: str,
    response: dict[str, Any],
    content: bytes,
    include_key: str,
    topic_key: str,
    reason: str | None = None,
) -> None:
    topic = job.notification.get(topic_key)
    if not topic:
        return
    request: dict[str, Any] = {"endpointName": job.endpoint_name}
    if job.content_type:
        request["contentType"] = job.content_type
    if job.input_location:
        request["inputLocation"] = job.input_location
    message: dict[str, Any] = {
        "awsRegion": job.region,
        "eventTime": _timestamp(datetime.now(UTC)),
        "receivedTime": _timestamp(job.received),
        "invocationStatus": status,
    }
    if reason is not None:
        message["failureReason"] = reason
    message.update(
        requestParameters=request,
        responseParameters=response,
        inferenceId=job.inference_id,
        eventVersion="1.0",
        eventSource="aws:sagemaker",
        eventName="InferenceResult",
    )
    included = job.notification.get("IncludeInferenceResponseIn") or []
    if include_key in included and len(content) <= MAX_RESPONSE_IN_NOTIFICATION:
        message["responseBody"] = {
            "content": base64.b64encode(content).decode(),
            "encoding": "BASE64",
        }
    _publish(str(topic), json.dumps(message))


def _publish(topic_arn: str, message: str) -> None:
    from moto.sns.models import sns_backends

    parts = topic_arn.split(":")
    if len(parts) < 6:
        return
    region, account_id = parts[3], parts[4]
    topic = sns_backends[account_id][region].topics.get(topic_arn)
    if topic is None:
        log.info("async inference: SNS topic %s does not exist; no notification", topic_arn)
        return
    topic.publish(message)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def patches() -> list[tuple[type, str, Any]]:
    """What sagemaker_ext.install() patches into moto for async inference."""
    return [(SageMakerRuntimeResponse, "invoke_endpoint_async", handle_invoke_endpoint_async)]
