"""Rendering a template is bounded in CPU time and memory: what exceeds a bound stops within
seconds as a SpecError located in the spec file, never a hang, a traceback or gigabytes."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deployspec import templating
from deployspec.errors import SpecError
from deployspec.templating import render, source_lines
from tests.conftest import VALID_SKLEARN, run_cli

WriteSpec = Callable[..., Path]
FILE = "deployment.yaml"
NESTED_LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
# A failure the sandbox catches before running anything takes milliseconds plus one fork.
FAST = 2.0

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the bounds need fork")


@pytest.fixture
def one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU budget of one second, so that tests of the time bound itself stay quick."""
    monkeypatch.setattr(templating, "RENDER_SECONDS", 1.0)


def failure(text: str, variables: dict[str, object] | None = None) -> tuple[str, float]:
    """The one problem rendering `text` reports, and how long it took to report it."""
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        render(text, FILE, variables or {})
    elapsed = time.monotonic() - started
    [problem] = caught.value.diagnostics
    return problem.format(), elapsed


def spec_with(expression: str) -> str:
    """VALID_SKLEARN's first line, `name: iris`, holding `expression` instead (line 1, col 7)."""
    return VALID_SKLEARN.replace("name: iris", f'name: "{expression}"')


def test_nested_loops_stop_at_the_time_limit_on_their_line(one_second: None) -> None:
    text = "a: 1\n" + spec_with(NESTED_LOOP)
    error, elapsed = failure(text)
    assert error.startswith(f"{FILE}:2:8: the template took more than 1 s to render")
    assert "a loop or a filter is too large" in error
    assert elapsed < 5


def test_huge_powers_fail_at_once_with_the_real_limits() -> None:
    error, elapsed = failure(spec_with("{{ ((10**64)**64)**64 }}"))
    assert error.startswith(f"{FILE}:1:8: template failed: number too large: `~1e64 ** 64`")
    assert f"more than {templating.MAX_INT_BITS} bits" in error
    assert elapsed < FAST


def test_lipsum_counts_are_bounded() -> None:
    error, elapsed = failure(spec_with("{{ lipsum(200000) }}"))
    assert error.startswith(f"{FILE}:1:8: template failed: lipsum too large: 200000 paragraphs")
    assert elapsed < FAST


def test_huge_widths_fail_before_allocating() -> None:
    error, elapsed = failure(spec_with("{{ 'a'|center(1000000000) }}"))
    assert error.startswith(f"{FILE}:1:8: template failed: width too large: center")
    assert "1000000000" in error
    assert elapsed < FAST


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ("{{ 'a'|center(width=1000000000) }}", "width too large: center"),
        ("{{ 'a'.ljust(1000000000) }}", "width too large: str.ljust"),
        ("{{ '7'.zfill(1000000000) }}", "width too large: str.zfill"),
        ("{{ ('\\t' * 1000).expandtabs(1000000) }}", "str.expandtabs would make"),
        ("{{ ('x\\n' * 100000)|indent(100) }}", "indent would make"),
        ("{{ 'a b'|wordwrap(1, wrapstring='x' * 1000000) }}", "wordwrap would make"),
        ("{{ '%*s' % (1000000000, 'a') }}", "`%` formatting would make"),
        ("{{ '%1000000000s' % 'a' }}", "`%` formatting would make"),
        ("{{ '%.1000000000f'|format(1.0) }}", "`%` formatting would make"),
        ("{{ '{:>1000000000}'.format('a') }}", "str.format would make"),
        ("{{ '{:>{w}}'.format('a', w=1000000000) }}", "str.format would make"),
        ("{{ [1]|batch(1000000000, 0)|list }}", "count too large: batch"),
        ("{{ [1]|slice(1000000000)|list }}", "count too large: slice"),
        ("{{ 'ab' * 1000000 }}", "result too large: `*` would repeat 2 items"),
        ("{{ [0] * 10000000 }}", "result too large: `*` would repeat 1 items"),
        ("{{ ('a' * 1000000) + ('a' * 1000000) }}", "result too large: `+`"),
        ("{{ 2 ** 5000 }}", "number too large"),
        ("{{ (2 ** 4000) * (2 ** 4000) }}", "number too large"),
    ],
)
def test_the_usual_ways_to_ask_for_too_much_fail_fast(expression: str, needle: str) -> None:
    error, elapsed = failure(spec_with(expression))
    assert error.startswith(f"{FILE}:1:8: template failed: ")
    assert needle in error
    assert elapsed < FAST


