"""Plan → text, JSON or markdown. Pure: strings in, strings out.

Contract: `render_text(plan, color)` reads like Terraform (`+` create, `~` update in place,
`-/+` replace, `-` delete, before -> after per attribute, `# forces replacement`, and a closing
`Plan: X to add, Y to change, Z to destroy.`); `render_json(plan)` is the documented, versioned
structure (docs/plan-format.md); `render_markdown(plan)` is for a pull-request comment: a
summary table, then the changes in a ```diff block whose changed lines each begin with the
symbol GitHub colours (`+`, `-`, and `!` for an update in place). Resources are shown by
`Change.address` (an uploaded archive by its digest's first 12 hex digits). Secret environment
values are masked in all three.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .plan import Action, Change, Kind, Plan
from .planner import flatten
from .secrets import DECLARED, SENSITIVE, mask_pair, secret_paths, withheld_paths

_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.REPLACE: "-/+",
}
_VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.DELETE: "will be destroyed",
    Action.REPLACE: "must be replaced",
}
_COLOR = {
    Action.CREATE: "\033[32m",
    Action.UPDATE: "\033[33m",
    Action.DELETE: "\033[31m",
    Action.REPLACE: "\033[35m",
}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return f"No changes. Endpoint {plan.endpoint_name} matches the spec."
    add, change, destroy = plan.counts()
    return f"Plan: {add} to add, {change} to change, {destroy} to destroy."


def _verb(change: Change) -> str:
    if change.kind is Kind.ARTIFACT and change.action is Action.CREATE:
        return "will be uploaded"
    if change.kind is Kind.PRUNE_MARK:
        return "will be recorded on the endpoint"
    return _VERB[change.action]


def _secret(value: Any) -> str:
    # Unquoted: it stands for a value, it is not one.
    return SENSITIVE


def _value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# Execution details of an update, not attributes of the resource.
# The spec digest moves with every other change the plan already shows.
# Which environment keys are secret is how the plan is shown, not an attribute to show.
_HIDDEN = frozenset({"retain_instance_count", "tags.deployspec:spec-digest", DECLARED})


# Apply's own bookkeeping on the endpoint: shown only as the prune_mark change itself.
_BOOKKEEPING = ("tags.deployspec:pruned-for", "tags.deployspec:previous-config")


def _shown(key: str, change: Change) -> bool:
    if key in _HIDDEN or (key in _BOOKKEEPING and change.kind is not Kind.PRUNE_MARK):
        return False
    # Ownership tags are bookkeeping; on a new resource they only add noise.
    return not (change.action is Action.CREATE and key.startswith("tags.deployspec:"))


def _attribute_lines(change: Change) -> list[tuple[str, str]]:
    """(symbol, "key = value" text) per attribute that matters for this change."""
    rows = _rows(change, _shown)
    if not rows and change.action is Action.UPDATE:
        # An update whose every difference is bookkeeping would render as `{ }`, a change
        # that shows nothing: show what it does change rather than nothing.
        rows = _rows(change, lambda key, _: key != DECLARED)
    width = max((len(key) for _, key, _ in rows), default=0)
    return [(symbol, f"{key.ljust(width)} = {text}") for symbol, key, text in rows]


def _rows(change: Change, shown: Callable[[str, Change], bool]) -> list[tuple[str, str, str]]:
    """(symbol, key, value text) per attribute `shown` lets through."""
    hidden = secret_paths(change.before, change.after)
    # Live environment values the change replaces or drops (see secrets.withheld_paths).
    withheld = withheld_paths(change.before, change.after)
    before = flatten(change.before or {})
    after = flatten(change.after or {})
    rows: list[tuple[str, str, str]] = []
    for key in sorted(set(before) | set(after)):
        if not shown(key, change):
            continue
        # Compared with their real values, so that a changed secret shows as changed.
        old, new = before.get(key), after.get(key)
        show = _secret if key in hidden else _value
        show_old = _secret if key in withheld else show
        forces = "  # forces replacement" if key in change.forces else ""
        if change.action is Action.CREATE:
            if new is not None:
                rows.append(("+", key, f"{show(new)}"))
        elif change.action is Action.DELETE:
            if old is not None:
                rows.append(("-", key, f"{show_old(old)}"))
        elif old != new:
            if old is None:
                rows.append(("+", key, f"{show(new)}{forces}"))
            elif new is None:
                rows.append(("-", key, f"{show_old(old)}{forces}"))
            elif key in hidden:
                rows.append(("~", key, f"{SENSITIVE} changed{forces}"))
            else:
                rows.append(("~", key, f"{show_old(old)} -> {_value(new)}{forces}"))
    return rows


def _label(change: Change) -> str:
    """The resource's name as the block shows it: the address without its kind (an uploaded
    archive's full S3 URI is one of its attributes)."""
    return change.address.removeprefix(f"{change.kind.value}.")


