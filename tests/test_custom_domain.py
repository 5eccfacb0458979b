"""The custom domain (issue 15): settings, the plan with and without an Azure DNS zone, the DNS check and the SNI step
against an in-memory App Service, both providers over gRPC as the engine runs them, and the policy rules."""
from __future__ import annotations

import pytest
from pulumi.runtime.proto import provider_pb2

from offline.fake_azure import FAKE_INBOUND_IP
from offline.mock_engine import run_program
from offline.policy_check import evaluate, load_policy_config
from providers.dns_check import DnsNotReady, HostNameDnsCheckProvider, dns_problems
from providers.host_names import Binding, HostNameAnalysis, parse_site
from providers.sni_binding import PROVIDER_VERSION, SniBindingError, SniBindingProvider
from tests.engine_harness import DynamicProviderPlugin
from tests.fake_host_names import BINDING_ID, CERTIFICATE_ID, HOST, RENEWED, SITE_ID, THUMBPRINT, FakeHostNames
from tests.helpers import SERVICE, WEB_APP, stack_values
from tests.helpers import problems_of

ZONE_ID = "/subscriptions/44444444-4444-4444-4444-444444444444/resourceGroups/rg-dns/providers/Microsoft.Network/dnszones/contoso.com"
TXT, CNAME, A = ({"type": "TXT", "name": f"asuid.{HOST}", "value": "VERIFY1"},
                 {"type": "CNAME", "name": HOST, "value": "app.azurewebsites.net"},
                 {"type": "A", "name": "contoso.com", "value": "198.51.100.20"})
RECORD_SET, BINDING, CERTIFICATE = ("azure-native:dns:RecordSet", "azure-native:web:WebAppHostNameBinding",
                                    "azure-native:web:Certificate")
DNS_CHECK, SNI = ("pulumi-python:dynamic/model-webapp:HostNameDnsCheck", "pulumi-python:dynamic/model-webapp:SniBinding")



def with_domain(stack: str = "dev", **domain):
    return run_program(stack_values(stack, customDomain=domain), stack)


@pytest.fixture(scope="module")
def zoned():
    return with_domain(hostName=HOST, dnsZoneId=ZONE_ID)


@pytest.fixture(scope="module")
def external():
    return with_domain(hostName=HOST)


# -- settings -------------------------------------------------------------------------------------
@pytest.mark.parametrize("domain, key, fragment", [
    ({"hostName": "score"}, "customDomain.hostName", "fully qualified domain name"),
    ({"hostName": "Score.Contoso.com"}, "customDomain.hostName", "lowercase"),
    ({"hostName": "score.contoso.com."}, "customDomain.hostName", "fully qualified domain name"),
    ({"hostName": "score_1.contoso.com"}, "customDomain.hostName", "letters, digits, hyphens"),
    ({"hostName": "a" * 60 + ".contoso.com"}, "customDomain.hostName", "at most 64 characters"),
    ({"hostName": "*.contoso.com"}, "customDomain.hostName", "wildcard is not supported"),
    ({"hostName": HOST, "dnsZoneId": "contoso.com"}, "customDomain.dnsZoneId", "Azure DNS zone id"),
    ({"hostName": HOST, "dnsZoneId": ZONE_ID.replace("/dnszones/", "/privateDnsZones/")}, "customDomain.dnsZoneId",
     "Azure DNS zone id"),
    ({"hostName": HOST, "dnsZoneId": ZONE_ID.replace("44444444-4444-4444-4444-444444444444", "sub")},
     "customDomain.dnsZoneId", "Azure DNS zone id"),
    ({"hostName": "score.fabrikam.com", "dnsZoneId": ZONE_ID}, "customDomain.hostName", "not in the DNS zone contoso.com"),
    ({"dnsZoneId": ZONE_ID}, "customDomain.hostName", "is not set"),
    ({"hostname": HOST}, "customDomain.hostname", "did you mean hostName?"),
])
def test_every_bad_custom_domain_is_a_settings_error_naming_its_key(domain, key, fragment):
    message = problems_of("dev", customDomain=domain)
    line = next((line for line in message.splitlines() if f"model-webapp:{key} " in line), None)
    assert line is not None and fragment in line, message