def test_memory_beyond_the_checks_is_bounded_too() -> None:
    # `replace` makes 10**9 characters from operands the checks allow: only the child's
    # address-space limit stops it, and the child, not this process, takes the hit.
    error, elapsed = failure(spec_with("{{ ('a' * 1000000).replace('a', 'a' * 1000) }}"))
    assert error.startswith(f"{FILE}:1:8: the template needed more than 256 MiB to render")
    assert elapsed < FAST


def test_the_memory_limit_is_what_it_says(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 MB of output is refused under a 64 MiB limit, and allowed (but then too large for a
    # spec) under the real one.
    expression = spec_with("{{ ('a' * 1000000).replace('a', 'a' * 100) }}")
    monkeypatch.setattr(templating, "RENDER_MEMORY_BYTES", 64 * 1024 * 1024)
    error, _ = failure(expression)
    assert "needed more than 64 MiB to render" in error
    monkeypatch.undo()
    error, _ = failure(expression)
    assert "rendered template is larger than" in error


def test_a_child_that_stops_running_is_killed_by_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sleeping uses no CPU, so the child's own alarm never fires: the parent's deadline does.
    monkeypatch.setattr(templating, "RENDER_SECONDS", 0.5)
    monkeypatch.setattr(templating, "_WALL_SLACK_SECONDS", 0.5)

    def asleep() -> str:
        time.sleep(60)
        return "never"

    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        templating._isolated(asleep, FILE)
    assert time.monotonic() - started < 5
    [problem] = caught.value.diagnostics
    assert problem.format().startswith(f"{FILE}: the template took more than 0.5 s to render")


def test_a_swallowed_alarm_still_meets_the_cpu_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Code that catches every Exception swallows the alarm; the kernel's RLIMIT_CPU does not
    # ask. The wall clock is set far off so that it is not what stops the child.
    monkeypatch.setattr(templating, "RENDER_SECONDS", 0.5)
    monkeypatch.setattr(templating, "_WALL_SLACK_SECONDS", 60.0)

    def stubborn() -> str:
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass

    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        templating._isolated(stubborn, FILE)
    assert time.monotonic() - started < 10
    assert "took more than 0.5 s to render" in caught.value.diagnostics[0].message


def test_the_child_never_returns_into_the_caller() -> None:
    # Whatever the work raises, the child reports and exits; only the parent carries on
    # (were the child to return, this test would run twice and its pid would differ).
    parent = os.getpid()

    def escape() -> str:
        raise KeyboardInterrupt

    with pytest.raises(SpecError) as caught:
        templating._isolated(escape, FILE)
    assert os.getpid() == parent
    assert "renderer stopped" in caught.value.diagnostics[0].message


def test_source_lines_are_bounded_too(one_second: None) -> None:
    text = f"a: 1\n{NESTED_LOOP}\nb: 2\n"
    started = time.monotonic()
    assert source_lines(text, {}, "a: 1\n\nb: 2\n") is None
    assert time.monotonic() - started < 5


def test_errors_do_not_echo_huge_values() -> None:
    error, _ = failure(spec_with("{{ {}[('x' * 100000)] }}"))
    assert error.startswith(f"{FILE}:1:8: undefined template variable:")
    assert "characters)" in error and len(error) < 1000
    error, _ = failure(spec_with("{{ 'a' * (2 ** 4000) }}"))
    assert "result too large" in error and "~1e1204" in error and len(error) < 500


# --- template errors never echo a secret variable (issue 9.13) ------------------------------

TOKEN = "sk-live-supersecret-1234567890abcdef"
SECRET_ENV = VALID_SKLEARN.replace(
    "  entry_point: inference.py\n",
    '  entry_point: inference.py\n  env:\n    CREDS: "{expression}"\n',
)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ {}[api_token] }}",
        "{{ {}|attr(api_token) }}",
        "{{ ''|attr('_' ~ api_token) }}",  # a SecurityError's message
        "{{ range(api_token) }}",
        "{{ {}[api_token ~ '-suffix'] }}",
    ],
)
def test_template_errors_never_show_a_secret_variable(expression: str) -> None:
    # Named like a credential: the --var that issue 9's review saw echoed.
    text = SECRET_ENV.replace("{expression}", expression)
    error, _ = failure(text, {"api_token": TOKEN})
    assert error.startswith(f"{FILE}:9:13: ")
    assert "sk-live" not in error and "supersecret" not in error, error


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("upstream", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),  # shaped like a token
        ("db_password", "it's\\a\"secret"),  # Jinja quotes it: the repr differs from the value
        ("api_token", "sk-live-" + "0123456789abcdef" * 30),  # longer than a message
    ],
)
def test_template_errors_hide_secrets_in_every_form_and_length(name: str, value: str) -> None:
    error, _ = failure(spec_with(f"{{{{ {{}}[{name}] }}}}"), {name: value})
    assert "(sensitive)" in error
    for piece in (value, repr(value)[1:-1], value[:12], value[-12:]):
        assert piece not in error, (piece, error)


