"""Resource rules: each looks at one resource's wire-form inputs and never echoes a value in its message."""
from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy)

from .props import (APP_INSIGHTS, AUTH_SETTINGS, BASIC_AUTH, CERTIFICATE, FRONT_DOOR_CUSTOM_DOMAIN, FRONT_DOOR_ORIGIN,
                    FRONT_DOOR_ORIGIN_GROUP, FRONT_DOOR_ROUTE, FRONT_DOOR_WAF_POLICY, HOST_NAME_BINDINGS, LOWERCASE_FQDN,
                    PINNED_IMAGE, PLAN, SITES, TIERS, WEB_APP, WEB_APP_SLOT, app_settings, as_number, tier_rank, value)

MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
TAGGABLE = (WEB_APP, WEB_APP_SLOT, PLAN, "azure-native:resources:ResourceGroup", "azure-native:managedidentity:UserAssignedIdentity",
            "azure-native:monitor:AutoscaleSetting")


def applies_to(*types: str):
    """Runs the rule on resources of these types only. The types ride on the rule (`resource_types`), so the offline
    plan hands each resource to the rules that look at its type and no others: the same verdicts, without the pack
    converting every resource's inputs once per rule."""
    def wrap(check):
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type in types:
                check(args, report)
        validate.__name__ = check.__name__
        validate.resource_types = frozenset(types)
        return validate
    return wrap


_web_app = applies_to(*SITES)  # web apps and their slots alike: the slot passes what production passes


@_web_app
def https_only(args, report):
    if value(args.props, "httpsOnly") is not True:
        report("httpsOnly must be true: set https_only=True so plain HTTP is redirected to HTTPS.")


@_web_app
def min_tls(args, report):
    for path, arg in (("siteConfig.minTlsVersion", "min_tls_version"), ("siteConfig.scmMinTlsVersion",
                                                                          "scm_min_tls_version")):
        if value(args.props, path) not in ("1.2", "1.3"):
            report(f"{path} must be 1.2 or 1.3: set site_config.{arg}='1.2'.")


@_web_app
def ftps_disabled(args, report):
    if value(args.props, "siteConfig.ftpsState") not in ("Disabled", "FtpsOnly"):
        report("siteConfig.ftpsState must be Disabled (or FtpsOnly): set site_config.ftps_state='Disabled'.")


@_web_app
def http2(args, report):
    if value(args.props, "siteConfig.http20Enabled") is not True:
        report("siteConfig.http20Enabled must be true: set site_config.http20_enabled=True.")


@_web_app
def no_remote_debugging(args, report):
    if value(args.props, "siteConfig.remoteDebuggingEnabled") is True:
        report("siteConfig.remoteDebuggingEnabled must not be true: set site_config.remote_debugging_enabled=False.")


@_web_app
def no_wildcard_cors(args, report):
    if "*" in (value(args.props, "siteConfig.cors.allowedOrigins") or []):
        report("siteConfig.cors.allowedOrigins must not contain '*': list the origins that may call the API.")
    origins = app_settings(args.props).get("AML_CORS_ORIGINS")
    if isinstance(origins, str) and "*" in [o.strip() for o in origins.split(",")]:
        report("app setting AML_CORS_ORIGINS must not contain '*': list the origins that may call the API.")


@_web_app
def managed_identity(args, report):
    kind = value(args.props, "identity.type") or ""
    if "Assigned" not in str(kind):
        report("the site must have a managed identity: set identity type SystemAssigned or UserAssigned.")


@_web_app
def image_pinned(args, report):
    if not PINNED_IMAGE.match(str(value(args.props, "siteConfig.linuxFxVersion") or "")):
        report("siteConfig.linuxFxVersion must pin the image by digest: DOCKER|<registry>/<repository>@sha256:"
               "<64 hex digits>, not a tag.")


@_web_app
def registry_password(args, report):
    # Under the engine a rule sees secrets unwrapped, so "is it a secret" cannot be judged here: the offline
    # plan checks that half (offline/policy_check.py, app-setting-secrets-marked).
    if "DOCKER_REGISTRY_SERVER_PASSWORD" in app_settings(args.props) and \
            value(args.props, "siteConfig.acrUseManagedIdentityCreds") is True:
        report("DOCKER_REGISTRY_SERVER_PASSWORD must not be set when the site pulls with its managed identity "
               "(acrUseManagedIdentityCreds): remove the password app setting.")


@_web_app
def pull_by_identity(args, report):
    if value(args.props, "siteConfig.acrUseManagedIdentityCreds") is not True or \
            "DOCKER_REGISTRY_SERVER_PASSWORD" in app_settings(args.props):
        report("the site must pull its image with a managed identity, not the registry's admin password: "
               "set model-webapp:registryAccess managedIdentity.")


