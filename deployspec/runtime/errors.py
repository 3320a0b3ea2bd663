"""The one error the local model runtime raises: ModelError.

It stands for any failure of the user's model or inference script (load, decode, predict,
encode, crash, timeout) and carries the HTTP status the container would have answered with, so
`deployspec serve` can answer with it and the sandbox can turn it into SageMaker's ModelError.
It pickles with all its fields because it crosses the worker process boundary.
"""

from __future__ import annotations

from typing import Any

from deployspec.errors import DeployspecError


class ModelError(DeployspecError):
    """The model or its inference script failed; `status_code` is what the container returns."""

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        *,
        hint: str | None = None,
        trace: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.message = message
        self.status_code = status_code
        self.trace = trace

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickling replays only self.args; the status, hint and trace must survive
        # the trip from the worker process.
        return (
            _rebuild,
            (type(self), self.message, self.status_code, self.hint, self.trace),
        )

    def format(self) -> str:
        text = f"error: model error ({self.status_code}): {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def _rebuild(
    cls: type[ModelError], message: str, status_code: int, hint: str | None, trace: str | None
) -> ModelError:
    return cls(message, status_code, hint=hint, trace=trace)
