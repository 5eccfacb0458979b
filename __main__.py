"""model-webapp: an Azure ML model served from Azure App Service, one stack per environment."""
from pathlib import Path

import pulumi

from components.image_source import stack_image
from components.model_web_app import ModelWebApp, ModelWebAppArgs
from settings.stack_settings import NAMESPACE, Settings

PROJECT_DIR = Path(__file__).resolve().parent

settings = Settings.from_config(pulumi.Config(NAMESPACE), project_dir=PROJECT_DIR)
name = f"{settings.name_prefix}-{settings.stack}"
source = stack_image(settings, name, PROJECT_DIR)
app = ModelWebApp(name, ModelWebAppArgs(settings=settings, image=source.image, server_port=source.port))

pulumi.export("scoring_uri", app.scoring_uri)
pulumi.export("default_host_name", app.default_host_name)
if app.dns_records_to_create is not None:
    pulumi.export("dns_records_to_create", app.dns_records_to_create)
pulumi.export("app_name", app.app_name)
pulumi.export("resource_group_name", app.resource_group_name)
pulumi.export("image", app.image)
pulumi.export("image_port", source.port)  # a stack promoting from this one routes to the same port
if source.facts is not None:
    pulumi.export("image_facts", source.facts)
pulumi.export("staging_slot", app.staging_slot)
