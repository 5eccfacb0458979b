"""The thin adapter over azure-mgmt-web (and plain HTTPS to the site) that the releases and the rollback call.

Everything that talks to Azure for a release is here, behind `SiteService`, so the providers can be tested
against an in-memory fake. Clients and credentials are made per call and never kept beyond it. The few rules the
slot swap, the in-place rollout and the smoke test share (how two linuxFxVersion values compare, what a rejected
token says about itself, the runner's temporary access rule) live here too, so they cannot drift apart.
"""
from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol

from settings.clouds import PUBLIC, Cloud

PRODUCTION = "production"
RUNNER_RULE = "release-gate"  # the name of the runner's temporary access rule: the only rule a release adds or removes
RUNNER_RULE_PRIORITY = 90  # before the stack's own allow rules (100+) and whatever Deny comes after them
RUNNER_ADDRESS_VARIABLE = "MODEL_WEBAPP_RUNNER_IP"
ECHO_SERVICE = "https://api.ipify.org"  # answers the caller's public IPv4 address as plain text
LOG_LINES = 20
# Addresses App Service never sees a caller from the internet under: private, shared (CGNAT), loopback, link-local.
NOT_EGRESS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
              "0.0.0.0/8")


# Where a private endpoint's address comes from: a VNet's address space, RFC 1918 (or the shared range, or IPv6 ULA) in
# every landing zone we know of. A VNet on public ranges would be judged "outside" here: the message shows the address.
VNET_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
RUNS_ON_VARIABLE = "DEPLOY_RUNS_ON"  # deploy.yml's runner label (a repository variable)


def inside_network_advice(cloud: Cloud = PUBLIC) -> str:
    """What a runner needs to reach a site that answers only through its private endpoint."""
    return ("Run the release and the smoke test from inside the network: a self-hosted runner in the VNet, or one with "
            "a route to the private endpoint's subnet and DNS that resolves the site's name through the private zone "
            f"{cloud.sites_private_dns_zone} (linked to the runner's VNet, or forwarded to from its resolver); "
            f"deploy.yml runs on the label in the repository variable {RUNS_ON_VARIABLE}.")


def _in_vnet(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n) for n in VNET_RANGES)


def outside_network(where_: str, host: str, access: Optional[str], addresses: list[str],
                    cloud: Cloud = PUBLIC) -> Optional[str]:
    """Why this runner cannot reach a site whose public network access is off; None when it can, or the site is public.

    Azure's public DNS answers the site's name with a CNAME to <site>.privatelink.<suffix> and then the public front
    end's address, which refuses the call with 403; only a private zone gives the endpoint's address.
    """
    # fact: net-private-endpoint-dns
    if str(access or "").lower() != "disabled":
        return None
    public = [a for a in addresses if not _in_vnet(a)]
    if addresses and not public:
        return None
    seen = (f"resolves to {', '.join(public)}, a public address (App Service's public front end, which refuses "
            "callers with 403)") if public else "does not resolve from here"
    return (f"{where_} is unreachable from this runner (not unhealthy): its public network access is disabled, so it "
            f"answers only through its private endpoint, but {host} {seen}. {inside_network_advice(cloud)}")


def forbidden_from_outside(where_: str, what: str, body: str, cloud: Cloud = PUBLIC) -> str:
    """A 403 from a site whose public access is off: the public front end's, not an access rule's or the app's."""
    # fact: net-public-access-disabled-403
    return (f"{what} answered 403 ({body[:200]!r}): {where_} has public network access disabled, so this runner "
            f"reached App Service's public front end, not the private endpoint; it is unreachable from here (not "
            f"unhealthy). {inside_network_advice(cloud)}")


def resolve(host: str) -> list[str]:
    """The addresses this machine's resolver gives for the host; none when it cannot resolve it."""
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def same_image(a: Optional[str], b: Optional[str]) -> bool:
    """Whether two linuxFxVersion values name the same image, whatever letter case App Service hands back."""
    # fact: site-linuxfxversion-case
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def token_claims(token: str) -> str:
    """`ver`, `iss` and `aud` of a JWT, read without verifying: enough to see why a site refused it, never the token."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return ", ".join(f"{k}={claims.get(k)!r}" for k in ("ver", "iss", "aud"))
    except (IndexError, ValueError, AttributeError):
        return "the token is not a JWT (its claims cannot be read)"


def credential(cloud: Cloud = PUBLIC):
    """A DefaultAzureCredential of the cloud's authority: a token of another cloud's is refused by its services."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=cloud.authority)  # fact: cloud-authority-host


