"""LLM endpoints in the sandbox server, driven with boto3: uncompressed weights, the Hub
mirror, InvokeEndpointWithResponseStream's event-stream framing (botocore decodes it)."""

from __future__ import annotations

import binascii
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from deployspec.runtime.tiny_llm import make_tiny_model
from deployspec.sandbox import control, hub
from deployspec.sandbox.control import SandboxInfo
from deployspec.sandbox.eventstream import (
    HeaderValue,
    encode_event,
    exception_event,
    payload_part,
)

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TGI_IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
    "2.4.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04"
)
BUCKET = "llm-weights"
PREFIX = "tiny/0123abcd/"


def test_encode_event_decodes_with_botocore() -> None:
    headers: dict[str, HeaderValue] = {
        ":event-type": "PayloadPart",
        "flag": True,
        "off": False,
        "count": 7,
        "big": 2**40,
        "raw": b"\x00\x01",
        "id": uuid.UUID(int=5),
        "at": datetime(2026, 1, 2, tzinfo=UTC),
    }
    message = encode_event(headers, b"payload")
    buffer = EventStreamBuffer()
    buffer.add_data(message + payload_part(b"tok"))
    first, second = list(buffer)
    assert isinstance(first.headers, dict) and isinstance(second.headers, dict)
    assert first.payload == b"payload"
    assert first.headers == {
        **headers,
        "id": uuid.UUID(int=5).bytes,
        "at": int(datetime(2026, 1, 2, tzinfo=UTC).timestamp() * 1000),
    }
    assert second.headers[":event-type"] == "PayloadPart" and second.payload == b"tok"
    corrupted = bytearray(message)
    corrupted[-6] ^= 0xFF  # a payload byte: the message CRC no longer holds
    broken = EventStreamBuffer()
    broken.add_data(bytes(corrupted))
    with pytest.raises(ChecksumMismatch):
        list(broken)
    assert binascii.crc32(message[:8]) == int.from_bytes(message[8:12], "big")


def _client(info: SandboxInfo, service: str) -> Any:
    env = control.environment(info)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deployspec-home")


@pytest.fixture(scope="module")
def sandbox(home: Path) -> Iterator[SandboxInfo]:
    info, started_now = control.start(0, transition_seconds=0.1, home=home)
    assert started_now
    yield info
    assert control.stop(home) is True


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def sm(sandbox: SandboxInfo) -> Any:
    return _client(sandbox, "sagemaker")


@pytest.fixture(scope="module")
def runtime(sandbox: SandboxInfo) -> Any:
    return _client(sandbox, "sagemaker-runtime")


def _deploy(sm: Any, name: str, container: dict[str, Any]) -> dict[str, Any]:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        described: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] not in ("Creating", "Updating"):
            return described
        time.sleep(0.2)
    raise AssertionError(f"{name} did not leave Creating")


@pytest.fixture(scope="module")
def endpoint(sandbox: SandboxInfo, sm: Any, tiny: Path) -> str:
    s3 = _client(sandbox, "s3")
    s3.create_bucket(Bucket=BUCKET)
    for path in tiny.rglob("*"):
        if path.is_file():
            s3.put_object(
                Bucket=BUCKET,
                Key=PREFIX + path.relative_to(tiny).as_posix(),
                Body=path.read_bytes(),
            )
    container = {
        "Image": TGI_IMAGE,
        "ModelDataSource": {
            "S3DataSource": {
                "S3Uri": f"s3://{BUCKET}/{PREFIX}",
                "S3DataType": "S3Prefix",
                "CompressionType": "None",
            }
        },
        "Environment": {
            "HF_MODEL_ID": "/opt/ml/model",
            "HF_HUB_OFFLINE": "1",
            "SM_NUM_GPUS": "1",
            "MAX_INPUT_TOKENS": "64",
            "MAX_TOTAL_TOKENS": "128",
        },
    }
    described = _deploy(sm, "tiny-tgi", container)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    return "tiny-tgi"


def _generate(runtime: Any, endpoint: str, request: dict[str, Any]) -> Any:
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=json.dumps(request), ContentType="application/json"
    )
    return json.loads(answer["Body"].read())


