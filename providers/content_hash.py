"""The content hash of the inference code: what decides whether the package image is rebuilt."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

# Bytecode caches change with every import and say nothing about the code.
IGNORED_DIRS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}


def _files(source_dir: Path) -> list[Path]:
    return sorted(
        (p for p in source_dir.rglob("*")
         if p.is_file() and p.suffix not in IGNORED_SUFFIXES
         and not IGNORED_DIRS.intersection(p.relative_to(source_dir).parts)),
        key=lambda p: p.relative_to(source_dir).as_posix(),
    )


def content_hash(source_dir: Path, environment_spec: Optional[Path] = None) -> str:
    """sha256 over every file's relative path and bytes, then the environment spec's bytes.

    Paths and contents only: touching a file (a new timestamp) or moving the folder changes nothing.
    """
    digest = hashlib.sha256()
    for path in _files(source_dir):
        data = path.read_bytes()
        digest.update(f"file:{path.relative_to(source_dir).as_posix()}:{len(data)}\n".encode())
        digest.update(data)
    if environment_spec is not None:
        data = environment_spec.read_bytes()
        digest.update(f"environment:{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()
