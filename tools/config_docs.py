"""Prints the README's config reference table from components/config_schema.py.

    python -m tools.config_docs
"""
from __future__ import annotations

from components.config_schema import NAMESPACE, OBJECT_KEYS, SCALAR_KEYS


def _default(value) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return "(empty)" if value == "" else f"`{value}`"


def config_table() -> str:
    rows = [f"| Key (`{NAMESPACE}:`) | Type | Default | Description |", "|---|---|---|---|"]
    rows += [f"| `{k.name}` | {k.type} | {_default(k.default)} | {k.description} |" for k in SCALAR_KEYS]
    rows += [f"| `{name}` | object | | {text} |" for name, text in OBJECT_KEYS.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(config_table())