def test_a_custom_domain_needs_a_basic_plan_or_above():
    message = problems_of("dev", sku="F1", customDomain={"hostName": HOST})
    assert "model-webapp:customDomain.hostName = 'score.contoso.com': a custom domain with a free managed certificate " \
           "needs a Basic plan or above; sku F1 is Free" in message


# -- the plan -------------------------------------------------------------------------------------
def _named(run, typ):
    return {r.name: r for r in run.of_type(typ)}


def test_with_a_zone_records_check_binding_certificate_and_sni_in_dependency_order(zoned):
    records = _named(zoned, RECORD_SET)
    assert set(records) == {"mw-dev-domain-txt", "mw-dev-domain-cname"}
    txt, cname = records["mw-dev-domain-txt"], records["mw-dev-domain-cname"]
    site = zoned.one(WEB_APP)
    assert (txt.inputs["zoneName"], txt.inputs["resourceGroupName"], txt.inputs["recordType"],
            txt.inputs["relativeRecordSetName"]) == ("contoso.com", "rg-dns", "TXT", "asuid.score")
    assert txt.inputs["txtRecords"] == [{"value": [site.state["customDomainVerificationId"]]}]
    assert (cname.inputs["relativeRecordSetName"], cname.inputs["cnameRecord"]) == \
        ("score", {"cname": site.state["defaultHostName"]})
    assert site.urn in txt.dependencies and site.urn in cname.dependencies
    # The zone's subscription gets a provider of its own.
    (provider,) = [r for r in zoned.registrations if r.name == "mw-dev-dns"]
    assert provider.inputs["subscriptionId"] == "44444444-4444-4444-4444-444444444444"

    check, binding = zoned.one(DNS_CHECK), zoned.one(BINDING)
    certificate, sni = zoned.one(CERTIFICATE), zoned.one(SNI)
    assert {txt.urn, cname.urn} <= set(check.dependencies)
    assert check.urn in binding.dependencies
    assert binding.urn in certificate.dependencies
    assert {binding.urn, certificate.urn} <= set(sni.dependencies)
    assert [r.name for r in (check, binding, certificate, sni)] == \
        ["mw-dev-domain-dns", "mw-dev-domain", "mw-dev-domain-cert", "mw-dev-domain-tls"]
    component = zoned.one(SERVICE)
    assert all(r.parent == component.urn for r in (txt, cname, provider, check, binding, certificate, sni))


def test_the_binding_is_plain_on_production_and_leaves_its_tls_to_the_sni_step(zoned):
    binding, site = zoned.one(BINDING), zoned.one(WEB_APP)
    assert binding.inputs["hostName"] == HOST and binding.inputs["sslState"] == "Disabled"
    assert binding.inputs["name"] == site.state["name"] and binding.inputs["customHostNameDnsRecordType"] == "CName"
    assert binding.options["ignoreChanges"] == ["sslState", "thumbprint"]
    assert "thumbprint" not in binding.inputs


def test_the_certificate_is_the_free_managed_one_on_the_plan(zoned):
    certificate, plan = zoned.one(CERTIFICATE), zoned.one("azure-native:web:AppServicePlan")
    assert certificate.inputs["canonicalName"] == HOST
    assert "domainValidationMethod" not in certificate.inputs  # a subdomain: the service's own default
    assert plan.urn in certificate.dependencies and "serverFarmId" in certificate.inputs
    assert not {"pfxBlob", "password", "keyVaultId"} & set(certificate.inputs)


