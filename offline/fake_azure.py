"""Fake Azure answers for the offline plan: the invokes the program makes and the outputs services compute.

Everything here is made up and labelled FAKE wherever the plan shows it.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from settings.clouds import ENVIRONMENT_KEY, PUBLIC, Cloud, CLOUDS

from .project import ACR_BUILD_TYPE, PACKAGE_TYPE

FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-00000000fake"
FAKE_ADMIN_PASSWORD = "fake-registry-admin-password-Iv0lRZQ9762LUJrF"
FAKE_INBOUND_IP = "198.51.100.20"  # documentation range (RFC 5737)
FAKE_VALIDATION_EXPIRY = "2099-01-01T00:00:00Z"  # an AFD custom domain's validation token expiry: FAKE, fixed
# Front Door resources answer with the name their path input gives (ARM's name), not an autoname, when one is set.
FRONT_DOOR_NAME_INPUTS = {
    "azure-native:cdn:Profile": "profileName", "azure-native:cdn:AFDEndpoint": "endpointName",
    "azure-native:cdn:AFDOriginGroup": "originGroupName", "azure-native:cdn:AFDOrigin": "originName",
    "azure-native:cdn:Route": "routeName", "azure-native:cdn:SecurityPolicy": "securityPolicyName",
    "azure-native:cdn:AFDCustomDomain": "customDomainName", "azure-native:frontdoor:Policy": "policyName",
}
# A profile's children: azure-native names a child resource after its logical name, without the random suffix it adds
# to top-level resources (pulumi-azure-native #519). fact: fd-child-autoname
FRONT_DOOR_CHILDREN = frozenset(FRONT_DOOR_NAME_INPUTS) - {"azure-native:cdn:Profile", "azure-native:frontdoor:Policy"}


def _suffix(name: str) -> str:
    # Stands in for the provider's random autoname suffix, but stable from run to run.
    return hashlib.sha1(name.encode()).hexdigest()[:7]


def _stack_cloud() -> Cloud:
    """The cloud the program's stack config names, as the real services would answer in it; an unknown name is the
    settings' to report, and the fakes answer as the public cloud meanwhile."""
    namespace, key = ENVIRONMENT_KEY.split(":")
    return CLOUDS.get(pulumi.Config(namespace).get(key) or PUBLIC.name, PUBLIC)


def _fake_guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("model-webapp-fake",) + parts)))


