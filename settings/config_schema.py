"""The scalar stack config keys: one list that Pulumi.yaml and the README are checked against."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

NAMESPACE = "model-webapp"
PROJECT_DIR = Path(__file__).resolve().parent.parent

Scalar = Union[str, int, bool]


@dataclass(frozen=True)
class ScalarKey:
    name: str
    type: str  # the Pulumi.yaml type: string | integer | boolean
    default: Scalar
    description: str


SCALAR_KEYS: tuple[ScalarKey, ...] = (
    ScalarKey("location", "string", "westeurope", "Azure region for the resource group, plan and web app."),
    ScalarKey("namePrefix", "string", "mw", "Prefix of every resource name (2-20 lowercase letters, digits, hyphens)."),
    ScalarKey("sku", "string", "B1", "App Service plan SKU (Linux): F1, B1-B3, S1-S3, P1v2-P3v2, P0v3-P3v3."),
    ScalarKey("registryAccess", "string", "managedIdentity",
              "How the web app pulls from the workspace's registry: managedIdentity or adminCredentials."),
    ScalarKey("serverPort", "integer", 5001, "Port the inference server listens on inside the container (WEBSITES_PORT)."),
    ScalarKey("workerCount", "integer", 0, "Inference server workers (WORKER_COUNT); 0 means the SKU's vCPU count."),
    ScalarKey("containerStartTimeLimit", "integer", 600,
              "Seconds App Service waits for the container to answer (WEBSITES_CONTAINER_START_TIME_LIMIT, 60-1800)."),
    ScalarKey("image", "string", "",
              "A ready image <registry>.azurecr.io/<repo>@sha256:<64 hex>; empty means the stack builds its own package."),
    ScalarKey("promoteFrom", "string", "",
              "A stack (dev, or org/model-webapp/dev) whose image output this stack deploys instead of building one."),
    ScalarKey("modelMountMode", "string", "download", "How the package gets the model files: download or copy."),
    ScalarKey("packageTimeoutMinutes", "integer", 60, "Longest wait for one package image build (5-240)."),
)

OBJECT_KEYS: dict[str, str] = {
    "workspace": "The Azure ML workspace: subscriptionId, resourceGroup, name (required).",
    "model": "The registered model: name, version (required).",
    "code": "Inference code: sourceDir (default model/src), entryScript (default score.py), environmentSpec "
            "(a conda .yml or pip .txt file, default model/environment.yml, or an asset azureml:<name>:<version>).",
    "serverEnvironment": "Environment variables baked into the package for the inference server (text values).",
    "autoscale": "enabled, minInstances, maxInstances, defaultInstances, scaleOutCpuPercent, scaleInCpuPercent "
                 "(Standard tier or above).",
    "auth": "Entra ID authentication: enabled, tenantId, clientId, allowedAudiences (default api://<clientId>).",
    "tags": "Extra tags on every resource; environment defaults to the stack name.",
}

DEFAULTS: dict[str, Scalar] = {key.name: key.default for key in SCALAR_KEYS}