def test_tgi_endpoint_answers_from_uncompressed_weights(runtime: Any, endpoint: str) -> None:
    answer = _generate(runtime, endpoint, {"inputs": "Hello", "parameters": {"max_new_tokens": 5}})
    assert answer == [{"generated_text": "u:zKo"}]
    chat = _generate(
        runtime, endpoint, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    )
    assert chat["object"] == "chat.completion"
    assert len(chat["choices"][0]["message"]["content"]) == 4


def test_stream_arrives_in_parts_through_boto3(runtime: Any, endpoint: str) -> None:
    request = {"inputs": "Hello", "parameters": {"max_new_tokens": 12}, "stream": True}
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint, Body=json.dumps(request), ContentType="application/json"
    )
    assert response["ContentType"] == "text/event-stream"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert len(parts) == 12  # one PayloadPart per token, as the model wrote it
    events = [json.loads(p[len(b"data:") :]) for p in parts]
    expected = _generate(
        runtime, endpoint, {"inputs": "Hello", "parameters": {"max_new_tokens": 12}}
    )[0]["generated_text"]
    assert "".join(e["token"]["text"] for e in events) == expected
    assert events[-1]["generated_text"] == expected


def test_stream_of_the_messages_api_ends_with_done(runtime: Any, endpoint: str) -> None:
    request = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "stream": True}
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint, Body=json.dumps(request)
    )
    text = b"".join(event["PayloadPart"]["Bytes"] for event in response["Body"])
    assert text.endswith(b"data: [DONE]\n\n")
    assert text.count(b"chat.completion.chunk") == 3


def test_refusals_before_streaming_are_aws_errors(runtime: Any, endpoint: str) -> None:
    with pytest.raises(ClientError) as too_long:
        runtime.invoke_endpoint_with_response_stream(
            EndpointName=endpoint, Body=json.dumps({"inputs": "x" * 100, "stream": True})
        )
    error: dict[str, Any] = dict(too_long.value.response)
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 422
    assert json.loads(error["OriginalMessage"]) == {
        "error": "`inputs` must have less than 64 tokens. Given: 100",
        "error_type": "validation",
    }
    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint_with_response_stream(EndpointName="nope", Body=b"{}")
    assert unknown.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as variant:
        runtime.invoke_endpoint_with_response_stream(
            EndpointName=endpoint, Body=b"{}", TargetVariant="Missing"
        )
    assert variant.value.response["Error"]["Code"] == "ValidationError"
    assert "Missing" in variant.value.response["Error"]["Message"]


def test_error_events_are_raised_by_botocore() -> None:
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.model import StructureShape
    from botocore.parsers import EventStreamJSONParser

    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    output = model.operation_model("InvokeEndpointWithResponseStream").output_shape
    assert output is not None
    frames = payload_part(b"data:1\n\n") + exception_event(
        "ModelStreamError", {"Message": "the model broke", "ErrorCode": "StreamBroken"}
    )

    class _Raw:
        def stream(self) -> Iterator[bytes]:
            yield frames[:10]  # split inside a frame: the decoder must reassemble it
            yield frames[10:]

    body_shape = output.members["Body"]
    assert isinstance(body_shape, StructureShape)
    stream: EventStream[Any] = EventStream(
        _Raw(), body_shape, EventStreamJSONParser(), "InvokeEndpointWithResponseStream"
    )
    events = iter(stream)
    assert next(events) == {"PayloadPart": {"Bytes": b"data:1\n\n"}}
    with pytest.raises(EventStreamError) as broken:
        next(events)
    assert broken.value.response["Error"]["Code"] == "ModelStreamError"
    assert broken.value.response["Error"]["Message"] == "the model broke"


def test_hub_id_not_offline_fails_then_serves_from_the_mirror(
    sm: Any, runtime: Any, home: Path, tiny: Path
) -> None:
    container = {
        "Image": TGI_IMAGE,
        "Environment": {"HF_MODEL_ID": "acme/tiny-chat", "HF_MODEL_REVISION": "main"},
    }
    failed = _deploy(sm, "hub-missing", container)
    assert failed["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in failed["FailureReason"]
    assert "deployspec sandbox hub add acme/tiny-chat" in failed["FailureReason"]
    hub.add("acme/tiny-chat", tiny, home=home)
    served = _deploy(sm, "hub-mirrored", container)
    assert served["EndpointStatus"] == "InService", served.get("FailureReason")
    answer = _generate(
        runtime, "hub-mirrored", {"inputs": "Hello", "parameters": {"max_new_tokens": 5}}
    )
    assert answer == [{"generated_text": "u:zKo"}]
