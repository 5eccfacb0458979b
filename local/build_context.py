"""Writes the exact build context the ACR Tasks builder would upload for a stack, and prints its sha256.

    python -m local.build_context --stack dev --out DIR                      the dev stack's context, placeholder model
    python -m local.build_context --stack dev --out DIR --model-dir model/artifacts     with these model files
    python -m local.build_context --config-file examples/fleet.yaml --service diabetes --out DIR

DIR must be new or empty: nothing in a folder of yours is written over. Without --model-dir the model folder holds a
placeholder file (no sign-in needed); the builder puts the registered model version's files there instead. The base
image is the stack's build.baseImage (whichever builder the stack uses today).

Exit 0: written; 2: the arguments, the stack, its code or environment spec, or DIR are wrong.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import pulumi

from local.services import ServiceChoiceError, pick_service
from offline.mock_engine import run_program
from offline.project import PROJECT_DIR
from offline.stack_config import StackFileError, load_stack_config
from providers.build_context import BuildContext, BuildContextError, build_context
from settings.stack_settings import NAMESPACE, Settings

EXIT_OK, EXIT_USAGE = 0, 2


class UsageError(Exception):
    """The message names the argument, setting or folder to fix (exit 2)."""


def stack_settings(stack: Optional[str], config_file: Optional[Path], service: Optional[str]) -> Settings:
    """The one-model settings the context is built for, read the way the program reads them."""
    config = load_stack_config(stack or (None if config_file else "dev"), config_file)
    run_program(config.values, config.stack, secret_keys=list(config.secret_keys))  # leaves the stack's config set
    settings = Settings.from_config(pulumi.Config(NAMESPACE), stack=config.stack, project_dir=PROJECT_DIR)
    try:
        return pick_service(settings, service)
    except ServiceChoiceError as exc:
        raise UsageError(str(exc)) from None


def context_of(settings: Settings, model_dir: Optional[Path]) -> BuildContext:
    label = f"stack {settings.stack}" + (f", service {settings.service}" if settings.service else "")
    if not settings.builds_package:
        raise UsageError(f"{label} deploys a ready image (image or promoteFrom): it builds nothing, so there is no "
                         "context to write")
    if settings.code.environment_asset:
        raise UsageError(f"{label}: code.environmentSpec is the environment asset {settings.code.environment_asset}, "
                         "which only the azureml builder can use: name a conda .yml or a pip .txt file")
    return build_context(source_dir=PROJECT_DIR / settings.code.source_dir, entry_script=settings.code.entry_script,
                         environment_spec=PROJECT_DIR / settings.code.environment_file,
                         base_image=settings.build.base_image, model_dir=model_dir,
                         server_environment_vars=dict(settings.server_environment))


def check_out(out: Path) -> Path:
    """--out as a new or empty folder; anything else is refused, and left as it is."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: name a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} is not empty: name a new or empty folder (nothing in it is written over)")
    return out


def check_model_dir(folder: Optional[Path]) -> Optional[Path]:
    if folder is None:
        return None
    if not folder.is_dir():
        raise UsageError(f"--model-dir {folder}: " + ("is a file, not a folder" if folder.exists()
                                                       else "no such folder"))
    if not any(p.is_file() for p in folder.rglob("*")):
        raise UsageError(f"--model-dir {folder} holds no files: name the folder that holds the model's files")
    return folder


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.build_context", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="stack name: Pulumi.STACK.yaml (default dev, or the --config-file's name)")
    parser.add_argument("--config-file", type=Path, help="a stack file to read instead of Pulumi.STACK.yaml")
    parser.add_argument("--service", help="with models in the stack: the one whose context to write")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new or empty folder")
    parser.add_argument("--model-dir", type=Path, metavar="DIR",
                        help="the model's files, copied into the context (default: a placeholder file)")
    args = parser.parse_args(argv)  # argparse exits 2 naming a missing or unknown argument
    try:
        out = check_out(args.out)
        model_dir = check_model_dir(args.model_dir)
        context = context_of(stack_settings(args.stack, args.config_file, args.service), model_dir)
    except (UsageError, StackFileError, pulumi.RunError, BuildContextError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out.mkdir(parents=True, exist_ok=True)
    context.write(out)
    model = "a placeholder model" if model_dir is None else f"the model files of {model_dir}"
    print(f"wrote the build context ({len(context.files)} files, {model}, FROM {context.base_image}) into {out}",
          file=sys.stderr)
    print(f"sha256 {context.sha256()}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
