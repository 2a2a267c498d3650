"""Running programs as the `postgres` OS user: Postgres refuses to run as root.

(Pid files, starts, stops and memory of processes are :mod:`common.process`.)
"""

from __future__ import annotations

import os
import pwd


def is_root() -> bool:
    return os.geteuid() == 0


def postgres_uid() -> tuple[int, int] | None:
    """uid/gid of the `postgres` system user (Postgres refuses to run as root)."""
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def as_user_prefix(user: str) -> list[str]:
    """Command prefix that runs the rest as `user` (root only)."""
    return ["runuser", "-u", user, "--"]
