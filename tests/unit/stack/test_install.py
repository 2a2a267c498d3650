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
