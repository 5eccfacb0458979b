"""Trains the example model: Ridge regression on scikit-learn's bundled diabetes data (10 features).

    python model/train.py [--output model/artifacts]

Deterministic: the same scikit-learn version gives the same coefficients every run. No download.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

MODEL_FILE = "model.joblib"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "artifacts"


def train(output_dir: Path = DEFAULT_OUTPUT) -> Path:
    features, target = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.1).fit(features, target)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / MODEL_FILE
    joblib.dump(model, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to write model.joblib into")
    print(f"wrote {train(parser.parse_args().output)}")
