"""scripts/bootstrap.py and the Makefile's use of it: what is missing, the one line that
says what to run when it cannot be installed from here, Go's version, where Airflow's
virtualenv goes. Nothing here installs anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import bootstrap
from stack import versions

REPO = Path(__file__).resolve().parents[2]


def _need(name: str, present: bool, *packages: str) -> bootstrap.Need:
    return bootstrap.Need(name, lambda: present, packages)


def test_missing_packages_in_order_without_repeats() -> None:
    needs = (
        _need("a", True, "pkg-a"),
        _need("b", False, "pkg-b", "pkg-shared"),
        _need("c", False, "pkg-shared", "pkg-c"),
    )
    assert bootstrap.missing_packages(needs) == ["pkg-b", "pkg-shared", "pkg-c"]
    assert bootstrap.missing_packages(needs[:1]) == []


def test_every_need_names_debian_packages() -> None:
    for need in bootstrap.NEEDS:
        assert need.packages and all(p and " " not in p for p in need.packages), need.what


@pytest.fixture()
def missing_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        bootstrap, "NEEDS", (_need("chromium", False, "chromium"), _need("driver", False,
                             "chromium-driver"), _need("java", True, "default-jre-headless"))
    )  # fmt: skip

    def no_apt(packages: list[str]) -> None:
        raise AssertionError(f"apt-get must not run: {packages}")

    monkeypatch.setattr(bootstrap, "apt_install", no_apt)


def test_not_root_gets_one_line_with_the_command(
    missing_chromium: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(bootstrap, "ensure_go", lambda cache: None)
    monkeypatch.setattr(bootstrap, "ensure_airflow", lambda cache: pytest.fail("ran on"))
    assert bootstrap.main([]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: missing chromium chromium-driver "
        "(run: sudo apt-get install -y chromium chromium-driver)\n"
    )


def test_root_without_apt_get_cannot_install(
    missing_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(bootstrap.Missing, match=r"\(run: apt-get install -y chromium "):
        bootstrap.ensure_packages()


def test_root_with_apt_get_installs_then_checks_again(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(bootstrap, "can_install", lambda: True)
    monkeypatch.setattr(bootstrap, "apt_install", installed.extend)
    monkeypatch.setattr(
        bootstrap, "NEEDS", (bootstrap.Need("x", lambda: "pkg-x" in installed, ("pkg-x",)),)
    )
    bootstrap.ensure_packages()
    assert installed == ["pkg-x"]
    monkeypatch.setattr(bootstrap, "apt_install", lambda packages: None)  # installs nothing
    installed.clear()
    with pytest.raises(bootstrap.Missing, match="still missing pkg-x after apt-get install"):
        bootstrap.ensure_packages()


def _fake_go(folder: Path, version: str) -> Path:
    go = folder / "go"
    go.write_text(f"#!/bin/sh\necho 'go version go{version} linux/amd64'\n")
    go.chmod(0o755)
    return go


def test_go_must_be_new_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    _fake_go(old, "1.19.8")
    fallback = _fake_go(new, "1.26.8")
    monkeypatch.setenv("PATH", str(old))
    monkeypatch.setattr(bootstrap, "GO_FALLBACK", str(tmp_path / "none" / "go"))
    assert bootstrap.go_version(str(old / "go")) == (1, 19)
    assert bootstrap.find_go() is None
    monkeypatch.setattr(bootstrap, "GO_FALLBACK", str(fallback))  # not on PATH: still found
    assert bootstrap.find_go() == str(fallback)


def test_go_is_not_needed_once_minio_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap, "find_go", lambda: None)
    monkeypatch.setattr(bootstrap, "can_install", lambda: False)
    monkeypatch.setattr(bootstrap, "apt_candidate_go", lambda: (1, 19))
    with pytest.raises(bootstrap.Missing, match=r"missing Go 1\.24\+ to build MinIO"):
        bootstrap.ensure_go(tmp_path)
    built = tmp_path / f"minio-{versions.MINIO_VERSION}"  # what stack.install writes
    built.mkdir()
    (built / "minio").write_text("")
    (built / bootstrap.COMPLETE).write_text("ok\n")
    bootstrap.ensure_go(tmp_path)


def test_airflow_venv_follows_the_pins_and_the_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    req, con = tmp_path / "requirements.txt", tmp_path / "constraints.txt"
    req.write_text("apache-airflow==3.3.2\n")
    con.write_text("a==1\n")
    monkeypatch.setattr(bootstrap, "AIRFLOW_REQUIREMENTS", req)
    monkeypatch.setattr(bootstrap, "AIRFLOW_CONSTRAINTS", con)
    first = bootstrap.airflow_venv(tmp_path, (3, 11))
    assert first.parent == tmp_path and first.name.startswith("airflow-py3.11-")
    assert bootstrap.airflow_venv(tmp_path, (3, 11)) == first
    assert bootstrap.airflow_venv(tmp_path, (3, 12)) != first
    con.write_text("a==2\n")
    assert bootstrap.airflow_venv(tmp_path, (3, 11)) != first


def test_the_pins_exist_and_pin_airflow() -> None:
    assert bootstrap.AIRFLOW_REQUIREMENTS.read_text().count("apache-airflow==") == 1
    constraints = bootstrap.AIRFLOW_CONSTRAINTS.read_text().splitlines()
    pins = [x for x in constraints if x and not x.startswith("#")]
    assert all("==" in x for x in pins)
    assert any(x.startswith("apache-airflow==") for x in pins)


def _make(python: Path, *goals: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", f"PYTHON={python}", *goals],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_stops_before_anything_with_the_bootstrap_s_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\necho 'bootstrap: checking' \n"
        "echo 'error: missing chromium (run: sudo apt-get install -y chromium)' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    res = _make(fake, "demo")
    assert res.returncode != 0
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[0] == "bootstrap: checking"  # its progress shows
    assert len(lines) == 2, res.stderr
    assert lines[1].endswith("*** missing chromium (run: sudo apt-get install -y chromium).  Stop.")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_runs_the_bootstrap_first_but_not_for_help(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    marker = tmp_path / "ran"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    assert _make(fake, "help").returncode == 0 and not marker.exists()
    assert _make(fake, "-n", "test").returncode == 0 and not marker.exists()
    assert _make(fake, "bootstrap").returncode == 0 and marker.exists()


def test_script_runs_on_the_standard_library_alone() -> None:
    """It runs before the project's virtualenv exists: `-I -S` drops site-packages."""
    res = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / "scripts" / "bootstrap.py"), "--airflow-path"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).name.startswith("airflow-py")


