from __future__ import annotations

import gc

import pytest

from common.errors import ConfigError
from stream_apps import configuration
from stream_apps.worker import tune_gc, tune_malloc


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ECOM_STREAM_BATCH_SIZE",
        "ECOM_STREAM_BATCH_SECONDS",
        "ECOM_STREAM_APP_ID",
        "ECOM_STREAM_COLUMNAR",
    ):
        monkeypatch.delenv(name, raising=False)
    s = configuration.load()
    assert (s.app_id, s.batch_size, s.batch_seconds) == ("ecom-stream", 10_000, 0.25)
    assert (s.flush_rows, s.flush_bytes, s.flush_seconds, s.backlog_flush_seconds) == (
        200_000, 128 * 1024 * 1024, 1.0, 15.0,
    )  # fmt: skip
    assert s.lake_table_properties("bronze") == {"delta.checkpointInterval": "100"}
    assert s.lake_table_properties("silver") == {"delta.checkpointInterval": "10"}
    assert s.silver_topic("orders") == "silver.orders" and s.dlq_topic == "ecom.dlq"
    assert s.broker_url == f"kafka://{s.base.kafka_bootstrap}"
    assert s.columnar is True
    assert (s.buffer_bytes, s.gc_threshold) == (64 * 1024 * 1024, 20_000)
    assert s.fetch_partition_bytes == 2 * 1024 * 1024


def test_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_STREAM_BATCH_SIZE", "500")
    monkeypatch.setenv("ECOM_STREAM_BATCH_SECONDS", "0.4")
    monkeypatch.setenv("ECOM_STREAM_SILVER_PREFIX", "clean")
    s = configuration.load()
    assert (s.batch_size, s.batch_seconds) == (500, 0.4)
    assert s.silver_topic("products") == "clean.products"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ECOM_STREAM_BATCH_SIZE", "many", "not an integer"),
        ("ECOM_STREAM_BATCH_SIZE", "0", "out of range"),
        ("ECOM_STREAM_BATCH_SECONDS", "soon", "not a number"),
        ("ECOM_STREAM_WEB_PORT", "80", "out of range"),
        ("ECOM_STREAM_COLUMNAR", "sometimes", "valid boolean"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        configuration.load()
    assert name in str(err.value) and fragment in str(err.value)


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("TRUE", True)])
def test_the_record_by_record_path_can_be_forced(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("ECOM_STREAM_COLUMNAR", value)
    assert configuration.load().columnar is expected


def test_the_worker_processes_column_wise_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stream_apps.app import build_processor
    from stream_apps.columnar import ColumnarProcessor
    from stream_apps.pipeline import BatchProcessor

    monkeypatch.delenv("ECOM_STREAM_COLUMNAR", raising=False)
    assert isinstance(build_processor(configuration.load()), ColumnarProcessor)
    monkeypatch.setenv("ECOM_STREAM_COLUMNAR", "false")
    assert isinstance(build_processor(configuration.load()), BatchProcessor)


def test_worker_collects_garbage_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc(50_000)
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0  # what lived before stays out of the collector's way
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_worker_malloc_gives_large_blocks_back() -> None:
    assert tune_malloc() is True  # glibc (Debian), where the workers run
