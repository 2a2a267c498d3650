#!/usr/bin/env python3
"""Install what `make demo` and `make test` need and this machine lacks.

The one list of what the project needs from the system is :data:`NEEDS` below. The
Makefile runs this script before every target that needs the virtualenv, and `.ci/run`
runs it first. It is quiet and quick when nothing is missing.

- Debian packages (Java, Maven, the PostgreSQL server and client, runuser, Chromium and
  its driver with fonts for the report test, venv support): as root with apt-get they
  are installed; otherwise one line names the command to run, and the script exits 1
  before anything else has run.
- Go 1.24+ builds MinIO, until MinIO is in the download cache.
- Java 21+ runs the schema registry (Apicurio): found as ``stack.install`` finds it
  (JAVA_HOME, else `java` on PATH or any JDK under /usr/lib/jvm); installed from the
  system's packages when they have one (Debian 13: openjdk-21-jre-headless), otherwise
  one line says where to get one (Eclipse Temurin).
- Debian's own PostgreSQL cluster (started by the package) is stopped when it holds the
  port our cluster uses.
- Airflow gets a virtualenv of its own in the download cache (``ECOM_CACHE``, default
  ``~/.cache/ecom``), built from ``airflow/requirements.txt`` with
  ``airflow/constraints.txt``, for the DAG tests; reused while those files are unchanged.

Standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_REQUIREMENTS = REPO / "airflow" / "requirements.txt"
AIRFLOW_CONSTRAINTS = REPO / "airflow" / "constraints.txt"
VERSIONS = REPO / "stack" / "versions.py"
PYTHONS = ((3, 11), (3, 12))  # pyproject.toml's requires-python
MIN_JAVA = 17
MIN_REGISTRY_JAVA = 21
JVM_ROOT = Path("/usr/lib/jvm")  # where JDKs go (stack.install looks there too)
#: Debian packages that bring a Java new enough for the schema registry, preferred first.
REGISTRY_JAVA_PACKAGES = ("openjdk-21-jre-headless", "openjdk-25-jre-headless")
MIN_POSTGRES = 15
MIN_GO = (1, 24)
GO_FALLBACK = "/usr/local/go/bin/go"  # where Go's own installer puts it (stack.install too)
COMPLETE = ".complete"  # written last: a build without it was interrupted


class Missing(Exception):
    """Something is missing and cannot be installed from here: the message says what to run."""


def say(text: str) -> None:
    print(f"bootstrap: {text}", flush=True)


def _run(cmd: list[str]) -> str:
    """Output (stdout and stderr) of a short probe command, '' when it cannot run."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout + out.stderr


def _major(text: str, pattern: str) -> int:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else 0


# ---------------------------------------------------------------- the one list
def has_java() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        return False
    major = _major(_run([java, "-version"]), r'version "(\d+)')
    return major >= MIN_JAVA


