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
    DELETE /_sandbox/faults   disarm everything
    GET    /_sandbox/shadow?endpoint=NAME
                              {"endpoint", "records": [{"variant", "production_variant",
                              "status", "content_type", "body"}, ...]}: the shadow variants'
                              latest answers to copies of the endpoint's invocations
    GET    /_sandbox/calls    {"calls": [{"service", "operation"}, ...]}: AWS calls received
    DELETE /_sandbox/calls    forget them (tests count a command's calls from the server side)
    GET    /_sandbox/config   {"transition_seconds"}
    POST   /_sandbox/config   {"transition_seconds": S}
    POST   /_sandbox/reset    faults, throttling, every moto resource and model worker gone
  Bad requests get 400 {"error": ...} (a body nested too deeply to parse among them); unknown
  routes 404.
- answers 400 to any request whose Content-Length is not a decimal number, as an HTTP front
  end does, before anything reads its body;
- throttles signed AWS calls per the Throttle rules, answering like AWS;
- hands everything else to moto's DomainDispatcherApplication (which routes by service), and
  releases the model workers after moto's own POST /moto-api/reset.
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.wrappers import Request, Response

from deployspec.sandbox import moto_speed, sagemaker_ext
from deployspec.sandbox.hosting import ModelHost
from deployspec.sandbox.throttling import Throttle, request_service, throttled_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class _BadRequest(Exception):
    pass


class SandboxApp:
    def __init__(self, moto_app: WSGIApplication, info: dict[str, Any], host: ModelHost) -> None:
        self._moto_app = moto_app
        self._info = info
        self._host = host
        self.throttle = Throttle()
        # Bounded: a long-running sandbox must not grow without end.
        self.calls: deque[dict[str, str]] = deque(maxlen=10_000)

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
        if service is not None:
            self.calls.append({"service": service, "operation": _operation(environ)})
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
        return {**sagemaker_ext.faults.describe(), "throttle": self.throttle.describe()}

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
            case other:
                raise _BadRequest(
                    f"unknown fault type {other!r}; expected fail_next_create, "
                    "fail_next_update, refuse_next_update, alarm or throttle"
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