@_web_app
def port_matches_server(args, report):
    port = app_settings(args.props).get("WEBSITES_PORT")
    # The port is read from the image the site runs (the package's ExposedPorts, or serverPort for a ready image):
    # the pack pins it only when its config names one. Policy config travels as a protobuf Struct: 5001 is 5001.0.
    configured = args.get_config().get("serverPort")
    expected = as_number(configured) if configured is not None else None
    if port is None:
        report("app setting WEBSITES_PORT must be set to the port the image's inference server listens on: App "
               "Service otherwise routes to port 80.")
    elif expected is not None and as_number(port) != expected:
        report(f"app setting WEBSITES_PORT must be the inference server's port ({expected:g}), as the policy config's "
               "serverPort says.")


@_web_app
def ssh_disabled(args, report):
    if value(args.props, "sshEnabled") is not False:
        report("sshEnabled must be false: the package image needs no SSH daemon in production (Azure Policy \"App "
               "Service apps should have SSH disabled\"); set model-webapp:sshEnabled false (models.<service>."
               "sshEnabled in a stack with models).")


ALLOW_ALL = ("0.0.0.0/0", "::/0", "Any")


@_web_app
def no_allow_all_restriction(args, report):
    for rule in value(args.props, "siteConfig.ipSecurityRestrictions") or []:
        if str(rule.get("action", "Allow")) == "Allow" and str(rule.get("ipAddress", "")) in ALLOW_ALL \
                and rule.get("tag", "Default") != "ServiceTag":
            report("an access restriction allows every address (0.0.0.0/0 or Any): list the ranges that may call, "
                   "or set no restrictions at all.")


PRIVATE_CONFIG = {"requirePrivate": {"type": "boolean", "default": False}}


def require_private(args) -> bool:
    """The policy config says every site of the stack must be private (a landing zone's stack), not only those the
    stack networks privately itself."""
    return args.get_config().get("requirePrivate", False) is True


@_web_app
def public_network_disabled(args, report):
    # Unset is Enabled to App Service and to Azure Policy alike ("exists": "false" fires 1b5ef780 and 701a595d); a
    # stack that sets nothing about its network is public by choice, so only requirePrivate holds it to Disabled.
    # fact: policy-public-network-access-builtins
    access = value(args.props, "publicNetworkAccess")
    if access == "Disabled" or (access is None and not require_private(args)):
        return
    report("publicNetworkAccess must be Disabled: the site (or slot) otherwise answers the internet beside its private "
           "endpoint, and Azure Policy \"App Service apps should disable public network access\" (1b5ef780-c53c-4a64-"
           "87f3-bb9c8c8094ba; 701a595d-38fb-4a66-ae6d-fb3735217622 for slots) denies it in landing zones that assign "
           "it: set model-webapp:network.publicNetworkAccess Disabled (with network.privateEndpointSubnetId).")


@_web_app
def health_check(args, report):
    if not value(args.props, "siteConfig.healthCheckPath"):
        report("siteConfig.healthCheckPath must be set (the inference server answers GET /): set "
               "site_config.health_check_path='/'.")


@applies_to(*HOST_NAME_BINDINGS, CERTIFICATE)
def custom_host_names(args, report):
    if args.resource_type in HOST_NAME_BINDINGS:
        path, arg = "hostName", "host_name"
    elif args.resource_type == CERTIFICATE and value(args.props, "canonicalName") is not None:
        path, arg = "canonicalName", "canonical_name"  # a managed certificate: issued for that host name
    else:
        return
    if not LOWERCASE_FQDN.match(str(value(args.props, path) or "")):
        report(f"{path} must be a lowercase fully qualified domain name without a wildcard or a trailing dot (such as "
               f"score.contoso.com): set {arg} through model-webapp:customDomain.hostName "
               "(models.<service>.customDomain.hostName in a stack with models).")


@applies_to(PLAN)
def linux_plan(args, report):
    if value(args.props, "reserved") is not True:
        report("App Service plans for containers must be Linux: set reserved=True (and kind='Linux').")


@applies_to(PLAN)
def minimum_sku(args, report):
    minimum = args.get_config().get("minimumTier", "Free")
    if tier_rank(value(args.props, "sku.tier")) < tier_rank(minimum):
        report(f"the plan's SKU tier is below the minimum this stack allows ({minimum}): raise model-webapp:sku.")


@applies_to(*BASIC_AUTH)
def basic_auth_publishing_disabled(args, report):
    if value(args.props, "allow") is not False:
        report("basic-auth publishing must be off: set allow=False.")


