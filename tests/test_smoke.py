"""The smoke test that deploy.yml runs after each `pulumi up`, run here against the local rehearsal."""
from __future__ import annotations

import http.server
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from local import smoke
from local.serve import free_port

MANUAL_ROWS = 2


def run_smoke(capsys, *argv: str) -> tuple[int, str, str]:
    code = smoke.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_passes_against_the_local_service(service, capsys):
    code, out, err = run_smoke(capsys, "--scoring-uri", service.spec.base_url + "/score", "--stack", "dev")
    assert code == 0, err
    assert "200 in" in out and f"{MANUAL_ROWS} predictions" in out


def test_fails_on_a_wrong_url(capsys):
    nobody = f"http://127.0.0.1:{free_port()}/score"
    code, _, err = run_smoke(capsys, "--scoring-uri", nobody, "--timeout", "1")
    assert code == 1
    assert "smoke test failed" in err and "no answer" in err and "Traceback" not in err


def test_fails_at_once_on_a_4xx(service, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [[1, 2, 3]]}))
    code, out, err = run_smoke(capsys, "--scoring-uri", service.spec.base_url + "/score", "--sample", str(bad),
                               "--timeout", "600")
    assert code == 1 and "answered 400" in err and "row 0 has 3 values" in err
    assert "retrying" not in out  # a client error is not a container still starting
    code, _, err = run_smoke(capsys, "--scoring-uri", service.spec.base_url + "/nothing-here")
    assert code == 1 and "answered 404" in err


def test_usage_errors_exit_2(capsys, tmp_path):
    assert run_smoke(capsys, "--scoring-uri", "mw-dev-app.azurewebsites.net/score")[0] == 2
    code, _, err = run_smoke(capsys, "--scoring-uri", "http://127.0.0.1:1/score", "--sample", str(tmp_path / "x"))
    assert code == 2 and "no such file" in err
    code, _, err = run_smoke(capsys, "--scoring-uri", "http://127.0.0.1:1/score", "--stack", "nosuchstack")
    assert code == 2 and "Pulumi.nosuchstack.yaml" in err


class Recorder(http.server.BaseHTTPRequestHandler):
    """A scoring service that records what it was sent; the first answers say the container is starting."""
    seen: list[dict] = []
    starting = 0

    auth = False  # like Easy Auth with Return401: no token, 401
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 - the handler's API
        Recorder.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        Recorder.seen.append(dict(self.headers))
        status, body = (503, b"starting") if Recorder.starting > 0 else (200, b"[1.5, 2.5]")
        if Recorder.auth and "Authorization" not in self.headers:
            status, body = 401, b""
        Recorder.starting -= 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def recorder():
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.seen, Recorder.bodies, Recorder.starting, Recorder.auth = [], [], 1, False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/score"
    server.shutdown()


def fake_az(tmp_path, monkeypatch) -> str:
    """An `az` on the PATH that prints a token and writes down how it was called."""
    log = tmp_path / "az-args"
    script = tmp_path / "az"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {log}\necho fake-token-for-test\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return str(log)


def test_an_auth_stack_sends_a_bearer_token_for_its_audience_and_retries_while_starting(
        recorder, capsys, tmp_path, monkeypatch):
    log = fake_az(tmp_path, monkeypatch)
    monkeypatch.setattr(smoke.time, "sleep", lambda _s: None)
    Recorder.auth = True
    code, out, err = run_smoke(capsys, "--scoring-uri", recorder, "--stack", "prod")
    assert code == 0, err
    assert open(log).read().split() == ["account", "get-access-token", "--resource",
                                        "api://22222222-2222-2222-2222-222222222222", "--query", "accessToken",
                                        "--output", "tsv"]  # prod's allowedAudiences[0]
    # Two with the token (503 while starting, then 200), then one without that must be refused.
    assert [h.get("Authorization") for h in Recorder.seen] == ["Bearer fake-token-for-test"] * 2 + [None]
    assert "503" in out and "retrying" in out and "without a token: 401" in out
    assert "fake-token-for-test" not in out + err  # the token is never printed


