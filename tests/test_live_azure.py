"""Live: package the example model in a real Azure ML workspace. The one deliberate skip of this suite.

Runs only when AZURE_SUBSCRIPTION_ID, AML_RESOURCE_GROUP and AML_WORKSPACE are set (and DefaultAzureCredential
can sign in); the model named by AML_MODEL_NAME/AML_MODEL_VERSION (default diabetes-ridge:1) must be registered.
"""
from __future__ import annotations

import os
import re

import pytest

from providers.content_hash import content_hash
from providers.model_package import ARCHIVED, PROVIDER_VERSION, ModelPackageProvider
from offline.project import PROJECT_DIR

REQUIRED = ("AZURE_SUBSCRIPTION_ID", "AML_RESOURCE_GROUP", "AML_WORKSPACE")
pytestmark = [
    pytest.mark.azure,
    pytest.mark.skipif(not all(os.environ.get(v) for v in REQUIRED),
                       reason=f"live Azure suite: set {', '.join(REQUIRED)} to package a real model"),
]


def test_package_the_example_model_for_real():
    src, spec = PROJECT_DIR / "model" / "src", PROJECT_DIR / "model" / "environment.yml"
    props = {
        "subscription_id": os.environ["AZURE_SUBSCRIPTION_ID"], "resource_group": os.environ["AML_RESOURCE_GROUP"],
        "workspace_name": os.environ["AML_WORKSPACE"],
        "model_name": os.environ.get("AML_MODEL_NAME", "diabetes-ridge"),
        "model_version": os.environ.get("AML_MODEL_VERSION", "1"),
        "source_dir": str(src), "entry_script": "score.py", "environment_spec": str(spec), "environment_asset": None,
        "environment_variables": {}, "model_mount_mode": "copy", "content_hash": content_hash(src, spec),
        "timeout_minutes": 60, "provider_version": PROVIDER_VERSION,
    }
    provider = ModelPackageProvider()
    assert provider.check({}, props).failures == []
    created = provider.create(props)
    assert re.fullmatch(r"[a-z0-9]+\.azurecr\.io/.+@sha256:[0-9a-f]{64}", created.outs["image"])
    # What the real image's config says: the facts docs/azure-facts.md marks unverified, read from Azure itself.
    assert created.outs["image_port"] and created.outs["image_model_dir"] and created.outs["image_entry_script"]
    # A second create finds the content-addressed environment and builds nothing.
    assert provider.create(props).outs["image"] == created.outs["image"]
    assert provider.read(created.id, created.outs).id == created.id
    provider.delete(created.id, created.outs)
    assert provider.read(created.id, created.outs).outs[ARCHIVED] is True  # archived, not gone
    assert provider.create(props).outs["image"] == created.outs["image"]  # restored, not built again
    provider.delete(created.id, created.outs)