def test_template_errors_cut_other_long_values_short() -> None:
    value = "a-long-plain-value-" * 7  # fits the 200 characters a message had before
    error, _ = failure(spec_with("{{ {}[note] }}"), {"note": value})
    assert value not in error
    assert value[:50] in error  # a preview, as spec errors show values


def test_the_cli_never_echoes_a_secret_var_in_a_template_error(write_spec: WriteSpec) -> None:
    for expression in ("{{ {}[api_token] }}", "{{ {}|attr(api_token) }}"):
        path = write_spec(SECRET_ENV.replace("{expression}", expression))
        result = run_cli("validate", str(path), "--var", f"api_token={TOKEN}", cwd=path.parent)
        assert result.returncode == 1
        assert "undefined template variable: 'dict object' has no attribute '(sensitive)'" in (
            result.stderr
        )
        assert TOKEN not in result.stdout + result.stderr


NORMAL = textwrap.dedent(
    """\
    name: iris-{{ stage|upper }}
    {%- for key, value in tags|dictsort %}
      {{ key }}: {{ '%-6s|%3d' % (value, loop.index) }}
    {%- endfor %}
    size: {{ 2 ** 10 * 3 + 1 }} {{ (7 * 6) // 5 % 3 }} {{ '{:>8}|{:.2f}'.format(stage, 2.5) }}
    pad: "{{ stage|center(9) }}{{ 'x'.ljust(3) }}{{ '%s-%s'|format('a', 'b') }}"
    text: {{ 'one two three'|wordwrap(5)|indent(2) }}
    batches: {{ [1, 2, 3]|batch(2, 0)|list }} {{ [1, 2, 3]|slice(2)|list }}
    joined: {{ ['a'] * 3 + ['b'] }} {{ 'ab' * 2 }}
    """
)


def test_a_normal_template_renders_exactly_as_plain_jinja_does() -> None:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    variables: dict[str, object] = {"stage": "dev", "tags": {"team": "ml", "cost": "r&d"}}
    plain = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    expected = plain.from_string(NORMAL).render(variables)
    assert render(NORMAL, FILE, variables) == expected
    assert "size: 3073 2 " in expected  # the operators really were exercised
    origin = source_lines(NORMAL, variables, expected)
    assert origin is not None and origin[:3] == [1, 3, 3]


def test_rendering_leaves_no_child_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    render(NORMAL, FILE, {"stage": "dev", "tags": {}})
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):  # already reaped
        os.waitpid(forked[0], os.WNOHANG)


def test_the_cli_stops_a_runaway_template_within_seconds(write_spec: WriteSpec) -> None:
    path = write_spec(spec_with(NESTED_LOOP))
    started = time.monotonic()
    result = run_cli("validate", str(path), cwd=path.parent, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    output = result.stdout + result.stderr
    assert f"{path}:1:8: the template took more than 2 s to render" in output
    assert "Traceback" not in output
    assert elapsed < 15


def test_the_limits_interrupt_with_signals_only_in_the_child() -> None:
    # The parent's SIGPROF handler and CPU limit are untouched by rendering.
    before = signal.getsignal(signal.SIGPROF)
    render(NORMAL, FILE, {"stage": "dev", "tags": {}})
    assert signal.getsignal(signal.SIGPROF) == before
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
