"""``pip install abflask[sdk]`` gives a working SDK and nothing of the server.

Builds the wheel from this checkout (offline: hatchling is pinned in
requirements-dev.txt), installs it with the ``sdk`` extra into a fresh venv,
and runs the SDK there against a stub transport.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from abflask.core import bucketing, wire
from abflask.core.experiment import Experiment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVER_LIBRARIES = ("flask", "redis", "numpy", "pandas", "werkzeug")

SCRIPT = """
import importlib.util, json, sys
from abflask.sdk import Client, User

given = json.load(sys.stdin)
body = json.dumps(given["snapshot"]).encode()
requests = []

def stub(method, url, headers, data, timeout):
    requests.append((method, url))
    if (method, url) == ("GET", "http://abflask.test/sdk/config"):
        return 200, {"ETag": '"v1"'}, body
    if (method, url) == ("POST", "http://abflask.test/sdk/exposures"):
        return 200, {}, b'{"assignments": []}'
    return 404, {}, b"{}"

client = Client(
    "http://abflask.test", "sdk-key-0123456789abcdef", transport=stub,
    initial_fetch=True, refresh_interval=3600, flush_interval=3600,
)
assert requests == [("GET", "http://abflask.test/sdk/config")], requests
for key, expected in given["expected"].items():
    for i, (user_id, variation) in enumerate(expected.items()):
        user = User(user_id, {"plan": "pro"}) if i % 2 else user_id
        assert client.variation(key, user) == variation, (key, user_id)
client.close(timeout=5)
assert ("POST", "http://abflask.test/sdk/exposures") in requests, requests

import abflask
print(json.dumps({
    "abflask": abflask.__file__,
    "missing": [n for n in given["absent"] if importlib.util.find_spec(n) is None],
}))
"""


def run(
    *args: str | Path, input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output if it fails."""
    result = subprocess.run(
        [str(a) for a in args],
        input=input,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_sdk_extra_installs_a_working_sdk_without_the_server(tmp_path: Path) -> None:
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    run(
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        ROOT,
        "-w",
        dist,
    )
    (wheel,) = dist.glob("abflask-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(*pip, "--python", python, "install", "--no-index", "--no-deps", f"{wheel}[sdk]")

    experiments = {
        "checkout": Experiment(
            key="checkout", variations=("control", "green"), status="running"
        ),
        "pricing": Experiment(
            key="pricing",
            variations=("low", "mid", "high"),
            weights=(0.2, 0.3, 0.5),
            status="running",
        ),
    }
    users = [f"user-{i}" for i in range(60)]
    expected = {
        key: {u: exp.variations[bucketing.decide(exp.split, u)] for u in users}
        for key, exp in experiments.items()
    }
    for key, exp in experiments.items():  # the hash really splits these users
        assert set(expected[key].values()) == set(exp.variations)
    given = {
        "snapshot": wire.encode(experiments, {}),
        "expected": expected,
        "absent": SERVER_LIBRARIES,
    }

    # -I: neither this checkout (the working directory, PYTHONPATH) nor the
    # user's site-packages can stand in for the installed wheel.
    result = run(python, "-I", "-c", SCRIPT, input=json.dumps(given), cwd=tmp_path)
    report = json.loads(result.stdout)
    assert Path(report["abflask"]).is_relative_to(venv)
    assert report["missing"] == list(SERVER_LIBRARIES)
