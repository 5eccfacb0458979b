"""Container image references pinned by digest, the only form the web app accepts."""
from __future__ import annotations

import re

IMAGE_SHAPE = "<registry>.azurecr.io/<repository>@sha256:<64 hex digits>"
IMAGE_PATTERN = re.compile(
    r"^(?P<login_server>[a-z0-9]{5,50}\.azurecr\.io)"
    r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"@(?P<digest>sha256:[0-9a-f]{64})$"
)


def parse_image(reference: str) -> re.Match:
    """The reference's parts (login_server, repository, digest); ValueError unless it is pinned by digest."""
    match = IMAGE_PATTERN.match(reference or "")
    if match is None:
        raise ValueError(f"image reference {reference!r} is not pinned by digest: expected {IMAGE_SHAPE}")
    return match
