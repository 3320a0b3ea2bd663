"""Write the LoRA adapter the `support` component loads into ./weights/support (PEFT's layout).

Two files, as peft's `save_pretrained` writes them: adapter_config.json and
adapter_model.safetensors, rank 4 on the q_proj and v_proj of every layer of the base model,
shaped from the base model's config.json (by default ../llm-tgi/weights, the tiny model
../llm-tgi/make_model.py writes). The weights are seeded random numbers, not a fine-tune, so
reruns write the same bytes; put an adapter trained for your base model in their place. Needs
numpy and safetensors (the `llm` extra brings both).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261203
TARGET_MODULES = ("q_proj", "v_proj")


def adapter_config(rank: int) -> dict[str, object]:
    """PEFT's LoraConfig for the adapter, as adapter_config.json holds it."""
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        # A local tiny model has no Hub id; the container is given its base model itself.
        "base_model_name_or_path": None,
        "r": rank,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.0,
        "target_modules": list(TARGET_MODULES),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "modules_to_save": None,
        "use_rslora": False,
        "use_dora": False,
    }


def adapter_shapes(config: dict[str, int], rank: int) -> dict[str, tuple[int, int]]:
    """Each LoRA matrix's name (PEFT's) and shape, for a Llama-architecture base: A maps the
    hidden state down to `rank`, B maps it up to the projection's outputs."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim", hidden // heads)
    outputs = {
        "q_proj": heads * head_dim,
        "v_proj": config.get("num_key_value_heads", heads) * head_dim,
    }
    shapes: dict[str, tuple[int, int]] = {}
    for layer in range(config["num_hidden_layers"]):
        for module in TARGET_MODULES:
            stem = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            shapes[f"{stem}.lora_A.weight"] = (rank, hidden)
            shapes[f"{stem}.lora_B.weight"] = (outputs[module], rank)
    return shapes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, default=HERE.parent / "llm-tgi" / "weights")
    parser.add_argument("--out", type=Path, default=HERE / "weights" / "support")
    parser.add_argument("--rank", type=int, default=4)
    args = parser.parse_args()
    if args.rank < 1:
        print("error: --rank must be 1 or more", file=sys.stderr)
        return 1
    config_file = args.base / "config.json"
    if not config_file.is_file():
        print(
            f"error: {config_file} not found: the adapter is shaped from its base model "
            "(run ../llm-tgi/make_model.py first, or pass --base FOLDER)",
            file=sys.stderr,
        )
        return 1
    try:
        import numpy as np
        from safetensors.numpy import save_file
    except ImportError:
        print(
            "error: make_adapter.py needs numpy and safetensors: pip install 'deployspec[llm]'",
            file=sys.stderr,
        )
        return 1
    config = json.loads(config_file.read_text())
    rng = np.random.default_rng(SEED)
    tensors = {
        name: rng.normal(0.0, 0.02, size=shape).astype(np.float32)
        for name, shape in adapter_shapes(config, args.rank).items()
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(adapter_config(args.rank), indent=2, sort_keys=True) + "\n"
    (args.out / "adapter_config.json").write_text(text)
    save_file(tensors, str(args.out / "adapter_model.safetensors"), metadata={"format": "pt"})
    print(f"wrote {args.out} (LoRA rank {args.rank}, {len(tensors)} matrices)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
