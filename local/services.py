"""Which of a stack's models a local tool works on: `--service <name>` for a stack with `models`, nothing otherwise."""
from __future__ import annotations

from typing import Optional

from settings.stack_settings import Settings


class ServiceChoiceError(ValueError):
    """--service names no service of the stack, or is missing or meaningless there: the message says what to pass."""


def pick_service(settings: Settings, service: Optional[str]) -> Settings:
    """The one-model view the tool works on: the named service's, or the stack itself for a one-model stack."""
    stack = settings.stack
    if settings.models is None:
        if service is not None:
            raise ServiceChoiceError(f"stack {stack} has one model (no models map), so there is no service to pick: "
                                     f"leave out --service {service}")
        return settings
    names = [view.service for view in settings.services]
    listed = ", ".join(names)
    if service is None:
        # Guessing one would rehearse or test another model than the user meant: each has its own code and request.
        raise ServiceChoiceError(f"stack {stack} serves {len(names)} models: pick one with --service ({listed})")
    for view in settings.services:
        if view.service == service:
            return view
    raise ServiceChoiceError(f"stack {stack} has no service {service!r}: pick one with --service ({listed})")

