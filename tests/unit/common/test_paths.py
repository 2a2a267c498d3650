"""common.paths: the default state folder, and whether another OS user can reach a folder.

Judged for the `nobody` user, which every Linux system has, on folders made here with
known permission bits."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import paths


@pytest.fixture()
def open_dir() -> Iterator[Path]:
    """A folder anyone may traverse (under /tmp, whose parents are open too)."""
    d = Path(tempfile.mkdtemp(dir="/tmp", prefix="ecom-paths-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_open_folder_and_a_not_yet_created_child_are_reachable(open_dir: Path) -> None:
    assert paths.reachable_by(open_dir, "nobody")
    assert paths.reachable_by(open_dir / "repo" / ".stack", "nobody")


def test_a_private_parent_makes_everything_below_unreachable(open_dir: Path) -> None:
    private = open_dir / "home"
    (private / "repo").mkdir(parents=True)
    (private / "repo").chmod(0o755)
    private.chmod(0o700)
    assert not paths.reachable_by(private / "repo", "nobody")
    assert not paths.reachable_by(private / "repo" / ".stack", "nobody")
    private.chmod(0o701)  # execute for others is enough to pass through
    assert paths.reachable_by(private / "repo" / ".stack", "nobody")


def test_an_unknown_user_is_not_this_function_s_business(open_dir: Path) -> None:
    open_dir.chmod(0o700)
    assert paths.reachable_by(open_dir, "no-such-user-ecom")


def test_not_root_always_keeps_the_state_in_the_checkout(open_dir: Path) -> None:
    private = open_dir / "home" / "repo"
    private.mkdir(parents=True)
    private.parent.chmod(0o700)
    assert paths.default_home(private, as_root=False) == private / ".stack"


def test_root_keeps_it_in_a_checkout_the_postgres_user_reaches(
    open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "PG_OS_USER", "nobody")
    repo = open_dir / "repo"
    repo.mkdir()
    assert paths.default_home(repo, as_root=True) == repo / ".stack"


def test_root_moves_it_out_of_a_private_checkout_one_folder_per_checkout(
    open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "PG_OS_USER", "nobody")
    a, b = open_dir / "home" / "a", open_dir / "home" / "b"
    a.mkdir(parents=True)
    b.mkdir()
    a.parent.chmod(0o700)
    home_a = paths.default_home(a, as_root=True)
    assert home_a.parent == Path("/var/tmp")
    assert home_a.name.startswith("ecom-") and len(home_a.name) == len("ecom-") + 8
    assert home_a == paths.default_home(a, as_root=True)  # every command finds the same
    assert home_a != paths.default_home(b, as_root=True)
