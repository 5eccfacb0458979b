"""The policy pack: each rule against passing and failing fixtures, asserting exactly which resources it reports."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, ResourceValidationArgs, \
    ResourceValidationPolicy, StackValidationArgs

from policies.pack import POLICIES
from policies.props import CERTIFICATE, HOST_NAME_BINDINGS, SNI_BINDING
from policies.props import AUTH, AUTH_SLOT, AUTOSCALE, FTP_ALLOWED, IDENTITY, PLAN, ROLE_ASSIGNMENT, SCM_ALLOWED, WEB_APP
from policies.props import PRIVATE_ENDPOINT, WEB_APP_SLOT
from offline.mock_engine import run_program
from pulumi.runtime.rpc import UNKNOWN

from offline.policy_check import SECRETS_MARKED, evaluate
from tests.helpers import changed, stack_values

RULES = {p.name: p for p in POLICIES}
DIGEST = "a" * 64
REGISTRY = "/subscriptions/s/resourceGroups/rg-aml/providers/Microsoft.ContainerRegistry/registries/mlwreg"
ACR_PULL = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
CONTRIBUTOR = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
REPOSITORY_READER = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b93aa761-3e63-49ed-ac28-beffa264f7ac"
OFFICE_RANGE = {"name": "allow-range-1", "ipAddress": "203.0.113.0/24", "action": "Allow", "priority": 100}
PASSWORD = "Iv0lRZQ9762LUJrFiffo3P4sWgk4q+nW"  # a known string: it must appear in no message

GOOD_SITE = {
    "kind": "app,linux,container", "reserved": True, "httpsOnly": True, "sshEnabled": False,
    "identity": {"type": "UserAssigned", "userAssignedIdentities": ["/subscriptions/s/identities/pull"]},
    "tags": {"environment": "dev"},
    "siteConfig": {
        "linuxFxVersion": f"DOCKER|mlwreg.azurecr.io/package@sha256:{DIGEST}",
        "minTlsVersion": "1.2", "scmMinTlsVersion": "1.2", "ftpsState": "Disabled", "http20Enabled": True,
        "remoteDebuggingEnabled": False, "alwaysOn": True, "healthCheckPath": "/",
        "acrUseManagedIdentityCreds": True, "acrUserManagedIdentityID": "client-1",
        "appSettings": [{"name": "WEBSITES_PORT", "value": "5001"}, {"name": "WORKER_COUNT", "value": "1"}],
    },
}


def site(**changes: Any) -> dict:
    """GOOD_SITE with dotted-path changes; None deletes the key."""
    return changed(GOOD_SITE, **changes)


def with_settings(*extra: dict, acr_identity: bool = True) -> dict:
    props = site(siteConfig__acrUseManagedIdentityCreds=acr_identity)
    props["siteConfig"]["appSettings"] += list(extra)
    return props


def run_rule(name: str, resources: list[tuple[str, str, dict]], config: dict | None = None) -> tuple[set, list]:
    """Names of the resources the resource rule reports, and its messages."""
    reported, messages = set(), []
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    for typ, rname, props in resources:
        args = ResourceValidationArgs(typ, props, f"urn:{rname}", rname, options, None, config or {})

        def report(message, _urn=None, rname=rname):
            reported.add(rname)
            messages.append(message)

        RULES[name].validate(args, report)
    return reported, messages


SITE_CASES = {
    "web-app-https-only": ({"ok": site()}, {"off": site(httpsOnly=False), "absent": site(httpsOnly=None)}),
    "web-app-min-tls": ({"ok": site(), "tls13": site(siteConfig__minTlsVersion="1.3")},
                        {"tls10": site(siteConfig__minTlsVersion="1.0"), "scm11": site(siteConfig__scmMinTlsVersion="1.1"),
                         "absent": site(siteConfig__minTlsVersion=None)}),
    "web-app-ftps-disabled": ({"ok": site(), "ftps": site(siteConfig__ftpsState="FtpsOnly")},
                              {"ftp": site(siteConfig__ftpsState="AllAllowed"), "absent": site(siteConfig__ftpsState=None)}),
    "web-app-http2": ({"ok": site()}, {"off": site(siteConfig__http20Enabled=False),
                                       "absent": site(siteConfig__http20Enabled=None)}),
    "web-app-no-remote-debugging": ({"ok": site(), "absent": site(siteConfig__remoteDebuggingEnabled=None)},
                                    {"on": site(siteConfig__remoteDebuggingEnabled=True)}),
    "web-app-no-wildcard-cors": (
        {"ok": site(), "listed": site(siteConfig__cors={"allowedOrigins": ["https://contoso.com"]}),
         "aml-listed": with_settings({"name": "AML_CORS_ORIGINS", "value": "https://a.com, https://b.com"})},
        {"star": site(siteConfig__cors={"allowedOrigins": ["https://a.com", "*"]}),
         "aml-star": with_settings({"name": "AML_CORS_ORIGINS", "value": "https://a.com, *"})}),
    "web-app-managed-identity": ({"ok": site(), "system": site(identity={"type": "SystemAssigned"})},
                                 {"none": site(identity={"type": "None"}), "absent": site(identity=None)}),
    "web-app-image-pinned": ({"ok": site()},
                             {"tag": site(siteConfig__linuxFxVersion="DOCKER|mlwreg.azurecr.io/package:latest"),
                              "short": site(siteConfig__linuxFxVersion="DOCKER|mlwreg.azurecr.io/package@sha256:2019"),
                              "absent": site(siteConfig__linuxFxVersion=None)}),
    "web-app-registry-password": (
        # Under the engine the rule sees the password unwrapped: only "beside an identity pull" is its to judge.
        {"ok": site(),
         "password-pull": with_settings({"name": "DOCKER_REGISTRY_SERVER_PASSWORD", "value": PASSWORD},
                                        acr_identity=False)},
        {"beside-identity": with_settings({"name": "DOCKER_REGISTRY_SERVER_PASSWORD", "value": PASSWORD})}),
    "web-app-pull-by-identity": (
        {"ok": site()},
        {"password": with_settings({"name": "DOCKER_REGISTRY_SERVER_PASSWORD", "value": "[secret]"}, acr_identity=False),
         "absent": site(siteConfig__acrUseManagedIdentityCreds=None)}),
    "web-app-port-matches-server": (
        # Unconfigured, any port the image states passes: test_port_rule_uses_its_config pins one.
        {"ok": site(), "image-port": site(siteConfig__appSettings=[{"name": "WEBSITES_PORT", "value": "8080"}])},
        {"absent": site(siteConfig__appSettings=[])}),
    "web-app-health-check": ({"ok": site()}, {"absent": site(siteConfig__healthCheckPath=None),
                                              "empty": site(siteConfig__healthCheckPath="")}),
    "web-app-ssh-disabled": ({"ok": site()}, {"on": site(sshEnabled=True), "absent": site(sshEnabled=None)}),
    "web-app-no-allow-all-restriction": (
        {"ok": site(), "ranges": site(siteConfig__ipSecurityRestrictions=[OFFICE_RANGE]),
         "deny-all": site(siteConfig__ipSecurityRestrictions=[{"ipAddress": "Any", "action": "Deny"}]),
         "front-door": site(siteConfig__ipSecurityRestrictions=[
             {"ipAddress": "AzureFrontDoor.Backend", "tag": "ServiceTag", "action": "Allow"}])},
        {"v4-all": site(siteConfig__ipSecurityRestrictions=[OFFICE_RANGE, {"ipAddress": "0.0.0.0/0", "action": "Allow"}]),
         "any": site(siteConfig__ipSecurityRestrictions=[{"ipAddress": "Any", "action": "Allow"}]),
         "v6-all": site(siteConfig__ipSecurityRestrictions=[{"ipAddress": "::/0"}])}),
    # Unset: a public stack's choice, not reported unless the config requires every site private (below).
    "site-public-network-disabled": ({"ok": site(), "disabled": site(publicNetworkAccess="Disabled")},
                                     {"enabled": site(publicNetworkAccess="Enabled"),
                                      "lower-case": site(publicNetworkAccess="disabled")}),
}


@pytest.mark.parametrize("rule", list(SITE_CASES))
def test_site_rule_reports_exactly_the_failing_fixtures(rule):
    passing, failing = SITE_CASES[rule]
    resources = [(WEB_APP, n, p) for n, p in {**passing, **failing}.items()]
    reported, messages = run_rule(rule, resources)
    assert reported == set(failing)
    assert all(messages)


def test_site_rules_ignore_other_resource_types():
    broken = site(httpsOnly=False, siteConfig__minTlsVersion="1.0")
    assert run_rule("web-app-https-only", [(PLAN, "plan", broken)])[0] == set()


CALLER = "33333333-3333-3333-3333-333333333333"


def entra(**policy: Any) -> dict:
    """Auth settings v2 with Entra ID on, wire form; `policy` is its defaultAuthorizationPolicy."""
    validation: dict = {"allowedAudiences": ["api://x"]}
    if policy:
        validation["defaultAuthorizationPolicy"] = policy
    return {"platform": {"enabled": True}, "globalValidation": {"requireAuthentication": True},
            "identityProviders": {"azureActiveDirectory": {"enabled": True, "validation": validation}}}


OTHER_CASES = {
    "app-insights-workspace-based": (
        [("azure-native:applicationinsights:Component", "workspace-based",
          {"workspaceResourceId": "/ws", "ingestionMode": "LogAnalytics"})],
        [("azure-native:applicationinsights:Component", "classic", {"ingestionMode": "ApplicationInsights"}),
         ("azure-native:applicationinsights:Component", "no-workspace", {"ingestionMode": "LogAnalytics"})]),
    "plan-linux": ([(PLAN, "linux", {"kind": "Linux", "reserved": True, "sku": {"tier": "Basic"}})],
                   [(PLAN, "windows", {"kind": "app", "sku": {"tier": "Basic"}}),
                    (PLAN, "not-reserved", {"kind": "Linux", "reserved": False})]),
    "basic-auth-publishing-disabled": ([(FTP_ALLOWED, "ftp-off", {"allow": False}), (SCM_ALLOWED, "scm-off", {"allow": False})],
                                       [(FTP_ALLOWED, "ftp-on", {"allow": True}), (SCM_ALLOWED, "scm-absent", {})]),
    "required-tags": ([(PLAN, "tagged", {"tags": {"environment": "dev"}}), (FTP_ALLOWED, "untaggable", {"allow": False})],
                      [(PLAN, "untagged", {"tags": {"owner": "x"}}), (WEB_APP, "no-tags", {})]),
    "entra-auth-allowed-callers": (
        [(AUTH, "apps-listed", entra(allowedApplications=[CALLER])), (AUTH_SLOT, "slot-apps-listed",
                                                                      entra(allowedApplications=[CALLER])),
         (AUTH, "identities-listed", entra(allowedPrincipals={"identities": [CALLER]})),
         (AUTH, "auth-off", {**entra(), "platform": {"enabled": False}}), (WEB_APP, "a-site", site())],
        [(AUTH, "anyone-in-tenant", entra()), (AUTH_SLOT, "slot-anyone-in-tenant", entra()),
         (AUTH, "empty-lists", entra(allowedApplications=[], allowedPrincipals={"identities": []}))]),
}


@pytest.mark.parametrize("rule", list(OTHER_CASES))
def test_other_resource_rules(rule):
    passing, failing = OTHER_CASES[rule]
    assert run_rule(rule, passing + failing)[0] == {n for _, n, _ in failing}


def test_minimum_sku_uses_its_config():
    plans = [(PLAN, tier, {"sku": {"tier": tier}}) for tier in ("Basic", "Standard", "PremiumV3")]
    assert run_rule("plan-minimum-sku", plans)[0] == set()  # default minimum: Free
    assert run_rule("plan-minimum-sku", plans, {"minimumTier": "PremiumV3"})[0] == {"Basic", "Standard"}


def test_minimum_sku_ranks_the_memory_optimised_and_v4_tiers_above_premium_v3():
    plans = [(PLAN, tier, {"sku": {"tier": tier}}) for tier in ("PremiumV2", "PremiumV3", "PremiumMV3", "PremiumV4",
                                                                 "PremiumMV4")]
    assert run_rule("plan-minimum-sku", plans, {"minimumTier": "PremiumV3"})[0] == {"PremiumV2"}


def test_port_rule_uses_its_config():
    assert run_rule("web-app-port-matches-server", [(WEB_APP, "s", site())], {"serverPort": 8080})[0] == {"s"}


def test_port_rule_without_config_follows_the_image_but_requires_the_setting():
    # The port comes from the image the site runs: any port passes unless the config pins one; none at all is refused.
    odd_port = site(siteConfig__appSettings=[{"name": "WEBSITES_PORT", "value": "8080"}])
    assert run_rule("web-app-port-matches-server", [(WEB_APP, "s", odd_port)], {})[0] == set()
    no_port = site(siteConfig__appSettings=[{"name": "WORKER_COUNT", "value": "2"}])
    assert run_rule("web-app-port-matches-server", [(WEB_APP, "s", no_port)], {})[0] == {"s"}


def test_port_rule_compares_numbers_as_the_engine_sends_them():
    # Policy config is a protobuf Struct on the wire: the default 5001 arrives as 5001.0.
    assert run_rule("web-app-port-matches-server", [(WEB_APP, "s", site())], {"serverPort": 5001.0})[0] == set()
    assert run_rule("web-app-port-matches-server", [(WEB_APP, "s", site())], {"serverPort": 8080.0})[0] == {"s"}


def test_public_network_rule_with_require_private_holds_every_site_and_slot_to_disabled():
    resources = [(WEB_APP, "unset", site()), (WEB_APP_SLOT, "slot-unset", site()),
                 (WEB_APP_SLOT, "slot-enabled", site(publicNetworkAccess="Enabled")),
                 (WEB_APP, "disabled", site(publicNetworkAccess="Disabled")),
                 (WEB_APP_SLOT, "slot-disabled", site(publicNetworkAccess="Disabled")),
                 (PLAN, "a-plan", {"sku": {"tier": "PremiumV3"}})]
    reported, messages = run_rule("site-public-network-disabled", resources, {"requirePrivate": True})
    assert reported == {"unset", "slot-unset", "slot-enabled"}
    assert all("1b5ef780-c53c-4a64-87f3-bb9c8c8094ba" in m and "network.publicNetworkAccess" in m for m in messages)
    assert run_rule("site-public-network-disabled", resources, {"requirePrivate": False})[0] == {"slot-enabled"}


# -- stack rules ----------------------------------------------------------------------------------
def resource(typ: str, name: str, props: dict, deps: list | None = None) -> PolicyResource:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    return PolicyResource(typ, props, f"urn:{name}", name, options, None, None, deps or [], {})


def stack_rule(name: str, resources: list, config: dict | None = None) -> set:
    reported = set()
    RULES[name].validate(StackValidationArgs(resources, config or {}),
                         lambda message, urn=None: reported.add(urn or "stack"))
    return reported


def pull_graph(role=ACR_PULL, scope=REGISTRY, principal="principal-1", site_deps_on_assignment=True, extra=()):
    identity = resource(IDENTITY, "identity", {"principalId": "principal-1", "clientId": "client-1"})
    assignment = resource(ROLE_ASSIGNMENT, "assignment",
                          {"roleDefinitionId": role, "scope": scope, "principalId": principal}, [identity])
    plan = resource(PLAN, "plan", {"sku": {"name": "B1", "tier": "Basic"}, "reserved": True})
    deps = [plan, identity] + ([assignment] if site_deps_on_assignment else [])
    web = resource(WEB_APP, "site", site(), deps)
    return [identity, assignment, plan, web, *extra]


def test_acr_pull_least_privilege():
    assert stack_rule("acr-pull-least-privilege", pull_graph()) == set()
    assert stack_rule("acr-pull-least-privilege", pull_graph(scope="/subscriptions/s/resourceGroups/rg-aml")) == \
        {"urn:assignment"}
    assert stack_rule("acr-pull-least-privilege", pull_graph(principal="someone-else")) == {"urn:assignment"}
    broader = resource(ROLE_ASSIGNMENT, "contributor", {"roleDefinitionId": CONTRIBUTOR, "scope": REGISTRY,
                                                        "principalId": "principal-1"})
    unrelated = resource(ROLE_ASSIGNMENT, "other", {"roleDefinitionId": CONTRIBUTOR, "scope": REGISTRY,
                                                    "principalId": "principal-9"})
    assert stack_rule("acr-pull-least-privilege", pull_graph(extra=(broader, unrelated))) == {"urn:contributor"}


def test_least_privilege_accepts_repository_reader_for_abac_registries_and_still_refuses_broader():
    assert stack_rule("acr-pull-least-privilege", pull_graph(role=REPOSITORY_READER)) == set()
    assert stack_rule("acr-pull-least-privilege", pull_graph(role=REPOSITORY_READER,
                                                             scope="/subscriptions/s/resourceGroups/rg-aml")) == \
        {"urn:assignment"}
    broader = resource(ROLE_ASSIGNMENT, "contributor", {"roleDefinitionId": CONTRIBUTOR, "scope": REGISTRY,
                                                        "principalId": "principal-1"})
    assert stack_rule("acr-pull-least-privilege", pull_graph(role=REPOSITORY_READER, extra=(broader,))) == \
        {"urn:contributor"}


def test_pull_assignment_before_site():
    assert stack_rule("pull-assignment-before-site", pull_graph()) == set()
    assert stack_rule("pull-assignment-before-site", pull_graph(site_deps_on_assignment=False)) == {"urn:site"}
    assert stack_rule("pull-assignment-before-site", pull_graph(role=REPOSITORY_READER)) == set()


def test_require_entra_auth():
    graph = pull_graph()
    web = graph[3]
    good = {"platform": {"enabled": True},
            "globalValidation": {"requireAuthentication": True, "unauthenticatedClientAction": "Return401"},
            "identityProviders": {"azureActiveDirectory": {"enabled": True}}}
    assert stack_rule("require-entra-auth", graph + [resource(AUTH, "auth", good, [web])]) == set()
    redirect = copy.deepcopy(good)
    redirect["globalValidation"]["unauthenticatedClientAction"] = "RedirectToLoginPage"
    assert stack_rule("require-entra-auth", graph + [resource(AUTH, "auth", redirect, [web])]) == {"urn:site"}
    assert stack_rule("require-entra-auth", graph) == {"urn:site"}


def test_always_on_needs_the_plans_tier():
    graph = pull_graph()
    assert stack_rule("web-app-always-on", graph) == set()
    graph[3].props = site(siteConfig__alwaysOn=False)
    assert stack_rule("web-app-always-on", graph) == {"urn:site"}
    graph[2].props = {"sku": {"name": "F1", "tier": "Free"}}
    assert stack_rule("web-app-always-on", graph) == set()


def test_site_logs_to_workspace():
    graph = pull_graph()
    web = graph[3]
    logs = [{"category": c, "enabled": True} for c in ("AppServiceConsoleLogs", "AppServicePlatformLogs")]
    good = resource("azure-native:monitor:DiagnosticSetting", "diag", {"workspaceId": "/ws", "logs": logs}, [web])
    assert stack_rule("site-logs-to-workspace", graph + [good]) == set()
    assert stack_rule("site-logs-to-workspace", graph) == {"urn:site"}
    console_only = resource("azure-native:monitor:DiagnosticSetting", "diag", {"workspaceId": "/ws", "logs": logs[:1]},
                            [web])
    assert stack_rule("site-logs-to-workspace", graph + [console_only]) == {"urn:site"}
    no_workspace = resource("azure-native:monitor:DiagnosticSetting", "diag", {"logs": logs}, [web])
    assert stack_rule("site-logs-to-workspace", graph + [no_workspace]) == {"urn:site"}


def test_slots_only_on_standard_or_above():
    basic = resource(PLAN, "basic", {"sku": {"tier": "Basic"}})
    standard = resource(PLAN, "standard", {"sku": {"tier": "Standard"}})
    slots = [resource("azure-native:web:WebAppSlot", "on-basic", {}, [basic]),
             resource("azure-native:web:WebAppSlot", "on-standard", {}, [standard])]
    assert stack_rule("slot-standard-tier", [basic, standard, *slots]) == {"urn:on-basic"}


def test_autoscale_only_on_standard_or_above():
    basic = resource(PLAN, "basic", {"sku": {"tier": "Basic"}})
    premium = resource(PLAN, "premium", {"sku": {"tier": "PremiumV3"}})
    settings = [resource(AUTOSCALE, "on-basic", {}, [basic]), resource(AUTOSCALE, "on-premium", {}, [premium])]
    assert stack_rule("autoscale-standard-tier", [basic, premium, *settings]) == {"urn:on-basic"}


# -- private endpoints ----------------------------------------------------------------------------
APP_ID = "/subscriptions/s/resourceGroups/rg-prod/providers/Microsoft.Web/sites/mw-prod-app"


def endpoint(name: str, group: str, deps: list, app_id: str = APP_ID, manual: bool = False) -> PolicyResource:
    connection = {"name": name, "privateLinkServiceId": app_id, "groupIds": [group]}
    key = "manualPrivateLinkServiceConnections" if manual else "privateLinkServiceConnections"
    return resource(PRIVATE_ENDPOINT, name, {"subnet": {"id": "/subscriptions/s/.../subnets/pe"}, key: [connection]},
                    deps)


def private_graph(access: str | None = "Disabled", slot_access: str | None = "Disabled"):
    production = resource(WEB_APP, "site", {**site(), "name": "mw-prod-app",
                                            **({"publicNetworkAccess": access} if access else {})})
    slot = resource(WEB_APP_SLOT, "slot", {**site(), "name": "mw-prod-app", "slot": "staging",
                                           **({"publicNetworkAccess": slot_access} if slot_access else {})},
                    [production])
    return production, slot


def test_site_private_endpoint_wants_one_endpoint_per_site_and_slot_of_its_own_group():
    production, slot = private_graph()
    both = [endpoint("pe-site", "sites", [production]), endpoint("pe-slot", "sites-staging", [production, slot])]
    assert stack_rule("site-private-endpoint", [production, slot, *both]) == set()
    # The slot's endpoint missing, or given production's group: the slot is neither reachable nor public.
    assert stack_rule("site-private-endpoint", [production, slot, both[0]]) == {"urn:slot"}
    assert stack_rule("site-private-endpoint", [production, slot, both[0],
                                                endpoint("pe-slot", "sites", [production])]) == {"urn:slot"}
    # An endpoint to another app does not count, nor one that waits for manual approval.
    other = "/subscriptions/s/resourceGroups/rg-prod/providers/Microsoft.Web/sites/mw-other-app"
    assert stack_rule("site-private-endpoint", [production, slot, endpoint("pe-other", "sites", [], other),
                                                both[1]]) == {"urn:site"}
    assert stack_rule("site-private-endpoint", [production, slot, endpoint("pe-site", "sites", [production], manual=True),
                                                both[1]]) == {"urn:site"}


def test_site_private_endpoint_matches_by_the_apps_id_when_no_dependency_says_it():
    production, slot = private_graph()
    by_id = [endpoint("pe-site", "sites", []), endpoint("pe-slot", "sites-staging", [])]
    assert stack_rule("site-private-endpoint", [production, slot, *by_id]) == set()
    upper = APP_ID.replace("mw-prod-app", "MW-Prod-App")  # ARM ids compare without regard to case
    assert stack_rule("site-private-endpoint", [production, slot, endpoint("pe-site", "sites", [], upper),
                                                by_id[1]]) == set()


def test_site_private_endpoint_leaves_public_stacks_alone_unless_every_site_must_be_private():
    production, slot = private_graph(access=None, slot_access=None)
    assert stack_rule("site-private-endpoint", [production, slot]) == set()
    assert stack_rule("site-private-endpoint", [production, slot], {"requirePrivate": True}) == {"urn:site", "urn:slot"}
    # Public access left on but an endpoint on production: the app is networked, so its slot is judged too.
    assert stack_rule("site-private-endpoint", [production, slot, endpoint("pe-site", "sites", [production])]) == \
        {"urn:slot"}


# -- custom domain --------------------------------------------------------------------------------
HOST_NAME_BINDING = HOST_NAME_BINDINGS[0]


def test_custom_host_names_are_lowercase_fqdns():
    good = [(HOST_NAME_BINDING, "custom", {"hostName": "score.contoso.com", "sslState": "Disabled"}),
            (HOST_NAME_BINDINGS[1], "on-slot", {"hostName": "staging.contoso.com"}),
            (CERTIFICATE, "managed", {"canonicalName": "score.contoso.com"}),
            (CERTIFICATE, "uploaded", {"pfxBlob": "[secret]"})]  # no canonicalName: not a managed certificate
    bad = [(HOST_NAME_BINDING, "upper", {"hostName": "Score.Contoso.com"}),
           (HOST_NAME_BINDING, "wildcard", {"hostName": "*.contoso.com"}),
           (HOST_NAME_BINDING, "trailing-dot", {"hostName": "score.contoso.com."}),
           (HOST_NAME_BINDING, "absent", {"sslState": "Disabled"}),
           (CERTIFICATE, "wildcard-cert", {"canonicalName": "*.contoso.com"})]
    reported, messages = run_rule("custom-domain-host-name", good + bad)
    assert reported == {n for _, n, _ in bad} and all("lowercase fully qualified" in m for m in messages)


def domain_graph(sni_host="score.contoso.com", sni_depends=True, **binding):
    bound = resource(HOST_NAME_BINDING, "binding", {"hostName": "score.contoso.com", "sslState": "Disabled", **binding})
    default = resource(HOST_NAME_BINDING, "default", {"hostName": "mw-dev-app.azurewebsites.net"})
    sni = resource(SNI_BINDING, "sni", {"host_name": sni_host, "binding_id": "[id]", "thumbprint": "A" * 40},
                   [bound] if sni_depends else [])
    return [bound, default, sni]


def test_custom_domain_bindings_use_sni_tls():
    assert stack_rule("custom-domain-sni-tls", domain_graph()) == set()
    assert stack_rule("custom-domain-sni-tls", domain_graph(sslState="SniEnabled", thumbprint="A" * 40)[:2]) == set()
    # A plain binding left behind: no SNI step, one for another host, or one that does not follow the binding.
    assert stack_rule("custom-domain-sni-tls", domain_graph()[:2]) == {"urn:binding"}
    assert stack_rule("custom-domain-sni-tls", domain_graph(sni_host="api.contoso.com")) == {"urn:binding"}
    assert stack_rule("custom-domain-sni-tls", domain_graph(sni_depends=False)) == {"urn:binding"}
    assert stack_rule("custom-domain-sni-tls", domain_graph(sslState="IpBasedEnabled", thumbprint="A" * 40)) == \
        {"urn:binding"}


def bound(name: str, host: str, app: str, slot: str | None = None, group: str = "rg-dev") -> PolicyResource:
    props = {"hostName": host, "name": app, "siteName": app, "resourceGroupName": group, "sslState": "Disabled"}
    return resource(HOST_NAME_BINDINGS[1] if slot else HOST_NAME_BINDING, name, {**props, **({"slot": slot} if slot
                                                                                             else {})})


def one_site_messages(resources: list) -> list[tuple[str, str]]:
    found = []
    RULES["custom-domain-one-site"].validate(StackValidationArgs(resources, {}),
                                             lambda message, urn=None: found.append((urn, message)))
    return found


def test_a_custom_host_name_is_bound_to_one_site_only():
    services = [bound("a-domain", "score.contoso.com", "mw-dev-a"), bound("b-domain", "api.contoso.com", "mw-dev-b"),
                bound("a-default", "mw-dev-a.azurewebsites.net", "mw-dev-a")]
    assert one_site_messages(services) == []
    assert one_site_messages(services + [bound("a-again", "SCORE.contoso.com", "MW-DEV-A")]) == []  # same site
    ((urn, message),) = one_site_messages(services + [bound("c-domain", "Score.Contoso.com", "mw-dev-c")])
    assert urn == "urn:c-domain"
    assert message.startswith("host name score.contoso.com is bound to two sites, mw-dev-a in rg-dev and "
                              "mw-dev-c in rg-dev")
    # The site's staging slot is a site of its own: the name cannot be on both.
    assert [u for u, _ in one_site_messages(services + [bound("slot", "score.contoso.com", "mw-dev-a", "staging")])] \
        == ["urn:slot"]
    assert "mw-dev-a (slot staging) in rg-dev" in one_site_messages(
        services + [bound("slot", "score.contoso.com", "mw-dev-a", "staging")])[0][1]


# -- messages and unknowns ------------------------------------------------------------------------
def test_no_message_ever_contains_a_secret_value():
    leaky = with_settings({"name": "DOCKER_REGISTRY_SERVER_PASSWORD", "value": PASSWORD},
                          {"name": "AML_CORS_ORIGINS", "value": f"*,{PASSWORD}"})
    leaky["siteConfig"]["linuxFxVersion"] = f"DOCKER|{PASSWORD}"
    leaky["tags"] = {"secret": PASSWORD}
    messages = []
    for name, policy in RULES.items():
        if isinstance(policy, ResourceValidationPolicy):
            messages += run_rule(name, [(WEB_APP, "leaky", leaky)], {"minimumTier": "PremiumV3"})[1]
    assert len(messages) >= 4
    assert not any(PASSWORD in m for m in messages)


def test_unknown_values_become_advisory_notes_offline():
    run = run_program(stack_values("dev"), "dev")
    site_reg = run.one(WEB_APP)
    site_reg.engine_inputs["siteConfig"]["linuxFxVersion"] = UNKNOWN  # as the engine sends it during preview
    notes = [v for v in evaluate(run) if v["rule"] == "web-app-image-pinned"]
    assert notes and all(v["level"] == "advisory" and "can't be known during preview" in v["message"] for v in notes)
    assert all(v["resource"] == site_reg.urn for v in notes)


def test_offline_check_that_password_settings_stay_secret():
    run = run_program(stack_values("dev", registryAccess="adminCredentials"), "dev")
    assert not [v for v in evaluate(run) if v["rule"] == SECRETS_MARKED]
    site_reg = run.one(WEB_APP)
    for s in site_reg.inputs["siteConfig"]["appSettings"]:
        if s["name"] == "DOCKER_REGISTRY_SERVER_PASSWORD":
            s["value"] = PASSWORD  # what the wire form would show had the program not wrapped it in a secret
    (found,) = [v for v in evaluate(run) if v["rule"] == SECRETS_MARKED]
    assert found["level"] == "mandatory" and found["resource"] == site_reg.urn
    assert "DOCKER_REGISTRY_SERVER_PASSWORD" in found["message"] and PASSWORD not in found["message"]


def test_every_rule_has_a_name_description_and_level():
    for policy in POLICIES:
        assert policy.name and policy.description and policy.enforcement_level is not None
    assert len(RULES) == len(POLICIES)


def test_every_rule_has_fixtures_here():
    # The Front Door rules have a module of their own (test_front_door_policies.py).
    import re as _re
    from pathlib import Path
    source = open(__file__).read() + (Path(__file__).parent / "test_front_door_policies.py").read_text()
    named = set(_re.findall(r'"([a-z0-9-]+)"', source))
    assert set(RULES) <= named, set(RULES) - named
