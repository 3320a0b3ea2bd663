"""The sandbox's WSGI application: moto's server plus throttling and a control API.

Contract: `build_app(info, host)` installs the SageMaker extensions (with `host` as the model
invoker) and moto_speed's caches, and returns a WSGI app that
- answers the control API under /_sandbox/ (JSON in, JSON out; never throttled):
    GET    /_sandbox/health   {"pid", "port", "endpoint_url", "region", "started_at", ...}
    GET    /_sandbox/faults   armed faults and throttle rules
    POST   /_sandbox/faults   {"type": "fail_next_create", "endpoint", "reason"}
                              {"type": "fail_next_update", "endpoint", "reason", "rollback"}
                              {"type": "refuse_next_update", "endpoint", "reason"}
                              {"type": "alarm", "alarm"}: the alarm trips during the next
                              update of any endpoint whose rollback alarms list it
                              {"type": "throttle", "fraction", "service" (null: all)}
                              {"type": "fail_s3_after", "count": N, "code"}: after the next N
                              S3 writes (any operation but Get*, Head*, List*), every S3 write
                              fails as AWS fails it with `code` (ExpiredToken, AccessDenied,
                              InternalError, SlowDown; default InternalError) until disarmed:
                              credentials that expire mid-upload, an outage. Listed under
                              "fail_s3_after" ({"count", "code", "passed", "failed"}) while armed
    DELETE /_sandbox/faults   disarm everything
    GET    /_sandbox/shadow?endpoint=NAME
                              {"endpoint", "records": [{"variant", "production_variant",
                              "status", "content_type", "body"}, ...]}: the shadow variants'
                              latest answers to copies of the endpoint's invocations
    GET    /_sandbox/calls    {"calls": [{"service", "operation", "path", "bytes"}, ...]}: AWS
                              calls received, oldest first (the last 10,000). `operation` is
                              the API's name (S3's too: PutObject, CopyObject, UploadPart,
                              UploadPartCopy, CreateMultipartUpload, HeadBucket, ... from
                              botocore's model of the REST request), `path` the request's path
                              (for S3 /bucket/key), `bytes` the length of the request's payload
                              (an aws-chunked body's decoded length)
    DELETE /_sandbox/calls    forget them (tests count a command's calls and the bytes they
                              sent from the server side)
    GET    /_sandbox/config   {"transition_seconds"}
    POST   /_sandbox/config   {"transition_seconds": S}
    POST   /_sandbox/reset    faults, throttling, every moto resource and model worker gone
  Bad requests get 400 {"error": ...} (a body nested too deeply to parse among them); unknown
  routes 404.
- answers 400 to any request whose Content-Length is not a decimal number, as an HTTP front
  end does, before anything reads its body;
- throttles signed AWS calls per the Throttle rules, and fails S3 writes past an armed
  fail_s3_after's count, answering like AWS;
- hands everything else to moto's DomainDispatcherApplication (which routes by service), and
  releases the model workers after moto's own POST /moto-api/reset.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.wrappers import Request, Response

from deployspec.sandbox import moto_speed, sagemaker_ext
from deployspec.sandbox.hosting import ModelHost
from deployspec.sandbox.throttling import Throttle, request_service, throttled_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class _BadRequest(Exception):
    pass


# S3's answers to the codes fail_s3_after may give: status and message, as S3 sends them.
_S3_FAILURES = {
    "ExpiredToken": (400, "Bad Request", "The provided token has expired."),
    "AccessDenied": (403, "Forbidden", "Access Denied"),
    "InternalError": (
        500,
        "Internal Server Error",
        "We encountered an internal error. Please try again.",
    ),
    "SlowDown": (503, "Slow Down", "Please reduce your request rate."),
}
_S3_READS = ("Get", "Head", "List")


@dataclass
class _S3Failure:
    count: int
    code: str
    passed: int = 0
    failed: int = 0


class S3WriteFault:
    """fail_s3_after: the first `count` S3 writes after arming pass, every later one fails."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: _S3Failure | None = None

    def arm(self, count: int, code: str) -> None:
        with self._lock:
            self._armed = _S3Failure(count, code)

    def clear(self) -> None:
        with self._lock:
            self._armed = None

    def failure(self, operation: str) -> str | None:
        """The error code this S3 call is to fail with, if any (reads always pass)."""
        if operation.startswith(_S3_READS):
            return None
        with self._lock:
            armed = self._armed
            if armed is None:
                return None
            if armed.passed < armed.count:
                armed.passed += 1
                return None
            armed.failed += 1
            return armed.code

    def describe(self) -> dict[str, Any] | None:
        with self._lock:
            armed = self._armed
            if armed is None:
                return None
            return {
                "count": armed.count,
                "code": armed.code,
                "passed": armed.passed,
                "failed": armed.failed,
            }


