"""Stack rules: the ones that need more than one resource (who pulls with which identity, what depends on what)."""
from __future__ import annotations

from typing import Any, Optional

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ReportViolation, StackValidationArgs, \
    StackValidationPolicy

from .props import (AUTH, AUTH_SLOT, AUTOSCALE, DEFAULT_HOST_SUFFIXES, DIAGNOSTIC_SETTING, HOST_NAME_BINDINGS, IDENTITY,
                    PLAN, PRIVATE_ENDPOINT, PULL_ROLES, REGISTRY_SCOPE, ROLE_ASSIGNMENT, SITES, SITES_GROUP, SNI_BINDING,
                    WEB_APP, WEB_APP_SLOT, of_type, tier_rank, value)

BROADER_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8311e382-0749-4cb8-b61a-304f252e45ec": "AcrPush",
}


def _is_acr_pull(assignment) -> bool:
    """AcrPull, or Container Registry Repository Reader (what a registry in ABAC mode honours): the pull roles."""
    return str(value(assignment.props, "roleDefinitionId") or "").lower().rsplit("/", 1)[-1] in PULL_ROLES


def _pull_identity(site, identities) -> Optional[Any]:
    """The user-assigned identity a site pulls its image with, if it pulls with one."""
    if value(site.props, "siteConfig.acrUseManagedIdentityCreds") is not True:
        return None
    client_id = value(site.props, "siteConfig.acrUserManagedIdentityID")
    for identity in identities:
        if client_id and value(identity.props, "clientId") == client_id:
            return identity
    return None


def _depends_on(resource, other) -> bool:
    return any(d.urn == other.urn for d in resource.dependencies)


def acr_pull_least_privilege(args: StackValidationArgs, report: ReportViolation) -> None:
    identities = of_type(args.resources, IDENTITY)
    pull_principals = {value(i.props, "principalId") for s in _sites(args.resources)
                       for i in [_pull_identity(s, identities)] if i is not None}
    for assignment in of_type(args.resources, ROLE_ASSIGNMENT):
        principal = value(assignment.props, "principalId")
        role = str(value(assignment.props, "roleDefinitionId") or "").lower().rsplit("/", 1)[-1]
        if _is_acr_pull(assignment):
            if not REGISTRY_SCOPE.match(str(value(assignment.props, "scope") or "")):
                report(f"the {PULL_ROLES[role]} assignment must be scoped to the container registry itself, not a "
                       "resource group or subscription.", assignment.urn)
            if pull_principals and principal not in pull_principals:
                report(f"the {PULL_ROLES[role]} assignment's principal is not the identity the site pulls with: assign "
                       "it to that identity's principalId.", assignment.urn)
        elif principal in pull_principals:
            name = BROADER_ROLES.get(role, "a role other than a pull role")
            report(f"the site's pull identity is granted {name}: it needs AcrPull (Container Registry Repository "
                   "Reader on a registry in ABAC mode) on the registry and nothing more.", assignment.urn)


def pull_assignment_before_site(args: StackValidationArgs, report: ReportViolation) -> None:
    identities = of_type(args.resources, IDENTITY)
    for site in _sites(args.resources):
        identity = _pull_identity(site, identities)
        if value(site.props, "siteConfig.acrUseManagedIdentityCreds") is not True:
            continue
        principal = value(identity.props, "principalId") if identity is not None else None
        if not any(_is_acr_pull(d) and (principal is None or value(d.props, "principalId") == principal)
                   for d in site.dependencies if d.resource_type == ROLE_ASSIGNMENT):
            report("the site pulls with an identity but does not depend on its pull role assignment: add "
                   "depends_on=[assignment] so the first pull is authorised.", site.urn)


def require_entra_auth(args: StackValidationArgs, report: ReportViolation) -> None:
    auths = of_type(args.resources, AUTH) + of_type(args.resources, AUTH_SLOT)
    for site in _sites(args.resources):
        mine = [a for a in auths if _depends_on(a, site)]
        ok = any(value(a.props, "platform.enabled") is True
                 and value(a.props, "globalValidation.requireAuthentication") is True
                 and value(a.props, "globalValidation.unauthenticatedClientAction") == "Return401"
                 and value(a.props, "identityProviders.azureActiveDirectory.enabled") is True for a in mine)
        if not ok:
            report("the site must require Entra ID authentication and answer anonymous callers with 401: set "
                   "model-webapp:auth.enabled true with tenantId and clientId (models.<service>.auth in a stack with "
                   "models).", site.urn)


def always_on(args: StackValidationArgs, report: ReportViolation) -> None:
    for site in _sites(args.resources):
        for plan in (d for d in site.dependencies if d.resource_type == PLAN):
            if tier_rank(value(plan.props, "sku.tier")) > tier_rank("Shared") and \
                    value(site.props, "siteConfig.alwaysOn") is not True:
                report("siteConfig.alwaysOn must be true on a Basic or higher plan, or the model reloads after "
                       "every idle period: set site_config.always_on=True.", site.urn)


