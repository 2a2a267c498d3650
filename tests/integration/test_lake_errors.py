"""A lake table whose Delta log is missing or corrupt is reported in one line that names
the table and the fix, by `ecom lake files` and by `ecom status`."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from bench.silver_export import empty_bucket
from common.s3 import delta_storage_options, minio_client
from common.settings import Settings
from tests.integration.conftest import run_cli


@pytest.fixture()
def bucket(stack: Settings) -> Iterator[str]:
    """A silver bucket of the test's own holding a valid Delta table `orders`."""
    name = f"broken-lake-{uuid.uuid4().hex[:8]}"
    s3 = minio_client(stack)
    s3.make_bucket(name)
    write_deltalake(f"s3://{name}/orders", pa.table({"x": [1, 2]}),
                    storage_options=delta_storage_options(stack))  # fmt: skip
    try:
        yield name
    finally:
        empty_bucket(s3, name)
        s3.remove_bucket(name)


def _one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_corrupt_log_is_one_line_naming_the_table_and_the_fix(
    stack: Settings, bucket: str
) -> None:
    s3 = minio_client(stack)
    garbage = b"{not json at all"
    s3.put_object(bucket, "orders/_delta_log/00000000000000000000.json",
                  io.BytesIO(garbage), len(garbage))  # fmt: skip
    res = run_cli("lake", "files", env={"ECOM_SILVER_BUCKET": bucket})
    assert res.returncode == 1
    line = _one_error(res.stderr)
    assert line.startswith("error: silver table orders (s3://") and "Delta log" in line, line
    assert "ecom replay --group ecom-stream --table orders --to-earliest" in line, line


def test_missing_log_with_data_files_is_reported_not_taken_for_no_table(
    stack: Settings, bucket: str
) -> None:
    s3 = minio_client(stack)
    for obj in list(s3.list_objects(bucket, "orders/_delta_log/", recursive=True)):
        s3.remove_object(bucket, obj.object_name or "")
    res = run_cli("lake", "history", "orders", env={"ECOM_SILVER_BUCKET": bucket})
    assert res.returncode == 1
    line = _one_error(res.stderr)
    assert "silver table orders" in line and "_delta_log is missing" in line, line
    status = run_cli("status", "--json", env={"ECOM_SILVER_BUCKET": bucket}, timeout=120)
    assert "_delta_log is missing" in status.stdout, status.stdout[-3000:]
