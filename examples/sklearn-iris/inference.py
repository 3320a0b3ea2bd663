"""Handlers for the iris endpoint in the SageMaker scikit-learn container.

The container's inference toolkit calls `model_fn(model_dir)` once at start, then, per request,
`input_fn(body, content_type)`, `predict_fn(data, model)` and `output_fn(prediction, accept)`.

Request (`application/json`): `{"instances": [[sepal_length, sepal_width, petal_length,
petal_width], ...]}` in centimetres. Response (`application/json`):
`{"predictions": ["setosa", ...]}`, one class name per instance.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import joblib
import numpy as np

MODEL_FILE = "model.joblib"
JSON_CONTENT_TYPE = "application/json"
N_FEATURES = 4


def _media_type(header: str | None) -> str:
    # "application/json; charset=utf-8" names the same media type as "application/json".
    return (header or JSON_CONTENT_TYPE).split(";", 1)[0].strip().lower()


def model_fn(model_dir: str) -> Any:
    """Load the classifier written by train.py."""
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run train.py before packaging the model")
    return joblib.load(path)


def input_fn(request_body: bytes | bytearray | str, request_content_type: str | None) -> Any:
    """Parse a JSON body into an (n, 4) float array, rejecting anything else with a reason."""
    content_type = _media_type(request_content_type)
    if content_type != JSON_CONTENT_TYPE:
        raise ValueError(
            f"unsupported content type {content_type!r}; send {JSON_CONTENT_TYPE} "
            '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
        )
    text = request_body if isinstance(request_body, str) else bytes(request_body).decode("utf-8")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc}") from exc
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(instances, list) or not instances:
        raise ValueError('expected {"instances": [[f1, f2, f3, f4], ...]} with at least one row')
    for index, row in enumerate(instances):
        if (
            not isinstance(row, list)
            or len(row) != N_FEATURES
            or not all(_is_finite_number(value) for value in row)
        ):
            raise ValueError(
                f"instances[{index}] must be a list of {N_FEATURES} finite numbers "
                f"(sepal length, sepal width, petal length, petal width), got {row!r}"
            )
    return np.asarray(instances, dtype=float)


def _is_finite_number(value: object) -> bool:
    # bool is an int subclass, but true/false is not a measurement.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def predict_fn(input_data: Any, model: Any) -> list[str]:
    """The predicted class name of each row."""
    return [str(label) for label in model.predict(input_data)]


def output_fn(prediction: list[str], accept: str | None) -> str:
    """Serialise the predictions as JSON, the only response type offered."""
    media_type = _media_type(accept)
    if media_type not in (JSON_CONTENT_TYPE, "*/*"):
        raise ValueError(f"unsupported accept type {media_type!r}; supported: {JSON_CONTENT_TYPE}")
    return json.dumps({"predictions": prediction})