def test_an_anonymous_stack_sends_no_token(recorder, capsys, tmp_path, monkeypatch):
    fake_az(tmp_path, monkeypatch)
    Recorder.starting = 0
    assert run_smoke(capsys, "--scoring-uri", recorder, "--stack", "dev")[0] == 0
    assert "Authorization" not in Recorder.seen[0]


def test_a_wrong_answer_shape_fails(recorder, capsys, tmp_path):
    Recorder.starting = 0
    three = tmp_path / "three.json"
    three.write_text(json.dumps({"data": [[1] * 10] * 3}))
    code, _, err = run_smoke(capsys, "--scoring-uri", recorder, "--sample", str(three))
    assert code == 1 and "not 3 predictions, one per row" in err


def test_the_smoke_step_needs_only_what_the_deploy_jobs_venv_installs():
    """deploy.yml's .venv holds requirements.txt alone: everything local.smoke imports must come from it."""
    import subprocess
    import sys
    from importlib import metadata

    from tests.test_project_files import ROOT, _closure, _requirement_names

    listing = subprocess.run([sys.executable, "-c", "import sys, local.smoke; print('\\n'.join(sys.modules))"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    distributions = metadata.packages_distributions()
    available = _closure(_requirement_names(ROOT / "requirements.txt"))
    tops = {m.split(".")[0] for m in listing} - set(sys.stdlib_module_names) - {"local", "offline", "settings", "_distutils_hack"}
    missing = {t for t in tops if t in distributions
               and not {d.lower().replace("_", "-") for d in distributions[t]} & available}
    assert missing == set()


def stack_file(tmp_path, **config) -> str:
    """A copy of prod's stack file with some keys changed."""
    import yaml

    from offline.project import PROJECT_DIR

    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    doc["config"].update({f"model-webapp:{k}": v for k, v in config.items()})
    path = tmp_path / "Pulumi.smoke.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_a_stack_sends_its_own_smoke_request(recorder, capsys, tmp_path):
    Recorder.starting = 0
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"data": [[0.01] * 10, [0.02] * 10]}))
    config = stack_file(tmp_path, release={"smokeRequest": str(request)}, auth={"enabled": False})
    code, _, err = run_smoke(capsys, "--scoring-uri", recorder, "--config-file", config)
    assert code == 0, err
    assert Recorder.bodies == [{"data": [[0.01] * 10, [0.02] * 10]}]


def test_an_auth_stack_whose_score_answers_anonymous_callers_fails(recorder, capsys, tmp_path, monkeypatch):
    fake_az(tmp_path, monkeypatch)
    Recorder.starting = 0  # Recorder.auth stays False: /score answers everyone
    code, _, err = run_smoke(capsys, "--scoring-uri", recorder, "--stack", "prod")
    assert code == 1 and "anonymous POST" in err and "answered 200, not 401" in err


def test_a_stack_with_access_admits_this_machine_for_the_test_only(recorder, capsys, tmp_path):
    from tests.fake_app_service import FakeSiteService

    Recorder.starting = 0
    rules = [{"name": "allow-range-1", "ipAddress": "198.51.100.0/24", "action": "Allow", "priority": 100}]
    service = FakeSiteService(restricted=rules)
    config = stack_file(tmp_path, access={"allowedIpRanges": ["198.51.100.0/24"]}, auth={"enabled": False})
    argv = ["--scoring-uri", recorder, "--config-file", config]
    assert smoke.main(argv, factory=service.factory) == 2
    assert "pass --app, --resource-group" in capsys.readouterr().err
    code = smoke.main(argv + ["--app", "app", "--resource-group", "rg", "--subscription", "s"],
                      factory=service.factory)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [[r["name"] for r in rules] for _where, rules in service.rule_writes] == [
        ["allow-range-1", "release-gate"], ["allow-range-1"]]  # added for the test, removed after it
    assert service.host(None).rules == rules and "release-gate" in out


# -- a private stack: unreachable from here is said at once ------------------------------------------------------------
PRIVATE = str(Path(__file__).resolve().parent.parent / "examples" / "private.yaml")


