"""The emergency way back: swap the staging slot (which holds the previous image) into production at once.

    python -m providers.rollback --stack prod          # reads the stack's outputs with the Pulumi CLI
    python -m providers.rollback --stack fleet --service iris      # one service of a stack with models
    python -m providers.rollback --stack regions --service iris --region northeurope   # one region of several
    python -m providers.rollback --resource-group RG --app NAME --slot staging [--subscription ID]

No gate: the previous image was healthy in production minutes ago. The subscription comes from --subscription,
ARM_SUBSCRIPTION_ID or AZURE_SUBSCRIPTION_ID. Exit 0 swapped back, 2 bad arguments or stack, 1 the swap failed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Callable, Optional

from settings.clouds import CLOUDS, cloud

from .app_service import AzureSiteService, Site, SiteService
from .retries import with_retries

NEXT_UP = ("The next `pulumi up` swaps nothing while the stack's image is unchanged: production stays on the "
           "previous image. To release again, change the image (a fix, or `image`/`promoteFrom` pointing at a "
           "digest) and the gate runs as usual; to re-release the same image, `pulumi up --replace <SlotSwap URN>`.")


def roll_back(service: SiteService, site: Site, slot: str, say: Callable[[str], None] = print) -> str:
    """Swaps `slot` into production and returns the image production runs afterwards."""
    live = with_retries(lambda: service.image(None), "reading production's image")
    previous = with_retries(lambda: service.image(slot), f"reading slot {slot}'s image")
    if not previous or previous == live:
        raise RuntimeError(f"slot {slot} of {site.name} runs the same image as production ({live!r}): nothing to "
                           "roll back to")
    say(f"swapping slot {slot} ({previous}) into production of {site.name} (now {live}) ...")
    with_retries(lambda: service.swap_with_production(slot), f"swapping slot {slot} into production")
    now = with_retries(lambda: service.image(None), "reading production's image")
    if now != previous:
        raise RuntimeError(f"the swap finished but production runs {now!r}, not {previous!r}: az webapp log tail "
                           f"--name {site.name} --resource-group {site.resource_group}")
    say(f"production of {site.name} runs {now}; slot {slot} holds {live}.\n{NEXT_UP}")
    return now


def _stack_outputs(stack: str) -> dict:
    try:
        found = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True,
                               text=True, check=True)
    except FileNotFoundError:
        raise SystemExit("error: the Pulumi CLI is not on the PATH: pass --resource-group, --app and --slot instead")
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"error: pulumi stack output --stack {stack} failed: {exc.stderr.strip()}")
    return json.loads(found.stdout)


def main(argv: Optional[list[str]] = None, factory: Callable[[Site], SiteService] = AzureSiteService) -> int:
    parser = argparse.ArgumentParser(prog="python -m providers.rollback", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="read resource group, app and slot from this stack's outputs")
    parser.add_argument("--service", help="with a stack of several models: the service to roll back")
    parser.add_argument("--region", help="with a stack of several regions: the region to roll back (each region "
                        "has its own site and slot)")
    parser.add_argument("--resource-group")
    parser.add_argument("--app")
    parser.add_argument("--slot")
    parser.add_argument("--cloud", choices=list(CLOUDS), default="public",
                        help="the stack's cloud (its azure-native:environment)")
    parser.add_argument("--subscription", default=os.environ.get("ARM_SUBSCRIPTION_ID")
                        or os.environ.get("AZURE_SUBSCRIPTION_ID"))
    args = parser.parse_args(argv)
    try:
        outputs = _stack_outputs(args.stack) if args.stack else {}
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    services = outputs.get("models") or {}
    if services and args.service not in services:
        print(f"error: stack {args.stack} serves {len(services)} models: pick one with --service "
              f"({', '.join(sorted(services))})", file=sys.stderr)
        return 2
    if args.service and args.stack and not services:
        print(f"error: stack {args.stack} serves one model: leave out --service", file=sys.stderr)
        return 2
    group = outputs.get("resource_group_name")
    outputs = services.get(args.service, outputs)  # the service's app and slot; the group is the platform's
    regions = outputs.get("regions") or {}
    if regions and args.region not in regions:
        print(f"error: stack {args.stack} serves from {len(regions)} regions, each its own site and slot: pick one "
              f"with --region ({', '.join(regions)}); a later region still runs the previous image when the "
              "release stopped before it", file=sys.stderr)
        return 2
    if args.region and args.stack and not regions:
        print(f"error: stack {args.stack} serves from one region: leave out --region", file=sys.stderr)
        return 2
    if regions:
        outputs = regions[args.region]
        group = outputs.get("resource_group_name")
    group = args.resource_group or group
    app, slot = args.app or outputs.get("app_name"), args.slot or outputs.get("staging_slot")
    missing = [name for name, v in (("--resource-group", group), ("--app", app), ("--slot (the stack releases in "
               "place: there is no slot to roll back to)", slot), ("--subscription (or ARM_SUBSCRIPTION_ID)",
                                                                  args.subscription)) if not v]
    if missing:
        print(f"error: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    site = Site(args.subscription, group, app, cloud(args.cloud))
    try:
        roll_back(factory(site), site, slot)
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way: what, and where to look
        print(f"error: rollback of {app} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