def web_client(subscription_id: str, cloud: Cloud = PUBLIC):
    """A WebSiteManagementClient for one call: nothing made here outlives the provider call that made it."""
    from azure.mgmt.web import WebSiteManagementClient

    # azure-mgmt-web defaults to the public cloud's ARM for both: set them from the stack's cloud.
    return WebSiteManagementClient(credential(cloud), subscription_id, base_url=cloud.arm_endpoint,  # fact: cloud-arm
                                   credential_scopes=[cloud.arm_scope])


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
    cloud: Cloud = PUBLIC


@dataclass(frozen=True)
class Answer:
    status: int  # 0 when no answer came (connection refused, timeout)
    body: str


@dataclass
class AccessRules:
    """A site's (or slot's) access restrictions in wire form: what ARM's config/web holds."""
    default_action: Optional[str]  # "Allow", "Deny", or None (an older site: Allow unless a rule is listed)
    rules: list[dict[str, Any]] = field(default_factory=list)  # ipSecurityRestrictions, camelCase


class SiteService(Protocol):
    """What a release needs of App Service; `slot` None means production."""
    def image(self, slot: Optional[str]) -> Optional[str]: ...  # linuxFxVersion as configured
    def host_name(self, slot: Optional[str]) -> str: ...
    def get(self, url: str, token: Optional[str]) -> Answer: ...
    def post(self, url: str, body: str, token: Optional[str]) -> Answer: ...
    def set_image(self, slot: str, image: str) -> None: ...
    def stop(self, slot: Optional[str]) -> None: ...
    def start(self, slot: Optional[str]) -> None: ...
    def container_log(self, slot: Optional[str]) -> str: ...  # the last lines of the container log
    def swap_with_production(self, slot: str) -> None: ...
    def token(self, audience: str) -> str: ...
    def access_rules(self, slot: Optional[str]) -> AccessRules: ...
    def set_access_rules(self, slot: Optional[str], rules: list[dict[str, Any]]) -> None: ...
    def runner_address(self) -> str: ...  # this machine's public IPv4 address, as App Service sees it
    def public_network_access(self, slot: Optional[str]) -> Optional[str]: ...  # "Enabled", "Disabled" or unset
    def addresses(self, host: str) -> list[str]: ...  # what this machine's resolver gives for the host


def where(slot: Optional[str]) -> str:
    return f"slot {slot}" if slot else "production"


def runner_address_from(environ: dict[str, str], echo: Callable[[], str]) -> str:
    """The address the site's access rules see: MODEL_WEBAPP_RUNNER_IP, else what an echo service reports."""
    raw = environ.get(RUNNER_ADDRESS_VARIABLE, "").strip()
    source = RUNNER_ADDRESS_VARIABLE
    if not raw:
        source = ECHO_SERVICE
        try:
            raw = echo().strip()
        except Exception as exc:  # noqa: BLE001 - any failure means the same: no address, and what to do
            raise RuntimeError(f"the stack restricts access, so the release must allow this runner's address, but "
                               f"{ECHO_SERVICE} could not be reached ({type(exc).__name__}: {exc}): set "
                               f"{RUNNER_ADDRESS_VARIABLE} to the runner's public IPv4 address") from None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise RuntimeError(f"{source} gave {raw[:60]!r}, not an IP address: set {RUNNER_ADDRESS_VARIABLE} to the "
                           "runner's public IPv4 address") from None
    if address.version != 4 or any(address in ipaddress.ip_network(n) for n in NOT_EGRESS):
        raise RuntimeError(f"{source} gave {address}, not a public IPv4 address: App Service sees the runner's public "
                           f"egress address; set {RUNNER_ADDRESS_VARIABLE} to it")
    return str(address)


@contextlib.contextmanager
def runner_allowed(service: SiteService, slot: Optional[str], say: Callable[[str], None] = lambda _m: None
                   ) -> Iterator[Optional[str]]:
    """While inside, the site (or slot) admits this runner through a rule named release-gate; removed on the way out.

    Only a site whose access restrictions deny by default gets the rule: on an open site an added Allow rule would
    turn on an implicit "deny all" and lock every other caller out. Yields the runner's address, None when open.
    """
    # fact: access-default-deny-403
    if (with_retries_quiet(lambda: service.access_rules(slot)).default_action or "").lower() != "deny":
        yield None
        return
    address = service.runner_address()
    rule = {"name": RUNNER_RULE, "ipAddress": f"{address}/32", "action": "Allow", "priority": RUNNER_RULE_PRIORITY,
            "description": "model-webapp release: the deploying runner, for the duration of the gate"}

    def put(add: bool) -> None:
        # ARM lists the implicit last rule ("Allow all"/"Deny all", ipAddress Any) among the rules; it is not ours to
        # write back. fact: access-implicit-rule-listed
        current = [r for r in service.access_rules(slot).rules if str(r.get("ipAddress", "")).lower() != "any"]
        kept = [r for r in current if r.get("name") != RUNNER_RULE]
        wanted = kept + [rule] if add else kept
        if wanted != current:  # idempotent: a retry or a leftover from an interrupted run changes nothing twice
            service.set_access_rules(slot, wanted)

    with_retries_quiet(lambda: put(True))
    say(f"{where(slot)}: allowed this runner ({address}/32) through rule {RUNNER_RULE} for the release")
    try:
        yield address
    finally:
        with_retries_quiet(lambda: put(False))
        say(f"{where(slot)}: rule {RUNNER_RULE} removed")


