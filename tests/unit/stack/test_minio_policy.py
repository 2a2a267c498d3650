"""The stream workers' MinIO policy grants object read/write in the lake buckets only."""

from __future__ import annotations

from typing import Any

from stack.minio import stream_policy


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    assert doc["Version"] == "2012-10-17"
    return list(doc["Statement"])


def test_policy_names_only_the_lake_buckets() -> None:
    doc = stream_policy(("bronze", "silver"))
    resources = {r for s in _statements(doc) for r in s["Resource"]}
    assert resources == {
        "arn:aws:s3:::bronze", "arn:aws:s3:::silver",
        "arn:aws:s3:::bronze/*", "arn:aws:s3:::silver/*",
    }  # fmt: skip


def test_policy_allows_no_delete_bucket_or_admin_action() -> None:
    doc = stream_policy(("bronze", "silver"))
    actions = {a for s in _statements(doc) for a in s["Action"]}
    assert all(s["Effect"] == "Allow" for s in _statements(doc))
    assert "s3:PutObject" in actions and "s3:GetObject" in actions and "s3:ListBucket" in actions
    assert not any("*" in a for a in actions)
    assert not any(a.startswith("admin:") for a in actions)
    assert not {"s3:DeleteObject", "s3:CreateBucket", "s3:DeleteBucket",
                "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"} & actions  # fmt: skip
