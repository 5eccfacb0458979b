"""An in-memory App Service for the custom domain's providers: host-name bindings, certificates, a DNS analysis."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from azure.core.exceptions import HttpResponseError

from providers.app_service import Site
from providers.host_names import Binding, HostNameAnalysis, parse_certificate

SITE_ID = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/mw-dev-rg/providers/Microsoft.Web/sites/app"
HOST = "score.contoso.com"
BINDING_ID = f"{SITE_ID}/hostNameBindings/{HOST}"
CERTIFICATE_ID = ("/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/mw-dev-rg/providers/Microsoft.Web/"
                  "certificates/mw-dev-domain-cert")
THUMBPRINT = "A" * 40
RENEWED = "B" * 40


def throttled() -> HttpResponseError:
    error = HttpResponseError(message="Too Many Requests")
    error.status_code = 429
    return error


@dataclass
class FakeHostNames:
    bindings: dict[str, Binding] = field(default_factory=lambda: {HOST: Binding(HOST, "Disabled", None)})
    certificates: dict[str, Optional[str]] = field(default_factory=lambda: {"mw-dev-domain-cert": THUMBPRINT})
    analysis: HostNameAnalysis = field(default_factory=HostNameAnalysis)
    analyses: list[HostNameAnalysis] = field(default_factory=list)  # answered first, one per call
    issued_after: int = 0  # certificate reads that find no thumbprint yet
    transient_failures: int = 0  # the first calls to set_tls fail with 429
    puts: list[tuple[str, str, Optional[str]]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)

    def factory(self, site: Site) -> "FakeHostNames":
        self.sites.append(site)
        return self

    def analyze(self, host_name: str) -> HostNameAnalysis:
        self.calls.append(f"analyze {host_name}")
        return self.analyses.pop(0) if self.analyses else self.analysis

    def binding(self, host_name: str) -> Optional[Binding]:
        self.calls.append(f"binding {host_name}")
        return self.bindings.get(host_name)

    def set_tls(self, host_name: str, ssl_state: str, thumbprint: Optional[str]) -> Binding:
        self.calls.append(f"set_tls {host_name} {ssl_state}")
        if self.transient_failures:
            self.transient_failures -= 1
            raise throttled()
        self.puts.append((host_name, ssl_state, thumbprint))
        self.bindings[host_name] = Binding(host_name, ssl_state, thumbprint)
        return self.bindings[host_name]

    def certificate_thumbprint(self, certificate_id: str) -> Optional[str]:
        self.calls.append("certificate")
        if self.issued_after:
            self.issued_after -= 1
            return None
        return self.certificates.get(parse_certificate(certificate_id)[1])