def with_retries_quiet(call: Callable[[], Any]) -> Any:
    from .retries import with_retries

    return with_retries(call, "changing the site's access rules")


def log_tail(service: SiteService, slot: Optional[str]) -> str:
    """The platform's own words: the last lines of the container log, or why they could not be read."""
    try:
        text = service.container_log(slot)
    except Exception as exc:  # noqa: BLE001 - the log is evidence for a failure already being reported
        return f"(its container log could not be read: {type(exc).__name__}: {str(exc)[:200]})"
    lines = [line for line in (text or "").splitlines() if line.strip()][-LOG_LINES:]
    if not lines:
        return "(its container log is empty)"
    return f"Last lines of its container log:\n    " + "\n    ".join(lines)


class AzureSiteService:
    """SiteService on azure-mgmt-web; one instance per provider call."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def _client(self):
        return web_client(self.site.subscription_id, self.site.cloud)

    def _config(self, slot: Optional[str]):
        apps, s = self._client().web_apps, self.site
        return apps.get_configuration_slot(s.resource_group, s.name, slot) if slot else \
            apps.get_configuration(s.resource_group, s.name)

    def _update_config(self, slot: Optional[str], config) -> None:
        # A PATCH of config/web: only the properties set on `config` change.
        apps, s = self._client().web_apps, self.site
        if slot:
            apps.update_configuration_slot(s.resource_group, s.name, slot, config)
        else:
            apps.update_configuration(s.resource_group, s.name, config)

    def image(self, slot: Optional[str]) -> Optional[str]:
        return self._config(slot).linux_fx_version

    def _site(self, slot: Optional[str]):
        apps, s = self._client().web_apps, self.site
        return apps.get_slot(s.resource_group, s.name, slot) if slot else apps.get(s.resource_group, s.name)

    def host_name(self, slot: Optional[str]) -> str:
        return self._site(slot).default_host_name

    def public_network_access(self, slot: Optional[str]) -> Optional[str]:
        return self._site(slot).public_network_access

    def addresses(self, host: str) -> list[str]:
        return resolve(host)

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

        # fact: site-config-patch
        self._update_config(slot, SiteConfigResource(linux_fx_version=image))

    def stop(self, slot: Optional[str]) -> None:
        apps, s = self._client().web_apps, self.site
        if slot:
            apps.stop_slot(s.resource_group, s.name, slot)
        else:
            apps.stop(s.resource_group, s.name)

    def start(self, slot: Optional[str]) -> None:
        apps, s = self._client().web_apps, self.site
        if slot:
            apps.start_slot(s.resource_group, s.name, slot)
        else:
            apps.start(s.resource_group, s.name)

    def container_log(self, slot: Optional[str]) -> str:
        apps, s = self._client().web_apps, self.site
        # fact: site-container-log-arm
        stream = apps.get_web_site_container_logs_slot(s.resource_group, s.name, slot) if slot else \
            apps.get_web_site_container_logs(s.resource_group, s.name)
        if stream is None:  # 204: nothing logged
            return ""
        data = b"".join(stream)
        return data[-16000:].decode("utf-8", errors="replace")

    def swap_with_production(self, slot: str) -> None:
        from azure.mgmt.web.models import CsmSlotEntity

        s = self.site
        # Blocks until the swap (warm-up of the slot included) has finished or failed.
        self._client().web_apps.begin_swap_slot_with_production(
            s.resource_group, s.name, CsmSlotEntity(target_slot=slot, preserve_vnet=True)).result()

    def token(self, audience: str) -> str:
        return credential(self.site.cloud).get_token(f"{audience.rstrip('/')}/.default").token

    def access_rules(self, slot: Optional[str]) -> AccessRules:
        config = self._config(slot)
        return AccessRules(config.ip_security_restrictions_default_action,
                           [r.as_dict() for r in config.ip_security_restrictions or []])

    def set_access_rules(self, slot: Optional[str], rules: list[dict[str, Any]]) -> None:
        from azure.mgmt.web.models import IpSecurityRestriction, SiteConfigResource

        self._update_config(slot, SiteConfigResource(ip_security_restrictions=[IpSecurityRestriction(r)
                                                                                for r in rules]))

    def runner_address(self) -> str:
        return runner_address_from(dict(os.environ), _echo)


def _echo() -> str:
    import requests

    response = requests.get(ECHO_SERVICE, timeout=20)
    response.raise_for_status()
    return response.text