def render_change(change: Change, color: bool = False) -> list[str]:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    symbol = _SYMBOL[change.action]
    code = _COLOR[change.action]
    lines = [paint(_BOLD, f"  # {change.address} {_verb(change)}")]
    for reason in change.reasons:
        lines.append(paint(_DIM, f"  # ({reason})"))
    lines.append(f"{paint(code, symbol.rjust(3))} {change.kind.value} {_value(_label(change))} {{")
    for row_symbol, text in _attribute_lines(change):
        row_code = {"+": _COLOR[Action.CREATE], "-": _COLOR[Action.DELETE]}.get(
            row_symbol, _COLOR[Action.UPDATE]
        )
        lines.append(f"      {paint(row_code, row_symbol)} {text}")
    lines.append("    }")
    return lines


def render_text(plan: Plan, color: bool = False) -> str:
    lines: list[str] = []
    for note in plan.notes:
        lines.append(f"Note: {note}")
    if plan.notes:
        lines.append("")
    if plan.has_changes:
        lines.append(
            f"deployspec will perform the following actions on endpoint "
            f"{plan.endpoint_name} ({plan.region}):"
        )
        lines.append("")
        for change in plan.changes:
            lines.extend(render_change(change, color))
            lines.append("")
    summary = summary_line(plan)
    lines.append(f"{_BOLD}{summary}{_RESET}" if color else summary)
    return "\n".join(lines) + "\n"


def plan_document(plan: Plan) -> dict[str, Any]:
    """The JSON form: the saved plan's shape, with secrets masked."""
    data = plan.to_json()
    for change in data["changes"]:
        change["before"], change["after"] = mask_pair(change["before"], change["after"])
    return data


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, sort_keys=False) + "\n"


# GitHub colours a ```diff line by its first character only: `+` green, `-` red, `!` orange.
# `~` (update in place) means nothing to it, so updates are marked `!` there.
_DIFF_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "!",
    Action.DELETE: "-",
    Action.REPLACE: "-/+",
}
_DIFF_ROW = {"+": "+", "-": "-", "~": "!"}


def _diff_lines(change: Change) -> list[str]:
    """One change as diff lines: every changed line starts with its symbol, comments with #."""
    lines = [f"# {change.address} {_verb(change)}"]
    lines.extend(f"# ({_one_line(reason)})" for reason in change.reasons)
    symbol = _DIFF_SYMBOL[change.action]
    lines.append(f"{symbol} {change.kind.value} {_value(_label(change))} {{")
    lines.extend(f"{_DIFF_ROW[row]}     {text}" for row, text in _attribute_lines(change))
    lines.append("  }")
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fence(body: str) -> str:
    """A backtick fence longer than any backtick run in `body`, which would otherwise close it."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(plan: Plan) -> str:
    head = (
        f"### deployspec plan: `{plan.endpoint_name}` ({plan.region})\n\n**{summary_line(plan)}**\n"
    )
    if not plan.has_changes:
        return head
    rows = ["", "| action | resource | why |", "| --- | --- | --- |"]
    for item in plan.changes:
        why = _one_line("; ".join(item.reasons)).replace("|", "\\|")
        rows.append(f"| `{_SYMBOL[item.action]}` {item.action.value} | `{item.address}` | {why} |")
    notes = "".join(f"\n> {_one_line(note)}\n" for note in plan.notes)
    blocks: list[str] = []
    for change in plan.changes:
        if blocks:
            blocks.append("")
        blocks.extend(_diff_lines(change))
    body = "\n".join(blocks) + "\n"
    fence = _fence(body)
    details = f"\n<details><summary>Details</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n"
    return head + notes + "\n".join(rows) + "\n" + details
