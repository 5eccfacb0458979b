"""ModelService: one model served from its own Linux web app on a shared plan: its image (built, promoted or given),
the site, its release (a staging slot and the gated swap, or the in-place rollout), basic-auth switches, Entra ID
settings, access rules, diagnostics, the site's alerts and its custom domain."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
from pulumi_azure_native import web

from settings.clouds import PUBLIC, Cloud
from settings.images import parse_image
from settings.stack_settings import PROJECT_DIR, Settings

from .custom_domain import bind_custom_domain
from .entra_auth import auth_settings_args
from .image_source import ImageSources, StackImage
from .monitoring import diagnostics, site_alerts, telemetry_settings
from .platform import Hosting
from .private_network import SITE_GROUP, private_endpoint
from .release import rollout, staging_slot
from .site import HEALTH_CHECK_PATH, site_args

SERVICE_TYPE = "model-webapp:index:ModelService"


@dataclass
class ModelServiceArgs:
    settings: Settings  # one model's view (Settings.services), or a one-model stack's settings
    hosting: Hosting  # a Platform's, or a plan, resource group and pull identity from elsewhere
    images: Optional[ImageSources] = None  # shared by a stack's services (one StackReference per promoted stack)
    image: Optional[StackImage] = None  # a ready image and its port; None: from the settings (build, promote, given)
    # Behind the stack's Front Door (settings frontDoor): its profile's frontDoorId, the only caller the site admits.
    front_door_id: Optional[pulumi.Input[str]] = None
    # Releases that must pass before this one starts (the previous region's): its gate failing stops the release there.
    release_after: Sequence[pulumi.Resource] = ()


def _same_registry(image: str, login_server: str, cloud: Cloud = PUBLIC) -> str:
    ref = parse_image(image, cloud)
    if ref["login_server"] != login_server:
        raise pulumi.RunError(
            f"image {image} is in registry {ref['login_server']}, but the workspace's registry is {login_server}: "
            "the web app is only granted pull access to the workspace's registry"
        )
    return image


class ModelService(pulumi.ComponentResource):
    scoring_uri: pulumi.Output[str]
    app_name: pulumi.Output[str]
    image: pulumi.Output[str]
    image_port: pulumi.Output[int]
    staging_slot: pulumi.Output[Optional[str]]  # the slot releases go through, for `make rollback`; None in place
    default_host_name: pulumi.Output[str]  # <app>.<the cloud's App Service suffix>, custom domain or not
    dns_records_to_create: Optional[pulumi.Output[list]]  # customDomain without dnsZoneId: what the user creates
    image_facts: Optional[pulumi.Output[dict]]  # what the package's image config says it runs; None when not read
    release: pulumi.Resource  # the swap, or the in-place rollout: what the next region's release waits for
    source: StackImage  # the image and its port: the same one serves the service in every region

    def __init__(self, name: str, args: ModelServiceArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(SERVICE_TYPE, name, None, opts)
        s, host = args.settings, args.hosting
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(s.tags)
        group_name = host.resource_group_name

        source = args.image or (args.images or ImageSources(PROJECT_DIR)).image(s, name, self)
        image = pulumi.Output.all(source.image, host.registry_login_server).apply(lambda v: _same_registry(*v, s.cloud))
        pull = host.pull
        # Production is created with the image; with a slot, the swap owns it from then on, and a later up must
        # not revert a swapped image (nested paths in ignore_changes are the engine's camelCase ones).
        site_kwargs = site_args(s, pull, host.plan_id, image.apply(lambda i: f"DOCKER|{i}"), tags,
                                telemetry_settings(host.hub), source.port, args.front_door_id)
        # In place, the site's own update is the release: it waits for the previous region's (a slot's swap does).
        after = [] if s.uses_slot else list(args.release_after)
        site = web.WebApp(
            f"{name}-app",
            resource_group_name=group_name,
            **site_kwargs,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*pull.depends_on, *after],
                                        ignore_changes=["siteConfig.linuxFxVersion"] if s.uses_slot else None),
        )
        endpoint = private_endpoint(f"{name}-pe", s, site.id, SITE_GROUP, group_name, self)
        swap = staging_slot(name, s, site, group_name, site_kwargs, pull.depends_on, host.hub, self,
                            args.front_door_id, args.release_after) if s.uses_slot else None
        diagnostics(name, host.hub, site, self)
        site_alerts(name, host.hub, group_name, site, self)
        web.WebAppFtpAllowed(f"{name}-ftp-basic-auth", name=site.name, resource_group_name=group_name, allow=False,
                             opts=child)
        web.WebAppScmAllowed(f"{name}-scm-basic-auth", name=site.name, resource_group_name=group_name, allow=False,
                             opts=child)
        auth = web.WebAppAuthSettingsV2(f"{name}-auth", name=site.name, resource_group_name=group_name,
                                        **auth_settings_args(s.auth, HEALTH_CHECK_PATH, s.cloud), opts=child) \
            if s.auth.enabled else None
        if swap is None:  # in place: the `up` ends when the site serves the new image (after auth, for its 401 check)
            self.release = rollout(name, s, site, group_name, site_kwargs["site_config"].linux_fx_version,
                                   [r for r in (auth, endpoint) if r is not None], self)
        else:
            self.release = swap
        # Custom domains do not swap. Behind Front Door the domain is Front Door's (components/front_door.py).
        domain = bind_custom_domain(name, s, site, host.plan_id, group_name, self) if s.front_door is None else None

        self.default_host_name = site.default_host_name
        self.dns_records_to_create = domain.records_to_create if domain else None
        self.scoring_uri = (pulumi.Output.from_input(domain.host_name) if domain else site.default_host_name).apply(
            lambda h: f"https://{h}/score")
        self.app_name = site.name
        self.image = image
        self.image_port = source.port
        self.image_facts = source.facts
        self.source = source
        self.staging_slot = pulumi.Output.from_input(s.release.slot_name if swap else None)
        self.register_outputs({
            "scoring_uri": self.scoring_uri,
            "app_name": self.app_name,
            "image": self.image,
            "image_port": self.image_port,
            "staging_slot": self.staging_slot,
            "default_host_name": self.default_host_name,
        })
