"""model-webapp: Azure ML models served from Azure App Service, one stack per environment: a platform per region,
N services in each, and with several regions one Azure Front Door in front of them."""
from pathlib import Path
from typing import Any, Optional

import pulumi

from components.front_door import FrontDoor, FrontDoorArgs, FrontDoorRoute, FrontDoorRouteArgs
from components.image_source import ImageSources
from components.model_service import SERVICE_TYPE, ModelService, ModelServiceArgs
from components.platform import PLATFORM_TYPE, Platform, PlatformArgs
from components.upgrade import children_keep_their_urns, old_component_alias
from settings.stack_settings import NAMESPACE, Settings

PROJECT_DIR = Path(__file__).resolve().parent

settings = Settings.from_config(pulumi.Config(NAMESPACE), project_dir=PROJECT_DIR)
name = f"{settings.name_prefix}-{settings.stack}"
one_model = settings.models is None
# The primary region is the stack itself: its names are the one-region stack's, so adding a region changes nothing
# already deployed. The others follow in the order of `regions`, which is also the order releases go in.
in_regions = [settings, *(settings.in_region(region) for region in settings.locations[1:])]


def platform_opts(view: Settings) -> Optional[pulumi.ResourceOptions]:
    # A one-model stack may have been deployed as one ModelWebApp component: its resources keep their URNs (aliases).
    if not (one_model and view.is_primary):
        return None
    return pulumi.ResourceOptions(aliases=[old_component_alias(settings.stack, pulumi.get_project(), name)],
                                  transformations=[children_keep_their_urns(PLATFORM_TYPE)])


platforms = [Platform(view.platform_name(), PlatformArgs(settings=view), platform_opts(view)) for view in in_regions]
front_door = FrontDoor(f"{name}-fd", FrontDoorArgs(settings, platforms[0].resource_group_name,
                                                   platforms[0].hosting.hub)) if settings.front_door else None

images = ImageSources(PROJECT_DIR)
# service -> its ModelService in each region, primary first
services: dict[Optional[str], list[ModelService]] = {view.service: [] for view in settings.services}
for platform, region in zip(platforms, in_regions):
    for view in region.services:
        built = services[view.service]
        keep_urns = one_model and view.is_primary
        # One image per service, built (or promoted) in the primary region and served unchanged in every other; each
        # region's release starts once the previous region's has passed its gate.
        built.append(ModelService(view.resource_name(), ModelServiceArgs(
            view, platform.hosting, images, image=built[0].source if built else None,
            front_door_id=front_door.front_door_id if front_door else None,
            release_after=[built[-1].release] if built else ()),
            pulumi.ResourceOptions(transformations=[children_keep_their_urns(SERVICE_TYPE)]) if keep_urns else None))
routes = {view.service: FrontDoorRoute(f"{view.resource_name()}-fd", FrontDoorRouteArgs(
    view, front_door, [(region.location, app.default_host_name) for region, app in zip(in_regions, services[view.service])]))
    for view in settings.services} if front_door else {}


def outputs(service: Optional[str]) -> dict[str, Any]:
    """What a service's callers and tools need: the scoring URI (Front Door's, behind one), the primary region's site
    for the release tools, and with several regions each region's site."""
    primary, route = services[service][0], routes.get(service)
    records = route.dns_records_to_create if route else primary.dns_records_to_create
    return {
        "scoring_uri": route.scoring_uri if route else primary.scoring_uri,
        "default_host_name": primary.default_host_name,
        "app_name": primary.app_name,
        "image": primary.image,
        "image_port": primary.image_port,  # a stack promoting from this one routes to the same port
        "staging_slot": primary.staging_slot,
        **({"image_facts": primary.image_facts} if primary.image_facts is not None else {}),
        **({"dns_records_to_create": records} if records is not None else {}),
        **({"front_door_host_name": route.host_name} if route else {}),
        **({"regions": {region.location: pulumi.Output.all(
            resource_group_name=platform.resource_group_name, app_name=app.app_name,
            default_host_name=app.default_host_name, staging_slot=app.staging_slot)
            for region, platform, app in zip(in_regions, platforms, services[service])}} if len(in_regions) > 1 else {}),
    }


pulumi.export("resource_group_name", platforms[0].resource_group_name)
if front_door:
    pulumi.export("front_door_profile_name", front_door.profile_name)
if one_model:
    for key, value in outputs(None).items():
        pulumi.export(key, value)
else:
    pulumi.export("models", {service: pulumi.Output.all(**outputs(service)) for service in services})
