"""Plan → text, JSON or markdown. Pure: strings in, strings out.

Contract: `render_text(plan, color)` reads like Terraform (`+` create, `~` update in place,
`-/+` replace, `-` delete, before -> after per attribute, `# forces replacement`, and a closing
`Plan: X to add, Y to change, Z to destroy.`); `render_json(plan)` is the documented, versioned
structure (docs/plan-format.md); `render_markdown(plan)` is for a pull-request comment: a
summary table, then the changes in a ```diff block whose changed lines each begin with the
symbol GitHub colours (`+`, `-`, and `!` for an update in place). Resources are shown by
`Change.address` (an uploaded archive by its digest's first 12 hex digits). Secret environment
values are masked in all three.

Many specs (`multi.SpecPlan`s, in the order given): `render_text_many` prints a block per spec
headed `==> FILE: endpoint NAME (REGION) <==`, its plan or error, then one summary line;
`render_json_many` one document (docs/plan-format.md, "Many specs"); `render_markdown_many` one
pull-request comment under GitHub's 65,536-character limit, summarised when longer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .errors import DeployspecError
from .multi import SpecPlan, Summary, error_fields, summarize
from .plan import FORMAT_VERSION, Action, Change, Kind, Plan
from .planner import flatten
from .resources import INVOCATIONS
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
    if change.kind in (Kind.ARTIFACT, Kind.WEIGHTS) and change.action is Action.CREATE:
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
# The spec digest and the applied record move with every other change the plan already shows.
# Which environment keys are secret is how the plan is shown, not an attribute to show.
_HIDDEN = frozenset(
    {
        "retain_instance_count",
        "tags.deployspec:spec-digest",
        "tags.deployspec:applied",
        DECLARED,
        # A weights tree's file-by-file transfers: its upload/copy/present counts show them.
        "transfers",
    }
)


# Apply's own bookkeeping on the endpoint: shown only as the prune_mark change itself.
_BOOKKEEPING = ("tags.deployspec:pruned-for", "tags.deployspec:previous-config")


def _shown(key: str, change: Change) -> bool:
    if key in _HIDDEN or (key in _BOOKKEEPING and change.kind is not Kind.PRUNE_MARK):
        return False
    # Which call updates a component: its reason line says it in words.
    if change.kind is Kind.INFERENCE_COMPONENT and key == "update":
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


# Attributes of a created or deleted resource not shown at the value nearly every resource has
# (a change of them is shown like any other): a plan of one ordinary model lists no
# `multi_model = false`.
_QUIET: dict[str, object] = {
    "multi_model": False,
    "scale_from_zero": False,
    "metric": INVOCATIONS,
}
_NONE = object()


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
            if new is not None and _QUIET.get(key.rsplit(".", 1)[-1], _NONE) != new:
                rows.append(("+", key, f"{show(new)}"))
        elif change.action is Action.DELETE:
            if old is not None and _QUIET.get(key.rsplit(".", 1)[-1], _NONE) != old:
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


# --- many specs ---------------------------------------------------------------------------------
# One block per spec in the order given (find_specs'), each headed by its file and endpoint,
# then one summary line; JSON as one document; markdown as one pull-request comment.

# The first line of a many-spec markdown plan: CI workflows find their comment by it and update
# it in place instead of adding one per push.
PLAN_MARKER = "<!-- deployspec-plan -->"
# GitHub's limit on a comment's body.
MAX_COMMENT_CHARS = 65536


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def many_summary_line(summary: Summary) -> str:
    """`3 specs with changes, 40 unchanged, 1 error`."""
    return (
        f"{_plural(summary.with_changes, 'spec')} with changes, {summary.unchanged} unchanged, "
        f"{_plural(summary.errors, 'error')}"
    )


def spec_header(item: SpecPlan) -> str:
    """`==> FILE: endpoint NAME (REGION) <==`: which spec the block below belongs to."""
    where = ""
    if item.endpoint_name:
        where = f": endpoint {item.endpoint_name}" + (f" ({item.region})" if item.region else "")
    return f"==> {item.file}{where} <=="


def error_text(error: DeployspecError) -> str:
    """An error as the CLI prints it (a spec's problems each with their location and hint)."""
    return error.format()


def render_text_many(items: Sequence[SpecPlan], color: bool = False) -> str:
    blocks: list[str] = []
    for item in items:
        header = spec_header(item)
        if color:
            header = f"{_BOLD}{header}{_RESET}"
        if item.plan is not None:
            body = render_text(item.plan, color)
        else:
            body = error_text(item.error or DeployspecError("not planned")) + "\n"
        blocks.append(f"{header}\n{body}")
    summary = many_summary_line(summarize(items))
    blocks.append((f"{_BOLD}{summary}{_RESET}" if color else summary) + "\n")
    return "\n".join(blocks)


def many_document(items: Sequence[SpecPlan]) -> dict[str, Any]:
    """The JSON form of a many-spec plan (docs/plan-format.md, "Many specs")."""
    specs: list[dict[str, Any]] = []
    for item in items:
        entry: dict[str, Any] = {
            "file": item.file,
            "spec_name": item.spec_name,
            "endpoint_name": item.endpoint_name,
            "region": item.region,
        }
        if item.plan is not None:
            entry["plan"] = plan_document(item.plan)
        else:
            message, hint = error_fields(item.error or DeployspecError("not planned"))
            entry["error"] = {"message": message, "hint": hint}
        specs.append(entry)
    summary = summarize(items)
    return {
        "format_version": FORMAT_VERSION,
        "specs": specs,
        "summary": {
            "with_changes": summary.with_changes,
            "unchanged": summary.unchanged,
            "errors": summary.errors,
        },
    }


def render_json_many(items: Sequence[SpecPlan]) -> str:
    return json.dumps(many_document(items), indent=2, sort_keys=False) + "\n"


def comment_length(text: str) -> int:
    """Length as GitHub counts a comment, at most: UTF-16 code units (a character outside the
    Basic Multilingual Plane is two), never fewer than Python's characters."""
    return len(text.encode("utf-16-le")) // 2


def _code(text: str) -> str:
    """`text` as inline code in a table cell: a `|` would end the cell, newlines the row."""
    text = _one_line(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _html(text: str) -> str:
    import html

    return html.escape(_one_line(text), quote=False)


def _outcome(item: SpecPlan) -> str:
    if item.plan is None:
        return "error"
    if not item.plan.has_changes:
        return "no changes"
    add, change, destroy = item.plan.counts()
    return f"{add} to add, {change} to change, {destroy} to destroy"


def _row(item: SpecPlan) -> str:
    endpoint = ""
    if item.endpoint_name:
        endpoint = _code(item.endpoint_name) + (f" ({_html(item.region)})" if item.region else "")
    outcome = _outcome(item)
    shown = f"**{outcome}**" if item.plan is None else outcome
    return f"| {_code(item.file)} | {endpoint} | {shown} |"


def _summary_tag(item: SpecPlan) -> str:
    endpoint = f" <code>{_html(item.endpoint_name)}</code>" if item.endpoint_name else ""
    return f"<summary><code>{_html(item.file)}</code>{endpoint}: {_outcome(item)}</summary>"


def _section(item: SpecPlan, body: str) -> str:
    return f"<details>{_summary_tag(item)}\n\n{body.rstrip()}\n\n</details>\n"


def _full_section(item: SpecPlan) -> str:
    if item.plan is not None:
        return _section(item, render_markdown(item.plan))
    message, hint = error_fields(item.error or DeployspecError("not planned"))
    text = message + (f"\nhint: {hint}" if hint else "") + "\n"
    fence = _fence(text)
    return _section(item, f"{fence}text\n{text}{fence}")


def render_markdown_many(
    items: Sequence[SpecPlan], *, limit: int = MAX_COMMENT_CHARS, command: str = "deployspec plan"
) -> str:
    """One pull-request comment for many specs: PLAN_MARKER, a summary table of every spec,
    then a collapsed section per spec with changes or an error, in the order given.

    Longer than `limit` (comment_length): the table stays whole unless it alone is too long
    (then the unchanged specs' rows become one, and rows are cut from the end, counted); then
    whole sections are added while they fit, errors first, then the smallest; the specs whose
    sections did not fit are listed last with the command that shows them, and a note at the
    top says the comment is summarised.
    """
    summary = summarize(items)
    title = f"{PLAN_MARKER}\n### deployspec plan: {many_summary_line(summary)}\n\n"
    shown = [i for i, item in enumerate(items) if item.plan is None or item.plan.has_changes]
    sections = {i: _full_section(items[i]) for i in shown}
    rows = [_row(item) for item in items]

    def build(notice: str, table: Sequence[str], bodies: Sequence[str], tail: str = "") -> str:
        head = ["| spec | endpoint | plan |", "| --- | --- | --- |", *table]
        parts = [title, notice, "\n".join(head), "\n"]
        if bodies:
            parts.append("\n" + "\n".join(bodies))
        if tail:
            parts.append("\n" + tail)
        return "".join(parts)

    size = comment_length
    text = build("", rows, [sections[i] for i in shown])
    if size(text) <= limit:
        return text

    why = f"this plan is longer than GitHub's {limit:,}-character limit for a comment"

    def notice(left_out: int, table_cut: bool) -> str:
        what = []
        if left_out:
            what.append(f"{left_out} of {len(shown)} sections are not shown (listed at the end)")
        if table_cut:
            what.append("the table lists the specs with changes or errors, and counts the rest")
        return f"> **Summarised:** {why}, so {'; '.join(what) or 'it is shortened'}.\n\n"

    def tail(files: Sequence[str], room: int) -> str:
        """The sections left out, named in at most `room` characters (the rest counted)."""
        if not files:
            return ""
        head = (
            f"**Not shown** ({_plural(len(files), 'spec')}; `{command} FILE` with this run's "
            "options shows one):"
        )
        names: list[str] = []
        used = size(head) + 1
        for index, file in enumerate(files):
            entry = " " + _code(file) + ("," if index < len(files) - 1 else "")
            rest = len(files) - index - 1
            more = f" … and {rest} more" if rest else ""
            if used + size(entry) + size(more) > room:
                names.append(f" … and {len(files) - index} more")
                break
            names.append(entry)
            used += size(entry)
        return head + "".join(names) + "\n"

    # The shortest the list at the end can be: its head and a count.
    least_tail = size(tail(["x"] * max(len(shown), 1), 0))
    widest_notice = size(notice(len(shown), True))

    # 1. The table: whole, unless it alone (with the title, the note and the shortest list)
    # is too long; then the unchanged specs' rows become one and rows go from the end.
    fixed = widest_notice + least_tail

    def fits(table: Sequence[str]) -> bool:
        return fixed + size(build("", table, [])) <= limit

    table = rows
    table_cut = not fits(rows)
    if table_cut:
        kept = [rows[i] for i in shown]
        others = [f"| {_plural(summary.unchanged, 'other spec')} | | no changes |"]
        others = others if summary.unchanged else []

        def shortened(count: int) -> list[str]:
            cut = len(kept) - count
            more = [f"| … and {cut} more with changes or errors | | |"] if cut else []
            return [*kept[:count], *more, *others]

        count = len(kept)
        while count and not fits(shortened(count)):
            # About as many rows as are over at once, so that thousands of rows stay fast;
            # then back up row by row to as many as fit.
            over = fixed + size(build("", shortened(count), [])) - limit
            average = size("\n".join(kept[:count])) // count + 1
            count = max(0, count - max(1, over // average))
        while count < len(kept) and fits(shortened(count + 1)):
            count += 1
        table = shortened(count)

    # 2. Whole sections while they fit: errors first (the reason a run fails), then the
    # smallest (the most specs shown); the rest are listed at the end.
    base = size(build(notice(len(shown), table_cut), table, []))
    budget = limit - base - least_tail - 2
    chosen: set[int] = set()
    for i in sorted(shown, key=lambda i: (items[i].plan is not None, size(sections[i]), i)):
        cost = size(sections[i]) + 1
        if cost <= budget:
            chosen.add(i)
            budget -= cost
    left = [items[i].file for i in shown if i not in chosen]
    bodies = [sections[i] for i in shown if i in chosen]
    head = build(notice(len(left), table_cut), table, bodies)
    text = head + ("\n" + tail(left, limit - size(head) - 1) if left else "")
    return text


def render_markdown_unchanged(ref: str) -> str:
    """The comment when --changed-since finds no spec to plan."""
    return f"{PLAN_MARKER}\n### deployspec plan\n\nNo spec changed since {_code(ref)}.\n"
