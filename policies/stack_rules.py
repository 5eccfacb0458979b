"""Stack rules: the ones that need more than one resource (who pulls with which identity, what depends on what)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ReportViolation, StackValidationArgs, \
    StackValidationPolicy

from .props import (AUTH, AUTH_SLOT, AUTOSCALE, DEFAULT_HOST_SUFFIXES, DIAGNOSTIC_SETTING, FRONT_DOOR_CUSTOM_DOMAIN,
                    FRONT_DOOR_DOMAINS, FRONT_DOOR_ID_HEADER, FRONT_DOOR_PROFILE, FRONT_DOOR_SECURITY_POLICY,
                    FRONT_DOOR_SKUS, FRONT_DOOR_TAG, FRONT_DOOR_WAF_POLICY, HOST_NAME_BINDINGS, IDENTITY, PLAN,
                    PRIVATE_ENDPOINT, PULL_ROLES, REGISTRY_SCOPE, ROLE_ASSIGNMENT, SITES, SITES_GROUP, SNI_BINDING,
                    SWAP_WARMUP_RANGES, UNKNOWN, WEB_APP, WEB_APP_SLOT, known, known_items, last_segment, of_type,
                    tier_rank, value)

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


# -- Front Door (several regions) ----------------------------------------------------------------------------------
# Values a preview cannot know yet (ids of resources it creates) come back UNKNOWN from `known`: they are accepted
# where a known value would be compared, so a first preview is judged on everything else.

def _arm_names(resource) -> set[str]:
    """The names an ARM id of the resource ends with: its name output, or the name input the program gave it."""
    return {n.lower() for key in ("name", "endpointName", "customDomainName", "policyName")
            for n in [known(resource.props, key)] if isinstance(n, str) and n}


def _refers_to(reference, resource) -> bool:
    """Whether a resource reference ({id: <ARM id>}) can be to `resource`: its id ends with the resource's name, or the
    id is not known yet (the caller has checked the dependency, which is always known)."""
    if reference is UNKNOWN:
        return True
    ref_id = known(reference, "id") if isinstance(reference, Mapping) else None
    return ref_id is UNKNOWN or last_segment(ref_id) in _arm_names(resource)


def _associates(security_policy, domain) -> bool:
    """Whether the security policy's associations list the endpoint or custom domain."""
    if not _depends_on(security_policy, domain):
        return False
    associations = known(security_policy.props, "parameters.associations")
    if associations is UNKNOWN:
        return True
    for association in known_items(associations):
        domains = UNKNOWN if association is UNKNOWN else known(association, "domains")
        if domains is UNKNOWN or any(_refers_to(d, domain) for d in known_items(domains)):
            return True
    return False


def _attaches_stack_waf(security_policy, waf_policies) -> bool:
    """A WebApplicationFirewall security policy whose wafPolicy is a frontdoor Policy of this stack."""
    if known(security_policy.props, "parameters.type") not in ("WebApplicationFirewall", UNKNOWN):
        return False
    reference = known(security_policy.props, "parameters.wafPolicy")
    return any(_depends_on(security_policy, waf) and _refers_to(reference, waf) for waf in waf_policies)


