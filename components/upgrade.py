"""Stacks deployed before the platform/service split keep every resource: each one names its old URN as an alias.

Until the split, a stack's resources were children of one component, `model-webapp:index:ModelWebApp` named
`<prefix>-<stack>`, and the package image (and a promoted stack's reference) sat at the stack's root. A one-model stack
now registers the same resources, with the same names, under a Platform and a ModelService; the engine finds each by
the alias and moves it in state instead of creating it anew and deleting the old one.
"""
from __future__ import annotations

from typing import Optional

import pulumi

OLD_COMPONENT_TYPE = "model-webapp:index:ModelWebApp"
# Registered at the stack's root before the split, not under the component.
ROOT_TYPES = ("pulumi-python:dynamic/model-webapp:ModelPackage", "pulumi:pulumi:StackReference")


def old_urn(stack: str, project: str, typ: str, name: str) -> str:
    """The URN a resource of this type and name had in the one-component layout."""
    parents = "" if typ in ROOT_TYPES else f"{OLD_COMPONENT_TYPE}$"
    return f"urn:pulumi:{stack}::{project}::{parents}{typ}::{name}"


def old_component_alias(stack: str, project: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{project}::{OLD_COMPONENT_TYPE}::{name}"


def children_keep_their_urns(component: str) -> pulumi.ResourceTransformation:
    """A transformation for a one-model stack's Platform or ModelService: every resource registered under it
    is aliased to its URN in the one-component layout. The component itself is not touched (`component` is its
    type): the Platform names its own old URN, the ModelService is new."""
    stack, project = pulumi.get_stack(), pulumi.get_project()

    def transform(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        if args.type_ == component:
            return None
        alias = old_urn(stack, project, args.type_, args.name)
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(aliases=[alias]))
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transform
