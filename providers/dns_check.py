"""HostNameDnsCheck: waits until App Service sees a custom host name's DNS records, before the host name is bound.

Why: the binding is refused until the verification TXT record and the CNAME (A for a zone apex) resolve, and ARM's
refusal is worded per record, inside the provider's error. This step asks App Service's own DNS analysis
(`analyzeCustomHostname`, what the portal's domain validation calls) for the host name, polls it for a while, and
stops with one message that lists every record to create and its value, so the next `pulumi up` completes once they
resolve. Records in an Azure DNS zone the stack writes appear within seconds where the zone is delegated; a zone that
is not delegated never resolves, and the message says so.

The check only stops on evidence: the verification test reported Failed, a CNAME or A record that points elsewhere,
or no record at all. Where the analysis reports nothing (an older API, an unexpected shape), it lets the binding go
ahead and ARM's own answer decides (unverified against a live subscription: see the README's custom domain section).

Pickled into state by module path (`providers.dns_check`); it keeps no client or credential.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult
from pulumi.runtime.rpc import UNKNOWN

from settings.clouds import cloud
from settings.stack_settings import HOST_NAME
from .app_service import Site
from .host_names import AzureHostNames, HostNameAnalysis, HostNameService, parse_site
from .retries import with_retries

POLL_SECONDS = 15
MAX_WAIT_SECONDS = 1800
RECORD_TYPES = ("TXT", "CNAME", "A")
ServiceFactory = Callable[[Site], HostNameService]


class DnsNotReady(Exception):
    """App Service does not see the host name's records yet; the message lists them."""


def _name(host: str) -> str:
    return host.lower().rstrip(".")


def dns_problems(analysis: HostNameAnalysis, records: list[dict[str, str]]) -> list[str]:
    """What App Service's analysis shows to be missing or wrong, record by record; empty when nothing is."""
    if analysis.conflict:
        return [f"the host name is already bound to {analysis.conflict}: remove it there first"]
    problems = []
    for record in records:
        kind, value = record["type"], _name(record["value"])
        if kind == "TXT" and analysis.verification == "Failed":
            problems.append(f"TXT {record['name']} is missing or does not hold the site's verification id")
        elif kind in ("CNAME", "A"):
            seen = analysis.cname_records if kind == "CNAME" else analysis.a_records
            if seen is None:
                continue  # the analysis says nothing: let ARM judge
            seen = [_name(s) for s in seen]
            nothing = not seen and not (analysis.a_records if kind == "CNAME" else analysis.cname_records)
            if (seen or nothing) and value not in seen:
                problems.append(f"{kind} {record['name']} " + ("does not resolve" if nothing else
                                                              f"points to {', '.join(seen)}, not {record['value']}"))
    return problems


def records_text(records: list[dict[str, str]]) -> str:
    arrow = {"TXT": "=", "CNAME": "->", "A": "->"}
    return "\n".join(f"  {r['type']:<5} {r['name']} {arrow[r['type']]} {r['value']}" for r in records)


class HostNameDnsCheckProvider(ResourceProvider):
    serialize_as_secret_always = False  # nothing secret in it: DNS records are public

    def __init__(self, service_factory: Optional[ServiceFactory] = None,
                 sleep: Optional[Callable[[float], None]] = None) -> None:
        super().__init__()
        if service_factory is not None:  # tests only: the real ones are looked up per call
            self.service_factory = service_factory
        if sleep is not None:
            self.sleep = sleep

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        host, site_id, seconds = news.get("host_name"), news.get("site_id"), news.get("wait_seconds")
        if host != UNKNOWN and not re.match(HOST_NAME, str(host or "")):
            failures.append(CheckFailure("host_name", f"{host!r} is not a lowercase fully qualified domain name"))
        if site_id != UNKNOWN:
            try:
                parse_site(str(site_id or ""))
            except ValueError as exc:
                failures.append(CheckFailure("site_id", str(exc)))
        if seconds != UNKNOWN and not (isinstance(seconds, (int, float)) and 0 <= seconds <= MAX_WAIT_SECONDS):
            failures.append(CheckFailure("wait_seconds", f"must be a number of seconds from 0 to {MAX_WAIT_SECONDS}"))
        records = news.get("records")
        if records != UNKNOWN and not (isinstance(records, list) and records and all(
                isinstance(r, dict) and (r.get("type") in RECORD_TYPES or UNKNOWN in r.values()) for r in records)):
            failures.append(CheckFailure("records", f"must list the DNS records to wait for ({', '.join(RECORD_TYPES)})"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # New records, another host or another site: look again (an update; nothing in Azure to replace).
        changed = [k for k in ("site_id", "host_name", "records", "zone")
                   if olds.get(k) != news.get(k) or UNKNOWN in str(news.get(k))]
        changed += [k for k in ("wait_seconds",) if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._wait(props)
        return CreateResult(id_=f"{props['site_id']}/dns/{props['host_name']}", outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if any(olds.get(k) != news.get(k) for k in ("site_id", "host_name", "records", "zone")):
            self._wait(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing was made

    def _wait(self, props: dict[str, Any]) -> None:
        site, _ = parse_site(props["site_id"], cloud(props.get("cloud")))
        service = (getattr(self, "service_factory", None) or AzureHostNames)(site)
        host, records, zone = props["host_name"], list(props["records"]), props.get("zone")
        sleep, deadline = getattr(self, "sleep", time.sleep), time.monotonic() + float(props.get("wait_seconds") or 0)
        while True:
            analysis = with_retries(lambda: service.analyze(host), f"asking App Service how it sees {host}")
            problems = dns_problems(analysis, records)
            if not problems:
                return
            if analysis.conflict or time.monotonic() >= deadline:
                raise DnsNotReady(self._message(host, records, zone, problems, analysis))
            pulumi.log.info(f"waiting for App Service to see the DNS records of {host}: {'; '.join(problems)}")
            sleep(POLL_SECONDS)

    @staticmethod
    def _message(host: str, records: list[dict[str, str]], zone: Optional[str], problems: list[str],
                 analysis: HostNameAnalysis) -> str:
        if zone:
            where = (f"The stack wrote these records to the Azure DNS zone {zone}, but App Service does not see them "
                     f"yet. Check that the zone is delegated to Azure DNS (the NS records at your registrar name the "
                     f"zone's name servers), then run `pulumi up` again:")
        else:
            where = (f"Create these DNS records where the DNS of {host} is hosted, then run `pulumi up` again (the "
                     "stack output dns_records_to_create lists them too):")
        said = f"\nApp Service reports: {analysis.failure}" if analysis.failure else ""
        return (f"custom domain {host} is not ready to bind: {'; '.join(problems)}.\n{where}\n{records_text(records)}"
                f"{said}")


class HostNameDnsCheck(pulumi.dynamic.Resource, module="model-webapp", name="HostNameDnsCheck"):
    host_name: pulumi.Output[str]
    records: pulumi.Output[list]

    def __init__(self, name: str, site_id: pulumi.Input[str], host_name: str, records: pulumi.Input[list],
                 wait_seconds: int, zone: Optional[str], opts: Optional[pulumi.ResourceOptions] = None,
                 cloud: Optional[str] = None) -> None:
        # cloud only outside the public cloud: public stacks' checks keep the inputs they were created with.
        super().__init__(HostNameDnsCheckProvider(), name,
                         {"site_id": site_id, "host_name": host_name, "records": records,
                          "wait_seconds": wait_seconds, "zone": zone, **({"cloud": cloud} if cloud else {})}, opts)
