"""Many specs at once: which files a command names, which a git change touches, and which
collide. Pure apart from reading the file system and running `git`.

Contract:
- `find_specs(arguments)` turns the command line's FILES (spec files, folders, glob patterns)
  into `Found` entries, each spec once (by its real path), sorted by the path as shown. A file
  is taken as named, whatever its name (a missing one too: loading it reports it, as for one
  spec); a folder contributes every `deployment.yaml` and `*.deploy.yaml` beneath it, skipping
  hidden folders, virtual environments and dependency folders; a pattern (`*`, `?`, `[`) is
  expanded as a recursive glob (`**`) and keeps the spec files it matches outside those folders.
  A folder or pattern that names no spec is an entry carrying its error, so that the other
  arguments are still reported.
- `changes_since(ref, cwd, specs=...)` asks git which files changed since the merge base of REF
  and HEAD, uncommitted and untracked files included (ignored ones not), in the repository
  holding `cwd`; `changes_for(ref, FILES, specs)` in the repository of the first of FILES (not
  the current folder's), refusing specs outside its work tree or in a repository nested in it.
  `touches(...)` says whether a spec reads any changed file: the spec file, a file of its
  artifacts, source_dir or entry_point, or a var file.
- `find_collisions(claims)`: the specs whose endpoint, or whose content-addressed resources
  under another spec name, another spec claims too; each gets a message naming the others. An
  endpoint's account or region left empty (not known, e.g. no region: and no session) matches
  any.
- `unknown_variables(declared, var_files, cli_vars)`: with many specs sharing --var and
  --var-file, the names none of them declares (a typo), as one located error.
No AWS calls and no printing here.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DeployspecError, SpecError

if TYPE_CHECKING:
    import subprocess

    from .desired import Desired
    from .plan import Plan
    from .spec import LoadedSpec

SPEC_NAME = "deployment.yaml"
SPEC_SUFFIX = ".deploy.yaml"

# Folders a repository keeps beside its specs that hold no specs of its own, only other
# projects' files: walking into them is slow and their YAML is not ours.
_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})


def is_spec_name(name: str) -> bool:
    return name == SPEC_NAME or (name.endswith(SPEC_SUFFIX) and len(name) > len(SPEC_SUFFIX))


def is_pattern(argument: str) -> bool:
    return any(c in argument for c in "*?[")


def is_single_file(arguments: Sequence[str | Path]) -> bool:
    """Whether the command line names exactly one spec file, which keeps the one-spec output:
    one argument that is no folder and no pattern (a missing file counts: loading says so)."""
    if len(arguments) != 1:
        return False
    path = Path(arguments[0])
    if path.is_dir():
        return False
    return path.exists() or path.is_symlink() or not is_pattern(str(arguments[0]))


@dataclass(frozen=True)
class Found:
    """A spec file to load, or an argument that names none (`error` set, `path` as given)."""

    path: Path
    error: DeployspecError | None = None


def _skipped(name: str, folder: Path) -> bool:
    return name.startswith(".") or name in _SKIPPED_FOLDERS or (folder / "pyvenv.cfg").is_file()


def _walk(folder: Path) -> Iterator[Path]:
    for root, folders, files in os.walk(folder):
        # Pruned in place, so os.walk never descends into them; sorted for a stable order.
        folders[:] = sorted(f for f in folders if not _skipped(f, Path(root, f)))
        for name in sorted(files):
            if is_spec_name(name):
                yield Path(root, name)


def _outside_skipped(match: Path, base: Path) -> bool:
    """A glob match not inside a folder the walk would skip (below the pattern's fixed part)."""
    try:
        inner = match.parent.relative_to(base)
    except ValueError:
        return True
    folder = base
    for part in inner.parts:
        folder = folder / part
        if _skipped(part, folder):
            return False
    return True


def _glob_base(pattern: str) -> Path:
    """The leading folders of a pattern that hold no wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if is_pattern(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _expand(text: str) -> list[Path]:
    base = _glob_base(text)
    return [
        path
        for path in map(Path, glob.glob(text, recursive=True))
        if path.is_file() and is_spec_name(path.name) and _outside_skipped(path, base)
    ]


def find_specs(arguments: Iterable[str | Path]) -> list[Found]:
    """The spec files FILES names, each once, sorted; see the module docstring."""
    found: dict[Path, Found] = {}
    for argument in arguments:
        text = str(argument)
        path = Path(text)
        matches: list[Path]
        if path.is_dir():
            matches = list(_walk(path))
            if not matches:
                error = DeployspecError(
                    f"{text}: no spec in this folder (looked for {SPEC_NAME} and "
                    f"*{SPEC_SUFFIX} in it and its subfolders, hidden folders and virtual "
                    "environments left out)",
                    hint=f"name the spec file itself, or name it {SPEC_NAME}",
                )
                found.setdefault(path.absolute(), Found(path, error))
        elif path.exists() or path.is_symlink() or not is_pattern(text):
            matches = [path]
        else:
            matches = _expand(text)
            if not matches:
                error = DeployspecError(
                    f"{text}: the pattern matches no spec ({SPEC_NAME} or *{SPEC_SUFFIX})",
                    hint="quote the pattern so that deployspec expands it, "
                    "e.g. 'specs/**/*.deploy.yaml'",
                )
                found.setdefault(path.absolute(), Found(path, error))
        for match in matches:
            # By the real path: `a/../a/deployment.yaml` and a symlink to it are one spec.
            found.setdefault(match.resolve(), Found(match))
    return sorted(found.values(), key=lambda f: str(f.path))


# --- --changed-since ----------------------------------------------------------------------------

_FETCH_HINT = (
    "fetch the history the comparison needs: in GitHub Actions, actions/checkout with "
    "`fetch-depth: 0`; in GitLab CI, GIT_DEPTH: 0; or `git fetch origin <branch>`"
)


@dataclass(frozen=True)
class Changes:
    """The files that differ from the merge base of `ref` and HEAD, by real path."""

    ref: str
    base: str
    root: Path
    paths: frozenset[Path] = field(default_factory=frozenset)

    @cached_property
    def covered(self) -> frozenset[Path]:
        """The changed paths and every folder above them: a spec input in this set is, or
        holds, a changed file."""
        return frozenset({*self.paths, *(p for path in self.paths for p in path.parents)})


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # only for --changed-since: validate's start-up matters more

    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise DeployspecError(
            "--changed-since needs git, and git is not installed (or not on PATH)",
            hint="install git, or name the specs to plan instead",
        ) from None
    except subprocess.TimeoutExpired:
        raise DeployspecError(f"git {args[0]} took longer than 120 s") from None


def _names(output: bytes, root: Path) -> set[Path]:
    # -z: names are NUL-separated and unquoted, whatever characters they hold.
    return {
        Path(os.path.realpath(root / os.fsdecode(name))) for name in output.split(b"\0") if name
    }


def start_folder(argument: str | Path) -> Path:
    """The folder a FILES argument lies in, to ask git from: a folder itself, a file's folder,
    a pattern's fixed part; the nearest that exists (a missing file is the loader's error)."""
    text = str(argument)
    path = Path(text)
    if path.is_dir():
        folder = path
    elif is_pattern(text) and not (path.exists() or path.is_symlink()):
        folder = _glob_base(text)
    else:
        folder = path.parent
    folder = folder.absolute()
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def changes_for(ref: str, arguments: Sequence[str | Path], specs: Iterable[Path]) -> Changes:
    """`changes_since` in the repository of the first of FILES: where the specs are, not where
    deployspec runs (from another repository, that one's changes would be compared)."""
    first = arguments[0] if arguments else Path(".")
    return changes_since(ref, start_folder(first), specs=specs)


def _check_in_repository(ref: str, root: Path, specs: Iterable[Path]) -> None:
    """Every spec inside `root`'s work tree and in no repository nested in it (a submodule,
    another clone): git diff in `root` sees neither's changes, so they would pass as unchanged."""
    top = Path(os.path.realpath(root))
    outside: list[str] = []
    nested: dict[str, Path] = {}
    clean: set[Path] = {top}  # folders known to hold no .git of their own below `top`
    for spec in specs:
        real = Path(os.path.realpath(spec))
        if not real.is_relative_to(top):
            outside.append(str(spec))
            continue
        walked: list[Path] = []
        folder = real.parent
        while folder not in clean:
            if (folder / ".git").exists():
                nested[str(spec)] = folder
                break
            walked.append(folder)
            folder = folder.parent
        else:
            clean.update(walked)

    def some(names: list[str]) -> str:
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return ", ".join(names[:3]) + more

    hint = "give the specs of one repository at a time (run deployspec once per repository)"
    if outside:
        raise DeployspecError(
            f"--changed-since {ref}: {some(outside)} "
            f"{'is' if len(outside) == 1 else 'are'} outside the git repository {root} "
            "(that of the first of FILES), whose changes are compared",
            hint=hint,
        )
    if nested:
        names = list(nested)
        raise DeployspecError(
            f"--changed-since {ref}: {some(names)} "
            f"{'is' if len(names) == 1 else 'are'} in another git repository "
            f"({nested[names[0]]}) inside {root}, whose changes git diff in {root} does not see",
            hint=hint,
        )


def changes_since(ref: str, cwd: Path | None = None, *, specs: Iterable[Path] = ()) -> Changes:
    """What changed since the merge base of `ref` and HEAD in the repository holding `cwd`:
    commits on this branch, staged and unstaged edits, and untracked files not ignored. Each
    of `specs` must be in that repository's work tree (`_check_in_repository`)."""
    where = Path.cwd() if cwd is None else cwd
    top = _git(["rev-parse", "--show-toplevel"], where)
    if top.returncode != 0:
        raise DeployspecError(
            f"--changed-since {ref}: {where} is not inside a git repository",
            hint="name specs inside a git work tree (FILES default to the current folder), "
            "or leave out --changed-since",
        )
    root = Path(os.fsdecode(top.stdout.strip()))
    _check_in_repository(ref, root, specs)
    # --end-of-options: a REF beginning with "-" is a name, never an option.
    known = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], root
    )
    if known.returncode != 0:
        raise DeployspecError(
            f"--changed-since {ref}: git knows no commit {ref!r} in {root}", hint=_FETCH_HINT
        )
    merge = _git(["merge-base", known.stdout.decode().strip(), "HEAD"], root)
    if merge.returncode != 0:
        raise DeployspecError(
            f"--changed-since {ref}: {ref} and HEAD have no common ancestor in this clone "
            "(a shallow clone lacks it)",
            hint=_FETCH_HINT,
        )
    base = merge.stdout.decode().strip()
    # Against the work tree: the branch's commits, and staged and unstaged edits on top.
    # --no-renames: a move changes both the old and the new path.
    diff = _git(["diff", "--name-only", "-z", "--no-renames", base, "--"], root)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z", "--full-name"], root)
    for result, what in ((diff, "diff"), (untracked, "ls-files")):
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", errors="replace").strip()
            raise DeployspecError(f"--changed-since {ref}: git {what} failed: {message}")
    return Changes(
        ref=ref,
        base=base,
        root=root,
        paths=frozenset(_names(diff.stdout, root) | _names(untracked.stdout, root)),
    )