def test_a_private_service_resolved_to_a_public_address_is_unreachable_from_here(recorder, capsys):
    from local import smoke as smoke_module

    code = smoke_module.main(["--scoring-uri", recorder, "--config-file", PRIVATE, "--audience", ""],
                             resolver=lambda host: ["198.51.100.20"])
    err = capsys.readouterr().err
    assert code == 2 and Recorder.bodies == []  # nothing was posted
    assert "the service is unreachable from this runner (not unhealthy)" in err
    assert "127.0.0.1 resolves to 198.51.100.20, a public address" in err
    assert "self-hosted runner in the VNet" in err and "DEPLOY_RUNS_ON" in err


def test_a_private_service_reached_through_its_endpoint_is_tested_as_usual(recorder, capsys):
    from local import smoke as smoke_module

    code = smoke_module.main(["--scoring-uri", recorder, "--config-file", PRIVATE, "--audience", ""],
                             resolver=lambda host: ["10.20.1.4"])
    assert code == 0, capsys.readouterr().err
    assert Recorder.bodies  # the stack's smoke request reached the service


def test_the_public_front_ends_403_to_a_private_service_stops_the_test_at_once(recorder, capsys, monkeypatch):
    from local import smoke as smoke_module

    page = b"<h1>Error 403 - Forbidden</h1><p>The web app you have attempted to reach has blocked your access.</p>"
    monkeypatch.setattr(smoke_module, "post", lambda uri, body, headers: (403, page))
    code = smoke_module.main(["--scoring-uri", recorder, "--config-file", PRIVATE, "--audience", ""],
                             resolver=lambda host: ["10.20.1.4"])
    err = capsys.readouterr().err
    assert code == 2 and "has public network access disabled, so this runner reached App Service's public front end" \
        in err and "self-hosted runner" in err


def test_a_public_stack_is_not_resolved(recorder, capsys):
    from local import smoke as smoke_module

    code = smoke_module.main(["--scoring-uri", recorder, "--stack", "dev", "--audience", ""],
                             resolver=lambda host: pytest.fail("a public stack needs no DNS check"))
    assert code in (0, 1), capsys.readouterr().err


REGIONS = str(Path(__file__).resolve().parent.parent / "examples" / "regions.yaml")


def scripted_front_door(monkeypatch, answers: list[tuple[int, bytes]], auth: bool = True) -> list[dict]:
    """Front Door's edge as `post` sees it: the given answers in order (with auth: to calls with a token; 401 to
    calls without)."""
    calls: list[dict] = []

    def post(uri, body, headers):
        calls.append(dict(headers))
        if auth and "Authorization" not in headers:
            return 401, b""
        return answers.pop(0)

    monkeypatch.setattr(smoke, "post", post)
    monkeypatch.setattr(smoke.time, "sleep", lambda _s: None)
    return calls


def test_behind_front_door_its_404_while_the_configuration_propagates_is_waited_out(capsys, tmp_path, monkeypatch):
    fake_az(tmp_path, monkeypatch)
    page = b"<h2>Our services aren't available right now</h2>"
    calls = scripted_front_door(monkeypatch, [(404, page), (400, page), (200, b"[0, 1, 2]")])
    code, out, err = run_smoke(capsys, "--scoring-uri", "https://mw-regions-iris-fd-endpoint-0123.z01.azurefd.net/score",
                               "--config-file", REGIONS, "--service", "iris")
    assert code == 0, err
    assert len(calls) == 4 and "404 from Front Door (its new configuration is still reaching the edges)" in out
    assert "without a token: 401" in out


def test_without_front_door_a_404_fails_at_once(capsys, tmp_path, monkeypatch):
    calls = scripted_front_door(monkeypatch, [(404, b"not here"), (200, b"[1.5, 2.5]")], auth=False)
    code, _, err = run_smoke(capsys, "--scoring-uri", "https://mw-dev-app.azurewebsites.net/score", "--stack", "dev")
    assert code == 1 and len(calls) == 1 and "404" in err
