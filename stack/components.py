"""The four components of the local stack: how each is configured, started, checked, stopped.

State lives under ``settings.home`` (``ECOM_HOME``)::

    postgres/data   postgres/run (socket)   kafka/data   minio/data   connect/
    conf/           rendered configuration files
    logs/NAME.log   run/NAME.pid
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.settings import Settings
from stack import process, versions
from stack.exceptions import StackError, StartFailed
from stack.install import Installed

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
PG_SUPERUSER = "postgres"  # OS user that owns and runs the cluster when we are root


@dataclass(frozen=True)
class Health:
    up: bool
    version: str = ""
    detail: str = ""


class Component:
    """Base: a named process with a port, a pid file and a log."""

    name = ""
    setting = ""  # the env var that moves its port

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    # ---- layout
    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def pid_file(self) -> Path:
        return self.s.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.s.home / "logs" / f"{self.name}.log"

    @property
    def out_file(self) -> Path:
        return self.s.home / "logs" / f"{self.name}.out"

    @property
    def conf_dir(self) -> Path:
        return self.s.home / "conf"

    # ---- lifecycle
    def pid(self) -> int | None:
        return process.running_pid(self.pid_file)

    def health(self) -> Health:
        raise NotImplementedError

    def prepare(self, inst: Installed) -> None:
        """One-time setup (data dirs, formatting); idempotent."""

    def start(self, inst: Installed) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None and not process.stop_pid(pid, timeout=45):
            raise StackError(f"{self.name} (pid {pid}) did not stop", hint=f"kill -9 {pid}")
        self.pid_file.unlink(missing_ok=True)

    def check_port_free(self) -> None:
        if process.port_open(self.s.host, self.port):
            raise process_port_in_use(self)

    def recent_log(self, n: int = 6) -> str:
        lines = process.tail(self.log_file, n) or process.tail(self.out_file, n)
        return " | ".join(x.strip() for x in lines if x.strip())

    def render(self, template: str, target: str, **extra: object) -> Path:
        values = dict(self.s.as_dict(show_secrets=True), **extra)
        text = (TEMPLATES / template).read_text().format(**values)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self.conf_dir / target
        path.write_text(text)
        return path


def process_port_in_use(c: Component) -> StackError:
    from stack.exceptions import PortInUse

    return PortInUse(
        f"port {c.s.host}:{c.port} for {c.name} is already in use by another process",
        hint=f"stop that process, or set {c.setting} to a free port",
    )


# ====================================================================== Postgres
class Postgres(Component):
    name = "postgres"
    setting = "ECOM_PG_PORT"

    @property
    def port(self) -> int:
        return self.s.pg_port

    @property
    def data_dir(self) -> Path:
        return self.s.home / "postgres" / "data"

    @property
    def socket_dir(self) -> Path:
        return self.s.home / "postgres" / "run"

    def _prefix(self) -> list[str]:
        return process.as_user_prefix(PG_SUPERUSER) if process.is_root() else []

    def _chown(self, path: Path) -> None:
        ids = process.postgres_uid()
        if process.is_root() and ids:
            for root, dirs, files in os.walk(path):
                os.chown(root, *ids)
                for name in dirs + files:
                    os.chown(os.path.join(root, name), *ids)

    def pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        return process.running_pid(pid_file)

    def prepare(self, inst: Installed) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if process.is_root():
            if process.postgres_uid() is None:
                raise StackError(
                    "PostgreSQL refuses to run as root and there is no `postgres` user",
                    hint="apt-get install postgresql (it creates the user)",
                )
            self._check_traversable()
        base = self.s.home / "postgres"
        base.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._chown(base)
        # initdb into a temporary folder, renamed when complete: never half a cluster.
        tmp = Path(tempfile.mkdtemp(prefix=".initdb-", dir=base))
        self._chown(tmp)
        pwfile = base / ".pwfile"
        pwfile.write_text(self.s.pg_password + "\n")
        self._chown(pwfile)
        try:
            cmd = self._prefix() + [
                str(inst.pg_bin / "initdb"),
                "-D",
                str(tmp / "data"),
                "-U",
                self.s.pg_user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise StartFailed(
                    f"initdb failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}",
                    hint=f"check that {base} is writable by the postgres user",
                )
            self._write_conf(tmp / "data")
            (tmp / "data").rename(self.data_dir)
        finally:
            pwfile.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)

    def _check_traversable(self) -> None:
        probe = self.s.home
        while not probe.exists():
            probe = probe.parent
        test = subprocess.run(
            process.as_user_prefix(PG_SUPERUSER) + ["test", "-x", str(probe)],
            capture_output=True,
            check=False,
        )
        if test.returncode != 0:
            raise StackError(
                f"the postgres user cannot reach {self.s.home} (a parent folder is private)",
                hint="set ECOM_HOME to a folder outside private directories, e.g. /var/tmp/ecom",
            )

    def _write_conf(self, data: Path) -> None:
        conf = f"""
