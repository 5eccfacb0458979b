"""Sovereign clouds: one cloud setting (azure-native:environment), every host and authority derived from
settings/clouds.py. A China and a US Government stack plan with none of the global cloud's hosts or authorities,
their clients get their cloud's endpoints, images are judged by the stack's cloud, and what a cloud does not offer
is refused up front with its alternative."""
from __future__ import annotations

import json
import re
import sys
import types

import pulumi
import pytest

from offline.mock_engine import run_program, start_mocks
from offline.project import PROJECT_DIR
from policies.props import DEFAULT_HOST_SUFFIXES
from providers import app_service, host_names, packaging
from providers.app_service import AzureSiteService, Site
from providers.host_names import AzureHostNames, parse_site
from providers.model_package import ModelPackageProvider
from providers.packaging import AzureMLPackaging, split_image
from settings.clouds import CHINA, CLOUDS, PUBLIC, US_GOVERNMENT, cloud, host_suffixes
from settings.images import parse_image
from settings.stack_settings import NAMESPACE, Settings, Workspace
from tests.helpers import everything, stack_values

GLOBAL = ("azurewebsites.net", "azurecr.io", "microsoftonline.com", "management.azure.com")
DIGEST = "sha256:" + "ab" * 32
REGISTRY = "mlwmodelsregistry"  # dev's workspace's, as the offline plan's fake answers name it
IMAGES = {c: f"{REGISTRY}.{c.registry_suffix}/iris@{DIGEST}" for c in (PUBLIC, CHINA, US_GOVERNMENT)}
REGIONS = {CHINA: "chinaeast2", US_GOVERNMENT: "usgovvirginia"}
SOVEREIGN = (CHINA, US_GOVERNMENT)
TENANT, CLIENT = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
SCANNED = ("*.py", "*.yml", "*.yaml", "Makefile")
NOT_CODE = ("tests", "docs", ".venv", ".git", "benchmarks")  # prose and test data; benchmarks hold saved plans
# A stack file's network.privateDnsZoneId names the landing zone's existing zone, whose name the settings hold to the
# cloud's own (settings/clouds.py): a value of the user's, not a host the code spells.
PRIVATE_ZONE_VALUE = re.compile(r"^\s*privateDnsZoneId: /subscriptions/\S+/privateDnsZones/(%s)$"
                                % "|".join(re.escape(c.sites_private_dns_zone) for c in CLOUDS.values()))
# The policy pack runs on its own, importing nothing of the project: it spells every cloud's suffix itself.
PACK_SUFFIXES = "policies/props.py"


def values(c, **overrides) -> dict[str, str]:
    """dev's config in the cloud c: its region, an image of its registry, and every feature that names a host or an
    authority (auth, a custom domain in an Azure DNS zone, slots)."""
    keys = {"location": REGIONS[c], "image": IMAGES[c], "sku": "S1",
            "auth": {"enabled": True, "tenantId": TENANT, "clientId": CLIENT},
            "customDomain": {"hostName": "score.contoso.cn", "dnsZoneId": f"/subscriptions/{TENANT}/resourceGroups/"
                             "dns/providers/Microsoft.Network/dnszones/contoso.cn"}}
    result = stack_values("dev", **{**keys, **overrides})
    result["azure-native:environment"] = c.name
    return result


def settings_in(c, **overrides) -> Settings:
    start_mocks(values(c, **overrides), "dev")
    return Settings.from_config(pulumi.Config(NAMESPACE), stack="dev")


def problems_in(config: dict[str, str]) -> str:
    start_mocks(config, "dev")
    with pytest.raises(pulumi.RunError) as raised:
        Settings.from_config(pulumi.Config(NAMESPACE), stack="dev")
    return str(raised.value)


# -- the tree: no global cloud host outside the module ---------------------------------------------------------------

def code_files():
    for pattern in SCANNED:
        for path in PROJECT_DIR.rglob(pattern):
            relative = path.relative_to(PROJECT_DIR)
            if relative.parts[0] in NOT_CODE or relative.name.startswith("README"):
                continue
            yield relative


def test_no_global_cloud_host_outside_the_clouds_module():
    found = [f"{path}:{number}: {line.strip()}" for path in code_files()
             if path.as_posix() not in ("settings/clouds.py", PACK_SUFFIXES)
             for number, line in enumerate((PROJECT_DIR / path).read_text(errors="replace").splitlines(), 1)
             if any(host in line for host in GLOBAL) and not PRIVATE_ZONE_VALUE.match(line)]
    assert not found, "a global cloud host spelled outside settings/clouds.py:\n" + "\n".join(found)
    assert any(p.as_posix() == "components/platform.py" for p in code_files())  # the scan sees the code


