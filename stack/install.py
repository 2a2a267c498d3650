"""Put the stack's pinned binaries into the download cache (``ECOM_CACHE``).

Each artifact is built in a temporary folder next to its final place and renamed
into place only when complete, so an interrupted or failed download never leaves a
partial install behind. Maven verifies the checksums Central publishes (``-C``,
strict); Go verifies modules against its checksum database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common.progress import SILENT, Reporter
from common.settings import Settings
from stack import versions
from stack.exceptions import DownloadFailed, ToolMissing

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class Installed:
    """Where the cached artifacts are."""

    java: str
    kafka_lib: Path  # every broker/Connect jar, flat
    plugin_path: Path  # Connect plugin.path (holds debezium-connector-postgres/)
    minio: Path  # the minio server binary
    pg_bin: Path  # PostgreSQL server programs (initdb, pg_ctl, postgres)
    registry_java: str  # a Java new enough for the schema registry
    registry_app: Path  # the schema registry's quarkus-run.jar


# ---------------------------------------------------------------- tool checks
def _run_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return ""
    return (out.stdout or "") + (out.stderr or "")


#: Where Debian packages and vendor installers (Temurin's tarball, its .deb) put JDKs.
JVM_ROOT = Path("/usr/lib/jvm")

KAFKA_JAVA_HINT = "apt-get install openjdk-17-jre-headless, or set JAVA_HOME"
REGISTRY_JAVA_HINT = (
    "install a Java 21+ JRE: apt-get install openjdk-21-jre-headless where the system has it, "
    "else Eclipse Temurin 21+ (https://adoptium.net) unpacked under /usr/lib/jvm; "
    "or set JAVA_HOME to one (Kafka runs on it too)"
)


def java_major(java: str) -> int:
    """The major version ``java -version`` reports (8 for 1.8), 0 when unknown."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', _run_version([java, "-version"]))
    major = int(m.group(1)) if m else 0
    if major == 1 and m and m.group(2):
        major = int(m.group(2))
    return major


