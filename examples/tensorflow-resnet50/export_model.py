"""Export the real Keras ResNet50 as a TensorFlow Serving SavedModel into `00002/`.

This is the seed article's export step, with one change: the exported `serving_default`
signature takes encoded images (`image_bytes`, a batch of JPEG/PNG/GIF/BMP byte strings) and
returns the top five ImageNet labels and their probabilities, so the endpoint answers raw images
and inference.py only has to wrap and unwrap JSON. Decoding, resizing to 224x224 and ResNet50's
"caffe" preprocessing (RGB to BGR, ImageNet mean subtracted) happen inside the graph.

Needs TensorFlow (deployspec's extra: `pip install 'deployspec[tensorflow]'`, or
`pip install tensorflow-cpu`) and network access for the ImageNet weights and class names, which
Keras downloads on first use; without TensorFlow it explains and exits 1.
`--weights none` exports an untrained network with labels `class_0`..`class_999`: it checks the
export path offline but classifies nothing.

The export replaces the committed stand-in in `00002/`; `python make_standin.py` puts the
stand-in back. TensorFlow Serving 2.3 (the deployment's container) may not know every op that a
much newer TensorFlow writes: for a real deployment export with the TensorFlow version the spec
names, or raise the spec's version.

Usage: python export_model.py [--out DIR] [--weights imagenet|none]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "00002"
IMAGE_SIZE = 224
TOP_K = 5
# ResNet50's "caffe" preprocessing: BGR channel order, ImageNet channel means subtracted.
BGR_MEANS = (103.939, 116.779, 123.68)
NUM_CLASSES = 1000

MISSING_TF = """\
export_model.py needs TensorFlow, which is not installed in this Python ({python}).
Install it (deployspec's extra, pip install 'deployspec[tensorflow]', or for example:
pip install tensorflow-cpu) and run this script again.
Without TensorFlow the committed stand-in in 00002/ still lets the example validate,
package and deploy; it just cannot classify images."""


def _imagenet_labels(tf: Any) -> list[str]:
    # decode_predictions is the one public Keras API that carries the class names (it downloads
    # them once); asking it for all 1000 classes of a strictly decreasing score vector returns
    # them in class-index order.
    scores = [[float(NUM_CLASSES - i) for i in range(NUM_CLASSES)]]
    decoded = tf.keras.applications.resnet50.decode_predictions(
        tf.constant(scores).numpy(), top=NUM_CLASSES
    )[0]
    return [str(name) for _, name, _ in decoded]


def build_module(tf: Any, weights: str | None) -> Any:
    """A tf.Module whose `serve` function is the serving_default signature."""
    model = tf.keras.applications.ResNet50(weights=weights)
    labels = _imagenet_labels(tf) if weights else [f"class_{i}" for i in range(NUM_CLASSES)]

    class ResNet50Serving(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.labels = tf.constant(labels)
            signature = [tf.TensorSpec([None], tf.string, name="image_bytes")]
            self.serve = tf.function(self._serve, input_signature=signature)

        def _serve(self, image_bytes: Any) -> dict[str, Any]:
            def decode(encoded: Any) -> Any:
                image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
                image = tf.image.resize(tf.cast(image, tf.float32), (IMAGE_SIZE, IMAGE_SIZE))
                image.set_shape((IMAGE_SIZE, IMAGE_SIZE, 3))
                return image

            images = tf.map_fn(
                decode,
                image_bytes,
                fn_output_signature=tf.TensorSpec((IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32),
            )
            bgr = images[..., ::-1] - tf.constant(BGR_MEANS, dtype=tf.float32)
            probabilities = self.model(bgr, training=False)
            top = tf.math.top_k(probabilities, k=TOP_K)
            return {
                "classes": tf.gather(self.labels, top.indices),
                "probabilities": top.values,
            }

    return ResNet50Serving()


def export(tf: Any, out_dir: Path, weights: str | None) -> None:
    module = build_module(tf, weights)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Export beside the target, then swap, so a failed export leaves the old model in place.
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        export_dir = staging / "model"
        tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})
        if out_dir.exists():
            shutil.rmtree(out_dir)
        export_dir.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"SavedModel folder to (re)create (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--weights",
        choices=["imagenet", "none"],
        default="imagenet",
        help="'none' exports an untrained network, for checking the export offline",
    )
    args = parser.parse_args(argv)
    try:
        # Imported by name: TensorFlow is optional here, and its stubs are not installed.
        tf = importlib.import_module("tensorflow")
    except ImportError:
        print(MISSING_TF.format(python=sys.executable), file=sys.stderr)
        return 1
    weights = None if args.weights == "none" else args.weights
    export(tf, args.out, weights)
    print(f"exported ResNet50 ({args.weights} weights) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
