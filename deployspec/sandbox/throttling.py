"""Deterministic throttling of AWS API calls, answered the way each service answers it.

Contract: `Throttle.set(fraction, service)` throttles exactly that fraction of the calls to
`service` (a boto3 client name such as "sagemaker", "sagemaker-runtime", "s3"; None for every
service), spread evenly: with 1/2 every second call, with 1/3 every third, with 1 all of them. A
rule for a named service takes precedence over the catch-all one; each rule counts its own calls.
`request_service(environ)` names the service of a signed request (None for anything unsigned,
such as the control API). `throttled_response(service)` is the error AWS gives:
ThrottlingException "Rate exceeded" (HTTP 400) for JSON services, Throttling for query services
(STS, IAM), SlowDown (HTTP 503) for S3, which is what botocore's retry logic recognises.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_SERVICES = frozenset({"sts", "iam", "autoscaling", "cloudformation", "sns", "sqs", "ec2"})


@dataclass
class _Rule:
    fraction: Fraction
    calls: int = 0

    def hit(self) -> bool:
        # Bresenham-style: the n-th call is throttled when floor(n*f) steps up.
        self.calls += 1
        n = self.calls
        return math.floor(n * self.fraction) > math.floor((n - 1) * self.fraction)


class Throttle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str | None, _Rule] = {}

    def set(self, fraction: float, service: str | None = None) -> None:
        if not math.isfinite(fraction) or not 0 <= fraction <= 1:
            raise ValueError(f"throttle fraction must be between 0 and 1, not {fraction!r}")
        if service is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", service):
            raise ValueError(f"{service!r} is not a service name such as 'sagemaker'")
        with self._lock:
            if fraction == 0:
                self._rules.pop(service, None)
            else:
                self._rules[service] = _Rule(Fraction(fraction).limit_denominator(1000))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def should_throttle(self, service: str) -> bool:
        with self._lock:
            rule = self._rules.get(service) or self._rules.get(None)
            return rule is not None and rule.hit()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"service": service, "fraction": float(rule.fraction), "calls": rule.calls}
                for service, rule in self._rules.items()
            ]


def request_service(environ: dict[str, Any]) -> str | None:
    match = _CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if match is None:
        return None
    service = match.group(1).lower()
    path = str(environ.get("PATH_INFO", ""))
    # SageMaker runtime signs as "sagemaker"; only its paths tell them apart.
    if service == "sagemaker" and path.endswith("invocations"):
        return "sagemaker-runtime"
    return service


def throttled_response(service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            "<Message>Please reduce your request rate.</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return 503, [("Content-Type", "application/xml")], body.encode()
    if service in _QUERY_SERVICES:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        return 400, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", "ThrottlingException"),
    ]
    body_json = {"__type": "ThrottlingException", "message": "Rate exceeded"}
    return 400, headers, json.dumps(body_json).encode()
