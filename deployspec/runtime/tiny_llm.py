"""A tiny causal language model made here, offline: what the sandbox serves as an LLM.

Contract: `make_tiny_model(folder) -> folder` writes, deterministically (fixed seed, no Hub, no
network), a randomly initialised Llama-architecture causal LM (hidden size 32, 2 layers, 512
positions) and its tokenizer into `folder`, the layout `save_pretrained` gives and
`from_pretrained` reads: config.json, generation_config.json, model.safetensors,
tokenizer.json, tokenizer_config.json (with a chat template, so the messages API works) and
special_tokens_map.json; about 100 KB in all. It is the folder a user uploads as uncompressed
weights (`deployspec init --framework huggingface-llm`), and what the tests deploy.
The tokenizer is character-level over printable ASCII, newline and tab (built with the
`tokenizers` library): every generated token decodes to one printable character, so streams
stay readable; other characters are `<unk>`. `<|end|>` ends a turn and is the EOS token.
The weights are random: the text it writes is gibberish, but the same for the same request.
torch and transformers (the `llm` extra) are imported only when a model is made.
"""

from __future__ import annotations

import importlib
import json
import string
from pathlib import Path
from typing import Any

SEED = 20261202
EOS_TOKEN = "<|end|>"
UNK_TOKEN = "<unk>"
SPECIAL_TOKENS = (EOS_TOKEN, UNK_TOKEN, "<|system|>", "<|user|>", "<|assistant|>")
# Each message as <|role|>, its content and <|end|>; then the assistant's turn begins.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
MAX_POSITIONS = 512
INSTALL_HINT = "pip install 'deployspec[llm]' (PyTorch for CPUs and transformers)"


def _characters() -> list[str]:
    # string.printable minus the vertical tab and form feed nobody generates.
    return [c for c in string.printable if c not in "\x0b\x0c\r"]


def _tokenizer_json() -> str:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *_characters()])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    # Every character its own token; decoding joins them back without spaces.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in SPECIAL_TOKENS])
    text: str = tokenizer.to_str()
    return text


def _tokenizer_config(vocab_size: int) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": EOS_TOKEN,
        "unk_token": UNK_TOKEN,
        "pad_token": EOS_TOKEN,
        "model_max_length": MAX_POSITIONS,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {
            str(i): {
                "content": token,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, token in enumerate(SPECIAL_TOKENS)
        },
    }


def make_tiny_model(folder: Path) -> Path:
    """Write the tiny model and its tokenizer into `folder` (created if missing)."""
    import torch

    # Typed as Any: the config and utility signatures differ between transformers 4 and 5.
    transformers: Any = importlib.import_module("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = len(SPECIAL_TOKENS) + len(_characters())
    eos_id = SPECIAL_TOKENS.index(EOS_TOKEN)
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        tie_word_embeddings=False,
        initializer_range=0.3,
    )
    # The weights' values come from torch's global generator: seeded, they are the same bytes
    # on every run (the artifact's content hash, and the tests' expected outputs, depend on it).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = transformers.LlamaForCausalLM(config)
    model.generation_config.do_sample = False
    # save_pretrained draws a progress bar on stderr; the CLI that calls this owns the terminal.
    transformers.utils.logging.disable_progress_bar()
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_text(_tokenizer_json(), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(_tokenizer_config(vocab_size), indent=2) + "\n", encoding="utf-8"
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {"eos_token": EOS_TOKEN, "unk_token": UNK_TOKEN, "pad_token": EOS_TOKEN}, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    return folder