@dataclass
class FakeAzure(pulumi.runtime.Mocks):
    """Realistic answers for the invokes and computed outputs the program reads. All fake."""

    container_registry: Optional[str] = None  # None: derive from the workspace; "": a workspace with no registry
    admin_user_enabled: bool = True
    admin_password: str = FAKE_ADMIN_PASSWORD
    role_assignment_mode: Optional[str] = "LegacyRegistryPermissions"  # or AbacRepositoryPermissions; None: absent
    # What the registry read says of its network: Azure's defaults for a new Premium registry (a landing zone's would
    # usually read Disabled); Basic or Standard registries cannot have private endpoints.
    registry_sku: str = "Premium"
    registry_public_network_access: str = "Enabled"
    stack_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # other stacks, for StackReference
    package_port: int = 5001  # the port the fake package image exposes
    invokes: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def registry_name(workspace_name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", workspace_name.lower()) + "registry"

    def call(self, args: pulumi_mocks.MockCallArgs):
        token, a = args.token, args.args
        if token == "azure-native:machinelearningservices:getWorkspace":
            registry = self.container_registry
            if registry is None:
                registry = (f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/{a['resourceGroupName']}/providers/"
                            f"Microsoft.ContainerRegistry/registries/{self.registry_name(a['workspaceName'])}")
            answer = {"name": a["workspaceName"], "containerRegistry": registry}
        elif token == "azure-native:containerregistry:getRegistry":
            answer = {"name": a["registryName"], "loginServer": f"{a['registryName']}.{_stack_cloud().registry_suffix}",
                      "adminUserEnabled": self.admin_user_enabled}
        elif token == "azure-native:containerregistry:listRegistryCredentials":
            answer = {"username": a["registryName"],
                      "passwords": [{"name": "password", "value": self.admin_password},
                                    {"name": "password2", "value": self.admin_password[::-1]}]}
        elif token == "azure-native:authorization:getClientConfig":
            answer = {"subscriptionId": FAKE_SUBSCRIPTION, "tenantId": _fake_guid("tenant"),
                      "clientId": _fake_guid("deployer"), "objectId": _fake_guid("deployer", "object")}
        elif token == "azure-native:resources:getResource" and a.get("resourceType") == "registries":
            mode = {"roleAssignmentMode": self.role_assignment_mode} if self.role_assignment_mode else {}
            answer = {"name": a["resourceName"], "type": "Microsoft.ContainerRegistry/registries",
                      "sku": {"name": self.registry_sku, "tier": self.registry_sku},
                      "properties": {"loginServer": f"{a['resourceName']}.{_stack_cloud().registry_suffix}",
                                     "publicNetworkAccess": self.registry_public_network_access, **mode}}
        elif token == "azure-native:resources:getResource" and a.get("resourceType") == "sites":
            answer = {"name": a["resourceName"], "type": "Microsoft.Web/sites",
                      "properties": {"inboundIpAddress": FAKE_INBOUND_IP}}
        else:
            raise NotImplementedError(f"the offline plan has no fake answer for invoke {token}")
        shown = {k: ("[secret]" if k == "passwords" else v) for k, v in answer.items()}
        self.invokes.append({"token": token, "args": dict(a), "answer": shown, "fake": True})
        return answer

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ == PACKAGE_TYPE:
            return self._package(args.inputs)
        if typ == ACR_BUILD_TYPE:
            return self._acr_build(args.inputs)
        if typ == "pulumi:pulumi:StackReference":
            ref = args.inputs.get("name", name)
            if ref not in self.stack_outputs:
                raise pulumi.RunError(f"the offline plan has no outputs for stack {ref}")
            return f"{ref}", {"name": ref, "outputs": self.stack_outputs[ref], "secretOutputNames": []}
        physical = (state.get("name") or state.get(FRONT_DOOR_NAME_INPUTS.get(typ, "name"))
                    or (name if typ in FRONT_DOOR_CHILDREN else f"{name}{_suffix(name)}"))
        if typ.startswith("azure-native:") and "name" not in state and typ != "azure-native:authorization:RoleAssignment":
            state["name"] = physical
        identity = state.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Inputs list the identity ids; the service answers with a map of id to identity.
            state["identity"] = {**identity, "userAssignedIdentities": {
                i: {"principalId": _fake_guid(i, "principal"), "clientId": _fake_guid(i, "client")}
                for i in identity["userAssignedIdentities"]}}
        if typ == "azure-native:applicationinsights:Component":
            key = _fake_guid(name, "instrumentation-key")
            state["instrumentationKey"] = key
            state["connectionString"] = (f"InstrumentationKey={key};IngestionEndpoint=https://"
                                         f"{state.get('location') or 'westeurope'}-5.in.{_stack_cloud().insights_suffix}/")
        if typ == "azure-native:web:WebApp":
            state["defaultHostName"] = _stack_cloud().site_host(physical)
            state["customDomainVerificationId"] = _fake_guid("domain-verification").replace("-", "").upper()
        if typ == "azure-native:web:Certificate":
            state["thumbprint"] = hashlib.sha1(f"fake-cert:{state.get('canonicalName')}".encode()).hexdigest().upper()
        if typ in FRONT_DOOR_NAME_INPUTS:
            self._front_door(typ, physical, state)
        if typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["principalId"] = _fake_guid(name, "principal")
            state["clientId"] = _fake_guid(name, "client")
        resource_id = f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/fake/providers/{typ}/{physical}"
        return resource_id, state

    @staticmethod
    def _front_door(typ: str, physical: str, state: dict[str, Any]) -> None:
        """What Front Door answers on creation: the profile's id (the X-Azure-FDID value), an endpoint's host name
        (<endpoint>-<16 characters>.z01.<the cloud's Front Door suffix>), a custom domain's pending validation."""
        if typ == "azure-native:cdn:Profile":
            state["frontDoorId"] = _fake_guid(physical, "front-door-id")
            state["resourceState"] = "Active"
        elif typ == "azure-native:cdn:AFDEndpoint":
            cloud = _stack_cloud()
            label = hashlib.sha1(physical.encode()).hexdigest()[:16]
            # No Microsoft source names the endpoint suffix in every cloud (Azure China's): the fake then answers a
            # host under .invalid (RFC 2606) that says so, rather than one that looks real.
            suffix = cloud.front_door_suffix or f"front-door-suffix-unknown-in-{cloud.name}.invalid"
            state["hostName"] = f"{physical}-{label}.z01.{suffix}"
        elif typ == "azure-native:cdn:AFDCustomDomain":
            state["validationProperties"] = {
                "validationToken": hashlib.sha1(f"fake-dnsauth:{state.get('hostName')}".encode()).hexdigest(),
                "expirationDate": FAKE_VALIDATION_EXPIRY}
            state["domainValidationState"] = "Pending"  # until the TXT record is seen

    def _package(self, inputs: dict[str, Any]):
        from providers.model_package import environment_name, package_key
        from providers.registry_images import image_facts, read_config

        from .fake_registry import FakeRegistry, package_image_config

        name = environment_name(inputs["model_name"], package_key(inputs))
        login_server = f"{self.registry_name(inputs['workspace_name'])}.{_stack_cloud().registry_suffix}"
        # A made-up image in a fake registry, labelled with the content hash so that an edit shows as a new digest;
        # its facts are read back by the provider's own code, as the real image's would be.
        registry = FakeRegistry(login_server)
        labels = {"offline-plan": "FAKE image config, made up by offline/fake_azure.py",
                  "content-hash": inputs["content_hash"]}
        config = package_image_config(inputs["entry_script"], inputs["model_name"], str(inputs["model_version"]),
                                      port=self.package_port, labels=labels)
        image = f"{login_server}/package@{registry.push('package', config)}"
        facts = image_facts(read_config(registry, login_server, "package", image.split("@", 1)[1]), image=image,
                            entry_script=inputs["entry_script"])
        env_id = (f"/subscriptions/{inputs['subscription_id']}/resourceGroups/{inputs['resource_group']}/providers/"
                  f"Microsoft.MachineLearningServices/workspaces/{inputs['workspace_name']}/environments/{name}/versions/1")
        outs = {**inputs, "environment_name": name, "environment_version": "1", "environment_id": env_id,
                "login_server": login_server, "image": image, **facts.outputs()}
        return env_id, outs

    def _acr_build(self, inputs: dict[str, Any]):
        from providers.acr_build import image_name
        from providers.build_context import CODE_DIR, MODEL_DIR, image_entry_script, server_command, \
            server_environment
        from providers.registry_images import image_facts, read_config

        from .fake_registry import FakeRegistry

        repository, tag = image_name(inputs)
        registry = inputs.get("registry") or self.registry_name(inputs["workspace_name"])
        login_server = registry.rsplit("/", 1)[-1] if registry.startswith("/") else registry
        if "." not in login_server:
            login_server = f"{login_server}.{_stack_cloud().registry_suffix}"
        # A made-up image whose config is what the generated Dockerfile sets (providers/build_context.py), labelled
        # with the content hash so that an edit shows as a new digest; its facts read back by the provider's code.
        script = image_entry_script(inputs["entry_script"])
        env = server_environment(script, MODEL_DIR, CODE_DIR, extra=inputs.get("environment_variables") or {})
        config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "config": {
            "ExposedPorts": {f"{self.package_port}/tcp": {}}, "Env": [f"{k}={v}" for k, v in env.items()],
            "Cmd": server_command(script, MODEL_DIR, self.package_port), "WorkingDir": CODE_DIR,
            "Labels": {"offline-plan": "FAKE image config, made up by offline/fake_azure.py",
                       "content-hash": inputs["content_hash"], "base-image": inputs["base_image"]}}}
        fake = FakeRegistry(login_server)
        image = f"{login_server}/{repository}@{fake.push(repository, config, tag=tag)}"
        facts = image_facts(read_config(fake, login_server, repository, image.split("@", 1)[1]), image=image,
                            entry_script=inputs["entry_script"], base_image=inputs["base_image"])
        outs = {**inputs, "login_server": login_server, "repository": repository, "tag": tag, "image": image,
                "run_id": None, **facts.outputs()}
        return f"{login_server}/{repository}:{tag}", outs
