"""The build context of an image built from Microsoft's inference base image, and how its server runs.

One definition of how the inference server starts (the port, the folders, the command, the environment) is written
here, once: the generated Dockerfile is written from it, and `local.serve` starts the local rehearsal from it with
local folders in place of the image's. So the rehearsal runs the server exactly as the container will: same
arguments, same environment variables.

The context is deterministic: the same code, environment spec, model files and base image give the same bytes (and
sha256), whatever the files' timestamps, owners or modes on this machine.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Optional

import yaml

from providers.content_hash import IGNORED_DIRS, IGNORED_SUFFIXES
from providers.registry_images import ENTRY_SCRIPT_VARIABLE, INFERENCE_PORT, MODEL_DIR_VARIABLE
from settings.stack_settings import DEFAULT_BASE_IMAGE  # build.baseImage's default: one place names it

# Microsoft's own layout for code and model built into an inference image. fact: build-image-layout
CODE_DIR = "/var/azureml-app"
MODEL_DIR = "/var/azureml-app/azureml-models"
SERVER_PORT = INFERENCE_PORT  # azmlinfsrv's default port, 5001: the image check and WEBSITES_PORT expect it
SERVER_EXECUTABLE = "azmlinfsrv"  # fact: build-azmlinfsrv-cli
APP_ROOT_VARIABLE, WORKER_COUNT_VARIABLE = "AML_APP_ROOT", "WORKER_COUNT"
DEFAULT_WORKER_COUNT = 1  # azmlinfsrv's own default; App Service's WORKER_COUNT app setting replaces it
REQUIREMENTS_IN_IMAGE = "/tmp/model-webapp/requirements.txt"


# Paths inside the context archive.
DOCKERFILE, REQUIREMENTS, CODE_PREFIX, MODEL_PREFIX = "Dockerfile", "requirements.txt", "code/", "model/"
PLACEHOLDER_MODEL = MODEL_PREFIX + "PLACEHOLDER.txt"
PLACEHOLDER_TEXT = (b"A placeholder: this context was written without the registered model's files. The builder puts "
                    b"the model version downloaded from Azure ML here; this image would not serve.\n")

# Conda dependencies pip in the base image needs no help with: the interpreter and pip are the image's own, so a
# spec's python=3.X is not what runs; the base image's Python is (its name says which: minimal-py312-inference).
CONDA_PROVIDED = {"python", "pip"}
# fixed for every entry, so that only paths and bytes decide the archive's bytes
TAR_MTIME, FILE_MODE, DIR_MODE = 0, 0o644, 0o755
# Variables the image sets itself: a serverEnvironment entry must not replace them.
RESERVED = (MODEL_DIR_VARIABLE, ENTRY_SCRIPT_VARIABLE, APP_ROOT_VARIABLE)


class BuildContextError(Exception):
    """The code, environment spec or model cannot make a build context: the message names the file to fix."""


# -- how the server runs: one definition for the Dockerfile and for local.serve -------------------------------------
def server_command(entry_script_path: str, model_dir: str, port: int = SERVER_PORT) -> list[str]:
    """The inference server's command line. No --worker_count: the WORKER_COUNT environment variable decides, so App
    Service's WORKER_COUNT app setting reaches the server."""
    # fact: build-azmlinfsrv-cli
    return [SERVER_EXECUTABLE, "--entry_script", entry_script_path, "--model_dir", model_dir, "--port", str(port)]


def server_environment(entry_script_path: str, model_dir: str, app_root: str,
                       worker_count: int = DEFAULT_WORKER_COUNT,
                       extra: Mapping[str, str] = ()) -> dict[str, str]:
    """The environment the server starts with: the model folder, the entry script, the code folder on sys.path
    (AML_APP_ROOT: azmlinfsrv would otherwise take the working directory), the worker count, and the stack's
    serverEnvironment. The image's own variables come last: they are not the user's to replace."""
    env = {WORKER_COUNT_VARIABLE: str(worker_count), **dict(extra)}
    env.update({MODEL_DIR_VARIABLE: model_dir, ENTRY_SCRIPT_VARIABLE: entry_script_path, APP_ROOT_VARIABLE: app_root})
    return env


