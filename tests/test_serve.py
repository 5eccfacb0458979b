"""The local rehearsal's choice of model folder: it never writes into a user's folder, trains the example only into
model/artifacts, and serves a downloaded model version (a fake Azure ML here) exactly as downloaded."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from local import demo, serve
from local.serve import (EXAMPLE_ENTRY_SCRIPT, RegisteredModel, SignInRequired, UsageError, choose_model_dir,
                         download_model, free_port, service_spec)
from offline.project import PROJECT_DIR


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under a folder: a file's bytes (hashed) and modification time, a folder's presence."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        found[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) \
            if path.is_file() else ("dir",)
    return found


@pytest.fixture
def users_folder(tmp_path) -> Path:
    """A folder of someone's own, with files in it but no model.joblib."""
    folder = tmp_path / "my-model"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "model.pkl").write_bytes(b"\x80\x04not really a pickle")
    (folder / "README.txt").write_text("my notes\n")
    return folder


@pytest.fixture(scope="module")
def dev_spec():
    return service_spec("dev")


THEIR_SCRIPT = """import json
import os

notes = None


def init():
    global notes
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "README.txt")) as f:
        notes = f.read().strip()


def run(raw):
    return {"notes": notes, "features": [len(row) for row in json.loads(raw)["data"]]}
"""


@pytest.fixture
def other_stack(tmp_path) -> Path:
    """A stack file whose code is not the example's: another folder, another entry script."""
    code = tmp_path / "their-code" / "src"
    code.mkdir(parents=True)
    (code / "predict.py").write_text(THEIR_SCRIPT)
    (tmp_path / "their-code" / "requirements.txt").write_text("azureml-inference-server-http==1.5.1\n")
    (tmp_path / "their-code" / "sample-request.json").write_text('{"data": [[0.5, 1, 2]]}')  # beside the code
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    stack["config"]["model-webapp:code"] = {"sourceDir": str(code), "entryScript": "predict.py",
                                            "environmentSpec": str(tmp_path / "their-code" / "requirements.txt")}
    stack["config"]["model-webapp:model"] = {"name": "churn-gbm", "version": "7"}
    path = tmp_path / "Pulumi.theirs.yaml"
    path.write_text(yaml.safe_dump(stack))
    return path


