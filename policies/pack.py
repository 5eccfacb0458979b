"""Every rule of the pack, resource rules then stack rules."""
from .resource_rules import RESOURCE_POLICIES
from .stack_rules import STACK_POLICIES

PACK_NAME = "model-webapp"
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
