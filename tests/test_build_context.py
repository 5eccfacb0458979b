"""The ACR Tasks builder's context: deterministic bytes, a Dockerfile (read by a Dockerfile parser, not a regex) that
the image check accepts, conda-only dependencies refused, the CLI, and the local server started exactly as the
Dockerfile says, answering the manual procedure's request."""
from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from local import build_context as cli
from local.serve import LocalService, ServiceSpec, free_port
from offline.project import PROJECT_DIR
from providers.build_context import (CODE_DIR, DEFAULT_BASE_IMAGE, MODEL_DIR, PLACEHOLDER_MODEL, SERVER_PORT,
                                     BuildContextError, build_context, server_command, server_environment)
from providers.registry_images import image_facts

SAMPLE_REQUEST = PROJECT_DIR / "model" / "sample-request.json"
IMAGE = "mwdevacr.azurecr.io/model-webapp/dev@sha256:" + "ab" * 32



def context_of(code: Path, model_dir=None, spec="environment.yml", base_image=DEFAULT_BASE_IMAGE):
    return build_context(source_dir=code / "src", entry_script="score.py", environment_spec=code / spec,
                         base_image=base_image, model_dir=model_dir)


def parsed(dockerfile: bytes) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(dockerfile))  # read in memory: nothing written


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def cmd_of(parser: DockerfileParser) -> list[str]:
    (cmd,) = instructions(parser, "CMD")
    return json.loads(cmd)  # exec form: JSON, so no shell stands between App Service and the server


# -- deterministic ----------------------------------------------------------------------------------------------------
def test_the_same_inputs_give_the_same_bytes_and_hash(code, model_dir):
    first, second = context_of(code, model_dir), context_of(code, model_dir)
    assert first.tar_gz() == second.tar_gz() and first.sha256() == second.sha256()


def test_a_changed_code_byte_changes_the_hash_and_a_touched_file_does_not(code):
    before = context_of(code).sha256()
    script = code / "src" / "score.py"
    os.utime(script, (1, 1))
    (code / "src" / "__pycache__").mkdir()
    (code / "src" / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"bytecode")  # written by any import
    assert context_of(code).sha256() == before
    script.write_bytes(script.read_bytes() + b"\n")
    assert context_of(code).sha256() != before


def test_the_archive_holds_the_files_with_fixed_owner_mode_and_time(code, model_dir):
    context = context_of(code, model_dir)
    with tarfile.open(fileobj=io.BytesIO(context.tar_gz())) as tar:
        members = tar.getmembers()
        files = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
    assert files == context.files
    assert {"Dockerfile", "requirements.txt", "code/score.py", "model/model.joblib"} <= set(files)
    assert [m.name for m in members if m.isfile()] == sorted(files)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members if m.isfile()} == {(0, 0, 0, "", 0o644)}
    assert context.tar_gz()[4:8] == b"\0\0\0\0"  # gzip's own time stamp


def test_without_a_model_folder_the_context_holds_a_placeholder(code):
    files = context_of(code).files
    assert [name for name in files if name.startswith("model/")] == [PLACEHOLDER_MODEL]


# -- the Dockerfile, as a Dockerfile parser reads it -----------------------------------------------------------------
def test_the_dockerfile_says_what_the_server_definition_says(code, tmp_path):
    context = context_of(code, base_image=DEFAULT_BASE_IMAGE)
    parser = parsed(context.files["Dockerfile"])
    assert parser.baseimage == DEFAULT_BASE_IMAGE
    assert instructions(parser, "EXPOSE") == [str(SERVER_PORT)] and context.port == SERVER_PORT == 5001
    script = f"{CODE_DIR}/score.py"
    assert parser.envs == server_environment(script, MODEL_DIR, CODE_DIR)
    assert parser.envs["AZUREML_MODEL_DIR"] == MODEL_DIR and parser.envs["AZUREML_ENTRY_SCRIPT"] == script
    assert cmd_of(parser) == server_command(script, MODEL_DIR, SERVER_PORT)
    assert cmd_of(parser)[:1] == ["azmlinfsrv"] and "--worker_count" not in cmd_of(parser)  # WORKER_COUNT decides
    assert instructions(parser, "ENTRYPOINT") == ["[]"]  # the base image's own start (runit) does not wrap the CMD
    requirements = "/tmp/model-webapp/requirements.txt"
    assert instructions(parser, "COPY") == [f"requirements.txt {requirements}", f"code/ {CODE_DIR}/",
                                            f"model/ {MODEL_DIR}/"]
    assert instructions(parser, "RUN") == [f"pip install --no-cache-dir -r {requirements}"]


def test_requirements_are_the_conda_specs_pip_section_or_the_txt(code):
    assert context_of(code).files["requirements.txt"] == (
        b"azureml-inference-server-http==1.5.1\nscikit-learn==1.9.1\nnumpy==2.4.6\njoblib==1.6.0\n")
    (code / "requirements.txt").write_text("# pinned\nazureml-inference-server-http==1.5.1\n\nscikit-learn==1.9.1\n")
    assert context_of(code, spec="requirements.txt").files["requirements.txt"] == (
        b"azureml-inference-server-http==1.5.1\nscikit-learn==1.9.1\n")


