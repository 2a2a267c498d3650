"""The Postgres component's files, without starting a cluster: what it writes into the
cluster's config (replacing an older version's block), the socket folder's mode and
owner, and handing files to the `postgres` OS user when running as root."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from common.settings import load
from stack import osuser
from stack.components import Postgres

OLD_BLOCK = """
# ---- ecom local stack (written by `ecom stack up`) ----
listen_addresses = '127.0.0.1'
port = 5432
unix_socket_directories = '/somewhere/run'
"""


@pytest.fixture()
def pg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Postgres:
    monkeypatch.setenv("ECOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ECOM_PG_PORT", "6543")
    return Postgres(load())


def _cluster(pg: Postgres) -> Path:
    data = pg.data_dir
    data.mkdir(parents=True)
    (data / "postgresql.conf").write_text("# initdb's own settings\nmax_connections = 100\n")
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 0.0.0.0/0 trust\n")
    return data


def test_config_block_is_written_once_and_replaces_an_older_one(pg: Postgres) -> None:
    data = _cluster(pg)
    with (data / "postgresql.conf").open("a") as fh:
        fh.write(OLD_BLOCK)
    pg._configure(data)
    pg._configure(data)  # every start writes it again: still one block
    conf = (data / "postgresql.conf").read_text()
    assert conf.startswith("# initdb's own settings\nmax_connections = 100\n")
    assert conf.count("# ---- ecom local stack") == 1
    assert "port = 6543" in conf and "port = 5432" not in conf
    assert f"unix_socket_directories = '{pg.socket_dir}'" in conf
    assert "unix_socket_permissions = 0700" in conf
    assert "listen_addresses = '127.0.0.1'" in conf


def test_every_connection_needs_a_password(pg: Postgres) -> None:
    data = _cluster(pg)
    pg._configure(data)
    rules = [
        line.split()
        for line in (data / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules, "no rule at all"
    assert all(rule[-1] == "scram-sha-256" for rule in rules), rules
    assert {tuple(rule[:3]) for rule in rules if rule[0] == "local"} == {("local", "all", "all")}
    assert all(rule[3] == "127.0.0.1/32" for rule in rules if rule[0] == "host")


def test_socket_folder_is_the_owner_s_alone(pg: Postgres) -> None:
    data = _cluster(pg)
    pg.socket_dir.mkdir(parents=True)
    pg.socket_dir.chmod(0o777)
    pg._configure(data)
    assert stat.S_IMODE(pg.socket_dir.stat().st_mode) == 0o700
    if osuser.is_root() and osuser.postgres_uid():
        assert pg.socket_dir.stat().st_uid == osuser.postgres_uid()[0]  # type: ignore[index]


@pytest.mark.skipif(
    not osuser.is_root() or osuser.postgres_uid() is None,
    reason="handing files to the postgres user happens as root only",
)
def test_chown_hands_a_single_file_to_postgres(pg: Postgres, tmp_path: Path) -> None:
    """initdb (run as `postgres`) reads the password file root wrote with mode 600."""
    secret = tmp_path / ".pwfile"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f").write_text("")
    pg._chown(secret)
    pg._chown(folder)
    uid = osuser.postgres_uid()[0]  # type: ignore[index]
    assert secret.stat().st_uid == uid
    assert {p.stat().st_uid for p in (folder, folder / "sub", folder / "sub" / "f")} == {uid}