def test_the_policy_pack_accepts_every_clouds_site_suffix_and_only_those():
    assert sorted(DEFAULT_HOST_SUFFIXES) == sorted(host_suffixes())


def test_clouds_by_name_and_an_unknown_name_refused():
    assert cloud(None) is PUBLIC and cloud("") is PUBLIC and cloud("china") is CHINA
    assert cloud("usgovernment") is US_GOVERNMENT and set(CLOUDS) == {"public", "china", "usgovernment"}
    with pytest.raises(ValueError, match=r"azure-native:environment = 'azurechinacloud'.*public, china, usgovernment"):
        cloud("azurechinacloud")


def test_sdk_names_and_constants_are_the_installed_sdks():
    from azure.ai.ml._azure_environments import _environments
    from azure.identity import AzureAuthorityHosts

    assert {c.ml_cloud for c in CLOUDS.values()} == set(_environments)
    for c in CLOUDS.values():
        endpoints = _environments[c.ml_cloud]
        assert endpoints["resource_manager"].rstrip("/") == c.arm_endpoint
        assert endpoints["active_directory"].rstrip("/") == c.authority
    assert (PUBLIC.authority_host, CHINA.authority_host, US_GOVERNMENT.authority_host) == (
        AzureAuthorityHosts.AZURE_PUBLIC_CLOUD, AzureAuthorityHosts.AZURE_CHINA, AzureAuthorityHosts.AZURE_GOVERNMENT)


# -- settings -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", SOVEREIGN, ids=lambda c: c.name)
def test_the_stacks_cloud_comes_from_azure_native_environment(c):
    s = settings_in(c)
    assert s.cloud is c and s.image == IMAGES[c] and s.location == REGIONS[c]


def test_absent_environment_is_public_and_an_unknown_one_is_listed_with_every_other_problem():
    start_mocks(stack_values("dev"), "dev")
    assert Settings.from_config(pulumi.Config(NAMESPACE), stack="dev").cloud is PUBLIC
    config = {**stack_values("dev", sku="B9"), "azure-native:environment": "azurechina"}
    text = problems_in(config)
    assert "azure-native:environment = 'azurechina' is not a cloud this project deploys to: use one of public, " \
           "china, usgovernment" in text
    assert "model-webapp:sku = 'B9'" in text and "2 configuration problem(s)" in text


@pytest.mark.parametrize("c", SOVEREIGN, ids=lambda c: c.name)
def test_an_image_of_another_clouds_registry_is_refused_for_its_cloud_not_its_digest(c):
    text = problems_in(values(c, image=IMAGES[PUBLIC]))
    assert f"model-webapp:image = '{IMAGES[PUBLIC]}': is in a registry of the Azure public cloud (.azurecr.io), " \
           f"which a stack in {c.title} cannot pull from" in text
    assert f"<registry>.{c.registry_suffix}/<repository>@sha256:" in text and "pinned by digest" not in text


def test_images_in_each_cloud_and_the_public_messages_as_before():
    for c in CLOUDS.values():
        assert parse_image(IMAGES[c], c)["login_server"] == f"{REGISTRY}.{c.registry_suffix}"
    tagged = "mwregistry.azurecr.cn/iris:latest"
    assert "must be pinned by digest: <registry>.azurecr.cn/<repository>@sha256:<64 hex digits> (a tag such as " \
           ":latest is refused" in problems_in(values(CHINA, image=tagged))
    public = problems_in(stack_values("dev", image="mwregistry.azurecr.io/iris:latest"))
    assert "must be pinned by digest: <registry>.azurecr.io/<repository>@sha256:<64 hex digits> (a tag such as " \
           ":latest is refused; leave it empty to build the package)" in public
    china_in_public = problems_in(stack_values("dev", image=IMAGES[CHINA]))
    assert f"is in a registry of {CHINA.title} (.azurecr.cn), which a stack in the Azure public cloud" in china_in_public
    with pytest.raises(ValueError, match="is in a registry of Azure US Government"):
        parse_image(IMAGES[US_GOVERNMENT], CHINA)


