"""Container image references pinned by digest, the only form the web app accepts, in the stack's cloud's registries."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from .clouds import CLOUDS, PUBLIC, Cloud


def image_shape(cloud: Cloud = PUBLIC) -> str:
    return f"<registry>.{cloud.registry_suffix}/<repository>@sha256:<64 hex digits>"


@lru_cache(maxsize=None)
def image_pattern(cloud: Cloud = PUBLIC) -> re.Pattern:
    return re.compile(
        rf"^(?P<login_server>[a-z0-9]{{5,50}}\.{re.escape(cloud.registry_suffix)})"
        r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
        r"@(?P<digest>sha256:[0-9a-f]{64})$"
    )


IMAGE_SHAPE, IMAGE_PATTERN = image_shape(PUBLIC), image_pattern(PUBLIC)


def image_problem(reference: str, cloud: Cloud = PUBLIC) -> Optional[str]:
    """None for a reference pinned by digest in the cloud's registries; otherwise what is wrong with it. An image
    pinned in another cloud's registry is refused for its cloud, not its digest."""
    if image_pattern(cloud).match(reference or ""):
        return None
    other = next((c for c in CLOUDS.values() if c != cloud and image_pattern(c).match(reference or "")), None)
    if other is not None:
        return (f"is in a registry of {other.title} (.{other.registry_suffix}), which a stack in {cloud.title} "
                f"cannot pull from: use an image in a registry of its own cloud, {image_shape(cloud)}")
    return f"is not pinned by digest: expected {image_shape(cloud)}"


def parse_image(reference: str, cloud: Cloud = PUBLIC) -> re.Match:
    """The reference's parts (login_server, repository, digest); ValueError unless it is pinned by digest in one
    of the cloud's registries."""
    problem = image_problem(reference, cloud)
    if problem:
        raise ValueError(f"image reference {reference!r} {problem}")
    return image_pattern(cloud).match(reference)