@applies_to(APP_INSIGHTS)
def workspace_based_insights(args, report):
    if not value(args.props, "workspaceResourceId") or value(args.props, "ingestionMode") != "LogAnalytics":
        report("Application Insights must be workspace-based: set workspace_resource_id and ingestion_mode "
               "LogAnalytics (classic resources are retired).")


@applies_to(*TAGGABLE)
def required_tags(args, report):
    tags = value(args.props, "tags") or {}
    for tag in args.get_config().get("requiredTags", ["environment"]):
        if not tags.get(tag):
            report(f"tag '{tag}' is required: set it through model-webapp:tags (environment defaults to the stack).")


@applies_to(*AUTH_SETTINGS)
def allowed_callers(args, report):
    # Without a default authorization policy, any client application in the tenant can get a token for the API
    # and call it (configure-authentication-provider-aad.md). fact: auth-any-tenant-app-without-allowed-applications
    if value(args.props, "platform.enabled") is not True \
            or value(args.props, "identityProviders.azureActiveDirectory.enabled") is not True:
        return
    policy = "identityProviders.azureActiveDirectory.validation.defaultAuthorizationPolicy"
    if not (value(args.props, f"{policy}.allowedApplications") or
            value(args.props, f"{policy}.allowedPrincipals.identities")):
        report("Entra ID authentication lets any application in the tenant call the API: list the client ids that "
               "may call in model-webapp:auth.allowedClientApplications (or their object ids in "
               "auth.allowedPrincipals; models.<service>.auth... in a stack with models).")


# -- Front Door (several regions) ----------------------------------------------------------------------------------
@applies_to(FRONT_DOOR_WAF_POLICY)
def waf_prevention(args, report):
    # Disabled: requests bypass the WAF; Detection: it only logs what matches. fact: fd-waf-state-and-mode
    if value(args.props, "policySettings.enabledState") != "Enabled":
        report("the Front Door WAF policy must be enabled (policySettings.enabledState Enabled): a disabled policy lets "
               "every request through uninspected.")
    if value(args.props, "policySettings.mode") != "Prevention":
        report("the Front Door WAF policy must block what its rules match (policySettings.mode Prevention), not only log "
               "it: set model-webapp:frontDoor.waf.mode Prevention.")


@applies_to(FRONT_DOOR_ROUTE)
def https_only_routes(args, report):
    # fact: fd-https-forwarding-and-redirect
    if value(args.props, "forwardingProtocol") != "HttpsOnly":
        report("the route must forward to its origins over HTTPS (forwardingProtocol HttpsOnly), so requests stay "
               "encrypted from Front Door to the site: set forwarding_protocol='HttpsOnly'.")
    protocols = value(args.props, "supportedProtocols")
    https_only = isinstance(protocols, Sequence) and not isinstance(protocols, str) and set(protocols) == {"Https"}
    if not https_only and value(args.props, "httpsRedirect") != "Enabled":
        report("the route accepts plain HTTP without redirecting it: set https_redirect='Enabled' (or "
               "supported_protocols=['Https']).")


@applies_to(FRONT_DOOR_CUSTOM_DOMAIN)
def front_door_tls12(args, report):
    # fact: fd-custom-domain-minimum-tls
    if value(args.props, "tlsSettings.minimumTlsVersion") not in ("TLS12", "TLS13"):
        report("the Front Door custom domain must require TLS 1.2 or newer: set tls_settings.minimum_tls_version='TLS12' "
               "(or 'TLS13').")
    if value(args.props, "tlsSettings.cipherSuiteSetType") == "TLS10_2019":
        report("the Front Door custom domain's cipher suite set TLS10_2019 admits TLS 1.0 and 1.1: set "
               "tls_settings.cipher_suite_set_type='TLS12_2023' (or leave it unset).")


@applies_to(FRONT_DOOR_ORIGIN_GROUP)
def health_probes(args, report):
    # Front Door takes an origin out of rotation by its probes, and only a 200 counts as healthy: the sites redirect
    # HTTP to HTTPS (httpsOnly), so an HTTP probe would fail every origin. fact: fd-health-probes
    if not value(args.props, "healthProbeSettings.probePath"):
        report("the origin group must probe its origins on a path (healthProbeSettings.probePath, the sites' health "
               "path '/'): Front Door tells a healthy region from one that is down only by its probes; set "
               "health_probe_settings.")
    if value(args.props, "healthProbeSettings.probeProtocol") != "Https":
        report("the origin group's health probe must use HTTPS (healthProbeSettings.probeProtocol Https): the sites "
               "redirect HTTP, and Front Door counts any answer but 200 as a failed probe.")