def test_the_sni_step_binds_the_certificates_thumbprint_to_that_binding(zoned):
    sni, certificate, binding = zoned.one(SNI), zoned.one(CERTIFICATE), zoned.one(BINDING)
    assert sni.inputs["host_name"] == HOST and sni.inputs["provider_version"] == PROVIDER_VERSION
    # Wire inputs that came from the certificate and the binding (their ids and thumbprint), not made up here.
    assert sni.inputs["thumbprint"] == certificate.state["thumbprint"]
    assert binding.urn in sni.dependencies and certificate.urn in sni.dependencies
    assert sni.options["ignoreChanges"] == []  # a renewed certificate must reach it


def test_the_dns_check_waits_for_the_records_the_zone_holds(zoned):
    check, site = zoned.one(DNS_CHECK), zoned.one(WEB_APP)
    assert check.inputs["zone"] == "contoso.com" and check.inputs["wait_seconds"] == 300
    assert check.inputs["records"] == [
        {"type": "TXT", "name": f"asuid.{HOST}", "value": site.state["customDomainVerificationId"]},
        {"type": "CNAME", "name": HOST, "value": site.state["defaultHostName"]}]


def test_an_apex_domain_gets_an_a_record_to_the_sites_inbound_ip():
    run = with_domain(hostName="contoso.com", dnsZoneId=ZONE_ID)
    records = _named(run, RECORD_SET)
    assert set(records) == {"mw-dev-domain-txt", "mw-dev-domain-a"}
    assert records["mw-dev-domain-txt"].inputs["relativeRecordSetName"] == "asuid"
    assert records["mw-dev-domain-a"].inputs["relativeRecordSetName"] == "@"
    assert records["mw-dev-domain-a"].inputs["aRecords"] == [{"ipv4Address": FAKE_INBOUND_IP}]
    (read,) = [i for i in run.invokes if i["token"] == "azure-native:resources:getResource"
               and i["args"]["resourceType"] == "sites"]
    assert read["args"]["resourceProviderNamespace"] == "Microsoft.Web"
    assert run.one(BINDING).inputs["customHostNameDnsRecordType"] == "A"
    assert run.one(CERTIFICATE).inputs["domainValidationMethod"] == "http-token"  # as Microsoft's apex template


def test_without_a_zone_the_records_to_create_are_outputs_and_no_record_is_declared(external):
    site = external.one(WEB_APP)
    assert external.of_type(RECORD_SET) == []
    assert not [r for r in external.registrations if r.name == "mw-dev-dns"]
    assert external.outputs["dns_records_to_create"] == [
        {"type": "TXT", "name": f"asuid.{HOST}", "value": site.state["customDomainVerificationId"]},
        {"type": "CNAME", "name": HOST, "value": site.state["defaultHostName"]}]
    check = external.one(DNS_CHECK)
    assert check.inputs.get("zone") is None and check.inputs["wait_seconds"] == 60
    assert check.urn in external.one(BINDING).dependencies
    assert len(external.of_type(SNI)) == 1 and len(external.of_type(CERTIFICATE)) == 1


def test_scoring_uri_uses_the_custom_host_and_the_default_host_stays_an_output(external):
    site = external.one(WEB_APP)
    assert external.outputs["scoring_uri"] == f"https://{HOST}/score"
    assert external.outputs["default_host_name"] == site.state["defaultHostName"]


def test_without_custom_domain_none_of_it_and_scoring_uri_as_today():
    run = run_program(stack_values("dev"), "dev")
    site = run.one(WEB_APP)
    assert not [r for r in run.registrations if r.type in (RECORD_SET, BINDING, CERTIFICATE, DNS_CHECK, SNI)]
    assert run.outputs["scoring_uri"] == f"https://{site.state['defaultHostName']}/score"
    assert run.outputs["default_host_name"] == site.state["defaultHostName"]
    assert "dns_records_to_create" not in run.outputs


def test_with_the_release_slot_the_binding_stays_on_production():
    run = with_domain("prod", hostName=HOST, dnsZoneId=ZONE_ID)
    (binding,) = run.of_type(BINDING)
    assert not run.of_type("azure-native:web:WebAppHostNameBindingSlot")
    assert binding.inputs["name"] == run.one(WEB_APP).state["name"]


