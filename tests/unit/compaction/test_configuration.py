"""Gold settings, small pure helpers and the `ecom gold` argument parsing."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from compaction import configuration, gold, gold_sql, sqlfiles
from ecom import cli
from schemas.columns import COLUMNS


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ECOM_GOLD_LAKE_TARGET_FILE_MB",
        "ECOM_GOLD_LAKE_VACUUM_RETENTION_HOURS",
        "ECOM_GOLD_DUCKDB_MEMORY",
        "ECOM_GOLD_WORK_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    gs = configuration.load()
    assert gs.lake_target_file_bytes == 128 * 1024 * 1024
    assert gs.lake_vacuum_retention_hours == 168
    assert gs.duckdb_memory == "2GB" and gs.work_dir is None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("ECOM_GOLD_LAKE_TARGET_FILE_MB", "8")
    monkeypatch.setenv("ECOM_GOLD_LAKE_VACUUM_RETENTION_HOURS", "24")
    monkeypatch.setenv("ECOM_GOLD_DUCKDB_MEMORY", "512MB")
    monkeypatch.setenv("ECOM_GOLD_WORK_DIR", str(tmp_path))
    gs = configuration.load()
    assert gs.lake_target_file_bytes == 8 * 1024 * 1024 and gs.lake_vacuum_retention_hours == 24
    assert gs.duckdb_memory == "512MB" and str(gs.work_dir) == str(tmp_path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ECOM_GOLD_DUCKDB_MEMORY", "lots"),
        ("ECOM_GOLD_LAKE_TARGET_FILE_MB", "0"),
        ("ECOM_GOLD_LAKE_VACUUM_RETENTION_HOURS", "-1"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        configuration.load()


def test_lsn_text_and_types() -> None:
    assert gold.lsn_text(None) is None
    assert gold.lsn_text((0x16 << 32) + 0xB374D848) == "16/B374D848"
    types = dict(gold_sql.current_columns("order_items"))
    assert types["unit_price"] == "DECIMAL(10, 2)" and types["quantity"] == "INTEGER"
    assert types.keys() == {c.name for c in COLUMNS["order_items"]}


def test_staging_schema_names_are_checked() -> None:
    assert gold.staging_schema(12) == "gold_build_12"
    with pytest.raises(ValueError):
        gold.drop_staging(None, "public")  # type: ignore[arg-type]


def test_every_gold_table_has_its_sql_file() -> None:
    assert tuple(gold_sql.GOLD) == gold.GOLD_TABLES
    for table in gold_sql.GOLD_TABLES:
        assert table.sql.lstrip().startswith(f"-- {table.name}:")
    assert "CREATE TABLE IF NOT EXISTS public.gold_build_log" in sqlfiles.read(
        "gold_build_log.sql"
    )


def test_state_dir_defaults_under_the_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECOM_GOLD_STATE_DIR", raising=False)
    gs = configuration.load()
    assert gs.state_path == gs.base.home / "gold-state" and gs.keep_state
    assert gs.refresh_minutes == 5


def test_cli_parses_gold_commands() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["gold", "rebuild", "--as-of", "2026-11-01"])
    assert str(args.as_of) == "2026-11-01"
    args = parser.parse_args(["gold", "rebuild", "--as-of", "2026-11-01T13:05:00Z"])
    assert args.as_of.isoformat() == "2026-11-01T13:05:00+00:00"
    assert parser.parse_args(["gold", "rebuild"]).as_of is None
    with pytest.raises(SystemExit):  # a time without its zone is ambiguous
        parser.parse_args(["gold", "rebuild", "--as-of", "2026-11-01T13:05:00"])
    assert parser.parse_args(["gold", "verify"]).func.__name__ == "_gold_verify"
    with pytest.raises(SystemExit):
        parser.parse_args(["gold", "rebuild", "--as-of", "2026-13-01"])


def test_as_of_reads_the_lake_as_of_the_end_of_that_day() -> None:
    from datetime import UTC, date, datetime

    from compaction.rebuild import cutoff_of

    now = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    # a past day: the table versions committed by the end of it
    assert cutoff_of(date(2026, 11, 28), now) == (
        date(2026, 11, 28), datetime(2026, 11, 29, tzinfo=UTC),
    )  # fmt: skip
    # today or nothing: the newest versions
    assert cutoff_of(date(2026, 11, 29), now) == (date(2026, 11, 29), None)
    assert cutoff_of(None, now) == (date(2026, 11, 29), None)
    # a time: the versions committed by then, and its date is the contract's as-of date
    when = datetime(2026, 11, 29, 3, 15, tzinfo=UTC)
    assert cutoff_of(when, now) == (date(2026, 11, 29), when)