# -- --model-dir: read, never written ---------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["files but no model", "empty"])
def test_a_model_dir_without_a_model_fails_and_is_left_byte_for_byte_unchanged(users_folder, content, capsys):
    if content == "empty":
        shutil.rmtree(users_folder)
        users_folder.mkdir()
    before = snapshot(users_folder)
    code = serve.main(["--stack", "dev", "--model-dir", str(users_folder)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(users_folder) in err and "model.joblib" in err and "never writes" in err
    assert ("it is empty" in err) if content == "empty" else ("README.txt" in err and "weights/model.pkl" in err)
    assert snapshot(users_folder) == before
    assert "training" not in capsys.readouterr().out


def test_a_model_dir_that_does_not_exist_is_an_error_and_is_not_created(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert serve.main(["--stack", "dev", "--model-dir", str(missing)]) == 2
    assert f"--model-dir {missing}: no such folder" in capsys.readouterr().err
    assert not missing.exists()


def test_the_demo_refuses_the_same_folder_the_same_way(users_folder, capsys):
    before = snapshot(users_folder)
    assert demo.main(["--stack", "dev", "--model-dir", str(users_folder)]) == 2
    assert str(users_folder) in capsys.readouterr().err
    assert snapshot(users_folder) == before


def test_a_model_dir_with_a_model_is_served_as_it_is(dev_spec, model_dir):
    before = snapshot(model_dir)
    assert choose_model_dir(dev_spec, model_dir, echo=pytest.fail) == model_dir
    assert snapshot(model_dir) == before


def test_model_dir_and_download_together_are_refused(dev_spec, model_dir):
    with pytest.raises(UsageError, match="--model-dir or --download, not both"):
        choose_model_dir(dev_spec, model_dir, download=True)


# -- the example model: trained only into model/artifacts, only for the example's entry script -----------------
def test_the_example_model_is_trained_only_into_model_artifacts(dev_spec, tmp_path, monkeypatch):
    artifacts = tmp_path / "model" / "artifacts"  # stands in for the project's model/artifacts
    monkeypatch.setattr(serve, "EXAMPLE_MODEL_DIR", artifacts)
    said = []
    assert dev_spec.is_example
    assert choose_model_dir(dev_spec, echo=said.append) == artifacts
    assert (artifacts / "model.joblib").is_file()
    assert said == [f"training the example model into {artifacts} ..."]


def test_ensure_model_never_trains_into_another_folder(users_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "EXAMPLE_MODEL_DIR", tmp_path / "artifacts")
    before = snapshot(users_folder)
    with pytest.raises(UsageError, match=r"trained into .*artifacts only"):
        serve.ensure_model(users_folder)
    assert snapshot(users_folder) == before
    assert not (tmp_path / "artifacts").exists()


def test_a_stack_with_its_own_code_names_its_entry_script_and_asks_for_a_model(other_stack, capsys):
    assert serve.main(["--config-file", str(other_stack)]) == 2
    err = capsys.readouterr().err
    assert "stack theirs serves" in err and "predict.py, not the example's" in err
    assert "--model-dir" in err and "--download" in err and "churn-gbm version 7" in err
    spec = service_spec(config_file=other_stack)
    assert spec.stack == "theirs" and not spec.is_example and spec.model_dir is None
    assert spec.entry_script == other_stack.parent / "their-code" / "src" / "predict.py"


def test_a_stack_with_its_own_code_never_gets_the_example_model_trained(other_stack, users_folder, tmp_path,
                                                                         monkeypatch, capsys):
    monkeypatch.setattr(serve, "EXAMPLE_MODEL_DIR", tmp_path / "artifacts")
    before = snapshot(users_folder)
    spec = service_spec(config_file=other_stack)
    assert choose_model_dir(spec, users_folder, echo=pytest.fail) == users_folder  # their files, as they are
    assert snapshot(users_folder) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert serve.main(["--config-file", str(other_stack), "--model-dir", str(empty)]) == 2
    assert f"--model-dir {empty} holds no model (it is empty)" in capsys.readouterr().err
    assert not (tmp_path / "artifacts").exists() and not any(empty.iterdir())


def test_the_demo_serves_their_script_with_their_folder_and_sends_their_request(other_stack, users_folder, capsys):
    before = snapshot(users_folder)
    code = demo.main(["--config-file", str(other_stack), "--model-dir", str(users_folder), "--port", str(free_port())])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"entry script {other_stack.parent}/their-code/src/predict.py, model folder {users_folder}" in out
    assert f"({other_stack.parent}/their-code/sample-request.json)" in out
    assert "{'notes': 'my notes', 'features': [3]}" in out  # their init() read their folder; their 3-feature row
    assert snapshot(users_folder) == before


# -- --download: the stack's registered version, through an adapter ----------------------------------------------
class FakeModelDownloads:
    """Writes what MLClient.models.download writes for a folder model: <into>/<name>/<folder>/..."""

    def __init__(self, model_file: Path) -> None:
        self.model_file = model_file
        self.calls: list[tuple[RegisteredModel, Path]] = []

    def download(self, model: RegisteredModel, into: Path) -> None:
        self.calls.append((model, into))
        folder = into / model.name / "outputs"
        folder.mkdir(parents=True)
        shutil.copy(self.model_file, folder / "model.joblib")


def test_download_serves_the_downloaded_folder_and_says_so(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(serve, "MODEL_CACHE", tmp_path / "cache")
    fake = FakeModelDownloads(model_dir / "model.joblib")
    code = demo.main(["--stack", "dev", "--download", "--port", str(free_port())], downloads=fake)
    out = capsys.readouterr().out
    served = tmp_path / "cache" / "mlw-models" / "diabetes-ridge" / "1" / "diabetes-ridge"
    assert code == 0, out
    [(model, _)] = fake.calls
    assert (model.workspace, model.name, model.version) == ("mlw-models", "diabetes-ridge", "1")
    assert model.subscription_id == "00000000-0000-0000-0000-000000000000" and model.resource_group == "rg-aml"
    assert f"model folder {served} (AZUREML_MODEL_DIR)" in out
    assert "\n200\n" in out
    assert (served / "outputs" / "model.joblib").is_file()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["mlw-models"]  # no scratch folder left behind


def test_a_downloaded_version_is_reused_from_the_cache(dev_spec, model_dir, tmp_path):
    fake = FakeModelDownloads(model_dir / "model.joblib")
    said = []
    first = download_model(dev_spec.model, fake, cache=tmp_path, echo=said.append)
    again = download_model(dev_spec.model, fake, cache=tmp_path, echo=said.append)
    assert first == again and len(fake.calls) == 1
    assert "downloaded before" in said[-1]


def test_download_to_a_new_folder_serves_it(dev_spec, model_dir, tmp_path):
    fake = FakeModelDownloads(model_dir / "model.joblib")
    target = tmp_path / "downloads"
    served = choose_model_dir(dev_spec, download_to=target, downloads=fake, cache=tmp_path / "cache", echo=print)
    assert served == target / "diabetes-ridge" and (served / "outputs" / "model.joblib").is_file()


def test_download_to_a_folder_with_files_is_refused_and_left_unchanged(dev_spec, model_dir, users_folder, tmp_path):
    fake = FakeModelDownloads(model_dir / "model.joblib")
    before = snapshot(users_folder)
    with pytest.raises(UsageError, match=r"not a new or empty folder.*--model-dir .*diabetes-ridge"):
        choose_model_dir(dev_spec, download_to=users_folder, downloads=fake, cache=tmp_path / "cache")
    assert snapshot(users_folder) == before and fake.calls == []


def test_a_download_without_the_models_folder_fails_and_leaves_nothing(dev_spec, tmp_path):
    class Stray:
        def download(self, model, into):
            (into / "something-else.bin").write_bytes(b"x")

    with pytest.raises(serve.DownloadFailed, match=r"no diabetes-ridge/ folder \(it holds something-else.bin\)"):
        download_model(dev_spec.model, Stray(), cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_sign_in_says_to_run_az_login(dev_spec, tmp_path, monkeypatch, capsys):
    import azure.identity
    from azure.identity import CredentialUnavailableError

    class SignedOut:  # what DefaultAzureCredential raises when no credential is available
        def __init__(self, *args, **kwargs) -> None:
            pass

        def get_token(self, *args, **kwargs):
            raise CredentialUnavailableError("Please run 'az login' to set up an account")

        get_token_info = get_token

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", SignedOut)
    with pytest.raises(SignInRequired, match=r"run `az login`"):
        serve.AzureModelDownloads().download(dev_spec.model, tmp_path)
    monkeypatch.setattr(serve, "MODEL_CACHE", tmp_path / "cache")
    assert serve.main(["--stack", "dev", "--download"]) == 2
    assert "az login" in capsys.readouterr().err
    assert list((tmp_path / "cache").iterdir()) == []


# -- the demo's request is the stack's ----------------------------------------------------------------------------
def test_the_demo_sends_the_stacks_smoke_request(dev_spec):
    assert dev_spec.smoke_request is not None
    assert json.loads(demo.request_body(dev_spec.smoke_request, "dev"))["data"]


def test_a_bad_request_file_is_named(tmp_path):
    bad = tmp_path / "req.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(ValueError, match=rf"request file {bad} must be a JSON file"):
        demo.request_body(bad, "dev")
    with pytest.raises(ValueError, match="sends no smoke request"):
        demo.request_body(None, "dev")


def test_serve_and_demo_read_a_stack_file_like_the_plan(tmp_path):
    copy = tmp_path / "Pulumi.mine.yaml"
    copy.write_text((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    spec = service_spec(config_file=copy)
    prod = service_spec("prod")
    assert spec.stack == "mine"
    assert replace(spec, stack="prod", telemetry=()) == replace(prod, telemetry=())  # the fake's keys differ by stack
    assert spec.entry_script == EXAMPLE_ENTRY_SCRIPT and spec.port == prod.port and spec.worker_count == 2
