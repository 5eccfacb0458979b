"""The thin adapter over azure-mgmt-web (and plain HTTPS to the site) that the slot swap and the rollback call.

Everything that talks to Azure for a release is here, behind `SiteService`, so the provider can be tested
against an in-memory fake. Clients and credentials are made per call and never kept beyond it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Protocol

PRODUCTION = "production"


def web_client(subscription_id: str):
    """A WebSiteManagementClient for one call: nothing made here outlives the provider call that made it."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.web import WebSiteManagementClient

    return WebSiteManagementClient(DefaultAzureCredential(), subscription_id)


def prediction_problem(status: int, body: str, rows: int) -> Optional[str]:
    """What keeps an answer to a scoring request from being "200 with one number per row"; None when it is that."""
    if status != 200:
        return f"answered {status or 'nothing'}: {body[:500]}"
    try:
        predictions = json.loads(body)
    except ValueError:
        return f"answered 200 but not JSON: {body[:500]}"
    if (not isinstance(predictions, list) or len(predictions) != rows
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in predictions)):
        return f"answered 200 but not {rows} predictions, one per row: {body[:500]}"
    return None


@dataclass(frozen=True)
class Site:
    subscription_id: str
    resource_group: str
    name: str


@dataclass(frozen=True)
class Answer:
    status: int  # 0 when no answer came (connection refused, timeout)
    body: str


class SiteService(Protocol):
    def image(self, slot: Optional[str]) -> Optional[str]: ...  # linuxFxVersion; None slot: production
    def host_name(self, slot: Optional[str]) -> str: ...
    def get(self, url: str, token: Optional[str]) -> Answer: ...
    def post(self, url: str, body: str, token: Optional[str]) -> Answer: ...
    def set_image(self, slot: str, image: str) -> None: ...
    def swap_with_production(self, slot: str) -> None: ...
    def token(self, audience: str) -> str: ...


class AzureSiteService:
    """SiteService on azure-mgmt-web; one instance per provider call."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def _client(self):
        return web_client(self.site.subscription_id)

    def image(self, slot: Optional[str]) -> Optional[str]:
        apps, s = self._client().web_apps, self.site
        config = apps.get_configuration_slot(s.resource_group, s.name, slot) if slot else \
            apps.get_configuration(s.resource_group, s.name)
        return config.linux_fx_version

    def host_name(self, slot: Optional[str]) -> str:
        apps, s = self._client().web_apps, self.site
        found = apps.get_slot(s.resource_group, s.name, slot) if slot else apps.get(s.resource_group, s.name)
        return found.default_host_name

    def get(self, url: str, token: Optional[str]) -> Answer:
        return self._http("GET", url, None, token)

    def post(self, url: str, body: str, token: Optional[str]) -> Answer:
        return self._http("POST", url, body, token)

    @staticmethod
    def _http(method: str, url: str, body: Optional[str], token: Optional[str]) -> Answer:
        import requests

        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = requests.request(method, url, data=body, headers=headers, timeout=60)
        except requests.RequestException as exc:
            return Answer(0, f"{type(exc).__name__}: {exc}")
        return Answer(response.status_code, response.text[:2000])

    def set_image(self, slot: str, image: str) -> None:
        from azure.mgmt.web.models import SiteConfigResource

        s = self.site
        # A PATCH of the slot's configuration: only linuxFxVersion changes; App Service pulls and restarts the slot.
        self._client().web_apps.update_configuration_slot(s.resource_group, s.name, slot,
                                                          SiteConfigResource(linux_fx_version=image))

    def swap_with_production(self, slot: str) -> None:
        from azure.mgmt.web.models import CsmSlotEntity

        s = self.site
        # Blocks until the swap (warm-up of the slot included) has finished or failed.
        self._client().web_apps.begin_swap_slot_with_production(
            s.resource_group, s.name, CsmSlotEntity(target_slot=slot, preserve_vnet=True)).result()

    def token(self, audience: str) -> str:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential().get_token(f"{audience.rstrip('/')}/.default").token