def test_the_planned_stacks_pass_the_policy_pack_with_a_custom_domain(zoned, external):
    for run in (zoned, external):
        assert not [v for v in evaluate(run, load_policy_config("dev")) if v["level"] == "mandatory"]


# -- the DNS check --------------------------------------------------------------------------------
def dns_props(*records, zone=None, wait=0):
    return {"site_id": SITE_ID, "host_name": HOST, "records": list(records or (TXT, CNAME)), "wait_seconds": wait,
            "zone": zone}


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def test_without_the_records_the_check_fails_naming_both_with_their_values():
    service = FakeHostNames(analysis=HostNameAnalysis(verification="Failed", cname_records=[], a_records=[],
                                                      failure="A TXT record pointing from asuid... was not found."))
    with pytest.raises(DnsNotReady) as raised:
        HostNameDnsCheckProvider(service.factory, sleep=Sleeps()).create(dns_props())
    message = str(raised.value)
    assert f"TXT   asuid.{HOST} = VERIFY1" in message and f"CNAME {HOST} -> app.azurewebsites.net" in message
    assert "then run `pulumi up` again" in message and "dns_records_to_create" in message
    assert "App Service reports: A TXT record pointing" in message
    assert service.sites == [parse_site(SITE_ID)[0]]


def test_once_the_records_resolve_the_check_passes_with_one_look():
    service = FakeHostNames(analysis=HostNameAnalysis(verification="Passed", cname_records=["app.azurewebsites.net."]))
    result = HostNameDnsCheckProvider(service.factory, sleep=Sleeps()).create(dns_props())
    assert result.outs["host_name"] == HOST and service.calls == [f"analyze {HOST}"]


def test_records_the_stack_just_wrote_are_awaited_and_polled():
    sleeps = Sleeps()
    service = FakeHostNames(
        analyses=[HostNameAnalysis(verification="Failed", cname_records=[], a_records=[])] * 2,
        analysis=HostNameAnalysis(verification="Passed", cname_records=["app.azurewebsites.net"]))
    HostNameDnsCheckProvider(service.factory, sleep=sleeps).create(dns_props(zone="contoso.com", wait=300))
    assert len(sleeps) == 2 and service.calls.count(f"analyze {HOST}") == 3


def test_a_zone_that_never_resolves_says_to_check_its_delegation():
    service = FakeHostNames(analysis=HostNameAnalysis(verification="Failed", cname_records=[], a_records=[]))
    with pytest.raises(DnsNotReady, match="delegated to Azure DNS"):
        HostNameDnsCheckProvider(service.factory, sleep=Sleeps()).create(dns_props(zone="contoso.com"))


def test_a_host_name_bound_elsewhere_fails_at_once():
    sleeps = Sleeps()
    service = FakeHostNames(analysis=HostNameAnalysis(conflict="/subscriptions/s/.../sites/other"))
    with pytest.raises(DnsNotReady, match="already bound to /subscriptions/s/.../sites/other"):
        HostNameDnsCheckProvider(service.factory, sleep=sleeps).create(dns_props(wait=300))
    assert sleeps == []


@pytest.mark.parametrize("analysis, records, expected", [
    (HostNameAnalysis(), (TXT, CNAME), []),  # the analysis says nothing: ARM decides
    (HostNameAnalysis(verification="Passed", cname_records=["old.example.net"]), (TXT, CNAME),
     [f"CNAME {HOST} points to old.example.net, not app.azurewebsites.net"]),
    (HostNameAnalysis(verification="Passed", cname_records=[], a_records=[]), (TXT, CNAME),
     [f"CNAME {HOST} does not resolve"]),
    (HostNameAnalysis(verification="Passed", a_records=["198.51.100.20"]), (TXT, A), []),
    (HostNameAnalysis(verification="Failed", a_records=["203.0.113.9"]), (TXT, A),
     [f"TXT asuid.{HOST} is missing or does not hold the site's verification id",
      "A contoso.com points to 203.0.113.9, not 198.51.100.20"]),
])
def test_what_the_analysis_counts_as_missing(analysis, records, expected):
    assert dns_problems(analysis, list(records)) == expected


