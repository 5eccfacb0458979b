"""Trains the wine example: standardised logistic regression on scikit-learn's bundled wine data (13 features).

    python examples/wine/train.py [--output examples/wine/artifacts]

Deterministic (lbfgs has no randomness): the same scikit-learn version gives the same model every run. No download.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import joblib
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_FILE = "model.joblib"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "artifacts"


def train(output_dir: Path = DEFAULT_OUTPUT) -> Path:
    features, target = load_wine(return_X_y=True)
    # The measurements range from tenths to a thousand: unscaled, lbfgs would not converge.
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, target)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / MODEL_FILE
    joblib.dump(model, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to write model.joblib into")
    print(f"wrote {train(parser.parse_args().output)}")
