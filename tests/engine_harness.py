"""What the Pulumi engine does with the policy pack and the dynamic providers, without the CLI.

Each plugin is booted as the CLI boots it (command, working directory, PULUMI_* environment), prints its
port, and is then driven over gRPC with the stubs that ship in the pulumi SDK. Requests are built by
offline.policy_protocol, the same code the offline plan uses, so both see what the engine would send.
The child process is stopped by its pid.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, provider_pb2, provider_pb2_grpc

from offline.mock_engine import Registration
from offline.project import PROJECT, PROJECT_DIR
from offline.policy_protocol import (analyze_request, analyze_stack_request, configure_request, policy_infos, reconcile,
                                   struct, violations)

# No engine listens here: neither plugin dials the engine unless a program logs through it.
ENGINE_ADDRESS = "127.0.0.1:1"


class Plugin:
    """A plugin process that prints its gRPC port on its first line, as every Pulumi plugin does."""

    def __init__(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError(f"{' '.join(argv)} did not start: {self.process.stderr.read()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def stop(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def engine_env(stack: str, config: Mapping[str, str], dry_run: bool = True) -> dict[str, str]:
    """The variables the CLI sets for plugins: config as JSON, project, stack, preview or not."""
    return {"PULUMI_CONFIG": json.dumps(dict(config)), "PULUMI_PROJECT": PROJECT, "PULUMI_STACK": stack,
            "PULUMI_DRY_RUN": "true" if dry_run else "false", "PULUMI_ORGANIZATION": "organization"}


class PolicyPackPlugin(Plugin):
    """`pulumi-analyzer-policy-python`: `python -u -m pulumi.policy <engine> .` in the pack's folder."""

    def __init__(self, stack: str, config: Mapping[str, str]) -> None:
        super().__init__([sys.executable, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."], PROJECT_DIR / "policies",
                         engine_env(stack, config))
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self._handshake()
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=PROJECT, organization="organization", dry_run=True,
            config=struct({k: v for k, v in config.items()})))
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def _handshake(self) -> None:
        directory = str(PROJECT_DIR / "policies")
        try:
            self.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=ENGINE_ADDRESS, root_directory=directory, program_directory=directory))
        except grpc.RpcError as exc:  # the engine carries on when a pack does not implement it
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def configure(self, policy_config: Mapping[str, Any]) -> list[str]:
        """Reconciles a policy config file over the pack's schemas, as the engine does, then sends it."""
        config, errors = reconcile(policy_infos(self.info), policy_config)
        if not errors:
            self.stub.Configure(configure_request(config))
        return errors

    def analyze(self, registrations: list[Registration]) -> list[dict[str, Any]]:
        """Analyze for each resource, then AnalyzeStack: every diagnostic, as the plan lists violations."""
        found = []
        for r in registrations:
            found += violations(self.stub.Analyze(analyze_request(r)), r.urn)
        return found + violations(self.stub.AnalyzeStack(analyze_stack_request(registrations)))


class DynamicProviderPlugin(Plugin):
    """`pulumi-resource-pulumi-python`: `python -u -m pulumi.dynamic` in the project's folder."""

    def __init__(self, stack: str = "dev") -> None:
        super().__init__([sys.executable, "-u", "-m", "pulumi.dynamic"], PROJECT_DIR,
                         engine_env(stack, {}))
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(provider_pb2.ConfigureRequest(args=struct({}), acceptSecrets=True, acceptResources=True))

    def check(self, urn: str, news: Mapping[str, Any], olds: Optional[Mapping[str, Any]] = None):
        response = self.stub.Check(provider_pb2.CheckRequest(urn=urn, olds=struct(olds or {}), news=struct(news)))
        return json_format.MessageToDict(response.inputs), [(f.property, f.reason) for f in response.failures]

    def diff(self, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(id="id", urn=urn, olds=struct(olds), news=struct(news),
                                                       old_inputs=struct(olds)))
