"""The schema registry: Apicurio Registry (a Quarkus app on Java 21+), storing its
schemas in a database of its own in our PostgreSQL cluster.

Both its HTTP interface (the APIs, ``/apis/ccompat/v7`` among them) and its management
interface (health, metrics; Quarkus opens it on 0.0.0.0:9000 unless told otherwise)
listen on ECOM_HOST only.
"""

from __future__ import annotations

import os

from psycopg2 import sql

from common import http, pg, process
from common.errors import EcomError
from common.schema_registry import RegistryClient
from common.settings import Settings
from stack.component import Component, Health
from stack.exceptions import PortInUse, StackError
from stack.install import Installed


def ensure_store(settings: Settings) -> bool:
    """The registry's role (its password re-asserted) and its database, owned by that role
    and closed to every other role but the admin; idempotent. True when the database was
    created. Roles are cluster-wide; the role gets nothing on the other databases (their
    CONNECT is revoked from PUBLIC by ``ecom db init``)."""
    conn = pg.connect(
        settings.dsn("postgres"),
        f"PostgreSQL at {settings.pg_host}:{settings.pg_port}",
        hint="start it first: `ecom stack up postgres`",
        connect_timeout=5,
    )
    conn.autocommit = True
    role, db = sql.Identifier(settings.registry_user), sql.Identifier(settings.registry_db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.registry_user,))
            verb = sql.SQL("ALTER" if cur.fetchone() else "CREATE")
            cur.execute(
                sql.SQL(
                    "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS PASSWORD {}"
                ).format(verb, role, sql.Literal(settings.registry_password.get_secret_value()))
            )
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.registry_db,))
            created = cur.fetchone() is None
            if created:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
            cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, role))
            cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    finally:
        conn.close()
    return created


class Registry(Component):
    name = "registry"
    setting = "ECOM_REGISTRY_PORT"

    @property
    def port(self) -> int:
        return self.s.registry_port

    def check_port_free(self) -> None:
        super().check_port_free()
        if process.port_open(self.s.host, self.s.registry_management_port):
            raise PortInUse(
                f"port {self.s.host}:{self.s.registry_management_port} (schema registry "
                "management) is already in use by another process",
                hint="stop that process, or set ECOM_REGISTRY_MANAGEMENT_PORT to a free port",
            )

    def prepare(self, inst: Installed) -> None:
        try:
            ensure_store(self.s)
        except EcomError as exc:
            raise StackError(
                f"cannot prepare the schema registry's database: {exc.message}", hint=exc.hint
            ) from exc

    def start(self, inst: Installed) -> None:
        s = self.s
        env = dict(
            os.environ,
            APICURIO_STORAGE_KIND="sql",
            APICURIO_STORAGE_SQL_KIND="postgresql",
            APICURIO_DATASOURCE_URL=f"jdbc:postgresql://{s.pg_host}:{s.pg_port}/{s.registry_db}",
            APICURIO_DATASOURCE_USERNAME=s.registry_user,
            APICURIO_DATASOURCE_PASSWORD=s.registry_password.get_secret_value(),
        )
        cmd = [
            inst.registry_java,
            "-Xms64m",
            f"-Xmx{s.registry_heap}",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dquarkus.http.host={s.host}",
            f"-Dquarkus.http.port={s.registry_port}",
            f"-Dquarkus.management.host={s.host}",
            f"-Dquarkus.management.port={s.registry_management_port}",
            # Connections that PostgreSQL closed (a restart) are found and replaced when
            # borrowed, instead of answering every request with an error until the pool
            # recycles them.
            "-Dquarkus.datasource.postgresql.jdbc.validate-on-borrow=true",
            "-Dquarkus.datasource.postgresql.jdbc.background-validation-interval=10S",
            "-jar",
            str(inst.registry_app),
        ]
        process.start_detached(
            cmd, out_file=self.log_file, pid_file=self.pid_file, env=env, cwd=inst.registry_app.parent
        )

    def health(self) -> Health:
        ready = f"http://{self.s.registry_host}:{self.s.registry_management_port}/health/ready"
        try:
            http.get_text(ready, timeout=3)  # answers 503 until its storage is ready
            version = RegistryClient(self.s.schema_registry_url, timeout=3).version()
        except (http.HttpUnavailable, EcomError) as exc:
            return Health(False, detail=str(exc)[:200])
        return Health(True, version=version, detail=self.s.schema_registry_url)
