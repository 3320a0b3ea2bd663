"""Write the stand-in SavedModel `00002/saved_model.pb`, byte for byte, without TensorFlow.

The real ResNet50 SavedModel is about 100 MB and needs TensorFlow to produce (see
export_model.py). The stand-in lets the example validate, package and deploy anywhere: it is a
genuine SavedModel protobuf, encoded here by hand in the protobuf wire format, holding one
MetaGraphDef tagged "serve" whose graph is `echo = Identity(image_bytes)` and whose
`serving_default` signature has the real model's input (`image_bytes`, a batch of encoded
images). TensorFlow loads it and its signature returns its input unchanged. It has no
variables, so it has no `variables/` folder: TensorFlow's loader skips the restore step when
`variables/variables.index` is absent.

Usage: python make_standin.py [--out DIR]   (default: the 00002/ folder beside this file)
The output is deterministic; running it again rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "00002"

# Field numbers and enum values from tensorflow/core/protobuf/{saved_model,meta_graph}.proto and
# tensorflow/core/framework/{graph,node_def,attr_value,tensor_shape,types,versions}.proto.
DT_STRING = 7
# TensorFlow accepts any producer at or above its minimum (0 from 1.x through 2.21); Placeholder
# and Identity have not changed since, so an old producer keeps the file loadable everywhere.
GRAPH_PRODUCER = 24
PREDICT_METHOD = "tensorflow/serving/predict"

_VARINT = 0
_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    # Negative int64 values are written as their 64-bit two's complement (ten bytes).
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | _VARINT) + _varint(value)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _str_field(number: int, text: str) -> bytes:
    return _bytes_field(number, text.encode("utf-8"))


def _map_entry(number: int, key: str, value: bytes) -> bytes:
    # A protobuf map is a repeated message of (key = 1, value = 2) entries.
    return _bytes_field(number, _str_field(1, key) + _bytes_field(2, value))


def _batch_shape() -> bytes:
    # TensorShapeProto { dim { size: -1 } }: a vector whose length is the batch size.
    return _bytes_field(2, _int_field(1, -1))


def _node(name: str, op: str, inputs: list[str], attrs: dict[str, bytes]) -> bytes:
    body = _str_field(1, name) + _str_field(2, op)
    for source in inputs:
        body += _str_field(3, source)
    for key in sorted(attrs):
        body += _map_entry(5, key, attrs[key])
    return body


def _tensor_info(tensor_name: str) -> bytes:
    return _str_field(1, tensor_name) + _int_field(2, DT_STRING) + _bytes_field(3, _batch_shape())


def saved_model_bytes() -> bytes:
    """The stand-in SavedModel protobuf, deterministic."""
    attr_type = _int_field(6, DT_STRING)  # AttrValue.type
    attr_shape = _bytes_field(7, _batch_shape())  # AttrValue.shape
    graph_def = (
        _bytes_field(
            1,
            _node("image_bytes", "Placeholder", [], {"dtype": attr_type, "shape": attr_shape}),
        )
        + _bytes_field(1, _node("echo", "Identity", ["image_bytes"], {"T": attr_type}))
        + _bytes_field(4, _int_field(1, GRAPH_PRODUCER))  # GraphDef.versions.producer
    )
    signature_def = (
        _map_entry(1, "image_bytes", _tensor_info("image_bytes:0"))
        + _map_entry(2, "echo", _tensor_info("echo:0"))
        + _str_field(3, PREDICT_METHOD)
    )
    meta_info_def = _str_field(4, "serve")  # MetaInfoDef.tags
    meta_graph_def = (
        _bytes_field(1, meta_info_def)
        + _bytes_field(2, graph_def)
        + _map_entry(5, "serving_default", signature_def)
    )
    return _int_field(1, 1) + _bytes_field(2, meta_graph_def)  # schema version 1, meta_graphs


def write_standin(out_dir: Path) -> Path:
    """Write `saved_model.pb` into out_dir (created if missing); return the file's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "saved_model.pb"
    data = saved_model_bytes()
    # Replace atomically so an interrupted run never leaves a truncated model behind.
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=".saved_model.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp makes the file private; the serving container may read it as another user.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder to write saved_model.pb into (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    target = write_standin(args.out)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
