"""Install-step failures: clear errors, nothing partial left in the cache."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from common.settings import load
from stack import install, versions
from stack.exceptions import DownloadFailed, ToolMissing


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_pins_come_from_the_committed_pom() -> None:
    assert versions.kafka_version().startswith("4.")
    assert versions.debezium_version() == "3.6.1.Final"
    assert versions.MINIO_VERSION.startswith("v0.0.0-2026")
    assert versions.apicurio_version() == "3.3.3"


def test_failed_maven_download_leaves_no_partial_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A Maven that writes a partial jar and then fails, like a broken download would.
    _script(
        bin_dir,
        "mvn",
        'for a in "$@"; do case $a in -DstackLib=*) d=${a#-DstackLib=};; esac; done\n'
        'mkdir -p "$d" && echo partial > "$d/kafka.jar"\necho "Could not transfer artifact" >&2\nexit 1',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ECOM_CACHE", str(tmp_path / "cache"))
    settings = load()
    with pytest.raises(DownloadFailed, match="Could not transfer artifact"):
        install.ensure_kafka(settings)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name != "maven.log"]
    assert leftovers == []
    assert not install.kafka_dir(settings).exists()


def test_missing_java_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(ToolMissing) as err:
        install.find_java()
    assert "JAVA_HOME" in str(err.value)


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jdk" / "bin").mkdir(parents=True)
    _script(tmp_path / "jdk" / "bin", "java", "echo 'openjdk version \"1.8.0_392\"' >&2")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(ToolMissing, match="Java 8"):
        install.find_java()


def test_missing_go_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(install, "_GO_FALLBACK", tmp_path / "no-go")
    with pytest.raises(ToolMissing, match="Go not found"):
        install.find_go()


def _jdk(root: Path, name: str, version: str) -> Path:
    (root / name / "bin").mkdir(parents=True)
    _script(root / name / "bin", "java", f"echo 'openjdk version \"{version}\" 2026-04-21' >&2")
    return root / name / "bin" / "java"


def test_the_registry_java_is_found_beside_an_older_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path_java = _jdk(tmp_path / "path", "jdk17", "17.0.15")
    monkeypatch.setenv("PATH", str(path_java.parent))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    jvms = tmp_path / "jvm"
    _jdk(jvms, "java-17-openjdk-amd64", "17.0.15")
    newest = _jdk(jvms, "temurin-25-jdk-amd64", "25.0.3")
    _jdk(jvms, "temurin-21-jdk-amd64", "21.0.9")
    monkeypatch.setattr(install, "JVM_ROOT", jvms)
    assert install.find_java() == str(path_java)  # Kafka keeps the one on PATH
    assert install.find_registry_java() == str(newest)


def test_no_java_21_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(_jdk(tmp_path, "jdk17", "17.0.15").parent))
    monkeypatch.setattr(install, "JVM_ROOT", tmp_path / "no-jvm")
    with pytest.raises(ToolMissing) as err:
        install.find_registry_java()
    line = str(err.value)
    assert "Java 17; the schema registry" in line and "Java 21+" in line
    assert "openjdk-21-jre-headless" in line and "adoptium.net" in line and "\n" not in line


def test_failed_registry_download_leaves_no_partial_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(
        bin_dir,
        "mvn",
        'for a in "$@"; do case $a in -DregistryDir=*) d=${a#-DregistryDir=};; esac; done\n'
        'mkdir -p "$d/lib" && echo partial > "$d/lib/half.jar"\n'
        'echo "Could not resolve io.apicurio:apicurio-registry-app" >&2\nexit 1',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ECOM_CACHE", str(tmp_path / "cache"))
    settings = load()
    with pytest.raises(DownloadFailed, match="apicurio-registry-app"):
        install.ensure_registry(settings)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".log")]
    assert leftovers == []
    assert not install.registry_dir(settings).exists()
