"""model-webapp: Azure ML models served from Azure App Service, one stack per environment: one platform, N services."""
from pathlib import Path

import pulumi

from components.image_source import ImageSources
from components.model_service import SERVICE_TYPE, ModelService, ModelServiceArgs
from components.platform import PLATFORM_TYPE, Platform, PlatformArgs
from components.upgrade import children_keep_their_urns, old_component_alias
from settings.stack_settings import NAMESPACE, Settings

PROJECT_DIR = Path(__file__).resolve().parent

settings = Settings.from_config(pulumi.Config(NAMESPACE), project_dir=PROJECT_DIR)
name = f"{settings.name_prefix}-{settings.stack}"
one_model = settings.models is None
# A one-model stack may have been deployed as one ModelWebApp component: its resources keep their URNs (aliases).
platform_opts = pulumi.ResourceOptions(
    aliases=[old_component_alias(settings.stack, pulumi.get_project(), name)],
    transformations=[children_keep_their_urns(PLATFORM_TYPE)]) if one_model else None
platform = Platform(name, PlatformArgs(settings=settings), platform_opts)

images = ImageSources(PROJECT_DIR)
services = {
    view.service: ModelService(view.resource_name(), ModelServiceArgs(view, platform.hosting, images),
                               pulumi.ResourceOptions(transformations=[children_keep_their_urns(SERVICE_TYPE)])
                               if one_model else None)
    for view in settings.services
}

pulumi.export("resource_group_name", platform.resource_group_name)
if one_model:
    (app,) = services.values()
    pulumi.export("scoring_uri", app.scoring_uri)
    pulumi.export("default_host_name", app.default_host_name)
    if app.dns_records_to_create is not None:
        pulumi.export("dns_records_to_create", app.dns_records_to_create)
    pulumi.export("app_name", app.app_name)
    pulumi.export("image", app.image)
    pulumi.export("image_port", app.image_port)  # a stack promoting from this one routes to the same port
    if app.image_facts is not None:
        pulumi.export("image_facts", app.image_facts)
    pulumi.export("staging_slot", app.staging_slot)
else:
    pulumi.export("models", {
        service: pulumi.Output.all(
            scoring_uri=app.scoring_uri, default_host_name=app.default_host_name, app_name=app.app_name,
            image=app.image, image_port=app.image_port, staging_slot=app.staging_slot,
            **({"image_facts": app.image_facts} if app.image_facts is not None else {}),
            **({"dns_records_to_create": app.dns_records_to_create} if app.dns_records_to_create is not None else {}))
        for service, app in services.items()
    })