def _fake_java(folder: Path, version: str) -> Path:
    (folder / "bin").mkdir(parents=True)
    java = folder / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-04-21' >&2\n")
    java.chmod(0o755)
    return java


def test_registry_java_is_looked_for_under_usr_lib_jvm_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(_fake_java(tmp_path / "jdk17", "17.0.15").parent))
    monkeypatch.setattr(bootstrap, "JVM_ROOT", tmp_path / "jvm")
    assert not bootstrap.has_registry_java()
    _fake_java(tmp_path / "jvm" / "temurin-25-jdk-amd64", "25.0.3")
    assert bootstrap.has_registry_java()
    bootstrap.ensure_registry_java()  # nothing to do


@pytest.mark.parametrize(
    ("packaged", "expected"),
    [
        (True, r"\(run: sudo apt-get install -y openjdk-21-jre-headless\)$"),
        (False, r"have none that new \(install Eclipse Temurin 21 .*adoptium\.net"),
    ],
)
def test_no_registry_java_names_the_package_or_temurin(
    monkeypatch: pytest.MonkeyPatch, packaged: bool, expected: str
) -> None:
    monkeypatch.setattr(bootstrap, "has_registry_java", lambda: False)
    monkeypatch.setattr(bootstrap, "apt_has", lambda p: packaged)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(bootstrap.Missing, match=expected):
        bootstrap.ensure_registry_java()