def java_candidates() -> list[str]:
    """The Java programs to consider, in order: JAVA_HOME's alone when it is set (the user's
    choice); else `java` on PATH, then every JDK or JRE under /usr/lib/jvm, newest first."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        found = [str(Path(java_home) / "bin" / "java")]
    else:
        homes = sorted(JVM_ROOT.iterdir(), key=_version_in_name, reverse=True) if JVM_ROOT.is_dir() else []
        found = [shutil.which("java") or "", *(str(h / "bin" / "java") for h in homes)]
    out: list[str] = []
    for java in found:
        if java and Path(java).exists() and java not in out:
            out.append(java)
    return out


def _version_in_name(path: Path) -> int:
    m = re.search(r"(\d+)", path.name)
    return int(m.group(1)) if m else 0


def find_java(
    minimum: int = versions.MIN_JAVA, needed_by: str = "Kafka and Connect", hint: str = KAFKA_JAVA_HINT
) -> str:
    """The first of :func:`java_candidates` that is Java ``minimum`` or newer; otherwise one
    :class:`ToolMissing` naming what to install."""
    first: tuple[str, int] | None = None
    for java in java_candidates():
        major = java_major(java)
        if major >= minimum:
            return java
        first = first or (java, major)
    if first is None:
        raise ToolMissing(f"Java {minimum}+ not found ({needed_by} need it)", hint=hint)
    java, major = first
    raise ToolMissing(
        f"{java} is Java {major or 'unknown'}; {needed_by} need Java {minimum}+", hint=hint
    )


def find_registry_java() -> str:
    """A Java new enough for the schema registry (a Quarkus app built for Java 21)."""
    return find_java(
        versions.MIN_REGISTRY_JAVA, "the schema registry (Apicurio Registry)", REGISTRY_JAVA_HINT
    )


def find_maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise ToolMissing(
            "Maven (mvn) not found: it downloads the pinned Kafka and Debezium jars",
            hint="apt-get install maven",
        )
    return mvn


_GO_FALLBACK = Path("/usr/local/go/bin/go")


def find_go() -> str:
    go = shutil.which("go") or (str(_GO_FALLBACK) if _GO_FALLBACK.exists() else None)
    if not go:
        raise ToolMissing(
            "Go not found: MinIO is built from source with `go install`",
            hint=f"install Go {versions.MIN_GO[0]}.{versions.MIN_GO[1]}+ and put it on PATH",
        )
    m = re.search(r"go(\d+)\.(\d+)", _run_version([go, "version"]))
    have = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if have < versions.MIN_GO:
        raise ToolMissing(
            f"{go} is Go {have[0]}.{have[1]}; MinIO needs Go {versions.MIN_GO[0]}.{versions.MIN_GO[1]}+",
            hint="install a newer Go (or set GOTOOLCHAIN) and put it on PATH",
        )
    return go


def find_postgres() -> Path:
    candidates = []
    override = os.environ.get("ECOM_PG_BIN")
    if override:
        candidates.append(Path(override))
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for d in sorted(root.iterdir(), key=lambda p: _int(p.name), reverse=True):
            if _int(d.name) >= versions.MIN_POSTGRES:
                candidates.append(d / "bin")
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise ToolMissing(
        f"PostgreSQL {versions.MIN_POSTGRES}+ server programs (initdb, pg_ctl) not found",
        hint="apt-get install postgresql, or set ECOM_PG_BIN to the folder holding pg_ctl",
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# ---------------------------------------------------------------- builds
def _run_logged(
    cmd: list[str],
    *,
    log_file: Path,
    what: str,
    progress: Reporter,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
) -> None:
    """Run a long command with output to a log file, reporting every 15 s."""
    started = time.monotonic()
    with log_file.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        next_note = started + 15
        while proc.poll() is None:
            time.sleep(0.5)
            now = time.monotonic()
            if now > started + timeout:
                proc.kill()
                proc.wait()
                raise DownloadFailed(
                    f"{what} took over {timeout:.0f}s and was stopped", hint=f"see {log_file}"
                )
            if now >= next_note:
                progress(f"  still {what} ({now - started:.0f}s)")
                next_note = now + 15
    if proc.returncode != 0:
        tail = _tail(log_file, 8)
        raise DownloadFailed(
            f"{what} failed (exit {proc.returncode}): {tail}",
            hint=f"full output in {log_file}; check network access to the registry and re-run",
        )


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in lines[-n:] if line.strip())


def kafka_dir(settings: Settings) -> Path:
    return (
        settings.cache / f"kafka-{versions.kafka_version()}_debezium-{versions.debezium_version()}"
    )


def minio_dir(settings: Settings) -> Path:
    return settings.cache / f"minio-{versions.MINIO_VERSION}"


def registry_dir(settings: Settings) -> Path:
    return settings.cache / f"apicurio-registry-{versions.apicurio_version()}"


@contextmanager
def _staged(final: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder beside ``final`` to build into; when the block ends without an
    error it is marked complete and takes ``final``'s place, so a cached download is
    either whole or absent. Left-overs are removed either way."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        yield tmp
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_kafka(settings: Settings, progress: Reporter = SILENT) -> Path:
    """Resolve Kafka, Connect and the Debezium plugin with Maven into the cache."""
    final = kafka_dir(settings)
    if (final / COMPLETE_MARKER).exists():
        return final
    mvn = find_maven()
    settings.cache.mkdir(parents=True, exist_ok=True)
    progress(
        f"downloading Kafka {versions.kafka_version()} and Debezium "
        f"{versions.debezium_version()} with Maven (first run only)"
    )
    with _staged(final, ".kafka-") as tmp:
        _run_logged(
            [
                mvn,
                "-B",
                "-q",
                "-C",
                "-f",
                str(versions.POM),
                f"-DstackLib={tmp / 'lib'}",
                f"-DpluginDir={tmp / 'plugins'}",
                f"-DbuildDir={tmp / 'target'}",
                "package",
            ],
            log_file=settings.cache / "maven.log",
            what="downloading Kafka/Debezium jars",
            progress=progress,
        )
        if not (tmp / "plugins" / "debezium-connector-postgres").is_dir():
            raise DownloadFailed(
                "the Debezium plugin archive did not unpack to debezium-connector-postgres/",
                hint=f"see {settings.cache / 'maven.log'}",
            )
        shutil.rmtree(tmp / "target", ignore_errors=True)
    return final


def ensure_minio(settings: Settings, progress: Reporter = SILENT) -> Path:
    """Build the pinned MinIO server with `go install` into the cache."""
    final = minio_dir(settings)
    binary = final / "minio"
    if (final / COMPLETE_MARKER).exists() and binary.exists():
        return binary
    go = find_go()
    settings.cache.mkdir(parents=True, exist_ok=True)
    progress(
        f"building MinIO {versions.MINIO_VERSION} with go install (first run only, a few minutes)"
    )
    with _staged(final, ".minio-") as tmp:
        env = dict(os.environ, GOBIN=str(tmp), CGO_ENABLED="0")
        _run_logged(
            [go, "install", f"{versions.MINIO_MODULE}@{versions.MINIO_VERSION}"],
            log_file=settings.cache / "minio-build.log",
            what="building MinIO",
            progress=progress,
            env=env,
            cwd=settings.cache,
        )
        if not (tmp / "minio").exists():
            raise DownloadFailed(
                "go install finished but produced no minio binary",
                hint=f"see {settings.cache / 'minio-build.log'}",
            )
    return binary


def ensure_registry(settings: Settings, progress: Reporter = SILENT) -> Path:
    """Unpack the pinned Apicurio Registry (a Quarkus app) into the cache with Maven;
    returns its ``quarkus-run.jar``."""
    final = registry_dir(settings)
    jar = final / "quarkus-run.jar"
    if (final / COMPLETE_MARKER).exists() and jar.exists():
        return jar
    mvn = find_maven()
    settings.cache.mkdir(parents=True, exist_ok=True)
    progress(
        f"downloading Apicurio Registry {versions.apicurio_version()} with Maven "
        "(first run only, about 160 MB)"
    )
    log_file = settings.cache / "maven-registry.log"
    with _staged(final, ".registry-") as tmp:
        _run_logged(
            [mvn, "-B", "-q", "-C", "-f", str(versions.POM), f"-DbuildDir={tmp / '.target'}",
             f"-DregistryDir={tmp}", "dependency:unpack@registry-app"],
            log_file=log_file,
            what="downloading the schema registry",
            progress=progress,
        )  # fmt: skip
        shutil.rmtree(tmp / ".target", ignore_errors=True)
        if not (tmp / "quarkus-run.jar").exists():
            raise DownloadFailed(
                "the Apicurio Registry archive did not unpack to quarkus-run.jar",
                hint=f"see {log_file}",
            )
    return jar


def spark_jars_dir(settings: Settings) -> Path:
    """Where the Spark engine's jars are cached: named after their pinned versions and
    the POM's content, so a changed POM never reuses an older set."""
    digest = hashlib.sha256(versions.SPARK_POM.read_bytes()).hexdigest()[:8]
    return settings.cache / f"spark-jars_{versions.spark_jars_label()}_{digest}"