def test_new_records_are_looked_at_again_and_the_same_ones_are_not():
    provider, olds = HostNameDnsCheckProvider(lambda _site: pytest.fail("diff calls no service")), dns_props()
    assert provider.diff("id", olds, dns_props()).changes is False
    changed = provider.diff("id", olds, dns_props(TXT, {**CNAME, "value": "other.azurewebsites.net"}))
    assert changed.changes is True and changed.replaces == []


# -- the SNI step ---------------------------------------------------------------------------------
def sni_props(thumbprint=THUMBPRINT, **changes):
    return {"provider_version": PROVIDER_VERSION, "binding_id": BINDING_ID, "host_name": HOST,
            "certificate_id": CERTIFICATE_ID, "thumbprint": thumbprint, "bound_thumbprint": None, **changes}


def test_sni_binds_once_and_a_second_run_changes_nothing():
    service = FakeHostNames()
    provider = SniBindingProvider(service.factory, sleep=Sleeps())
    created = provider.create(sni_props())
    assert service.puts == [(HOST, "SniEnabled", THUMBPRINT)]
    assert created.outs["bound_thumbprint"] == THUMBPRINT and created.id.endswith(f"/hostNameBindings/{HOST}/sni")
    again = provider.create(sni_props())  # a retried up: already bound
    assert service.puts == [(HOST, "SniEnabled", THUMBPRINT)] and again.outs["bound_thumbprint"] == THUMBPRINT
    assert provider.diff(created.id, created.outs, sni_props()).changes is False


def test_a_renewed_certificate_rebinds_in_place():
    service = FakeHostNames(bindings={HOST: Binding(HOST, "SniEnabled", THUMBPRINT)})
    provider = SniBindingProvider(service.factory, sleep=Sleeps())
    olds = {**sni_props(), "bound_thumbprint": THUMBPRINT}
    diff = provider.diff("id", olds, sni_props(RENEWED))
    assert diff.changes is True and diff.replaces == []
    assert provider.update("id", olds, sni_props(RENEWED)).outs["bound_thumbprint"] == RENEWED
    assert service.puts == [(HOST, "SniEnabled", RENEWED)]


def test_a_binding_app_service_already_moved_to_the_renewed_certificate_is_left_alone():
    service = FakeHostNames(bindings={HOST: Binding(HOST, "SniEnabled", RENEWED.lower())})
    outs = SniBindingProvider(service.factory, sleep=Sleeps()).update("id", sni_props(), sni_props(RENEWED)).outs
    assert service.puts == [] and outs["bound_thumbprint"] == RENEWED.lower()


def test_refresh_sees_tls_turned_off_and_the_next_up_binds_again():
    service = FakeHostNames(bindings={HOST: Binding(HOST, "Disabled", None)})
    provider = SniBindingProvider(service.factory, sleep=Sleeps())
    read = provider.read("id", {**sni_props(), "bound_thumbprint": THUMBPRINT})
    assert read.id == "id" and read.outs["bound_thumbprint"] is None
    assert provider.diff("id", read.outs, sni_props()).changes is True


def test_refresh_drops_the_step_when_its_binding_is_gone():
    service = FakeHostNames(bindings={})
    assert SniBindingProvider(service.factory).read("id", sni_props()).id == ""


def test_a_missing_binding_is_a_clear_error():
    service = FakeHostNames(bindings={})
    with pytest.raises(SniBindingError) as raised:
        SniBindingProvider(service.factory, sleep=Sleeps()).create(sni_props())
    message = str(raised.value)
    assert f"site app (resource group mw-dev-rg) has no host-name binding for {HOST}" in message
    assert "WebAppHostNameBinding must exist first" in message and service.puts == []