# ---- ecom local stack (written by `ecom stack up`) ----
listen_addresses = '{self.s.host}'
port = {self.s.pg_port}
unix_socket_directories = '{self.socket_dir}'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_slot_wal_keep_size = '{self.s.max_slot_wal_keep_size}'
wal_sender_timeout = '60s'
shared_buffers = '256MB'
work_mem = '32MB'
maintenance_work_mem = '256MB'
max_connections = 200
synchronous_commit = on
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_messages = warning
"""
        with (data / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        hba = f"""
# ---- ecom local stack: loopback only, password auth ----
local   all          all                         trust
host    all          all          {self.s.host}/32   scram-sha-256
host    replication  all          {self.s.host}/32   scram-sha-256
"""
        (data / "pg_hba.conf").write_text(hba)

    def start(self, inst: Installed) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if process.is_root():
            ids = process.postgres_uid()
            if ids:
                self.log_file.touch()
                os.chown(self.log_file, *ids)
                os.chown(self.log_file.parent, 0, 0)
                os.chmod(self.log_file.parent, 0o755)
        cmd = self._prefix() + [
            str(inst.pg_bin / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "90",
            "start",
        ]
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=False, start_new_session=True
        )
        if out.returncode != 0:
            raise StartFailed(
                f"PostgreSQL did not start: {self.recent_log(4) or out.stderr.strip()}",
                hint=f"see `ecom stack logs postgres` ({self.log_file})",
            )

    def stop(self) -> None:
        if self.pid() is None:
            return
        from stack.install import find_postgres

        cmd = self._prefix() + [
            str(find_postgres() / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "stop",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0 and self.pid() is not None:
            raise StackError(
                f"PostgreSQL did not stop: {out.stderr.strip()}",
                hint="see `ecom stack logs postgres`",
            )

    def health(self) -> Health:
        import psycopg2

        try:
            conn = psycopg2.connect(self.s.dsn("postgres"), connect_timeout=3)
        except psycopg2.Error as exc:
            return Health(False, detail=str(exc).strip().splitlines()[0] if str(exc) else "")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                row = cur.fetchone()
                cur.execute("SHOW wal_level")
                wal = cur.fetchone()
        finally:
            conn.close()
        version = str(row[0]).split()[0] if row else ""
        return Health(True, version=version, detail=f"wal_level={wal[0] if wal else '?'}")

    def ensure_databases(self) -> None:
        """Create the source and gold databases if missing (idempotent)."""
        import psycopg2
        from psycopg2 import sql

        conn = psycopg2.connect(self.s.dsn("postgres"), connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for db in (self.s.source_db, self.s.gold_db):
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                    if cur.fetchone() is None:
                        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        finally:
            conn.close()


# ====================================================================== JVM base
class JvmComponent(Component):
    main_class = ""

    def heap(self) -> str:
        raise NotImplementedError

    def java_cmd(self, inst: Installed, *args: str) -> list[str]:
        log4j = TEMPLATES / "log4j2.properties"
        return [
            inst.java,
            "-Xms128m",
            f"-Xmx{self.heap()}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:MaxMetaspaceSize=256m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Decom.log.file={self.log_file}",
            "-cp",
            f"{inst.kafka_lib}/*",
            self.main_class,
            *args,
        ]


# ====================================================================== Kafka
class Kafka(JvmComponent):
    name = "kafka"
    setting = "ECOM_KAFKA_PORT"
    main_class = "kafka.Kafka"

    @property
    def port(self) -> int:
        return self.s.kafka_port

    @property
    def data_dir(self) -> Path:
        return self.s.home / "kafka" / "data"

    def heap(self) -> str:
        return self.s.kafka_heap

    def check_port_free(self) -> None:
        super().check_port_free()
        if process.port_open(self.s.host, self.s.kafka_controller_port):
            from stack.exceptions import PortInUse

            raise PortInUse(
                f"port {self.s.host}:{self.s.kafka_controller_port} (Kafka controller) is already in use by another process",
                hint="stop that process, or set ECOM_KAFKA_CONTROLLER_PORT to a free port",
            )

    def prepare(self, inst: Installed) -> None:
        conf = self.render(
            "kafka-server.properties", "kafka-server.properties", data_dir=self.data_dir
        )
        if (self.data_dir / "meta.properties").exists():
            return
        # Format the storage once; a failed format leaves no folder behind.
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        base = self.java_cmd(inst)[:-1]
        uuid = subprocess.run(
            base + ["kafka.tools.StorageTool", "random-uuid"],
            capture_output=True,
            text=True,
            check=False,
        )
        cluster_id = (
            uuid.stdout.strip().splitlines()[-1]
            if uuid.returncode == 0 and uuid.stdout.strip()
            else ""
        )
        if not cluster_id:
            raise StartFailed(
                f"Kafka storage tool failed: {uuid.stderr.strip()[-300:]}",
                hint=f"check the jars in {inst.kafka_lib}",
            )
        fmt = subprocess.run(
            base
            + [
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(conf),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise StartFailed(
                f"formatting Kafka storage failed: {(fmt.stderr or fmt.stdout).strip()[-300:]}",
                hint="see the message; `ecom stack reset --yes` starts from scratch",
            )

    def start(self, inst: Installed) -> None:
        conf = self.conf_dir / "kafka-server.properties"
        process.start_detached(
            self.java_cmd(inst, str(conf)), out_file=self.out_file, pid_file=self.pid_file
        )

    def health(self) -> Health:
        if not process.port_open(self.s.host, self.port):
            return Health(False, detail="port closed")
        from confluent_kafka.admin import AdminClient

        try:
            conf: dict[str, Any] = {
                "bootstrap.servers": self.s.kafka_bootstrap,
                "socket.timeout.ms": 3000,
                "logger": _quiet_logger(),
            }
            admin = AdminClient(conf)
            md = admin.list_topics(timeout=3)
        except Exception as exc:  # KafkaException carries the broker error
            return Health(False, detail=str(exc)[:200])
        if not md.brokers:
            return Health(False, detail="no broker in metadata")
        return Health(True, version=versions.kafka_version(), detail=f"{len(md.topics)} topics")


def _quiet_logger() -> logging.Logger:
    lg = logging.getLogger("stack.librdkafka")
    lg.setLevel(logging.CRITICAL)
    return lg


# ====================================================================== Connect
class Connect(JvmComponent):
    name = "connect"
    setting = "ECOM_CONNECT_PORT"
    main_class = "org.apache.kafka.connect.cli.ConnectDistributed"

    @property
    def port(self) -> int:
        return self.s.connect_port

    def heap(self) -> str:
        return self.s.connect_heap

    def prepare(self, inst: Installed) -> None:
        self.render(
            "connect-distributed.properties",
            "connect-distributed.properties",
            plugin_path=inst.plugin_path,
        )

    def start(self, inst: Installed) -> None:
        conf = self.conf_dir / "connect-distributed.properties"
        process.start_detached(
            self.java_cmd(inst, str(conf)), out_file=self.out_file, pid_file=self.pid_file
        )

    def health(self) -> Health:
        try:
            root = _get_json(f"{self.s.connect_url}/")
            plugins = _get_json(f"{self.s.connect_url}/connector-plugins")
        except (OSError, ValueError) as exc:
            return Health(False, detail=str(exc)[:200])
        names = {p.get("class", "") for p in plugins} if isinstance(plugins, list) else set()
        if "io.debezium.connector.postgresql.PostgresConnector" not in names:
            return Health(
                False,
                version=str(root.get("version", "")),
                detail="Debezium PostgresConnector plugin not loaded",
            )
        return Health(
            True,
            version=str(root.get("version", "")),
            detail=f"debezium {versions.debezium_version()}",
        )


def _get_json(url: str, timeout: float = 3.0):  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URL)
        return json.loads(resp.read().decode())


# ====================================================================== MinIO
class Minio(Component):
    name = "minio"
    setting = "ECOM_S3_PORT"

    @property
    def port(self) -> int:
        return self.s.s3_port

    @property
    def data_dir(self) -> Path:
        return self.s.home / "minio" / "data"

    def check_port_free(self) -> None:
        super().check_port_free()
        if process.port_open(self.s.host, self.s.s3_console_port):
            from stack.exceptions import PortInUse

            raise PortInUse(
                f"port {self.s.host}:{self.s.s3_console_port} (MinIO console) is already in use by another process",
                hint="stop that process, or set ECOM_S3_CONSOLE_PORT to a free port",
            )

    def prepare(self, inst: Installed) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def start(self, inst: Installed) -> None:
        env = dict(
            os.environ,
            MINIO_ROOT_USER=self.s.s3_access_key,
            MINIO_ROOT_PASSWORD=self.s.s3_secret_key,
            MINIO_BROWSER="on",
            MINIO_UPDATE="off",
            MINIO_CALLHOME_ENABLE="off",
        )
        cmd = [
            str(inst.minio),
            "server",
            str(self.data_dir),
            "--quiet",
            "--anonymous",
            "--address",
            f"{self.s.host}:{self.s.s3_port}",
            "--console-address",
            f"{self.s.host}:{self.s.s3_console_port}",
        ]
        process.start_detached(cmd, out_file=self.log_file, pid_file=self.pid_file, env=env)

    def health(self) -> Health:
        try:
            with urllib.request.urlopen(  # noqa: S310 (loopback URL)
                f"http://{self.s.s3_endpoint}/minio/health/live", timeout=3
            ) as resp:
                ok = resp.status == 200
        except (OSError, urllib.error.URLError) as exc:
            return Health(False, detail=str(exc)[:200])
        return Health(
            ok,
            version=versions.MINIO_VERSION.rsplit("-", 1)[-1][:12],
            detail=f"console http://{self.s.host}:{self.s.s3_console_port}",
        )

    def ensure_buckets(self) -> list[str]:
        from common.s3 import minio_client

        client = minio_client(self.s)
        made = []
        for bucket in self.s.buckets:
            if not client.bucket_exists(bucket):
                client.make_bucket(bucket)
                made.append(bucket)
        return made


ORDER: tuple[type[Component], ...] = (Postgres, Kafka, Connect, Minio)
NAMES: tuple[str, ...] = tuple(c.name for c in ORDER)


def by_name(settings: Settings, name: str) -> Component:
    for cls in ORDER:
        if cls.name == name:
            return cls(settings)
    raise StackError(f"unknown component {name!r}", hint=f"choose one of {', '.join(NAMES)}")
