"""model-webapp: an Azure ML model served from Azure App Service, one stack per environment."""
import pulumi

from components.config_schema import NAMESPACE
from components.model_web_app import ModelWebApp, ModelWebAppArgs
from components.settings import Settings

settings = Settings.from_config(pulumi.Config(NAMESPACE))
if settings.image is None:
    raise pulumi.RunError(f"set {NAMESPACE}:image to the packaged image (<registry>.azurecr.io/<repo>@sha256:<digest>)")

app = ModelWebApp(f"{settings.name_prefix}-{settings.stack}", ModelWebAppArgs(settings=settings, image=settings.image))

pulumi.export("scoring_uri", app.scoring_uri)
pulumi.export("app_name", app.app_name)
pulumi.export("resource_group_name", app.resource_group_name)
pulumi.export("image", app.image)
