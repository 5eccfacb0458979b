"""What both image builders (the Azure ML package, the ACR Tasks build) check of their inputs, and how a change to
them decides a rebuild: one definition, so the two cannot disagree on what shapes an image."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from pulumi.dynamic import CheckFailure, DiffResult
from pulumi.runtime.rpc import UNKNOWN  # what preview passes for a value not known yet

from settings.stack_settings import MODEL_VERSION


def known(news: dict[str, Any], prop: str) -> bool:
    return news.get(prop) not in (None, UNKNOWN)


def code_failures(news: dict[str, Any]) -> list[CheckFailure]:
    """The code folder, its entry script and the model version: what every build reads before anything else."""
    failures = []
    source_dir = Path(news.get("source_dir") or "")
    if known(news, "source_dir") and not source_dir.is_dir():
        failures.append(CheckFailure("source_dir", f"inference code folder {source_dir} does not exist"))
    elif known(news, "entry_script") and known(news, "source_dir") and not (source_dir / news["entry_script"]).is_file():
        failures.append(CheckFailure("entry_script", f"entry script {news['entry_script']} is not in {source_dir}"))
    version = str(news.get("model_version", ""))
    if version != UNKNOWN and not re.match(MODEL_VERSION, version):
        failures.append(CheckFailure("model_version", f"model version {version!r} is not a version number such as 1"))
    return failures


def rebuild_diff(olds: dict[str, Any], news: dict[str, Any], rebuild_keys: Sequence[str], quiet: Sequence[str],
                 also_changed: bool = False) -> DiffResult:
    """A change (or an unknown value) of a key that shapes the image replaces, and so rebuilds; any other input an
    update; `quiet` keys (outputs, the pickled provider, markers of the resource's own) are no change."""
    replaces = [k for k in rebuild_keys if news.get(k) == UNKNOWN or olds.get(k) != news.get(k)]
    others = [k for k in set(news) | set(olds) if k not in rebuild_keys and k not in quiet and k != "__provider"
              and olds.get(k) != news.get(k)]
    return DiffResult(changes=bool(replaces or others or also_changed), replaces=replaces, delete_before_replace=False)
