"""The site definition production and the staging slot share: one place, so the two cannot drift.

Kind, identity, registry pull, TLS/FTPS/HTTP2/remote debugging, SSH, health check, always-on, access
restrictions, app settings, VNet integration and public network access are all built here; model_service.py hands the same arguments to
`web.WebApp` and, when releases go through a slot, to `web.WebAppSlot`.
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi_azure_native import web

from settings.stack_settings import Settings

from .access import restriction_args
from .private_network import network_args
from .registry_access import RegistryPull

HEALTH_CHECK_PATH = "/"  # azmlinfsrv answers GET / with "Healthy"
# By default the swap's warm-up counts any status as warm, a 401 included: only 200 is.
# fact: release-warmup-statuses
WARMUP_SETTINGS = {"WEBSITE_SWAP_WARMUP_PING_PATH": HEALTH_CHECK_PATH, "WEBSITE_SWAP_WARMUP_PING_STATUSES": "200"}


def app_settings(s: Settings, pull: RegistryPull, extra: dict[str, pulumi.Input[str]],
                 server_port: Optional[pulumi.Input[int]] = None) -> list[web.NameValuePairArgs]:
    # The port the image's own config exposes (components/image_source.py); serverPort only for a ready image.
    # fact: site-websites-port
    port = s.server_port if server_port is None else server_port
    values: dict[str, pulumi.Input[str]] = {
        "WEBSITES_PORT": str(port) if isinstance(port, int) else pulumi.Output.from_input(port).apply(str),
        "WEBSITES_ENABLE_APP_SERVICE_STORAGE": "false",
        "WEBSITES_CONTAINER_START_TIME_LIMIT": str(s.container_start_time_limit),  # fact: site-start-time-limit
        "WORKER_COUNT": str(s.worker_count),
        **(WARMUP_SETTINGS if s.uses_slot else {}),
        **extra,
    }
    return [web.NameValuePairArgs(name=k, value=v) for k, v in values.items()] + list(pull.app_settings)


def site_args(s: Settings, pull: RegistryPull, plan_id: pulumi.Input[str], linux_fx_version: pulumi.Input[str],
              tags: dict[str, str], extra_settings: dict[str, pulumi.Input[str]],
              server_port: Optional[pulumi.Input[int]] = None,
              front_door_id: Optional[pulumi.Input[str]] = None) -> dict[str, Any]:
    """Keyword arguments for web.WebApp and web.WebAppSlot alike (front_door_id: the only caller, behind Front Door)."""
    return dict(
        location=s.location,
        server_farm_id=plan_id,
        kind="app,linux,container",  # fact: site-linux-container-kind
        reserved=True,
        https_only=True,
        ssh_enabled=s.ssh_enabled,
        identity=pull.identity,
        site_config=web.SiteConfigArgs(
            linux_fx_version=linux_fx_version,
            app_settings=app_settings(s, pull, extra_settings, server_port),
            min_tls_version="1.2",
            scm_min_tls_version="1.2",
            ftps_state="Disabled",
            http20_enabled=True,
            remote_debugging_enabled=False,
            always_on=s.sku.has_always_on,
            health_check_path=HEALTH_CHECK_PATH,
            **restriction_args(s.access, front_door_id),
            **pull.site_config,
        ),
        **network_args(s),  # VNet integration and public access, on production and the slot alike
        tags=tags,
    )