def test_a_certificate_still_being_issued_is_awaited():
    sleeps, service = Sleeps(), FakeHostNames(issued_after=2)
    outs = SniBindingProvider(service.factory, sleep=sleeps).create(sni_props(thumbprint="")).outs
    assert len(sleeps) == 2 and outs["bound_thumbprint"] == THUMBPRINT


def test_throttling_is_retried():
    service = FakeHostNames(transient_failures=2)
    SniBindingProvider(service.factory, sleep=Sleeps()).create(sni_props())
    assert service.calls.count(f"set_tls {HOST} SniEnabled") == 3 and len(service.puts) == 1


def test_delete_turns_tls_off_so_the_certificate_can_go_and_ignores_a_missing_binding():
    service = FakeHostNames(bindings={HOST: Binding(HOST, "SniEnabled", RENEWED)})
    provider = SniBindingProvider(service.factory)
    provider.delete("id", sni_props())
    assert service.puts == [(HOST, "Disabled", None)]
    provider.delete("id", sni_props())  # already off: nothing more
    gone = FakeHostNames(bindings={})
    SniBindingProvider(gone.factory).delete("id", sni_props())
    assert gone.puts == []


def test_another_host_name_replaces_the_step():
    provider = SniBindingProvider(lambda _site: pytest.fail("diff calls no service"))
    other = BINDING_ID.replace(HOST, "api.contoso.com")
    diff = provider.diff("id", sni_props(), sni_props(binding_id=other, host_name="api.contoso.com"))
    assert sorted(diff.replaces) == ["binding_id", "host_name"]


# -- over gRPC, as the engine runs them --------------------------------------------------------------
def test_both_providers_over_grpc_as_the_engine_runs_them(zoned):
    sni, check = zoned.one(SNI), zoned.one(DNS_CHECK)
    plugin = DynamicProviderPlugin("dev")
    try:
        news = {**sni.engine_inputs, "binding_id": BINDING_ID, "certificate_id": CERTIFICATE_ID}
        inputs, failures = plugin.check(sni.urn, news)
        assert failures == [] and inputs["host_name"] == HOST
        _inputs, failures = plugin.check(sni.urn, {**news, "thumbprint": "not-hex", "host_name": "Score.Contoso.com"})
        assert sorted(prop for prop, _ in failures) == ["host_name", "thumbprint"]
        _inputs, failures = plugin.check(sni.urn, {**news, "binding_id": BINDING_ID.replace(HOST, "api.contoso.com")})
        assert [prop for prop, _ in failures] == ["binding_id"]
        olds = {**news, "bound_thumbprint": news["thumbprint"]}
        assert plugin.diff(sni.urn, olds, dict(news)).changes == provider_pb2.DiffResponse.DIFF_NONE
        renewed = plugin.diff(sni.urn, olds, {**news, "thumbprint": RENEWED})
        assert renewed.changes == provider_pb2.DiffResponse.DIFF_SOME and list(renewed.replaces) == []

        dns = {**check.engine_inputs, "site_id": SITE_ID}
        _inputs, failures = plugin.check(check.urn, dns)
        assert failures == []
        _inputs, failures = plugin.check(check.urn, {**dns, "site_id": "/subscriptions/x/resourceGroups/y"})
        assert [prop for prop, _ in failures] == ["site_id"]
        assert plugin.diff(check.urn, dns, dict(dns)).changes == provider_pb2.DiffResponse.DIFF_NONE
    finally:
        plugin.stop()


@pytest.mark.parametrize("typ, module", [(SNI, b"providers.sni_binding"), (DNS_CHECK, b"providers.dns_check")])
def test_the_pickled_providers_hold_no_client_credential_or_test_double(zoned, typ, module):
    import base64

    blob = base64.b64decode(zoned.one(typ).engine_inputs["__provider"])  # what the engine stores in state
    for forbidden in (b"WebSiteManagementClient", b"DefaultAzureCredential", b"service_factory", b"FakeHostNames",
                      b"sleep", b"_thread.lock"):
        assert forbidden not in blob
    assert module in blob  # pickled by module path: the module must not move
