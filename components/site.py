"""The site definition production and the staging slot share: one place, so the two cannot drift.

Kind, identity, registry pull, TLS/FTPS/HTTP2/remote debugging, SSH, health check, always-on, access
restrictions and app settings are all built here; model_web_app.py hands the same arguments to
`web.WebApp` and, when releases go through a slot, to `web.WebAppSlot`.
"""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import web

from settings.stack_settings import Settings

from .access import restriction_args
from .registry_access import RegistryPull

HEALTH_CHECK_PATH = "/"  # azmlinfsrv answers GET / with "Healthy"
# By default the swap's warm-up counts any status as warm, a 401 included: only 200 is.
WARMUP_SETTINGS = {"WEBSITE_SWAP_WARMUP_PING_PATH": HEALTH_CHECK_PATH, "WEBSITE_SWAP_WARMUP_PING_STATUSES": "200"}


def app_settings(s: Settings, pull: RegistryPull,
                 extra: dict[str, pulumi.Input[str]]) -> list[web.NameValuePairArgs]:
    values: dict[str, pulumi.Input[str]] = {
        "WEBSITES_PORT": str(s.server_port),
        "WEBSITES_ENABLE_APP_SERVICE_STORAGE": "false",
        "WEBSITES_CONTAINER_START_TIME_LIMIT": str(s.container_start_time_limit),
        "WORKER_COUNT": str(s.worker_count),
        **(WARMUP_SETTINGS if s.uses_slot else {}),
        **extra,
    }
    return [web.NameValuePairArgs(name=k, value=v) for k, v in values.items()] + list(pull.app_settings)


def site_args(s: Settings, pull: RegistryPull, plan_id: pulumi.Input[str], linux_fx_version: pulumi.Input[str],
              tags: dict[str, str], extra_settings: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    """Keyword arguments for web.WebApp and web.WebAppSlot alike."""
    return dict(
        location=s.location,
        server_farm_id=plan_id,
        kind="app,linux,container",
        reserved=True,
        https_only=True,
        ssh_enabled=s.ssh_enabled,
        identity=pull.identity,
        site_config=web.SiteConfigArgs(
            linux_fx_version=linux_fx_version,
            app_settings=app_settings(s, pull, extra_settings),
            min_tls_version="1.2",
            scm_min_tls_version="1.2",
            ftps_state="Disabled",
            http20_enabled=True,
            remote_debugging_enabled=False,
            always_on=s.sku.has_always_on,
            health_check_path=HEALTH_CHECK_PATH,
            **restriction_args(s.access),
            **pull.site_config,
        ),
        tags=tags,
    )