def spec_inputs(loaded: LoadedSpec, var_files: Sequence[Path]) -> list[Path]:
    """The files and folders whose change changes what the spec deploys."""
    paths = loaded.paths
    local = [paths.artifacts, paths.source_dir, paths.entry_point, *var_files]
    return [loaded.file, *(p for p in local if p is not None)]


def touches(changes: Changes, inputs: Iterable[Path]) -> bool:
    """Whether a changed file is one of `inputs` or lies inside one of them."""
    covered = changes.covered
    return any(Path(os.path.realpath(item)) in covered for item in inputs)


def touches_unloaded(changes: Changes, spec_file: Path, var_files: Sequence[Path]) -> bool:
    """For a spec that does not load, whose inputs are therefore unknown: whether the spec
    file, a var file or anything in the spec's folder changed (the folder usually holds what it
    reads), so that a change that broke it is shown, and an old breakage elsewhere is not."""
    return touches(changes, [spec_file, *var_files, spec_file.parent])


# --- collisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What one spec's desired state would own: its endpoint and its content-named resources."""

    file: str
    spec_name: str
    # (account, region, endpoint name); an empty account or region is not known and matches
    # any (validate knows no session; a spec without region: deploys to the session's).
    endpoint: tuple[str, str, str]
    resources: tuple[tuple[str, str], ...]  # (what, identity), e.g. ("model", "<acct>/<region>/n")


