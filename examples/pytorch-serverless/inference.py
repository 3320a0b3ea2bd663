"""Handlers for the point-in-circle MLP in the SageMaker PyTorch container.

The container's inference toolkit calls `model_fn(model_dir)` once at start, then, per request,
`input_fn(body, content_type)`, `predict_fn(data, model)` and `output_fn(prediction, accept)`.

Request (`application/json`): `{"instances": [[x, y], ...]}`. Response (`application/json`):
`{"predictions": [{"label": "inside", "probability": 0.98}, ...]}`, where `label` says whether
the point lies inside the unit circle and `probability` is the model's confidence in it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import torch

MODEL_FILE = "model.pth"
JSON_CONTENT_TYPE = "application/json"
LABELS = ("outside", "inside")  # class index -> name, as train.py labels them
N_FEATURES = 2


def _media_type(header: str | None) -> str:
    # "application/json; charset=utf-8" names the same media type as "application/json".
    return (header or JSON_CONTENT_TYPE).split(";", 1)[0].strip().lower()


def model_fn(model_dir: str) -> Any:
    """Load the TorchScript model written by train.py, on the CPU (serverless has no GPU)."""
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run train.py before packaging the model")
    model = torch.jit.load(path, map_location="cpu")
    model.eval()
    return model


def _is_finite_number(value: object) -> bool:
    # bool is an int subclass, but true/false is not a coordinate.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def input_fn(request_body: bytes | bytearray | str, request_content_type: str | None) -> Any:
    """Parse a JSON body into an (n, 2) float tensor, rejecting anything else with a reason."""
    content_type = _media_type(request_content_type)
    if content_type != JSON_CONTENT_TYPE:
        raise ValueError(
            f"unsupported content type {content_type!r}; send {JSON_CONTENT_TYPE} "
            '{"instances": [[0.1, 0.2]]}'
        )
    text = request_body if isinstance(request_body, str) else bytes(request_body).decode("utf-8")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc}") from exc
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(instances, list) or not instances:
        raise ValueError('expected {"instances": [[x, y], ...]} with at least one point')
    for index, row in enumerate(instances):
        if (
            not isinstance(row, list)
            or len(row) != N_FEATURES
            or not all(_is_finite_number(value) for value in row)
        ):
            raise ValueError(f"instances[{index}] must be a list of 2 finite numbers, got {row!r}")
    return torch.tensor(instances, dtype=torch.float32)


def predict_fn(input_data: Any, model: Any) -> list[dict[str, Any]]:
    """The most likely label of each point, with its probability."""
    with torch.no_grad():
        probabilities = torch.softmax(model(input_data), dim=1)
    best = probabilities.max(dim=1)
    return [
        {"label": LABELS[int(index)], "probability": round(float(probability), 6)}
        for probability, index in zip(best.values.tolist(), best.indices.tolist(), strict=True)
    ]


def output_fn(prediction: list[dict[str, Any]], accept: str | None) -> str:
    """Serialise the predictions as JSON, the only response type offered."""
    media_type = _media_type(accept)
    if media_type not in (JSON_CONTENT_TYPE, "*/*"):
        raise ValueError(f"unsupported accept type {media_type!r}; supported: {JSON_CONTENT_TYPE}")
    return json.dumps({"predictions": prediction})
