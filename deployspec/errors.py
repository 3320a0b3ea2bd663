"""Exceptions shared by every stage.

Every error the tool expects is a DeployspecError; the CLI maps it to exit code 1 and prints it
without a traceback (unless --debug). Anything else escaping is a bug and shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem in an input file, located precisely enough for an editor to jump to it."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str | None = None

    def location(self) -> str:
        if self.line is None:
            return f"{self.file}:"
        return f"{self.file}:{self.line}:{self.column or 1}:"

    def format(self) -> str:
        where = f" {self.path}:" if self.path else ""
        text = f"{self.location()}{where} {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class DeployspecError(Exception):
    """Root of every error the tool reports to users (exit code 1)."""

    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def format(self) -> str:
        text = f"error: {self}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SpecError(DeployspecError):
    """All the problems found in one spec file, reported together."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} problem(s) in spec")
        self.diagnostics = diagnostics

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


class AwsError(DeployspecError):
    """An AWS call failed in a way the user must act on (credentials, permissions, limits)."""


class NotManagedError(DeployspecError):
    """A live resource exists with our name but is not owned by deployspec."""


class UnsupportedShapeError(NotManagedError):
    """A live endpoint has a shape (variants, components) this deployspec cannot manage."""


class NotPackagedError(DeployspecError):
    """A read-only command needed the model's archive, and it is not in the cache."""


class PlanError(DeployspecError):
    """A plan cannot be made or is no longer valid (stale saved plan, endpoint in a bad state)."""


class ApplyError(DeployspecError):
    """Apply stopped before the live state matched the plan."""


class SandboxError(DeployspecError):
    """The local sandbox is not running or cannot be started."""
