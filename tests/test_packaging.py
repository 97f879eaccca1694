"""The package as a user gets it: built from the committed tree (a ``git clone`` of HEAD, as
``pip install git+URL`` does), with nothing generated beforehand and no ``./dev``.

The wheel and the sdist are built the way a user's pip and a release would build them
(isolated build environments that install ``[build-system] requires`` from the package
index or pip's cache). The wheel goes into a fresh virtual environment with ``--no-deps``;
that environment sees the already installed dependencies through a ``.pth`` line, so the
project's own code can only come from the wheel (checked), and ``pip check`` confirms the
wheel's declared dependencies are met by those pins.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_proto.xds_generate import XDS_PROTOS_VERSION
from testkit.ext_authz import check_call, check_request
from tests.service.harness import free_port
from tests.service.serve_process import running_service, wait_serving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
GENERATED = (
    "session_proto/session/v1/session_service_pb2.py",
    "session_proto/session/v1/session_service_pb2.pyi",
    "session_proto/session/v1/session_service_pb2_grpc.py",
    "session_proto/xds/envoy/service/auth/v3/external_auth_pb2.py",
    "session_proto/xds/envoy/service/auth/v3/external_auth_pb2.pyi",
    "session_proto/xds/envoy/service/auth/v3/external_auth_pb2_grpc.py",
    "session_proto/xds/google/rpc/status_pb2.py",
)


def run(*command: str | Path, cwd: Path | None = None) -> str:
    """Run ``command``; fail the test with its output if it fails; return stdout."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean clone of the commit the working tree is on."""
    head = run("git", "-C", ROOT, "rev-parse", "HEAD").strip()
    target = tmp_path_factory.mktemp("clone") / "session-service"
    run("git", "clone", "--quiet", "--no-checkout", ROOT, target)
    run("git", "-C", target, "checkout", "--quiet", head)
    assert not (target / "session_proto" / "session").exists()
    return target


@pytest.fixture(scope="module")
def version(clone: Path) -> str:
    project = tomllib.loads((clone / "pyproject.toml").read_text())["project"]
    return str(project["version"])


@pytest.fixture(scope="module")
def wheel(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, clone)
    (built,) = out.glob("session_service-*.whl")
    return built


def test_build_requirements_pin_the_generator_like_the_runtime() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = [d for d in pyproject["project"]["dependencies"] if d.startswith("grpcio==")]
    assert runtime == ["grpcio==1.85.1"]
    generator = runtime[0].replace("grpcio==", "grpcio-tools==")
    assert generator in pyproject["build-system"]["requires"]
    assert generator in pyproject["project"]["optional-dependencies"]["dev"]


def test_xds_protos_is_a_build_requirement_only_pinned_as_the_generator_expects() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert f"xds-protos=={XDS_PROTOS_VERSION}" in pyproject["build-system"]["requires"]
    declared = [*pyproject["project"]["dependencies"]]
    for extra in pyproject["project"]["optional-dependencies"].values():
        declared += extra
    assert not [d for d in declared if d.startswith("xds-protos")]


def test_the_wheel_carries_the_generated_code_and_only_our_four_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for generated in GENERATED:
        assert generated in names
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith("-info")}
    assert packages == {"session_common", "session_core", "session_proto", "session_service"}


def test_the_sdist_carries_the_protos_and_builds_the_same_wheel(
    clone: Path, wheel: Path, tmp_path: Path
) -> None:
    run(sys.executable, "-m", "build", "--sdist", "--outdir", tmp_path / "sdist", clone)
    (sdist,) = (tmp_path / "sdist").glob("session_service-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {name.partition("/")[2] for name in archive.getnames()}
    assert {"protos/session/v1/session_service.proto", "setup.py", "pyproject.toml"} <= members
    assert "session_proto/generate.py" in members
    assert not any(name.startswith("session_proto/session/") for name in members)
    assert not any(name.startswith("session_proto/xds/") for name in members)
    # A wheel built from the sdist (what pip does with it) holds what the clone's wheel holds.
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path, sdist)
    (from_sdist,) = tmp_path.glob("session_service-*.whl")
    assert sorted(zipfile.ZipFile(from_sdist).namelist()) == sorted(
        zipfile.ZipFile(wheel).namelist()
    )


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site_packages = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    # The dependencies, already installed for the tests (appended after the venv's own).
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel)
    run(sys.executable, "-m", "pip", "--python", python, "check")
    for module in (
        "session_service",
        "session_core",
        "session_common",
        "session_proto.session.v1",
        "session_proto.xds.envoy.service.auth.v3.external_auth_pb2",
    ):
        # (run outside the checkout: ``python -c`` puts the working directory on sys.path)
        where = run(python, "-c", f"import {module} as m; print(m.__file__)", cwd=venv).strip()
        assert Path(where).is_relative_to(site_packages), f"{module} imported from {where}"
    return venv / "bin"


@pytest.mark.parametrize("command", ["session-service", "session-core"])
def test_both_commands_answer_help_and_version(
    installed: Path, version: str, command: str, tmp_path: Path
) -> None:
    assert run(installed / command, "--version", cwd=tmp_path) == f"{command} {version}\n"
    assert "serve" in run(installed / command, "--help", cwd=tmp_path)
    assert "--port" in run(installed / command, "serve", "--help", cwd=tmp_path)


async def test_the_installed_service_creates_and_verifies_a_session(
    installed: Path, tmp_path: Path
) -> None:
    port = free_port()
    command = installed / "session-service"
    async with running_service(port, tmp_path / "data", command=command) as served:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = SessionClient(channel)
            created = await client.create_session("wheel-user", {"from": "wheel"})
            verified = await client.get_session(created.session.access_token)
            cookie = {"cookie": f"sAccessToken={created.session.access_token}"}
            checked = await check_call(channel)(check_request(cookie), timeout=10)
        assert checked.status.code == 0, checked  # Envoy's Check, from the generated API
        assert verified.status is SessionStatus.OK
        assert verified.session is not None
        assert verified.session.user_id == "wheel-user"
        assert verified.session.access_token_payload["from"] == "wheel"
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0, served.log
    assert (tmp_path / "data" / "core.db").is_file()
