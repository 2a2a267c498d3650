"""No database session without a password, for any role, over the socket or TCP; and an
unprivileged OS user cannot reach the cluster's socket at all.

The unprivileged user is `nobody` (via runuser, so these run as root, as CI and the
README's commands do); psql connects with no password file and no PGPASSWORD, never
prompting (-w). Each refusal is checked against a control that does connect, so a
failure means the server refused, not that psql could not run.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from common.settings import Settings
from stack import osuser
from stack.components import Postgres

NO_PASSWORD = ("fe_sendauth: no password supplied",)
REFUSED = ("password authentication failed",)

pytestmark = pytest.mark.skipif(
    not osuser.is_root(), reason="switching to another OS user (runuser) needs root"
)


def _psql(
    s: Settings, host: str, user: str, db: str, *, as_user: str | None, password: str | None
) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    assert psql, "psql is missing (scripts/bootstrap.py installs postgresql-client)"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent", "PGPASSFILE": "/dev/null",
           "PGCONNECT_TIMEOUT": "5", "LC_ALL": "C"}  # fmt: skip
    if password is not None:
        env["PGPASSWORD"] = password
    prefix = osuser.as_user_prefix(as_user) if as_user else []
    conninfo = f"host={host} port={s.pg_port} user={user} dbname={db}"
    return subprocess.run(
        [*prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()),
         psql, "-w", "-X", "-At", "-c", "SELECT current_user", conninfo],
        capture_output=True, text=True, timeout=30, check=False, cwd="/",
    )  # fmt: skip


def _roles(s: Settings) -> list[tuple[str, str, str]]:
    """(role, its database, its password) for the four roles `ecom db init` makes."""
    return [
        (s.pg_user, s.source_db, s.pg_password.get_secret_value()),
        (s.replication_user, s.source_db, s.replication_password.get_secret_value()),
        (s.gold_user, s.gold_db, s.gold_password.get_secret_value()),
        (s.registry_user, s.registry_db, s.registry_password.get_secret_value()),
    ]


def test_socket_folder_belongs_to_the_cluster_owner_alone(stack: Settings) -> None:
    pg = Postgres(stack)
    st = pg.socket_dir.stat()
    owner = osuser.postgres_uid()
    assert owner is not None and st.st_uid == owner[0]
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert "unix_socket_permissions = 0700" in (pg.data_dir / "postgresql.conf").read_text()


def test_nobody_cannot_use_the_socket_even_with_the_password(stack: Settings) -> None:
    sock = str(Postgres(stack).socket_dir)
    out = _psql(stack, sock, stack.pg_user, stack.source_db, as_user="nobody",
                password=stack.pg_password.get_secret_value())  # fmt: skip
    assert out.returncode != 0
    assert "Permission denied" in out.stderr, out.stderr
    # control: the same over TCP connects (psql runs as nobody, the password is right)
    out = _psql(stack, stack.pg_host, stack.pg_user, stack.source_db, as_user="nobody",
                password=stack.pg_password.get_secret_value())  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == stack.pg_user, out.stderr


@pytest.mark.parametrize("as_user", ["nobody", None], ids=["as nobody", "as root"])
def test_no_role_without_its_password_over_tcp(stack: Settings, as_user: str | None) -> None:
    for role, db, password in _roles(stack):
        out = _psql(stack, stack.pg_host, role, db, as_user=as_user, password=None)
        assert out.returncode != 0 and any(m in out.stderr for m in NO_PASSWORD), (role, out)
        out = _psql(stack, stack.pg_host, role, db, as_user=as_user, password="wrong" + password)
        assert out.returncode != 0 and any(m in out.stderr for m in REFUSED), (role, out)
        out = _psql(stack, stack.pg_host, role, db, as_user=as_user, password=password)
        assert out.returncode == 0 and out.stdout.strip() == role, (role, out.stderr)


def test_no_role_without_its_password_over_the_socket(stack: Settings) -> None:
    """Root and the cluster's owner reach the socket; it still asks every role for its
    password (no `trust`, no `peer` shortcut)."""
    sock = str(Postgres(stack).socket_dir)
    for as_user in (None, "postgres"):
        for role, db, password in _roles(stack):
            out = _psql(stack, sock, role, db, as_user=as_user, password=None)
            assert out.returncode != 0 and any(m in out.stderr for m in NO_PASSWORD), (role, out)
            out = _psql(stack, sock, role, db, as_user=as_user, password=password)
            assert out.returncode == 0 and out.stdout.strip() == role, (role, out.stderr)


def test_the_socket_folder_is_where_the_config_says(stack: Settings) -> None:
    sock = Postgres(stack).socket_dir
    assert any(p.name == f".s.PGSQL.{stack.pg_port}" for p in Path(sock).iterdir())
