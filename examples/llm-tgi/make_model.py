"""Write the tiny language model this example deploys into ./weights (needs the `llm` extra).

The model is randomly initialised and made offline (deployspec.runtime.tiny_llm): its text is
gibberish, but the same for the same request, so the sandbox's answers can be checked.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deployspec.runtime.tiny_llm import make_tiny_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "weights")
    args = parser.parse_args()
    folder = make_tiny_model(args.out)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
