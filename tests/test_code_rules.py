"""Rules the product code keeps, checked over its source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

PACKAGE = Path(__file__).resolve().parent.parent / "deployspec"


def test_no_assert_guards_runtime_conditions() -> None:
    """`python -O` drops assert statements: a check that matters must be a real one."""
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found.extend(
            f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Assert)
        )
    assert found == []


def test_the_deployment_timeout_limit_is_botocores() -> None:
    import botocore.session

    from deployspec.limits import MAX_DEPLOY_TIMEOUT, MIN_DEPLOY_TIMEOUT
    from deployspec.spec import Deployment

    model = botocore.session.get_session().get_service_model("sagemaker")
    bounds = model.shape_for("MaximumExecutionTimeoutInSeconds").metadata
    assert (bounds["min"], bounds["max"]) == (MIN_DEPLOY_TIMEOUT, MAX_DEPLOY_TIMEOUT)
    # The spec takes exactly that range, the top included.
    assert Deployment(timeout=bounds["max"]).timeout == bounds["max"]
    with pytest.raises(ValidationError):
        Deployment(timeout=bounds["max"] + 1)
