"""InvokeEndpointWithResponseStream for the sandbox: the model's answer as AWS event-stream parts.

Contract: `patches()` (installed with sagemaker_ext's, by `sagemaker_ext.install`) adds
POST /endpoints/{EndpointName}/invocations-response-stream to moto's SageMaker runtime (moto
has no such route) and answers it as botocore's sagemaker-runtime model describes:
- the endpoint, TargetVariant, InferenceComponentName, async and multi-model rules and the
  request size limit are InvokeEndpoint's (AWS's ValidationError for an unknown endpoint,
  variant or inference component);
- a container that fails before its first part is InvokeEndpoint's ModelError (HTTP 424);
- otherwise HTTP 200, `Content-Type: application/vnd.amazon.eventstream`,
  `X-Amzn-SageMaker-Content-Type` (the container's content type) and
  `x-Amzn-Invoked-Production-Variant`, then one PayloadPart event per part the model produces,
  each sent as it is produced (nothing is buffered to the end); a failure after the first part
  ends the stream with a ModelStreamError exception event {Message, ErrorCode}
  (ErrorCode ModelInvocationTimeExceeded for a timeout, else StreamBroken), a fault of the
  sandbox itself with InternalStreamFailure {Message}.
moto's server routes the path to the SageMaker runtime only with a patch of its dispatcher
(it recognises paths ending in "invocations"). The request's Accept is
`X-Amzn-SageMaker-Accept`. Shadow variants get no copy of a streamed
invocation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from deployspec.sandbox import eventstream, sagemaker_ext
from deployspec.sandbox.sagemaker_ext import InvocationTarget, ModelInvocationError

EVENTSTREAM_TYPE = "application/vnd.amazon.eventstream"
ROUTE = "{0}/endpoints/(?P<name>[^/]+)/invocations-response-stream$"
_TIMEOUT_STATUS = 504


def _handle(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    endpoint_name = unquote(self.path.split("/")[2])
    target = sagemaker_ext.resolve_invocation(
        self.current_account,
        self.region,
        endpoint_name,
        self.headers.get("X-Amzn-SageMaker-Target-Variant"),
        self.headers.get(sagemaker_ext.INFERENCE_COMPONENT_HEADER),
    )
    target = sagemaker_ext._shaped_target(target, None)
    body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body).encode()
    refused = sagemaker_ext._oversize(target, len(body))
    if refused is not None:
        return refused
    content_type = self.headers.get("Content-Type") or "application/octet-stream"
    accept = self.headers.get("X-Amzn-SageMaker-Accept") or "*/*"
    invoker = sagemaker_ext.installed_invoker()
    if invoker is None:
        return sagemaker_ext._model_error(
            target, ModelInvocationError(500, "the sandbox runs no models (no invoker installed)")
        )
    try:
        stream = getattr(invoker, "invoke_stream", None)
        if stream is None:
            output, result_type = invoker.invoke(target, body, content_type, accept)
            parts: Iterator[bytes] = iter([output])
        else:
            result_type, parts = stream(target, body, content_type, accept)
    except ModelInvocationError as error:
        return sagemaker_ext._model_error(target, error)
    headers = {
        "Content-Type": EVENTSTREAM_TYPE,
        "X-Amzn-SageMaker-Content-Type": result_type,
        "x-Amzn-Invoked-Production-Variant": target.variant.variant_name,
    }
    return 200, headers, cast(Any, _events(target, parts))


def _events(target: InvocationTarget, parts: Iterator[bytes]) -> Iterator[bytes]:
    try:
        for part in parts:
            if part:  # an empty PayloadPart carries nothing; AWS sends none
                yield eventstream.payload_part(part)
    except ModelInvocationError as error:
        code = (
            "ModelInvocationTimeExceeded"
            if error.status_code == _TIMEOUT_STATUS
            else "StreamBroken"
        )
        message = sagemaker_ext.cap_text(error.message, sagemaker_ext.MAX_MODEL_MESSAGE)
        yield eventstream.exception_event(
            "ModelStreamError", {"Message": message, "ErrorCode": code}
        )
    except Exception as error:  # the sandbox's own fault: the stream must still end
        yield eventstream.exception_event(
            "InternalStreamFailure",
            {"Message": f"the sandbox failed while streaming {target.endpoint_name}: {error}"},
        )
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()


def _infer_service_region_host(
    self: DomainDispatcherApplication, environ: dict[str, Any], path: str
) -> str | None:
    # moto's server sends a SageMaker-signed request to the runtime only when its path ends
    # with "invocations"; this one ends with "invocations-response-stream".
    original = sagemaker_ext.original_method(
        DomainDispatcherApplication, "infer_service_region_host"
    )
    host: str | None = original(self, environ, path)
    stream_path = str(environ.get("PATH_INFO", "")).endswith("/invocations-response-stream")
    if stream_path and host is not None and host.startswith("api.sagemaker."):
        return "runtime." + host[len("api.") :]
    return host


def patches() -> list[tuple[type, str, Any]]:
    from moto.sagemakerruntime import urls

    routes = dict(urls.url_paths)
    routes[ROUTE] = urls.response.dispatch
    return [
        (SageMakerRuntimeResponse, "invoke_endpoint_with_response_stream", _handle),
        # A module, patched like the classes: install() saves and uninstall() restores it.
        (cast(type, urls), "url_paths", routes),
        (DomainDispatcherApplication, "infer_service_region_host", _infer_service_region_host),
    ]
