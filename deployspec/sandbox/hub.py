"""The sandbox's Hugging Face Hub mirror: local model folders served under Hub ids, offline.

Contract: the sandbox has no network, so an LLM container whose HF_MODEL_ID is a Hub id
(`org/name`) is served from `<home>/sandbox/hub/<org>/<name>/` (home: $DEPLOYSPEC_HOME or
~/.deployspec), else from huggingface_hub's own offline cache when that package is installed and
holds the id (at HF_MODEL_REVISION when given); else the container fails to start with
`missing_message(id)`, which says what to do.
- `add(model_id, folder, home=None) -> Path` copies `folder` (a save_pretrained folder: it must
  hold config.json) to the id's place, replacing what was there (copied beside it first, then
  renamed: a sandbox reading it never sees half a model). What `deployspec sandbox hub add ID
  FOLDER` runs. Ids that are not `name` or `org/name` of letters, digits, `-`, `_` and `.`
  (no `..`) are a DeployspecError.
- `lookup(hub_root, model_id, revision)` -> the folder to serve, or None.
The mirror ignores revisions: one copy per id.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from deployspec.errors import DeployspecError

HUB_DIR = "hub"
_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_hub_id(model_id: str) -> bool:
    """A Hub id rather than a path (what HF_MODEL_ID holds when weights come from the Hub)."""
    return bool(_ID.match(model_id)) and ".." not in model_id


def missing_message(model_id: str) -> str:
    return (
        f"the model {model_id} is not available offline: the sandbox has no network: run "
        f"`deployspec sandbox hub add {model_id} <folder>` to serve a local copy under that "
        "id, or deploy the tiny test model (`deployspec init --framework huggingface-llm`)"
    )


def _place(hub_root: Path, model_id: str) -> Path:
    if not is_hub_id(model_id):
        raise DeployspecError(
            f"{model_id!r} is not a Hugging Face Hub model id",
            hint="use the id as the Hub shows it, e.g. HuggingFaceTB/SmolLM2-135M-Instruct",
        )
    return hub_root.joinpath(*model_id.split("/"))


def add(model_id: str, folder: Path, home: Path | None = None) -> Path:
    """Serve `folder` under `model_id` in this home's sandbox; returns where it was copied."""
    from deployspec.sandbox.control import sandbox_home

    hub_root = (home or sandbox_home()) / "sandbox" / HUB_DIR
    dest = _place(hub_root, model_id)
    if not (folder / "config.json").is_file():
        raise DeployspecError(
            f"{folder} is not a model folder: it has no config.json",
            hint="give the folder save_pretrained wrote (config.json, weights, tokenizer)",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}")
    try:
        shutil.copytree(folder, staging, symlinks=False)
        if dest.exists():
            retired = dest.with_name(f".{dest.name}.old.{uuid.uuid4().hex}")
            dest.rename(retired)
            staging.rename(dest)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(dest)
    except OSError as error:
        raise DeployspecError(f"copying {folder} into the sandbox's hub failed: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def lookup(hub_root: Path, model_id: str, revision: str | None = None) -> Path | None:
    """The folder serving `model_id`: the mirror's copy, else huggingface_hub's offline cache."""
    if not is_hub_id(model_id):
        return None
    mirrored = hub_root.joinpath(*model_id.split("/"))
    if (mirrored / "config.json").is_file():
        return mirrored
    return _cached(model_id, revision)


def _cached(model_id: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        # local_files_only: never the network, even where there is one.
        found = Path(snapshot_download(model_id, revision=revision, local_files_only=True))
    except Exception:  # any miss (not cached, bad revision) means "not available offline"
        return None
    return found if (found / "config.json").is_file() else None