def test_packaging_is_refused_in_china_with_the_alternative_and_the_source():
    text = problems_in(values(CHINA, image=None, sku="B1"))
    assert "model-webapp:image is not set: Azure ML model packaging is not offered in Azure China (operated by " \
           "21Vianet)" in text
    assert "reference-machine-learning-cloud-parity" in text
    assert "build.builder: acrTask" in text  # the build path that needs no packaging service
    assert "set image to a ready <registry>.azurecr.cn/<repository>@sha256:<64 hex digits> image" in text
    fleet = problems_in({**values(CHINA, image=None, sku="B1", model=None, auth=None, customDomain=None, code=None),
                         "model-webapp:models": json.dumps({"iris": {"model": {"name": "iris", "version": "1"}},
                                                            "wine": {"model": {"name": "wine", "version": "1"},
                                                                     "image": IMAGES[CHINA]}})})
    assert "model-webapp:models.iris.image is not set: Azure ML model packaging" in fleet
    assert "models.wine.image" not in fleet
    # Azure US Government's table does not list packaging either, but does not say it is missing: not refused.
    assert settings_in(US_GOVERNMENT, image=None).builds_package


def test_a_region_of_another_cloud_is_refused_naming_the_stacks_cloud():
    text = problems_in(values(CHINA, location="westeurope"))
    assert "model-webapp:location = 'westeurope': is not a region of the stack's cloud, AzureChinaCloud" in text
    assert "chinaeast2" in text


# -- the plan -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=SOVEREIGN, ids=lambda c: c.name)
def sovereign_run(request):
    c = request.param
    return c, run_program(values(c), "dev")


def test_a_sovereign_stack_plans_with_no_global_host_or_authority(sovereign_run):
    c, run = sovereign_run
    shown = everything(run)
    assert not [host for host in GLOBAL if host in shown]
    assert run.outputs["default_host_name"].endswith(f".{c.app_host_suffix}")
    assert run.outputs["scoring_uri"] == "https://score.contoso.cn/score"


def test_its_issuer_registry_and_providers_are_the_clouds(sovereign_run):
    c, run = sovereign_run
    auth = next(r for r in run.registrations if r.type == "azure-native:web:WebAppAuthSettingsV2")
    issuer = auth.inputs["identityProviders"]["azureActiveDirectory"]["registration"]["openIdIssuer"]
    assert issuer == f"{c.issuer_authority}/{TENANT}/v2.0"
    providers = [r for r in run.registrations if r.type == "pulumi:providers:azure-native"]
    assert {r.name for r in providers} >= {"mw-dev-workspace", "mw-dev-dns"}
    assert all(r.inputs.get("environment") == c.name for r in providers)
    # Every dynamic resource that calls Azure is told the cloud; the role wait only sleeps.
    calling = {r.type.rsplit(":", 1)[1]: r.inputs.get("cloud") for r in run.registrations
               if r.type.startswith("pulumi-python:dynamic") and not r.type.endswith("RoleAssignmentWait")}
    assert calling == {"HostNameDnsCheck": c.name, "SlotSwap": c.name, "SniBinding": c.name}


def test_public_stacks_name_no_cloud_input_and_no_provider_environment():
    run = run_program(stack_values("dev", sku="S1", auth={"enabled": True, "tenantId": TENANT, "clientId": CLIENT}),
                      "dev")
    # azure-native's Provider defaults its environment to public itself: the stack leaves it so, as before.
    assert {r.inputs.get("environment") for r in run.registrations if r.type == "pulumi:providers:azure-native"} == \
        {"public"}
    assert not [r.name for r in run.registrations if "cloud" in r.inputs]
    auth = next(r for r in run.registrations if r.type == "azure-native:web:WebAppAuthSettingsV2")
    assert auth.inputs["identityProviders"]["azureActiveDirectory"]["registration"]["openIdIssuer"] == \
        f"https://login.microsoftonline.com/{TENANT}/v2.0"


