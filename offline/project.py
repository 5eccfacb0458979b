"""What the offline plan knows of the project: where it is, its name, the image builders' resource types."""
from settings.stack_settings import NAMESPACE, PROJECT_DIR  # noqa: F401 (PROJECT_DIR re-exported)

PROJECT = NAMESPACE
PACKAGE_TYPE = f"pulumi-python:dynamic/{PROJECT}:ModelPackage"
SWAP_TYPE = f"pulumi-python:dynamic/{PROJECT}:SlotSwap"
ROLLOUT_TYPE = f"pulumi-python:dynamic/{PROJECT}:SiteRollout"
ACR_BUILD_TYPE = f"pulumi-python:dynamic/{PROJECT}:AcrImageBuild"
RELEASE_TYPES = (SWAP_TYPE, ROLLOUT_TYPE)  # what takes a new image to production: one per service and region
