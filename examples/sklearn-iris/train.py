"""Train the iris classifier this example deploys and write it to `model/model.joblib`.

A standardising logistic regression fitted on scikit-learn's bundled iris data, so no download
and no committed pickle: `make demo` runs this before deploying. The labels it learns are the
class names ("setosa", "versicolor", "virginica"), so the model predicts names directly and
inference.py needs no lookup table. Training is seeded and deterministic; running it again
rewrites the same model.

Usage: python train.py [--out DIR] [--c C]   (default: the model/ folder beside this file)

`--c` is the logistic regression's inverse regularisation strength (default 1.0): another value
trains another model, a challenger for ../sklearn-ab and ../sklearn-shadow.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "model"
MODEL_FILE = "model.joblib"
SEED = 0


def train(c: float = 1.0) -> tuple[Pipeline, float]:
    """Fit on 80% of iris; return the model and its accuracy on the held-out 20%."""
    iris = load_iris()
    labels = np.asarray(iris.target_names)[iris.target]
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, labels, test_size=0.2, random_state=SEED, stratify=labels
    )
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=SEED)
    )
    model.fit(x_train, y_train)
    return model, float(model.score(x_test, y_test))


def save(model: Pipeline, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / MODEL_FILE
    # Write then rename, so a crash never leaves a truncated model for the packager to ship.
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{MODEL_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(model, tmp_name)
        # mkstemp makes the file private; the serving container may read it as another user.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder to write {MODEL_FILE} into (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--c",
        type=float,
        default=1.0,
        help="inverse regularisation strength of the logistic regression (default: 1.0)",
    )
    args = parser.parse_args(argv)
    if not args.c > 0:
        parser.error(f"--c must be positive, not {args.c}")
    model, accuracy = train(args.c)
    target = save(model, args.out)
    print(f"wrote {target} (held-out accuracy {accuracy:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