# -- the clients ----------------------------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, name):
        def make(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return types.SimpleNamespace(name=name, args=args, kwargs=kwargs,
                                         get_token=lambda scope: types.SimpleNamespace(token=f"token for {scope}"))
        return make


@pytest.fixture
def recorder(monkeypatch):
    record = Recorder()
    import azure.identity
    import azure.mgmt.web
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", record("credential"))
    monkeypatch.setattr(azure.mgmt.web, "WebSiteManagementClient", record("web"))
    fake_ml = types.ModuleType("azure.ai.ml")
    fake_ml.MLClient = record("ml")
    monkeypatch.setitem(sys.modules, "azure.ai.ml", fake_ml)
    import azure.containerregistry
    monkeypatch.setattr(azure.containerregistry, "ContainerRegistryClient", record("registry"))
    return record


@pytest.mark.parametrize("c", list(CLOUDS.values()), ids=lambda c: c.name)
def test_web_clients_get_the_clouds_endpoint_scope_and_authority(recorder, c):
    site = Site("sub", "rg", "app", c)
    AzureSiteService(site)._client()
    AzureHostNames(parse_site("/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/app", c)[0])._client()
    token = AzureSiteService(site).token(f"api://{CLIENT}")
    webs = [call for call in recorder.calls if call[0] == "web"]
    assert len(webs) == 2
    for _, args, kwargs in webs:
        assert kwargs == {"base_url": c.arm_endpoint, "credential_scopes": [f"{c.arm_audience}/.default"]}
        assert args[0].kwargs == {"authority": f"https://{c.authority_host}"} and args[1] == "sub"
    assert token == f"token for api://{CLIENT}/.default"
    assert all(call[2] == {"authority": c.authority} for call in recorder.calls if call[0] == "credential")


@pytest.mark.parametrize("c", list(CLOUDS.values()), ids=lambda c: c.name)
def test_azure_ml_and_registry_clients_get_the_clouds_name_audience_and_authority(recorder, c):
    service = AzureMLPackaging(Workspace(subscription_id=TENANT, resource_group="ml", name="mlws"), c)
    service._client()
    service._registry(f"mwregistry.{c.registry_suffix}")
    (ml,) = [call for call in recorder.calls if call[0] == "ml"]
    assert ml[2] == {"cloud": c.ml_cloud} and ml[1][0].kwargs == {"authority": c.authority}
    (registry,) = [call for call in recorder.calls if call[0] == "registry"]
    assert registry[1][0] == f"https://mwregistry.{c.registry_suffix}"
    assert registry[2] == {"audience": c.registry_audience} and registry[1][1].kwargs == {"authority": c.authority}


def test_the_package_provider_builds_its_client_and_reads_images_in_the_inputs_cloud(monkeypatch):
    made = []
    monkeypatch.setattr("providers.model_package.AzureMLPackaging", lambda w, c: made.append((w.name, c)))
    provider = ModelPackageProvider()
    provider._service({"subscription_id": TENANT, "resource_group": "ml", "workspace_name": "mlws", "cloud": "china"})
    provider._service({"subscription_id": TENANT, "resource_group": "ml", "workspace_name": "mlws"})
    assert made == [("mlws", CHINA), ("mlws", PUBLIC)]
    assert split_image(f"mwregistry.azurecr.us/env:1", US_GOVERNMENT) == ("mwregistry.azurecr.us", "env", None, "1")
    with pytest.raises(packaging.PackageBuildError, match=re.escape("<registry>.azurecr.us/<repository>:<tag>")):
        split_image("mwregistry.azurecr.io/env:1", US_GOVERNMENT)


def test_the_release_providers_build_their_site_in_the_inputs_cloud():
    from providers.site_rollout import SiteRolloutProvider

    sites = []
    provider = SiteRolloutProvider(service_factory=sites.append)
    provider._service({"subscription_id": "sub", "resource_group": "rg", "site_name": "app", "cloud": "usgovernment"})
    provider._service({"subscription_id": "sub", "resource_group": "rg", "site_name": "app"})
    assert [s.cloud for s in sites] == [US_GOVERNMENT, PUBLIC]
    assert app_service.Site("s", "r", "n").cloud is PUBLIC and host_names.parse_site(
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/n")[0].cloud is PUBLIC


def test_the_china_example_plans_clean_with_none_of_the_global_clouds_hosts(capsys):
    from offline import plan

    code = plan.main(["--config-file", str(PROJECT_DIR / "examples" / "china.yaml"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["stack"] == "china" and not doc["violations"]
    text = json.dumps(doc)
    assert not [host for host in GLOBAL if host in text]
    assert doc["outputs"]["scoring_uri"].endswith(".chinacloudsites.cn/score")
    assert doc["outputs"]["image"].split("/", 1)[0].endswith(".azurecr.cn")
    (provider,) = [r for r in doc["resources"] if r["name"] == "mw-china-workspace"]
    assert provider["inputs"]["environment"] == "china"
