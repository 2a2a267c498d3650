"""PostgreSQL: our own cluster, run by the `postgres` user when we are root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from common.process import running_pid
from stack import osuser
from stack.component import PG_SUPERUSER, Component, Health
from stack.exceptions import StackError, StartFailed
from stack.install import Installed

CONF_MARKER = "# ---- ecom local stack"


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
        return osuser.as_user_prefix(PG_SUPERUSER) if osuser.is_root() else []

    def _chown(self, path: Path) -> None:
        ids = osuser.postgres_uid()
        if osuser.is_root() and ids:
            os.chown(path, *ids)  # a file too (os.walk yields nothing for one)
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), *ids)

    def pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        return running_pid(pid_file)

    def prepare(self, inst: Installed) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            # rewritten at every start, so a cluster an older version made gets today's
            self._configure(self.data_dir)
            return
        if osuser.is_root():
            if osuser.postgres_uid() is None:
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
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.s.pg_password.get_secret_value() + "\n")
        self._chown(pwfile)
        try:
            cmd = self._prefix() + [
                str(inst.pg_bin / "initdb"),
                "-D",
                str(tmp / "data"),
                "-U",
                self.s.pg_user,
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
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
            self._configure(tmp / "data")
            (tmp / "data").rename(self.data_dir)
        finally:
            pwfile.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)

    def _check_traversable(self) -> None:
        probe = self.s.home
        while not probe.exists():
            probe = probe.parent
        test = subprocess.run(
            osuser.as_user_prefix(PG_SUPERUSER) + ["test", "-x", str(probe)],
            capture_output=True,
            check=False,
        )
        if test.returncode != 0:
            raise StackError(
                f"the postgres user cannot reach {self.s.home} (a parent folder is private)",
                hint="set ECOM_HOME to a folder outside private directories, e.g. /var/tmp/ecom",
            )

    def _configure(self, data: Path) -> None:
        """Write our settings into the cluster's config (replacing the block an earlier run
        wrote) and close the socket folder to everyone but the cluster's owner."""
        conf = data / "postgresql.conf"
        text = conf.read_text()
        if CONF_MARKER in text:
            text = text[: text.index(CONF_MARKER)].rstrip("\n") + "\n"
        conf.write_text(text + "\n" + self._conf_block())
        (data / "pg_hba.conf").write_text(self._hba())
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.socket_dir, 0o700)
        self._chown(self.socket_dir)

    def _conf_block(self) -> str:
        return f"""{CONF_MARKER} (written by `ecom stack up`) ----
listen_addresses = '{self.s.host}'
port = {self.s.pg_port}
unix_socket_directories = '{self.socket_dir}'
unix_socket_permissions = 0700
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
# an incremental gold build updates rows spread over large tables: the first change of
# each page after a checkpoint writes the whole page to the WAL, and lz4 shrinks that 3x
wal_compression = lz4
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_messages = warning
"""

    def _hba(self) -> str:
        # Every connection proves its password, over the socket too: being a local OS user
        # (or reaching the socket at all) is never enough.
        return f"""# ---- ecom local stack: a password for every connection; TCP on {self.s.host} only ----
local   all          all                         scram-sha-256
host    all          all          {self.s.host}/32   scram-sha-256
host    replication  all          {self.s.host}/32   scram-sha-256
"""

    def refresh(self, inst: Installed) -> None:
        """Apply today's config to a running cluster: the socket folder closes at once,
        pg_hba.conf on reload; a changed port or socket mode waits for the next restart."""
        self._configure(self.data_dir)
        out = subprocess.run(
            self._prefix() + [str(inst.pg_bin / "pg_ctl"), "-D", str(self.data_dir), "reload"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise StackError(
                f"PostgreSQL did not reload its config: {out.stderr.strip()}",
                hint="see `ecom stack logs postgres`",
            )

    def start(self, inst: Installed) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if osuser.is_root():
            ids = osuser.postgres_uid()
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