def ensure_spark_jars(settings: Settings, progress: Reporter = SILENT) -> list[Path]:
    """Resolve the Spark engine's jars (stack/spark-pom.xml) with Maven into the cache,
    checksums verified; returns every jar, sorted."""
    final = spark_jars_dir(settings)
    if not (final / COMPLETE_MARKER).exists():
        mvn = find_maven()
        settings.cache.mkdir(parents=True, exist_ok=True)
        progress(f"downloading the Spark engine's jars with Maven (first run only): "
                 f"{versions.spark_jars_label()}")  # fmt: skip
        with _staged(final, ".spark-jars-") as tmp:
            _run_logged(
                [mvn, "-B", "-q", "-C", "-f", str(versions.SPARK_POM),
                 f"-DsparkLib={tmp / 'lib'}", f"-DbuildDir={tmp / 'target'}", "package"],
                log_file=settings.cache / "maven-spark.log",
                what="downloading the Spark engine's jars",
                progress=progress,
            )  # fmt: skip
            if not any((tmp / "lib").glob("hadoop-aws-*.jar")):
                raise DownloadFailed(
                    "Maven finished but copied no hadoop-aws jar",
                    hint=f"see {settings.cache / 'maven-spark.log'}",
                )
            shutil.rmtree(tmp / "target", ignore_errors=True)
    return sorted((final / "lib").glob("*.jar"))


def ensure_all(settings: Settings, progress: Reporter = SILENT) -> Installed:
    """Check the toolchains and make sure every artifact is in the cache."""
    java = find_java()
    registry_java = find_registry_java()
    pg_bin = find_postgres()
    kafka = ensure_kafka(settings, progress)
    minio = ensure_minio(settings, progress)
    registry = ensure_registry(settings, progress)
    return Installed(
        java=java,
        kafka_lib=kafka / "lib",
        plugin_path=kafka / "plugins",
        minio=minio,
        pg_bin=pg_bin,
        registry_java=registry_java,
        registry_app=registry,
    )
