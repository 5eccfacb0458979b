"""Trains the iris example: logistic regression on scikit-learn's bundled iris data (4 features, 3 classes).

    python examples/iris/train.py [--output examples/iris/artifacts]

Deterministic (lbfgs has no randomness): the same scikit-learn version gives the same model every run. No download.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MODEL_FILE = "model.joblib"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "artifacts"


def train(output_dir: Path = DEFAULT_OUTPUT) -> Path:
    features, target = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, target)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / MODEL_FILE
    joblib.dump(model, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to write model.joblib into")
    print(f"wrote {train(parser.parse_args().output)}")
