"""Pre- and post-processing for the ResNet50 endpoint in the SageMaker TensorFlow Serving container.

This container's contract differs from the PyTorch and scikit-learn ones: there is no model_fn or
predict_fn, because TensorFlow Serving loads the SavedModel and runs it. The container calls
`input_handler(data, context)` to turn the HTTP request into a TensorFlow Serving REST request
body, posts it to the model's `predict` endpoint, and calls `output_handler(response, context)`
to turn TensorFlow Serving's answer into the HTTP response. The container loads this file only
from `code/inference.py` inside model.tar.gz.

Requests:
- `application/x-image`, `image/jpeg`, `image/png`: one raw image; it is base64-wrapped into
  `{"instances": [{"b64": ...}]}` for the `image_bytes` input of the exported signature.
- `application/json`: passed through unchanged, so it must already be a TensorFlow Serving
  request, e.g. `{"instances": [{"b64": "<base64 image>"}, ...]}` (see input.json).

Response (`application/json`): for each image, its top five ImageNet classes, best first:
`{"predictions": [[{"label": "tabby", "probability": 0.71}, ...]]}`.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

# The TensorFlow 2.3 container runs Python 3.7: this file must not need anything newer at run
# time (typing.Protocol is 3.8+, hence the TYPE_CHECKING block; annotations stay unevaluated).
if TYPE_CHECKING:
    from typing import Protocol

    class Readable(Protocol):
        def read(self) -> bytes: ...

    class Context(Protocol):
        """The fields of the container's request context that these handlers use."""

        request_content_type: str
        accept_header: str

    class ServingResponse(Protocol):
        """TensorFlow Serving's HTTP answer as the container hands it over (requests.Response)."""

        status_code: int
        content: bytes


IMAGE_CONTENT_TYPES = frozenset({"application/x-image", "image/jpeg", "image/png"})
JSON_CONTENT_TYPE = "application/json"


def _media_type(header: str | None) -> str:
    # "application/json; charset=utf-8" names the same media type as "application/json".
    return (header or JSON_CONTENT_TYPE).split(";", 1)[0].strip().lower()


def input_handler(data: Readable, context: Context) -> str:
    """Turn the request body into a TensorFlow Serving REST `predict` request body."""
    content_type = _media_type(context.request_content_type)
    payload = data.read()
    if content_type in IMAGE_CONTENT_TYPES:
        if not payload:
            raise ValueError("the request body is empty: send the bytes of one image")
        encoded = base64.b64encode(payload).decode("ascii")
        return json.dumps({"instances": [{"b64": encoded}]})
    if content_type == JSON_CONTENT_TYPE:
        text = payload.decode("utf-8")
        # Checked here so a malformed body gets a clear message rather than one from TF Serving.
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the request body is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict) or not ({"instances", "inputs"} & parsed.keys()):
            raise ValueError(
                'a JSON request must be a TensorFlow Serving request: {"instances": [...]}'
            )
        return text
    supported = ", ".join(sorted(IMAGE_CONTENT_TYPES | {JSON_CONTENT_TYPE}))
    raise ValueError(f"unsupported content type {content_type!r}; supported: {supported}")


def _top_classes(row: Any) -> list[dict[str, Any]]:
    if not isinstance(row, dict) or "classes" not in row or "probabilities" not in row:
        raise ValueError(
            "TensorFlow Serving's answer has no 'classes' and 'probabilities': the endpoint "
            "is serving a different model (the committed stand-in echoes its input); "
            "export the real one with export_model.py"
        )
    labels, probabilities = row["classes"], row["probabilities"]
    if len(labels) != len(probabilities):
        raise ValueError("TensorFlow Serving returned unequal numbers of classes and probabilities")
    return [
        {"label": labels[i], "probability": float(probabilities[i])} for i in range(len(labels))
    ]


def output_handler(response: ServingResponse, context: Context) -> tuple[str, str]:
    """Turn TensorFlow Serving's `predict` answer into the endpoint's JSON response."""
    if response.status_code != 200:
        raise ValueError(
            f"TensorFlow Serving answered {response.status_code}: "
            f"{response.content.decode('utf-8', errors='replace')}"
        )
    accept = _media_type(context.accept_header)
    if accept not in (JSON_CONTENT_TYPE, "*/*"):
        raise ValueError(f"unsupported accept type {accept!r}; supported: {JSON_CONTENT_TYPE}")
    # TF Serving writes a string output's bytes as they are, UTF-8 or not (the stand-in echoes
    # the image): read leniently, so that the check below can say what the endpoint serves.
    answer = json.loads(response.content.decode("utf-8", errors="replace"))
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        raise ValueError('TensorFlow Serving\'s answer has no "predictions" list')
    predictions = [_top_classes(row) for row in answer["predictions"]]
    return json.dumps({"predictions": predictions}), JSON_CONTENT_TYPE
