"""The JSON Schema of deployment.yaml, generated from the pydantic model.

Contract: `json_schema()` is deterministic; `schemas/deployment.schema.json` is its committed
output (a test fails when they differ), for editors running the YAML language server.
"""

from __future__ import annotations

from typing import Any

from .spec import Spec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, **schema}