def claim_of(file: str, desired: Desired) -> Claim:
    """Every resource of the spec's but its endpoint (checked on its own), by its kind's label
    and its identity, scoped to the account and region unless the identity is global."""
    from .kinds import ROWS
    from .plan import Kind

    where = f"{desired.account}/{desired.region}"
    resources = [
        (ROWS[kind].label, identity if ROWS[kind].global_identity else f"{where}/{identity}")
        for kind, identity in desired.addresses
        if kind is not Kind.ENDPOINT
    ]
    return Claim(
        file=file,
        spec_name=desired.spec_name,
        endpoint=(desired.account, desired.region, desired.endpoint_name),
        resources=tuple(resources),
    )


def _shown_identity(identity: str) -> str:
    return identity if identity.startswith("s3://") else identity.rsplit("/", 1)[-1]


def _meets(one: str, other: str) -> bool:
    return not one or not other or one == other


_HINT = (
    "give each spec its own name: (and its own prefix:, for a shared artifact), or keep one of "
    "the files; colliding specs are not planned"
)
_NO_REGION_HINT = (
    "; a spec without region: deploys to the session's region, so it collides with the same "
    "name in any region: set region: in it"
)


def find_collisions(claims: Sequence[Claim]) -> dict[int, DeployspecError]:
    """By index into `claims`: the error of every spec that collides with another, naming
    the other files and what they share."""
    shared: dict[int, list[str]] = defaultdict(list)
    rivals: dict[int, set[str]] = defaultdict(set)
    regionless: set[int] = set()

    def record(index: int, others: list[int], what: str) -> None:
        shown = [
            claims[i].file
            if claims[i].spec_name == claims[index].spec_name
            else f"{claims[i].file} (spec {claims[i].spec_name})"
            for i in others
        ]
        rivals[index].update(shown)
        shared[index].append(what)

    by_name: dict[str, list[int]] = defaultdict(list)
    by_resource: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, claim in enumerate(claims):
        by_name[claim.endpoint[2]].append(index)
        for resource in claim.resources:
            by_resource[resource].append(index)
    for name, indexes in by_name.items():
        # Pairwise within a name: an unknown region meets every region, and two known ones
        # only themselves, which no grouping by key expresses.
        for index in indexes:
            account, region, _ = claims[index].endpoint
            others = [
                i
                for i in indexes
                if i != index
                and _meets(claims[i].endpoint[0], account)
                and _meets(claims[i].endpoint[1], region)
            ]
            if not others:
                continue
            theirs = sorted({claims[i].endpoint[1] for i in others} - {""})
            if region:
                where = f" ({region})"
            elif theirs:
                where = f" (no region: here; {', '.join(theirs)} there)"
            else:
                where = ""
            if any(claims[i].endpoint[1] != region for i in others):
                regionless.add(index)  # met through a spec without region:
            record(index, others, f"endpoint {name}{where}")
    for (what, identity), indexes in by_resource.items():
        # Under one spec name the endpoint collides already; under another, the second spec
        # would reuse (and its destroy delete) the first one's resource.
        for index in indexes:
            others = [i for i in indexes if claims[i].spec_name != claims[index].spec_name]
            if others:
                record(index, others, f"{what} {_shown_identity(identity)}")
    return {
        index: DeployspecError(
            f"{claims[index].file} collides with {', '.join(sorted(rivals[index]))}: "
            f"the same {', '.join(things)}",
            hint=_HINT + (_NO_REGION_HINT if index in regionless else ""),
        )
        for index, things in sorted(shared.items())
    }


