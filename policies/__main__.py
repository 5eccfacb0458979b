"""Builds the policy pack: `pulumi preview --policy-pack policies [--policy-pack-config policies/config/prod.json]`."""
import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The CLI runs this file directly: make the `policies` package importable from its parent folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.pack import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(name=PACK_NAME, policies=POLICIES)