@applies_to(FRONT_DOOR_ORIGIN)
def origin_certificate_check(args, report):
    # fact: fd-origin-certificate-name-check
    if value(args.props, "enforceCertificateNameCheck") is not True:
        report("the origin must have its certificate name checked (enforceCertificateNameCheck true), so Front Door "
               "talks only to the site it names: set enforce_certificate_name_check=True.")


RULE_TYPES: dict[str, frozenset] = {}  # rule name -> the resource types it looks at (offline/policy_check reads it)


def _policy(name, description, validate, level, config=None):
    RULE_TYPES[name] = validate.resource_types
    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level,
                                    config_schema=PolicyConfigSchema(config) if config else None)


RESOURCE_POLICIES = [
    _policy("web-app-https-only", "Web apps accept HTTPS only.", https_only, MANDATORY),
    _policy("web-app-min-tls", "Web apps and their SCM sites require TLS 1.2 or newer.", min_tls, MANDATORY),
    _policy("web-app-ftps-disabled", "Web apps refuse plain FTP.", ftps_disabled, MANDATORY),
    _policy("web-app-http2", "Web apps serve HTTP/2.", http2, ADVISORY),
    _policy("web-app-no-remote-debugging", "Web apps have remote debugging off.", no_remote_debugging, MANDATORY),
    _policy("web-app-no-wildcard-cors", "CORS does not allow every origin (site config and AML_CORS_ORIGINS).",
            no_wildcard_cors, MANDATORY),
    _policy("web-app-managed-identity", "Web apps have a managed identity.", managed_identity, MANDATORY),
    _policy("web-app-image-pinned", "The container image is pinned by digest.", image_pinned, MANDATORY),
    _policy("web-app-registry-password", "No registry password app setting beside an identity pull.",
            registry_password, MANDATORY),
    _policy("web-app-pull-by-identity", "The site pulls with a managed identity, never the admin password.",
            pull_by_identity, ADVISORY),
    _policy("web-app-port-matches-server", "WEBSITES_PORT is set to the inference server's port.",
            port_matches_server, MANDATORY, {"serverPort": {"type": "integer"}}),
    _policy("web-app-health-check", "Web apps have a health check path.", health_check, MANDATORY),
    _policy("site-public-network-disabled", "Sites and slots turn public network access off where they are private "
            "(every site, with requirePrivate).", public_network_disabled, ADVISORY, PRIVATE_CONFIG),
    _policy("web-app-ssh-disabled", "SSH into the container is off.", ssh_disabled, ADVISORY),
    _policy("web-app-no-allow-all-restriction", "Access restrictions, where set, do not allow every address.",
            no_allow_all_restriction, MANDATORY),
    _policy("custom-domain-host-name", "Custom host names and managed certificates name lowercase FQDNs, no wildcard.",
            custom_host_names, MANDATORY),
    _policy("plan-linux", "App Service plans for containers are Linux.", linux_plan, MANDATORY),
    _policy("plan-minimum-sku", "The plan's tier is at least the stack's minimum.", minimum_sku, MANDATORY,
            {"minimumTier": {"type": "string", "enum": list(TIERS), "default": "Free"}}),
    _policy("basic-auth-publishing-disabled", "FTP and SCM basic-auth publishing are off (sites and slots).",
            basic_auth_publishing_disabled, MANDATORY),
    _policy("app-insights-workspace-based", "Application Insights is workspace-based.", workspace_based_insights,
            MANDATORY),
    _policy("entra-auth-allowed-callers", "Sites and slots with Entra ID authentication admit only listed client "
            "applications or identities, not any application in the tenant.", allowed_callers, ADVISORY),
    _policy("required-tags", "Resources that take tags carry the required ones.", required_tags, MANDATORY,
            {"requiredTags": {"type": "array", "items": {"type": "string"}, "default": ["environment"]}}),
    # Advisory by default, as model-webapp:frontDoor.waf.mode allows Detection while rules are tuned; prod.json makes
    # it mandatory.
    _policy("front-door-waf-prevention", "The Front Door WAF policy is enabled and in Prevention mode.", waf_prevention,
            ADVISORY),
    _policy("front-door-https-only-routes", "Front Door routes forward over HTTPS only and redirect plain HTTP.",
            https_only_routes, MANDATORY),
    _policy("front-door-tls12", "Front Door custom domains require TLS 1.2 or newer.", front_door_tls12, MANDATORY),
    _policy("front-door-health-probes", "Every Front Door origin group probes its origins over HTTPS on a path.",
            health_probes, MANDATORY),
    _policy("front-door-origin-certificate-check", "Front Door origins have their certificate name checked.",
            origin_certificate_check, MANDATORY),
]
