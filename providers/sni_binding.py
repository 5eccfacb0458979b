"""SniBinding: turns on SNI TLS with the managed certificate on an existing host-name binding (the "bind twice" step).

Why a resource of its own: the free managed certificate can only be issued for a host name that is already bound,
and the binding must then be updated to use it. ARM refuses the same binding twice in one template and azure-native
will not create what exists (pulumi-azure-native issue 578), so `WebAppHostNameBinding` declares the plain binding
(with `ignore_changes` on sslState and thumbprint) and this resource owns its TLS: create and update PUT the binding
with sslState SniEnabled and the certificate's thumbprint, doing nothing when it is already so; delete turns TLS off
again, so that the certificate can be deleted after it. App Service renews the certificate about every six months and
moves the binding to the new thumbprint itself (App Service team blog, 2021-03-02); a refresh then shows the new
thumbprint, and an update here finds it already bound.

The provider is pickled into the stack's state by module path (`providers.sni_binding`) and runs later in its own
process: it keeps no client or credential, and this module declares nothing on import.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult
from pulumi.runtime.rpc import UNKNOWN

from settings.clouds import cloud
from settings.stack_settings import HOST_NAME
from .app_service import Site
from .host_names import DISABLED, SNI, AzureHostNames, HostNameService, parse_certificate, parse_site
from .retries import with_retries

PROVIDER_VERSION = "1"
CERTIFICATE_WAIT_SECONDS = 600  # a managed certificate is issued in minutes; az webapp config ssl create --wait: 10
POLL_SECONDS = 15
REPLACE_KEYS = ("binding_id", "host_name")  # another binding: bind it, then unbind the old one
UPDATE_KEYS = ("certificate_id", "thumbprint", "provider_version")
THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")
ServiceFactory = Callable[[Site], HostNameService]


class SniBindingError(Exception):
    """The binding could not be given its certificate; the message says what to do."""


def _unknown(value: Any) -> bool:
    return value == UNKNOWN


class SniBindingProvider(ResourceProvider):
    serialize_as_secret_always = False  # the pickle holds no secret: nothing in it is one

    def __init__(self, service_factory: Optional[ServiceFactory] = None,
                 sleep: Optional[Callable[[float], None]] = None) -> None:
        super().__init__()
        # Only tests pass these; the real ones are looked up per call, so nothing live is pickled.
        if service_factory is not None:
            self.service_factory = service_factory
        if sleep is not None:
            self.sleep = sleep

    def _service(self, props: dict[str, Any]) -> tuple[HostNameService, str]:
        site, host = parse_site(props["binding_id"], cloud(props.get("cloud")))
        return (getattr(self, "service_factory", None) or AzureHostNames)(site), host or props["host_name"]

    # -- check / diff: no service calls ------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        host, binding_id = news.get("host_name"), news.get("binding_id")
        if not _unknown(host) and not re.match(HOST_NAME, str(host or "")):
            failures.append(CheckFailure("host_name", f"{host!r} is not a lowercase fully qualified domain name"))
        if not _unknown(binding_id):
            try:
                _site, bound_host = parse_site(str(binding_id or ""))
                if not bound_host or (not _unknown(host) and bound_host.lower() != str(host).lower()):
                    failures.append(CheckFailure("binding_id", f"{binding_id!r} is not the host-name binding of {host}"))
            except ValueError as exc:
                failures.append(CheckFailure("binding_id", str(exc)))
        certificate_id = news.get("certificate_id")
        if not _unknown(certificate_id):
            try:
                parse_certificate(str(certificate_id or ""))
            except ValueError as exc:
                failures.append(CheckFailure("certificate_id", str(exc)))
        thumbprint = news.get("thumbprint")
        if thumbprint and not _unknown(thumbprint) and not THUMBPRINT.match(str(thumbprint)):
            failures.append(CheckFailure("thumbprint", "a certificate thumbprint is 40 hexadecimal digits"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in REPLACE_KEYS if _unknown(news.get(k)) or olds.get(k) != news.get(k)]
        changed = [k for k in UPDATE_KEYS if _unknown(news.get(k)) or olds.get(k) != news.get(k)]
        thumbprint = news.get("thumbprint")
        # A refresh read what the binding serves now: TLS turned off, or another certificate, is drift to repair.
        if thumbprint and not _unknown(thumbprint) and "bound_thumbprint" in olds and \
                str(olds.get("bound_thumbprint") or "").upper() != str(thumbprint).upper():
            changed.append("bound_thumbprint")
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, delete_before_replace=False)

    # -- create / read / update / delete -----------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        bound = self._bind(props)
        return CreateResult(id_=f"{props['binding_id']}/sni", outs={**props, "bound_thumbprint": bound})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, "bound_thumbprint": self._bind(news)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        service, host = self._service(props)
        found = with_retries(lambda: service.binding(host), f"reading the host-name binding {host}")
        if found is None:
            return ReadResult(id_="", outs={})  # gone with its binding: the next up binds again
        return ReadResult(id_=id_, outs={**props, "bound_thumbprint": found.thumbprint if found.ssl_state == SNI
                                         else None})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # TLS off again, so the certificate (deleted after this) is no longer in use. A binding that is gone, or serves
        # no TLS, needs nothing.
        service, host = self._service(props)
        found = with_retries(lambda: service.binding(host), f"reading the host-name binding {host}")
        if found is not None and found.ssl_state not in (None, DISABLED):
            with_retries(lambda: service.set_tls(host, DISABLED, None), f"turning TLS off on {host}")

    # -- helpers -----------------------------------------------------------------------------------
    def _bind(self, props: dict[str, Any]) -> str:
        service, host = self._service(props)
        what = f"binding the managed certificate to {host} (SNI)"
        thumbprint = props.get("thumbprint") or self._issued_thumbprint(service, props["certificate_id"], host)
        current = with_retries(lambda: service.binding(host), what)
        if current is None:
            site, _ = parse_site(props["binding_id"], cloud(props.get("cloud")))
            raise SniBindingError(
                f"{what}: site {site.name} (resource group {site.resource_group}) has no host-name binding for {host}. "
                "The WebAppHostNameBinding must exist first: run `pulumi refresh` then `pulumi up`, which binds the "
                "host name again before its certificate.")
        if current.serves(thumbprint):
            return current.thumbprint  # already so: nothing to do
        bound = with_retries(lambda: service.set_tls(host, SNI, thumbprint), what)
        if not bound.serves(thumbprint):
            raise SniBindingError(f"{what}: App Service answered sslState {bound.ssl_state!r} with another thumbprint; "
                                  "check the binding in the portal (TLS/SSL settings) and run `pulumi up` again")
        return bound.thumbprint

    def _issued_thumbprint(self, service: HostNameService, certificate_id: str, host: str) -> str:
        """The certificate's thumbprint, waiting while App Service is still issuing it (creation answers 202 first)."""
        sleep, deadline = getattr(self, "sleep", time.sleep), time.monotonic() + CERTIFICATE_WAIT_SECONDS
        while True:
            thumbprint = with_retries(lambda: service.certificate_thumbprint(certificate_id),
                                      f"reading the managed certificate of {host}")
            if thumbprint:
                return thumbprint
            if time.monotonic() >= deadline:
                raise SniBindingError(
                    f"the managed certificate for {host} has no thumbprint after {CERTIFICATE_WAIT_SECONDS // 60} "
                    "minutes: App Service has not issued it yet. Issuance needs the host name's public DNS records "
                    "(a private DNS zone alone is not enough; access restrictions, auth and private endpoints do not "
                    "stop it) and is not offered behind Traffic Manager nested or external endpoints. Check the "
                    "certificate's state in the portal (Certificates, Managed certificates), then run `pulumi up` "
                    "again: it resumes from here.")  # fact: cert-managed-behind-restrictions
            pulumi.log.info(f"waiting for App Service to issue the managed certificate for {host}")
            sleep(POLL_SECONDS)


class SniBinding(pulumi.dynamic.Resource, module="model-webapp", name="SniBinding"):
    binding_id: pulumi.Output[str]
    host_name: pulumi.Output[str]
    thumbprint: pulumi.Output[str]
    bound_thumbprint: pulumi.Output[str]

    def __init__(self, name: str, binding_id: pulumi.Input[str], host_name: str, certificate_id: pulumi.Input[str],
                 thumbprint: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None,
                 cloud: Optional[str] = None) -> None:
        # cloud only outside the public cloud: public stacks' bindings keep the inputs they were created with.
        super().__init__(SniBindingProvider(), name,
                         {"provider_version": PROVIDER_VERSION, "binding_id": binding_id, "host_name": host_name,
                          "certificate_id": certificate_id, "thumbprint": thumbprint, "bound_thumbprint": None,
                          **({"cloud": cloud} if cloud else {})}, opts)