def java_programs() -> list[str]:
    """JAVA_HOME's java alone when set; else `java` on PATH and every one under /usr/lib/jvm."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        return [str(Path(java_home) / "bin" / "java")]
    found = [shutil.which("java") or ""] + sorted(glob.glob(str(JVM_ROOT / "*" / "bin" / "java")))
    return [j for j in found if j and Path(j).exists()]


def has_registry_java() -> bool:
    return any(
        _major(_run([java, "-version"]), r'version "(\d+)') >= MIN_REGISTRY_JAVA
        for java in java_programs()
    )


def has_postgres_server() -> bool:
    override = os.environ.get("ECOM_PG_BIN")
    if override:
        return Path(override, "pg_ctl").exists()
    return any(
        _major(path, r"/usr/lib/postgresql/(\d+)/") >= MIN_POSTGRES
        for path in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    )


def has_venv_support() -> bool:
    # Debian splits ensurepip (which `python3 -m venv` needs) into python3-venv.
    return not _run([sys.executable, "-c", "import ensurepip, venv"]).strip()


def _on_path(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name) is not None


@dataclass(frozen=True)
class Need:
    what: str  # what the project uses it for
    present: Callable[[], bool]
    packages: tuple[str, ...]  # the Debian packages that bring it


NEEDS: tuple[Need, ...] = (
    Need(f"Java {MIN_JAVA}+ (Kafka, Connect)", has_java, ("default-jre-headless",)),
    Need("Maven (the Kafka and Debezium jars)", _on_path("mvn"), ("maven",)),
    Need(f"PostgreSQL {MIN_POSTGRES}+ server", has_postgres_server, ("postgresql",)),
    Need("psql", _on_path("psql"), ("postgresql-client",)),
    Need("runuser (Postgres runs as `postgres` when we are root)", _on_path("runuser"),
         ("util-linux",)),  # fmt: skip
    Need("Chromium (the report test)", _on_path("chromium"), ("chromium",)),
    Need("chromedriver", _on_path("chromedriver"), ("chromium-driver",)),
    Need("fonts for Chromium", lambda: Path("/usr/share/fonts/truetype/liberation").is_dir(),
         ("fonts-liberation",)),  # fmt: skip
    Need("Python's venv module", has_venv_support, ("python3-venv",)),
)


def missing_packages(needs: tuple[Need, ...]) -> list[str]:
    out: list[str] = []
    for need in needs:
        if not need.present():
            out += [p for p in need.packages if p not in out]
    return out


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_command(packages: list[str]) -> str:
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)}"


def apt_install(packages: list[str]) -> None:
    say(f"apt-get install {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = ["-qq", "-o", "Dpkg::Use-Pty=0"]
    for cmd in (
        ["apt-get", "update", *quiet],
        ["apt-get", "install", "-y", *quiet, "--no-install-recommends", *packages],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print((done.stdout + done.stderr)[-3000:], flush=True)
            raise Missing(
                f"`{' '.join(cmd)}` failed (exit {done.returncode}) "
                f"(see its output above; then run: {install_command(packages)})"
            )


def ensure_packages() -> None:
    packages = missing_packages(NEEDS)
    if not packages:
        return
    if not can_install():
        raise Missing(f"missing {' '.join(packages)} (run: {install_command(packages)})")
    apt_install(packages)
    still = missing_packages(NEEDS)
    if still:
        raise Missing(
            f"still missing {' '.join(still)} after apt-get install "
            f"(check the output above, then run: {install_command(still)})"
        )


# ---------------------------------------------------------------- Go (MinIO)
def go_version(go: str) -> tuple[int, int]:
    m = re.search(r"go(\d+)\.(\d+)", _run([go, "version"]))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def find_go() -> str | None:
    """The first Go on PATH or in /usr/local/go, when new enough."""
    for go in (shutil.which("go"), GO_FALLBACK):
        if go and Path(go).exists() and go_version(go) >= MIN_GO:
            return go
    return None


def minio_cached(cache: Path) -> bool:
    m = re.search(r'^MINIO_VERSION = "([^"]+)"', VERSIONS.read_text(), re.MULTILINE)
    final = cache / f"minio-{m.group(1) if m else '?'}"
    return (final / COMPLETE).exists() and (final / "minio").exists()


def apt_candidate_go() -> tuple[int, int]:
    """The version apt-get would install as golang-go (Debian 13 has 1.24)."""
    m = re.search(r"Candidate:\s*(?:\d+:)?(\d+)\.(\d+)", _run(["apt-cache", "policy", "golang-go"]))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def ensure_go(cache: Path) -> None:
    if minio_cached(cache) or find_go():
        return
    need = f"{MIN_GO[0]}.{MIN_GO[1]}"
    if can_install() and apt_candidate_go() >= MIN_GO:
        apt_install(["golang-go"])
        if find_go():
            return
    if shutil.which("apt-get") and apt_candidate_go() >= MIN_GO:
        raise Missing(f"missing Go {need}+ to build MinIO (run: {install_command(['golang-go'])})")
    raise Missing(
        f"missing Go {need}+ to build MinIO, and this system's packages have none that new "
        f"(install it from https://go.dev/dl into /usr/local/go, or put one on PATH)"
    )


# ---------------------------------------------------------------- Java 21+ (the registry)
def apt_has(package: str) -> bool:
    """Whether apt-get could install ``package`` here."""
    m = re.search(r"Candidate:\s*(\S+)", _run(["apt-cache", "policy", package]))
    return bool(m) and m.group(1) != "(none)"


def ensure_registry_java() -> None:
    if has_registry_java():
        return
    packages = [p for p in REGISTRY_JAVA_PACKAGES if shutil.which("apt-get") and apt_has(p)]
    if packages and can_install():
        apt_install(packages[:1])
        if has_registry_java():
            return
    if packages:
        raise Missing(
            f"missing Java {MIN_REGISTRY_JAVA}+ for the schema registry "
            f"(run: {install_command(packages[:1])})"
        )
    raise Missing(
        f"missing Java {MIN_REGISTRY_JAVA}+ for the schema registry, and this system's packages "
        "have none that new (install Eclipse Temurin 21 or newer from https://adoptium.net "
        "under /usr/lib/jvm, or set JAVA_HOME to a Java 21+)"
    )


# ---------------------------------------------------------------- Debian's own cluster
def stop_debian_cluster_on(port: int) -> None:
    """The postgresql package starts a cluster of its own (5432 by default); ours needs
    the port. Only root can stop it; anyone else hears about it from `ecom stack up`."""
    if os.geteuid() != 0 or not shutil.which("pg_lsclusters"):
        return
    for line in _run(["pg_lsclusters", "-h"]).splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[2] == str(port) and cols[3] == "online":
            version, name = cols[0], cols[1]
            subprocess.run(["pg_ctlcluster", version, name, "stop"], check=False)
            say(
                f"stopped Debian's PostgreSQL cluster {version}/{name}: it held port {port}, "
                f"which the stack uses (`pg_ctlcluster {version} {name} start` restarts it)"
            )


# ---------------------------------------------------------------- Airflow
def airflow_venv(cache: Path, python: tuple[int, int] | None = None) -> Path:
    """Where the Airflow virtualenv for these pins and this Python lives."""
    major, minor = python or sys.version_info[:2]
    digest = hashlib.sha256()
    for f in (AIRFLOW_REQUIREMENTS, AIRFLOW_CONSTRAINTS):
        digest.update(f.read_bytes())
    return cache / f"airflow-py{major}.{minor}-{digest.hexdigest()[:10]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One bootstrap at a time builds in the shared cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def ensure_airflow(cache: Path) -> Path:
    venv = airflow_venv(cache)
    done = venv / COMPLETE
    if done.exists():
        return venv
    with _locked(cache / ".airflow.lock"):
        if done.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # an earlier, interrupted build
        say(f"creating Airflow's own virtualenv in {venv} (first run only, a few minutes)")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        for cmd in (
            [sys.executable, "-m", "venv", str(venv)],
            [*pip, "install", "--quiet", "-r", str(AIRFLOW_REQUIREMENTS),
             "-c", str(AIRFLOW_CONSTRAINTS)],
        ):  # fmt: skip
            if subprocess.run(cmd, stdout=sys.stdout, stderr=subprocess.STDOUT).returncode:
                shutil.rmtree(venv, ignore_errors=True)
                raise Missing(
                    f"building Airflow's virtualenv failed: `{' '.join(cmd)}` "
                    "(see its output above; check access to PyPI and re-run)"
                )
        done.write_text("ok\n")
    return venv


# ---------------------------------------------------------------- main
def default_cache() -> Path:
    """ECOM_CACHE, default ~/.cache/ecom (as in common.settings)."""
    return Path(os.environ.get("ECOM_CACHE") or Path.home() / ".cache" / "ecom").expanduser()


def check_python() -> None:
    have = sys.version_info[:2]
    if have not in PYTHONS:
        wanted = " or ".join(f"{a}.{b}" for a, b in PYTHONS)
        raise Missing(
            f"{sys.executable} is Python {have[0]}.{have[1]}; the project needs {wanted} "
            f"(run: make PYTHON=python{PYTHONS[0][0]}.{PYTHONS[0][1]} ...)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--airflow-path", action="store_true", help="print where Airflow's virtualenv goes, only"
    )
    args = parser.parse_args(argv)
    cache = default_cache()
    if args.airflow_path:
        print(airflow_venv(cache))
        return 0
    try:
        check_python()
        ensure_packages()
        ensure_go(cache)
        ensure_registry_java()
        stop_debian_cluster_on(int(os.environ.get("ECOM_PG_PORT") or 5432))
        ensure_airflow(cache)
    except Missing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
