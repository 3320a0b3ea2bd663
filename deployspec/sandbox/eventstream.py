"""AWS's event-stream framing (`application/vnd.amazon.eventstream`), the encoding side.

Contract:
- `encode_event(headers, payload) -> bytes`: one message as the AWS event-stream spec lays it
  out: a prelude (total length and headers length, big-endian uint32 each) and the prelude's
  CRC32, the headers, the payload, and the CRC32 of everything before it. Header values are
  typed by their Python type: str (string, 7), bytes (byte array, 6), bool (0 true / 1 false),
  int (32-bit integer, 4; 64-bit long, 5, past its range), uuid.UUID (9); a datetime is a
  timestamp (8, milliseconds since the epoch). Header order is the mapping's order.
- `payload_part(data)`, `exception_event(type, fields)`: the two kinds of message a streaming
  SageMaker runtime response holds (botocore's sagemaker-runtime model: ResponseStream's
  PayloadPart events carry the model's bytes as their payload; ModelStreamError and
  InternalStreamFailure are exception events with a JSON payload of their members).
Limits are the spec's: names up to 255 UTF-8 bytes, string and byte-array values up to 32 KiB,
a message up to 16 MiB; beyond them ValueError (the caller's bug, never user input).
Decoding is botocore's (`botocore.eventstream.EventStreamBuffer`), which the tests use.
"""

from __future__ import annotations

import binascii
import json
import struct
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

HeaderValue = str | bytes | bool | int | uuid.UUID | datetime

_PRELUDE = struct.Struct(">II")
_MAX_NAME = 255
_MAX_VALUE = 32 * 1024 - 1
_MAX_MESSAGE = 16 * 1024 * 1024
_INT32 = range(-(2**31), 2**31)


def _header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    if not 0 < len(raw_name) <= _MAX_NAME:
        raise ValueError(f"event-stream header name {name!r} must be 1-255 bytes")
    head = bytes([len(raw_name)]) + raw_name
    # bool before int: bool is an int subclass.
    if isinstance(value, bool):
        return head + bytes([0 if value else 1])
    if isinstance(value, int):
        if value in _INT32:
            return head + b"\x04" + struct.pack(">i", value)
        return head + b"\x05" + struct.pack(">q", value)
    if isinstance(value, datetime):
        return head + b"\x08" + struct.pack(">q", int(value.timestamp() * 1000))
    if isinstance(value, uuid.UUID):
        return head + b"\x09" + value.bytes
    if isinstance(value, str):
        kind, data = 7, value.encode("utf-8")
    else:
        kind, data = 6, bytes(value)
    if len(data) > _MAX_VALUE:
        raise ValueError(f"event-stream header {name!r} value is over 32 KiB")
    return head + bytes([kind]) + struct.pack(">H", len(data)) + data


def encode_event(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC, headers, payload, message CRC."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = _PRELUDE.size + 4 + len(encoded_headers) + len(payload) + 4
    if total > _MAX_MESSAGE:
        raise ValueError(f"an event-stream message of {total:,} bytes is over 16 MiB")
    prelude = _PRELUDE.pack(total, len(encoded_headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + encoded_headers + bytes(payload)
    return message + struct.pack(">I", binascii.crc32(message))


def payload_part(data: bytes) -> bytes:
    """A ResponseStream PayloadPart event: the model's bytes are the event's payload."""
    return encode_event(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def exception_event(exception_type: str, fields: Mapping[str, Any]) -> bytes:
    """An exception event (ModelStreamError, InternalStreamFailure): botocore raises it as an
    EventStreamError whose code is `exception_type` and whose members are `fields`."""
    return encode_event(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps(dict(fields)).encode("utf-8"),
    )