def endpoint_collisions(
    named: Sequence[tuple[str, str, str | None]],
) -> dict[int, DeployspecError]:
    """The same check on endpoints only, for commands that build no desired state (validate,
    status, destroy): `named` holds (file, endpoint name, region or None when not known, which
    matches any region)."""
    claims = [
        Claim(file=file, spec_name=name, endpoint=("", region or "", name), resources=())
        for file, name, region in named
    ]
    return find_collisions(claims)


# --- variables shared by many specs ---------------------------------------------------------


def unknown_variables(
    declared: Sequence[frozenset[str] | None],
    var_files: Sequence[Path],
    cli_vars: Iterable[str],
) -> SpecError | None:
    """The --var and --var-file names that no spec declares (under vars:) or uses (in its
    template), located: a typo, whose intended variable would silently keep its default.

    `declared` holds each spec's names, None where they cannot be told (a template that does
    not parse, an unreadable file): then nothing is said, as for one spec; loading reports that
    spec's error first. A var file that does not parse is the error itself.
    """
    import difflib

    from .errors import Diagnostic
    from .secrets import preview
    from .spec import read_spec_text
    from .yamlsource import parse_yaml

    if any(names is None for names in declared):
        return None
    known = sorted({name for names in declared if names is not None for name in names})
    count = len(declared)
    whose = "the spec" if count == 1 else f"any of the {count} specs"

    def hint(name: str) -> str:
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if not known:
            listed = "they declare no variables (none under vars:, none used in a template)"
        else:
            listed = f"their variables (under vars: or used in a template): {', '.join(known)}"
        if near:
            return f"did you mean {near[0]!r}? {listed}"
        return f"{listed}; declare it under vars: in the specs that take it"

    problems: list[Diagnostic] = []
    for var_file in var_files:
        doc = parse_yaml(read_spec_text(var_file), str(var_file))
        for name in doc.data:
            if str(name) not in known:
                mark = doc.marks.key((name,))
                problems.append(
                    Diagnostic(
                        str(var_file),
                        mark.line if mark else None,
                        mark.column if mark else None,
                        "",
                        f"{preview(name)} is not a variable of {whose}",
                        hint(str(name)),
                    )
                )
    for name in dict.fromkeys(cli_vars):
        if name not in known:
            problems.append(
                Diagnostic(
                    "--var",
                    None,
                    None,
                    "",
                    f"{preview(name)} is not a variable of {whose}",
                    hint(name),
                )
            )
    return SpecError(problems) if problems else None


# --- what many-spec commands report ---------------------------------------------------------


def error_fields(error: DeployspecError) -> tuple[str, str | None]:
    """(message, hint) of an error as a many-spec report shows it. A spec's problems are
    each located with their own hints, so they are the message."""
    if isinstance(error, SpecError):
        return error.format(), None
    return str(error), error.hint


@dataclass(frozen=True)
class SpecPlan:
    """One spec of a many-spec plan, as rendered: its plan, or the error that stopped it."""

    file: str
    spec_name: str | None = None
    endpoint_name: str | None = None
    region: str | None = None
    plan: Plan | None = None
    error: DeployspecError | None = None


@dataclass(frozen=True)
class Summary:
    with_changes: int
    unchanged: int
    errors: int


def summarize(items: Sequence[SpecPlan]) -> Summary:
    errors = sum(1 for item in items if item.plan is None)
    changed = sum(1 for item in items if item.plan is not None and item.plan.has_changes)
    return Summary(with_changes=changed, unchanged=len(items) - errors - changed, errors=errors)