def image_entry_script(entry_script: str) -> str:
    return str(PurePosixPath(CODE_DIR) / PurePosixPath(entry_script.replace("\\", "/")))


# -- the context ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildContext:
    files: dict[str, bytes]  # archive path -> bytes
    port: int = SERVER_PORT
    base_image: str = DEFAULT_BASE_IMAGE
    command: tuple[str, ...] = field(default=())
    environment: tuple[tuple[str, str], ...] = field(default=())

    def sha256(self) -> str:
        return hashlib.sha256(self.tar_gz()).hexdigest()

    def tar_gz(self) -> bytes:
        """The archive ACR Tasks gets: sorted entries, fixed owner, mode and time, gzip time 0."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(_folders(self.files)):
                tar.addfile(_entry(name, tarfile.DIRTYPE, DIR_MODE))
            for name in sorted(self.files):
                data = self.files[name]
                info = _entry(name, tarfile.REGTYPE, FILE_MODE)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        packed = io.BytesIO()
        # gzip writes the file name and time into its header unless told otherwise
        with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
        return packed.getvalue()

    def write(self, folder: Path) -> None:
        """The context's files under `folder` (which the caller has checked is new or empty)."""
        for name, data in sorted(self.files.items()):
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _folders(files: Mapping[str, bytes]) -> set[str]:
    return {str(parent) for name in files for parent in PurePosixPath(name).parents if str(parent) != "."}


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_context(*, source_dir: Path, entry_script: str, environment_spec: Path, base_image: str,
                  model_dir: Optional[Path], server_environment_vars: Mapping[str, str] = ()) -> BuildContext:
    """The context of the stack's image: Dockerfile, code/, requirements.txt and model/ (a placeholder file when
    `model_dir` is None, so the context can be written offline). BuildContextError names what to fix."""
    source_dir, environment_spec = Path(source_dir), Path(environment_spec)
    if not base_image or any(c.isspace() for c in base_image):
        raise BuildContextError(f"base image {base_image!r} is not an image reference: name one such as "
                                f"{DEFAULT_BASE_IMAGE}")
    code = _code_files(source_dir, entry_script)
    requirements = requirements_of(environment_spec)
    model = _model_files(model_dir) if model_dir is not None else {PLACEHOLDER_MODEL: PLACEHOLDER_TEXT}
    extra = dict(server_environment_vars)
    taken = [name for name in RESERVED if name in extra]
    if taken:
        raise BuildContextError(f"serverEnvironment sets {', '.join(taken)}, which the image sets itself (the model "
                                f"folder, entry script and code folder it holds): remove them from serverEnvironment")
    script = image_entry_script(entry_script)
    command = server_command(script, MODEL_DIR, SERVER_PORT)
    environment = server_environment(script, MODEL_DIR, CODE_DIR, extra=extra)
    files = {**code, **model, REQUIREMENTS: requirements,
             DOCKERFILE: dockerfile(base_image, environment, command, SERVER_PORT).encode()}
    return BuildContext(files=files, port=SERVER_PORT, base_image=base_image, command=tuple(command),
                        environment=tuple(environment.items()))


def dockerfile(base_image: str, environment: Mapping[str, str], command: list[str], port: int) -> str:
    lines = [
        "# Written by model-webapp (providers/build_context.py): the same server command and environment as",
        "# `python -m local.serve`. Regenerated on every build; edits here are lost.",
        f"FROM {base_image}",
        # fact: build-pip-in-base-image
        f"COPY {REQUIREMENTS} {REQUIREMENTS_IN_IMAGE}",
        f"RUN pip install --no-cache-dir -r {REQUIREMENTS_IN_IMAGE}",
        f"COPY {CODE_PREFIX} {CODE_DIR}/",
        f"COPY {MODEL_PREFIX} {MODEL_DIR}/",
        *(f"ENV {name}={_env_value(name, value)}" for name, value in environment.items()),
        f"EXPOSE {port}",
        # The base images start runit (CMD runsvdir /var/runit); an ENTRYPOINT of theirs would wrap our CMD, so
        # the CMD is the whole command whatever the base sets. fact: build-base-image-start
        "ENTRYPOINT []",
        f"CMD {json.dumps(command)}",
    ]
    return "\n".join(lines) + "\n"