def _needs_standard(args: StackValidationArgs, report: ReportViolation, typ: str, message: str) -> None:
    for resource in of_type(args.resources, typ):
        for plan in (d for d in resource.dependencies if d.resource_type == PLAN):
            if tier_rank(value(plan.props, "sku.tier")) < tier_rank("Standard"):
                report(message, resource.urn)


def autoscale_tier(args: StackValidationArgs, report: ReportViolation) -> None:
    _needs_standard(args, report, AUTOSCALE, "autoscale targets a plan below Standard tier, which cannot scale out: "
                    "raise model-webapp:sku or disable autoscale.")


def slot_tier(args: StackValidationArgs, report: ReportViolation) -> None:
    _needs_standard(args, report, WEB_APP_SLOT, "a deployment slot on a plan below Standard tier, which has none: "
                    "raise model-webapp:sku or set release.strategy inPlace.")


REQUIRED_LOGS = ("AppServiceConsoleLogs", "AppServicePlatformLogs")


def logs_to_workspace(args: StackValidationArgs, report: ReportViolation) -> None:
    settings = of_type(args.resources, DIAGNOSTIC_SETTING)
    for site in _sites(args.resources):
        sent = {log.get("category") for d in settings if _depends_on(d, site) and value(d.props, "workspaceId")
                for log in value(d.props, "logs") or [] if log.get("enabled") is True}
        missing = [c for c in REQUIRED_LOGS if c not in sent]
        if missing:
            report(f"the site sends no {' or '.join(missing)} to a Log Analytics workspace, so the inference server's "
                   "log and container start failures are lost: set model-webapp:monitoring.enabled true.", site.urn)


def custom_domain_sni(args: StackValidationArgs, report: ReportViolation) -> None:
    steps = of_type(args.resources, SNI_BINDING)
    for binding in (r for r in args.resources if r.resource_type in HOST_NAME_BINDINGS):
        host = str(value(binding.props, "hostName") or "").lower()
        if not host or host.endswith(DEFAULT_HOST_SUFFIXES):
            continue  # the site's own name: App Service serves it with its own certificate
        state = value(binding.props, "sslState")
        if state == "SniEnabled" and value(binding.props, "thumbprint"):
            continue
        if state not in (None, "Disabled", "SniEnabled"):
            report("a custom host name binding must use SNI TLS (sslState SniEnabled), not IP-based TLS.", binding.urn)
        elif not any(_depends_on(step, binding) and str(value(step.props, "host_name") or "").lower() == host
                     for step in steps):
            report("a custom host name binding is left without TLS: bind its managed certificate with SNI (the "
                   "SniBinding step that model-webapp:customDomain declares after the certificate).", binding.urn)


def _bound_site(binding) -> tuple[str, str, str]:
    """The site a binding is on, as ARM names it (resource group, app, slot): case-insensitive, like ARM."""
    return tuple(str(value(binding.props, key) or "").lower() for key in ("resourceGroupName", "name", "slot"))


def custom_domain_one_site(args: StackValidationArgs, report: ReportViolation) -> None:
    """App Service lets a host name be bound to one site only (a slot is a site of its own): the second binding's
    PUT fails partway through `pulumi up`, after the first service is already live on the name. With a service per
    model, two services given the same customDomain is an easy slip; it is caught here, before anything runs."""
    first: dict[str, tuple[tuple[str, str, str], Any]] = {}
    for binding in (r for r in args.resources if r.resource_type in HOST_NAME_BINDINGS):
        host = str(value(binding.props, "hostName") or "").lower()
        if not host:
            continue
        site = _bound_site(binding)
        if host not in first:
            first[host] = (site, binding)
        elif first[host][0] != site:
            report(f"host name {host} is bound to two sites, {_site_label(first[host][0])} and {_site_label(site)}: "
                   "App Service binds a host name to one site only; give each service its own customDomain.",
                   binding.urn)


def _group_id(site) -> str:
    """The private endpoint group a site is reached through: `sites`, or `sites-<slot>` for a slot."""
    slot = value(site.props, "slot") if site.resource_type == WEB_APP_SLOT else None
    return f"{SITES_GROUP}-{slot}" if slot else SITES_GROUP


def _targets_app(endpoint, app: str) -> bool:
    """Whether the endpoint connects to the app (production's id serves its slots too). Its privateLinkServiceId is the
    app's id, unknown during a first preview: the dependency on the app says the same and is always known."""
    if any(d.resource_type == WEB_APP and str(value(d.props, "name") or "").lower() == app
           for d in endpoint.dependencies):
        return True
    return any(str(value(c, "privateLinkServiceId") or "").lower().rstrip("/").rsplit("/", 1)[-1] == app
               for c in value(endpoint.props, "privateLinkServiceConnections") or [])