def front_door_waf_attached(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every endpoint and custom domain of the stack's Front Door is covered by its WAF: a domain no security policy
    associates is served without one."""
    # A security policy associates domains (endpoint or custom domain ids) with a WAF policy: only those get its
    # inspection. fact: fd-security-policy-attaches-waf
    waf_policies = of_type(args.resources, FRONT_DOOR_WAF_POLICY)
    security_policies = of_type(args.resources, FRONT_DOOR_SECURITY_POLICY)
    for domain in (r for r in args.resources if r.resource_type in FRONT_DOOR_DOMAINS):
        what = "custom domain" if domain.resource_type == FRONT_DOOR_CUSTOM_DOMAIN else "endpoint"
        covering = [p for p in security_policies if _associates(p, domain)]
        if not covering:
            report(f"no WAF covers this Front Door {what}: its requests reach the sites uninspected; associate it with "
                   "the stack's WAF policy through a cdn SecurityPolicy (parameters.associations[].domains lists "
                   f"the {what}'s id).", domain.urn)
        elif not any(_attaches_stack_waf(p, waf_policies) for p in covering):
            report(f"the security policy covering this Front Door {what} attaches no WAF policy of this stack: set its "
                   "parameters (type WebApplicationFirewall) wafPolicy.id to the stack's frontdoor Policy.", domain.urn)


def _front_door_ids(profiles) -> set[str]:
    """The stack's Front Door ids known now, lowercased. A profile this preview creates has none yet (its frontDoorId is
    unknown, or absent where the engine shows a new resource's inputs only): a site's header then holds the same
    unknown, which passes, while a literal id cannot be the new profile's, which Azure has yet to assign."""
    return {i.lower() for p in profiles for i in [known(p.props, "frontDoorId")] if isinstance(i, str) and i}


def _header_values(rule) -> Any:
    """The values of the rule's X-Azure-FDID header filter (header names are case-insensitive), UNKNOWN, or None."""
    headers = known(rule, "headers")
    if headers is UNKNOWN:
        return UNKNOWN
    if not isinstance(headers, Mapping):
        return None
    for name in headers:
        if str(name).lower() == FRONT_DOOR_ID_HEADER:
            return known(headers, name)
    return None


def _is_front_door_rule(rule) -> bool:
    return known(rule, "tag") == "ServiceTag" and str(known(rule, "ipAddress", "")).lower() == FRONT_DOOR_TAG.lower()


def _is_warmup_rule(rule) -> bool:
    return known(rule, "tag", "Default") == "Default" and known(rule, "ipAddress") in SWAP_WARMUP_RANGES


def front_door_only_ingress(args: StackValidationArgs, report: ReportViolation) -> None:
    """In a stack with a Front Door profile, every site and slot admits that Front Door and nothing else: its access
    rules are the AzureFrontDoor.Backend service tag with the X-Azure-FDID header naming the profile's frontDoorId
    (slots: also the swap's warm-up ranges), everyone else is denied, and the SCM site is under the same rules.
    The service tag alone admits every customer's Front Door; the header admits only ours."""
    # Front Door sends X-Azure-FDID with its profile's id (the profile's frontDoorId); App Service filters on it.
    # fact: fd-fdid-header-names-the-profile
    profiles = [p for p in of_type(args.resources, FRONT_DOOR_PROFILE)
                if known(p.props, "sku.name") in (*FRONT_DOOR_SKUS, UNKNOWN)]
    if not profiles:
        return
    ids = _front_door_ids(profiles)
    for site in _sites(args.resources):
        slot = site.resource_type == WEB_APP_SLOT
        what = "slot" if slot else "site"
        if known(site.props, "siteConfig.ipSecurityRestrictionsDefaultAction") not in ("Deny", UNKNOWN):
            report(f"the {what} must deny callers no access rule admits (siteConfig.ipSecurityRestrictionsDefaultAction "
                   "Deny): otherwise anyone can call it directly, around Front Door and its WAF.", site.urn)
        if known(site.props, "siteConfig.scmIpSecurityRestrictionsUseMain") not in (True, UNKNOWN):
            report(f"the {what}'s SCM site must use the main site's access rules "
                   "(siteConfig.scmIpSecurityRestrictionsUseMain true): otherwise it keeps rules of its own, which "
                   "admit everyone unless set.", site.urn)
        rules = known(site.props, "siteConfig.ipSecurityRestrictions")
        if rules is UNKNOWN:
            continue
        admits_front_door = False
        for rule in known_items(rules or []):
            if rule is UNKNOWN or not isinstance(rule, Mapping):
                admits_front_door = True  # not known until deployment: judged then
                continue
            if known(rule, "action", "Allow") != "Allow":
                continue  # a Deny rule only narrows who gets in
            name = known(rule, "name")
            label = f" {name}" if isinstance(name, str) and name else ""
            if _is_front_door_rule(rule):
                admits_front_door = True
                ids_named = _header_values(rule)
                if ids_named is UNKNOWN:
                    continue
                named = list(known_items(ids_named or []))
                if not named:
                    report(f"the {what}'s access rule{label} admits every customer's Front Door (the "
                           f"{FRONT_DOOR_TAG} service tag without an {FRONT_DOOR_ID_HEADER} header): add the header "
                           "with the profile's frontDoorId.", site.urn)
                elif any(v is not UNKNOWN and (not isinstance(v, str) or v.lower() not in ids) for v in named):
                    report(f"the {what}'s access rule{label} admits a Front Door other than this stack's: its "
                           f"{FRONT_DOOR_ID_HEADER} header must name only the profile's frontDoorId (take it from the "
                           "profile's output, not a copied id).", site.urn)
            elif not (slot and _is_warmup_rule(rule)):
                report(f"the {what}'s access rule{label} admits callers other than the stack's Front Door: behind "
                       f"Front Door a {what} admits only the {FRONT_DOOR_TAG} service tag with the "
                       f"{FRONT_DOOR_ID_HEADER} header" + (" (and the swap's warm-up ranges "
                                                           f"{' and '.join(SWAP_WARMUP_RANGES)})" if slot else "") +
                       "; remove the rule (model-webapp:access does not go with frontDoor).", site.urn)
        if not admits_front_door:
            report(f"the {what} admits no Front Door, so Front Door's requests get 403: allow the {FRONT_DOOR_TAG} "
                   f"service tag with the {FRONT_DOOR_ID_HEADER} header naming the profile's frontDoorId.", site.urn)


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
                              *HOST_NAME_BINDINGS, SNI_BINDING, DIAGNOSTIC_SETTING, PRIVATE_ENDPOINT, FRONT_DOOR_PROFILE,
                              *FRONT_DOOR_DOMAINS, FRONT_DOOR_SECURITY_POLICY, FRONT_DOOR_WAF_POLICY})

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
    _policy("front-door-waf-attached", "Every Front Door endpoint and custom domain is covered by a security policy "
            "attaching the stack's WAF policy.", front_door_waf_attached, MANDATORY),
    _policy("front-door-only-ingress", "Every site and slot of a stack with a Front Door admits only that Front Door "
            "(service tag and X-Azure-FDID; slots also the swap's warm-up ranges), SCM site included.",
            front_door_only_ingress, MANDATORY),
]