class SandboxApp:
    def __init__(self, moto_app: WSGIApplication, info: dict[str, Any], host: ModelHost) -> None:
        self._moto_app = moto_app
        self._info = info
        self._host = host
        self.throttle = Throttle()
        self.s3_writes = S3WriteFault()
        # Bounded: a long-running sandbox must not grow without end.
        self.calls: deque[dict[str, Any]] = deque(maxlen=10_000)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = str(environ.get("CONTENT_LENGTH") or "").strip()
        if length and not (length.isascii() and length.isdigit()):
            refusal = json.dumps({"error": f"Content-Length {length[:40]!r} is not a number"})
            return Response(refusal, status=400, mimetype="application/json")(
                environ, start_response
            )
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/_sandbox/"):
            return self._control(environ, start_response)
        service = request_service(environ)
        operation = ""
        if service is not None:
            operation = _s3_operation(environ) if service == "s3" else _operation(environ)
            self.calls.append(
                {
                    "service": service,
                    "operation": operation,
                    "path": path,
                    "bytes": _payload_bytes(environ),
                }
            )
        failure = self.s3_writes.failure(operation) if service == "s3" else None
        if failure is not None:
            return _s3_error(failure, environ, start_response)
        if service is not None and self.throttle.should_throttle(service):
            status, headers, body = throttled_response(service)
            start_response(
                f"{status} {'Service Unavailable' if status == 503 else 'Bad Request'}",
                [*headers, ("Content-Length", str(len(body)))],
            )
            # An answer to HEAD has the length of the body it would have, and no body.
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
        result = self._moto_app(environ, start_response)
        if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            self._host.release_all()
        return result

    def reset(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        sagemaker_ext.faults.clear()
        sagemaker_ext.shadows.clear()
        self.throttle.clear()
        self.s3_writes.clear()
        moto_api_backend.reset()
        self._host.release_all()

    def _control(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            status, payload = self._route(request)
        except _BadRequest as error:
            status, payload = 400, {"error": str(error)}
        response = Response(json.dumps(payload), status=status, mimetype="application/json")
        return response(environ, start_response)

    def _route(self, request: Request) -> tuple[int, dict[str, Any]]:
        route = request.path.rstrip("/")
        match (request.method, route):
            case ("GET", "/_sandbox/health"):
                return 200, {**self._info, "transition_seconds": sagemaker_ext.transition_seconds()}
            case ("GET", "/_sandbox/faults"):
                return 200, self._faults()
            case ("POST", "/_sandbox/faults"):
                self._arm(_json_object(request))
                return 200, self._faults()
            case ("DELETE", "/_sandbox/faults"):
                sagemaker_ext.faults.clear()
                self.throttle.clear()
                self.s3_writes.clear()
                return 200, self._faults()
            case ("GET", "/_sandbox/shadow"):
                endpoint = request.args.get("endpoint")
                if not endpoint:
                    raise _BadRequest("'endpoint' must be given: /_sandbox/shadow?endpoint=NAME")
                return 200, {
                    "endpoint": endpoint,
                    "records": sagemaker_ext.shadows.records(endpoint),
                }
            case ("GET", "/_sandbox/calls"):
                return 200, {"calls": list(self.calls)}
            case ("DELETE", "/_sandbox/calls"):
                self.calls.clear()
                return 200, {"calls": []}
            case ("GET", "/_sandbox/config"):
                return 200, {"transition_seconds": sagemaker_ext.transition_seconds()}
            case ("POST" | "PUT", "/_sandbox/config"):
                body = _json_object(request)
                seconds = _number(body, "transition_seconds")
                try:
                    sagemaker_ext.set_transition_seconds(seconds)
                except ValueError as error:
                    raise _BadRequest(str(error)) from error
                return 200, {"transition_seconds": sagemaker_ext.transition_seconds()}
            case ("POST", "/_sandbox/reset"):
                self.reset()
                return 200, {"status": "ok"}
            case _:
                return 404, {"error": f"no control route {request.method} {request.path}"}

    def _faults(self) -> dict[str, Any]:
        found = {**sagemaker_ext.faults.describe(), "throttle": self.throttle.describe()}
        s3_writes = self.s3_writes.describe()
        if s3_writes is not None:
            found["fail_s3_after"] = s3_writes
        return found

    def _arm(self, body: dict[str, Any]) -> None:
        match body.get("type"):
            case "fail_next_create":
                sagemaker_ext.faults.fail_next_create(
                    _text(body, "endpoint"), _text(body, "reason")
                )
            case "fail_next_update":
                rollback = body.get("rollback", True)
                if not isinstance(rollback, bool):
                    raise _BadRequest("'rollback' must be true or false")
                sagemaker_ext.faults.fail_next_update(
                    _text(body, "endpoint"), _text(body, "reason"), rollback=rollback
                )
            case "refuse_next_update":
                sagemaker_ext.faults.refuse_next_update(
                    _text(body, "endpoint"), _text(body, "reason")
                )
            case "alarm":
                sagemaker_ext.faults.alarm_during_next_update(_text(body, "alarm"))
            case "throttle":
                service = body.get("service")
                if service is not None and not isinstance(service, str):
                    raise _BadRequest("'service' must be a service name or null")
                try:
                    self.throttle.set(_number(body, "fraction"), service)
                except ValueError as error:
                    raise _BadRequest(str(error)) from error
            case "fail_s3_after":
                count = body.get("count")
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise _BadRequest("'count' must be a whole number of S3 writes, 0 or more")
                code = body.get("code", "InternalError")
                if code not in _S3_FAILURES:
                    raise _BadRequest(f"'code' must be one of {', '.join(_S3_FAILURES)}")
                self.s3_writes.arm(count, code)
            case other:
                raise _BadRequest(
                    f"unknown fault type {other!r}; expected fail_next_create, "
                    "fail_next_update, refuse_next_update, alarm, throttle or fail_s3_after"
                )


def _operation(environ: WSGIEnvironment) -> str:
    """The API operation of a signed request, as AWS names it where the protocol says."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    query = str(environ.get("QUERY_STRING", ""))
    for part in query.split("&"):
        if part.startswith("Action="):
            return part.split("=", 1)[1]
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if environ.get("REQUEST_METHOD") == "POST" and "x-www-form-urlencoded" in content_type:
        # Query-protocol services (STS, IAM) put Action in a form body: read it, then put an
        # identical stream back for moto.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return str(action[0])
    path = str(environ.get("PATH_INFO", ""))
    if path.endswith("/invocations"):
        return "InvokeEndpoint"
    if path.endswith("/invocations-response-stream"):
        return "InvokeEndpointWithResponseStream"
    return f"{environ.get('REQUEST_METHOD', '')} {path}"


def _payload_bytes(environ: WSGIEnvironment) -> int:
    """The length of a request's payload: an aws-chunked body (botocore's streamed uploads
    with trailing checksums) declares its decoded length, the rest is chunk framing."""
    for key in ("HTTP_X_AMZ_DECODED_CONTENT_LENGTH", "CONTENT_LENGTH"):
        value = str(environ.get(key) or "").strip()
        if value.isascii() and value.isdigit():
            return int(value)
    return 0


@dataclass(frozen=True)
class _S3Shape:
    """What tells one S3 REST operation from the others sharing its method and path."""

    operation: str
    method: str
    level: str  # "service" (/), "bucket" (/{Bucket}) or "object" (/{Bucket}/{Key+})
    query: frozenset[str]  # query keys it always sends (?uploads, partNumber, uploadId, ...)
    headers: frozenset[str]  # WSGI names of headers it always sends (x-amz-copy-source)


@functools.cache
def _s3_shapes() -> tuple[_S3Shape, ...]:
    """S3's operations from botocore's model, most specific first: a request is the first
    whose method and level match and whose query keys and headers it carries. Without its
    uploadId and partNumber an UploadPart is a PutObject, without x-amz-copy-source a
    CopyObject one too. Deprecated operations (PutBucketLifecycle, ...) never win; of the one
    remaining pair sent alike, ListBuckets and ListDirectoryBuckets (which goes to S3
    Express's own endpoint), the first by name does."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    shapes: list[_S3Shape] = []
    for name in sorted(model.operation_names):
        operation = model.operation_model(name)
        if operation.deprecated:
            continue
        path, _, literal = str(operation.http["requestUri"]).partition("?")
        level = {"/": "service", "/{Bucket}": "bucket", "/{Bucket}/{Key+}": "object"}.get(path)
        if level is None:
            continue  # WriteGetObjectResponse: Object Lambda's, not a bucket's
        query = {key for key, _ in parse_qsl(literal, keep_blank_values=True)}
        headers: set[str] = set()
        shape = operation.input_shape
        required = set(shape.required_members) if shape is not None else set()
        for member_name, member in (shape.members if shape is not None else {}).items():
            if member_name not in required:
                continue
            where = member.serialization.get("location")
            wire = str(member.serialization.get("name", member_name))
            if where == "querystring":
                query.add(wire)
            elif where == "header":
                headers.add("HTTP_" + wire.upper().replace("-", "_"))
        method = str(operation.http["method"])
        shapes.append(_S3Shape(name, method, level, frozenset(query), frozenset(headers)))
    # Stable: equally specific operations stay in name order.
    shapes.sort(key=lambda s: len(s.query) + len(s.headers), reverse=True)
    return tuple(shapes)


def _s3_operation(environ: WSGIEnvironment) -> str:
    """The S3 operation of a path-style request (how boto3 addresses an endpoint URL such as
    the sandbox's), as AWS names it; "METHOD /path" for one S3 does not have."""
    method = str(environ.get("REQUEST_METHOD", ""))
    path = str(environ.get("PATH_INFO", ""))
    bucket, _, key = path.lstrip("/").partition("/")
    level = "object" if key else "bucket" if bucket else "service"
    query = {name for name, _ in parse_qsl(str(environ.get("QUERY_STRING", "")), True)}
    for shape in _s3_shapes():
        if (
            shape.method == method
            and shape.level == level
            and shape.query <= query
            and all(environ.get(header) is not None for header in shape.headers)
        ):
            return shape.operation
    return f"{method} {path}"


def _s3_error(code: str, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    status, reason, message = _S3_FAILURES[code]
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>sandbox</HostId></Error>"
    ).encode()
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/xml"),
            ("x-amz-request-id", request_id),
            ("Content-Length", str(len(body))),
        ],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError as error:
        raise _BadRequest(f"body is not JSON: {error}") from error
    except RecursionError as error:
        raise _BadRequest("body is nested too deeply to be a control request") from error
    if not isinstance(body, dict):
        raise _BadRequest("body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _BadRequest(f"{key!r} must be a non-empty string")
    return value


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadRequest(f"{key!r} must be a number")
    return float(value)


def build_app(info: dict[str, Any], host: ModelHost) -> SandboxApp:
    sagemaker_ext.install(host)
    moto_speed.install()
    moto_app = DomainDispatcherApplication(create_backend_app)
    return SandboxApp(moto_app, info, host)