@pytest.mark.parametrize("extra_ports", [(), (8883, 8888)])  # the base images' own ports too: fact img-inference-ports
def test_the_image_check_passes_on_the_config_the_dockerfile_describes(code, tmp_path, extra_ports):
    parser = parsed(context_of(code).files["Dockerfile"])
    ports = [int(p) for p in instructions(parser, "EXPOSE")] + list(extra_ports)
    config = {"config": {"ExposedPorts": {f"{p}/tcp": {} for p in ports},
                         "Env": [f"{k}={v}" for k, v in parser.envs.items()], "Entrypoint": None,
                         "Cmd": cmd_of(parser)}}
    facts = image_facts(config, image=IMAGE, entry_script="score.py", base_image=DEFAULT_BASE_IMAGE)
    assert (facts.port, facts.model_dir, facts.entry_script) == (SERVER_PORT, MODEL_DIR, f"{CODE_DIR}/score.py")
    assert list(facts.cmd) == cmd_of(parser) and facts.entrypoint == ()


# -- what is refused ------------------------------------------------------------------------------------------------
def test_conda_only_dependencies_are_refused_naming_them(code):
    spec = code / "environment.yml"
    spec.write_text(spec.read_text().replace("  - pip\n", "  - pip\n  - libgomp\n  - conda-forge::lightgbm=4.6\n"))
    with pytest.raises(BuildContextError) as refused:
        context_of(code)
    message = str(refused.value)
    assert str(spec) in message and "libgomp" in message and "conda-forge::lightgbm=4.6" in message
    assert "python=3.11" not in message  # python and pip are the base image's own


@pytest.mark.parametrize("spec, text, named", [
    ("requirements.txt", "-r base.txt\nnumpy\n", "-r base.txt"),
    ("environment.yml", "name: x\n", "no dependencies list"),
    ("environment.yml", "dependencies: [\n", "not valid YAML"),
])
def test_specs_the_image_cannot_use_are_refused_naming_the_file(code, spec, text, named):
    (code / spec).write_text(text)
    with pytest.raises(BuildContextError, match="environment spec") as refused:
        context_of(code, spec=spec)
    assert str(code / spec) in str(refused.value) and named in str(refused.value)


def test_a_missing_entry_script_or_model_folder_is_named(code, tmp_path):
    with pytest.raises(BuildContextError, match="entry script predict.py"):
        build_context(source_dir=code / "src", entry_script="predict.py", environment_spec=code / "environment.yml",
                      base_image=DEFAULT_BASE_IMAGE, model_dir=None)
    with pytest.raises(BuildContextError, match=f"model folder {tmp_path / 'nowhere'}"):
        context_of(code, model_dir=tmp_path / "nowhere")


# -- python -m local.build_context ---------------------------------------------------------------------------------
def test_the_cli_writes_the_exact_context_and_prints_its_hash(tmp_path, model_dir, capsys):
    out = tmp_path / "context"
    assert cli.main(["--stack", "dev", "--out", str(out), "--model-dir", str(model_dir)]) == 0
    printed = capsys.readouterr().out.strip()
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    expected = build_context(source_dir=PROJECT_DIR / "model" / "src", entry_script="score.py",
                             environment_spec=PROJECT_DIR / "model" / "environment.yml",
                             base_image=DEFAULT_BASE_IMAGE, model_dir=model_dir)
    assert written == expected.files and printed == f"sha256 {expected.sha256()}"


@pytest.mark.parametrize("argv, named", [
    (["--stack", "dev"], "--out"),
    (["--stack", "dev", "--out", "{out}", "--model-dir", "{tmp}/nowhere"], "--model-dir"),
    (["--config-file", "examples/fleet.yaml", "--out", "{out}"], "--service"),
])
def test_usage_errors_exit_2_naming_the_argument(tmp_path, capsys, argv, named):
    argv = [a.format(out=tmp_path / "out", tmp=tmp_path) for a in argv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own exit for a missing argument
        code = exc.code
    assert code == 2 and named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_folder_with_anything_in_it_and_leaves_it_alone(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    assert cli.main(["--stack", "dev", "--out", str(out)]) == 2
    assert f"--out {out} is not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine\n"


# -- the rehearsal runs what the container runs ---------------------------------------------------------------------
def test_the_local_server_runs_the_dockerfiles_command_and_environment_and_answers(tmp_path, model_dir, capsys):
    out = tmp_path / "context"
    assert cli.main(["--stack", "dev", "--out", str(out), "--model-dir", str(model_dir)]) == 0
    parser = parsed((out / "Dockerfile").read_bytes())
    port = free_port()
    local = {CODE_DIR: str(out / "code"), MODEL_DIR: str(out / "model"), str(SERVER_PORT): str(port)}

    def mapped(value: str) -> str:  # the image's folders and port, as they are on this machine
        for image_path in sorted(local, key=len, reverse=True):
            if value == image_path or value.startswith(image_path + "/"):
                return local[image_path] + value[len(image_path):]
        return value

    command = [sys.executable, "-m", "local.loopback_server", *map(mapped, cmd_of(parser)[1:])]
    environment = {k: mapped(v) for k, v in parser.envs.items()}
    spec = ServiceSpec(stack="dev", port=port, worker_count=int(parser.envs["WORKER_COUNT"]),
                       entry_script=out / "code" / "score.py", model_dir=out / "model", code_dir=out / "code")
    service = LocalService(spec)
    # local.serve's own command and environment are the Dockerfile's, with local paths in place of the image's
    assert service.command() == command and service.environment() == environment
    with service:
        request = urllib.request.Request(f"{spec.base_url}/score", data=SAMPLE_REQUEST.read_bytes(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            status, predictions = response.status, json.loads(response.read())
    rows = json.loads(SAMPLE_REQUEST.read_text())["data"]
    assert status == 200 and len(predictions) == len(rows) and all(isinstance(p, float) for p in predictions)
