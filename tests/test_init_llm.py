"""`deployspec init --framework huggingface-llm`: a starter that validates as written, with the
tiny model in ./weights; refused, naming the pip command, without the `llm` extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from deployspec import starter
from deployspec.errors import DeployspecError
from tests.conftest import run_cli


def test_the_llm_starter_validates_with_the_tiny_model(tmp_path: Path) -> None:
    folder = tmp_path / "chat"
    made = run_cli("init", str(folder), "--framework", "huggingface-llm")
    assert made.returncode == 0, made.stderr
    spec = (folder / "deployment.yaml").read_text()
    assert "framework: huggingface-llm" in spec and "compression: none" in spec
    assert "# hub: {id: " in spec  # how to switch to a real model
    assert (folder / "weights" / "model.safetensors").is_file()
    assert (folder / "weights" / "tokenizer.json").is_file()
    assert not (folder / "inference.py").exists()  # the container runs no script
    checked = run_cli("validate", str(folder / "deployment.yaml"))
    assert checked.returncode == 0, checked.stderr
    assert "huggingface-llm 3." in checked.stdout and "ml.g5.xlarge" in checked.stdout
    again = run_cli("init", str(folder), "--framework", "huggingface-llm")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_without_the_llm_extra_init_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "transformers" else found(name, *a),
    )
    with pytest.raises(DeployspecError) as refused:
        starter.write_starter(tmp_path / "chat", "huggingface-llm")
    assert "transformers, which is not installed" in str(refused.value)
    assert "pip install 'deployspec[llm]'" in (refused.value.hint or "")
    assert not (tmp_path / "chat").exists()