def _reached_privately(site, endpoints) -> bool:
    # Only privateLinkServiceConnections are approved on creation (the deployer may approve its own app); a manual
    # connection waits for the app owner. fact: net-private-endpoint-auto-approval
    app, group = str(value(site.props, "name") or "").lower(), _group_id(site)
    return any(_targets_app(e, app) and any(group in (value(c, "groupIds") or [])
                                            for c in value(e.props, "privateLinkServiceConnections") or [])
               for e in endpoints)


def site_private_endpoint(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every site and slot the stack makes private (public access off, or another site of its app behind an
    endpoint) is reached through a private endpoint of its own group; with requirePrivate, every site and slot."""
    endpoints = of_type(args.resources, PRIVATE_ENDPOINT)
    everywhere = args.get_config().get("requirePrivate", False) is True
    networked = {str(value(s.props, "name") or "").lower() for s in _sites(args.resources)
                 if any(_targets_app(e, str(value(s.props, "name") or "").lower()) for e in endpoints)}
    for site in _sites(args.resources):
        judged = everywhere or value(site.props, "publicNetworkAccess") == "Disabled" or \
            str(value(site.props, "name") or "").lower() in networked
        if judged and not _reached_privately(site, endpoints):
            report(f"no private endpoint reaches this {'slot' if site.resource_type == WEB_APP_SLOT else 'site'} "
                   f"(group id {_group_id(site)}, automatically approved through privateLinkServiceConnections): with "
                   "public access off nothing can call it, and with it on it is public; set model-webapp:network."
                   "privateEndpointSubnetId, which gives the site and its slot an endpoint each.", site.urn)


def _site_label(site: tuple[str, str, str]) -> str:
    group, name, slot = site
    return f"{name or '?'}{f' (slot {slot})' if slot else ''} in {group or '?'}"


def _sites(resources) -> list:
    return [r for r in resources if r.resource_type in SITES]


def _policy(name, description, validate, level, config=None):
    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level,
                                 config_schema=PolicyConfigSchema(config) if config else None)


# Every type a stack rule above reads, directly or through a resource's dependencies: the offline plan sends the
# stack rules these resources only (the pack converts every resource it is sent once per stack rule).
STACK_RULE_TYPES = frozenset({*SITES, IDENTITY, ROLE_ASSIGNMENT, AUTH, AUTH_SLOT, PLAN, AUTOSCALE, WEB_APP_SLOT,
                              *HOST_NAME_BINDINGS, SNI_BINDING, DIAGNOSTIC_SETTING, PRIVATE_ENDPOINT})

MANDATORY = EnforcementLevel.MANDATORY
STACK_POLICIES = [
    _policy("acr-pull-least-privilege", "The pull identity gets exactly a pull role (AcrPull, or Repository Reader "
            "on an ABAC registry), scoped to the registry.",
            acr_pull_least_privilege, MANDATORY),
    _policy("pull-assignment-before-site", "A site that pulls with an identity depends on its AcrPull assignment.",
            pull_assignment_before_site, MANDATORY),
    _policy("require-entra-auth", "Sites require Entra ID and return 401 to anonymous callers (where asked).",
            require_entra_auth, EnforcementLevel.DISABLED),
    _policy("web-app-always-on", "Always On is set on plans that have it.", always_on, MANDATORY),
    _policy("autoscale-standard-tier", "Autoscale targets only Standard tier or above.", autoscale_tier, MANDATORY),
    _policy("slot-standard-tier", "Deployment slots only on Standard tier or above.", slot_tier, MANDATORY),
    _policy("custom-domain-sni-tls", "Custom host name bindings serve TLS by SNI: none is left plain.",
            custom_domain_sni, MANDATORY),
    _policy("custom-domain-one-site", "A custom host name is bound to one site: no two services (or slots) share "
            "a customDomain.", custom_domain_one_site, MANDATORY),
    _policy("site-logs-to-workspace", "Every site and slot sends console and platform logs to Log Analytics.",
            logs_to_workspace, EnforcementLevel.ADVISORY),
    # Advisory: a public stack is a choice. A landing zone's policy config makes it mandatory, with requirePrivate
    # to hold every site to it (policies/config/<stack>.json).
    _policy("site-private-endpoint", "Sites and slots that are private (every one, with requirePrivate) are reached "
            "through a private endpoint of their own group (sites, sites-<slot>).", site_private_endpoint,
            EnforcementLevel.ADVISORY, {"requirePrivate": {"type": "boolean", "default": False}}),
]