def _env_value(name: str, value: str) -> str:
    """A value as Dockerfile ENV reads it back: double-quoted, with \\, \" and $ escaped (ENV substitutes $)."""
    if "\n" in value or "\r" in value:
        raise BuildContextError(f"serverEnvironment {name} holds a line break, which a Dockerfile ENV cannot carry: "
                                "put it on one line")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _code_files(source_dir: Path, entry_script: str) -> dict[str, bytes]:
    if not source_dir.is_dir():
        raise BuildContextError(f"code folder {source_dir}: no such folder (code.sourceDir)")
    if not (source_dir / entry_script).is_file():
        raise BuildContextError(f"entry script {entry_script}: no such file in {source_dir} (code.entryScript)")
    files = {}
    for path in sorted(source_dir.rglob("*")):
        relative = path.relative_to(source_dir)
        if not path.is_file() or path.suffix in IGNORED_SUFFIXES or IGNORED_DIRS.intersection(relative.parts):
            continue
        files[CODE_PREFIX + relative.as_posix()] = path.read_bytes()
    clash = PurePosixPath(MODEL_DIR).relative_to(CODE_DIR).parts[0]
    if any(name.split("/")[1] == clash for name in files):
        raise BuildContextError(f"code folder {source_dir} has an entry {clash}, where the image keeps the model "
                                f"({MODEL_DIR}): rename it")
    return files


def _model_files(model_dir: Path) -> dict[str, bytes]:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BuildContextError(f"model folder {model_dir}: no such folder")
    files = {MODEL_PREFIX + p.relative_to(model_dir).as_posix(): p.read_bytes()
             for p in sorted(model_dir.rglob("*")) if p.is_file()}
    if not files:
        raise BuildContextError(f"model folder {model_dir} holds no files: the image would have no model")
    return files


# -- the environment spec, as pip in the base image can install it ---------------------------------------------------
def requirements_of(spec: Path) -> bytes:
    """requirements.txt for the image: a pip .txt as it is (comments dropped), or a conda spec's pip section.

    A conda spec's other dependencies (but python and pip) are refused: pip cannot install them."""
    if not spec.is_file():
        raise BuildContextError(f"environment spec {spec}: no such file (code.environmentSpec)")
    if spec.suffix in (".yml", ".yaml"):
        lines = _conda_pip_section(spec)
    elif spec.suffix == ".txt":
        lines = [line.strip() for line in spec.read_text().splitlines()
                 if line.strip() and not line.strip().startswith("#")]
    else:
        raise BuildContextError(f"environment spec {spec} is neither a conda .yml/.yaml nor a pip requirements .txt")
    refers = [line for line in lines if re.match(r"^(-[rce]\s|--(requirement|constraint|editable)\b)", line)]
    if refers:
        raise BuildContextError(f"environment spec {spec} refers to other files ({'; '.join(refers)}), which the "
                                "build context does not hold: list the requirements themselves")
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _conda_pip_section(spec: Path) -> list[str]:
    try:
        content = yaml.safe_load(spec.read_text())
    except yaml.YAMLError as exc:
        raise BuildContextError(f"environment spec {spec} is not valid YAML: {exc}") from None
    dependencies = (content or {}).get("dependencies") if isinstance(content, dict) else None
    if not isinstance(dependencies, list):
        raise BuildContextError(f"environment spec {spec} has no dependencies list: a conda spec lists them under "
                                "`dependencies`, the pip ones under `- pip:`")
    pip, conda_only = [], []
    for entry in dependencies:
        if isinstance(entry, dict) and set(entry) == {"pip"} and isinstance(entry["pip"], list):
            pip += [str(p).strip() for p in entry["pip"] if str(p).strip()]
        elif isinstance(entry, str):
            name = re.split(r"[\s=<>!]", entry.strip(), maxsplit=1)[0].split("::")[-1].lower()
            if name not in CONDA_PROVIDED:
                conda_only.append(entry.strip())
        else:
            conda_only.append(json.dumps(entry))
    if conda_only:
        raise BuildContextError(f"environment spec {spec} has conda-only dependencies that pip in the base image "
                                f"cannot install: {', '.join(conda_only)}. Move them under `- pip:` (as PyPI "
                                "packages), or build with the azureml builder, which runs conda")
    return pip

