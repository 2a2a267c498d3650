"""Where the local stack keeps its state when ECOM_HOME is not set.

PostgreSQL refuses to run as root, so as root the cluster runs as the system `postgres`
user, who must be able to reach its data folder. A checkout under a private folder (a
clone in /root, mode 700) is out of that user's reach; its state then goes to a folder
of its own under /var/tmp instead, named after the checkout so two clones never share
one, and the same for every command run from that checkout.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
from pathlib import Path

SHARED_TMP = Path("/var/tmp")
PG_OS_USER = "postgres"


def default_home(repo: Path, *, as_root: bool | None = None) -> Path:
    """``<repo>/.stack``; as root, when the `postgres` user cannot reach it,
    ``/var/tmp/ecom-<8 hex digits of the checkout's path>``."""
    local = repo / ".stack"
    root = os.geteuid() == 0 if as_root is None else as_root
    if not root or reachable_by(local, PG_OS_USER):
        return local
    digest = hashlib.sha256(str(repo).encode()).hexdigest()[:8]
    return SHARED_TMP / f"ecom-{digest}"


def reachable_by(path: Path, user: str) -> bool:
    """Whether ``user`` may traverse every folder down to ``path`` (or to its nearest
    existing parent, where the rest will be created), judged by the permission bits. A
    missing user reaches nothing to decide here: True (starting the stack reports it)."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return True
    groups = set(os.getgrouplist(user, pw.pw_gid))
    probe = path
    while not probe.exists():
        probe = probe.parent
    for folder in (probe, *probe.parents):
        st = folder.stat()
        if st.st_uid == pw.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True
