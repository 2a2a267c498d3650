"""Create the lake buckets and the stream workers' MinIO user against a running MinIO.

`ecom stack up` does this for the local stack; containers (docker-compose's `init`
service) run ``python -m stack.minio_setup``. Idempotent.
"""

from __future__ import annotations

import sys

from common.errors import EcomError
from common.settings import load
from stack.minio import Minio


def main() -> int:
    try:
        comp = Minio(load())
        made = comp.ensure_buckets()
        policy = comp.ensure_stream_user()
    except EcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"buckets created: {', '.join(made) or 'none (all existed)'}; stream user policy {policy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
