"""MinIO, built from source with `go install`; its lake buckets and the stream workers' user."""

from __future__ import annotations

import os
from pathlib import Path

from common import http, process
from stack import versions
from stack.component import Component, Health
from stack.exceptions import StackError
from stack.install import Installed

#: Bucket-level and object-level actions of the stream workers' user: list and read
#: (the Delta logs: replay dedup) and write objects. No delete, no bucket creation or
#: removal, no policy or admin action, no other bucket: S3 denies what is not allowed.
STREAM_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
STREAM_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)


def stream_policy(buckets: tuple[str, ...]) -> dict[str, object]:
    """The IAM policy document of the stream workers' MinIO user."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(STREAM_BUCKET_ACTIONS),
                "Resource": [f"arn:aws:s3:::{b}" for b in buckets],
            },
            {
                "Effect": "Allow",
                "Action": list(STREAM_OBJECT_ACTIONS),
                "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets],
            },
        ],
    }


def stream_policy_name(access_key: str) -> str:
    return f"{access_key}-lake"


class Minio(Component):
    name = "minio"
    setting = "ECOM_S3_PORT"

    @property
    def port(self) -> int:
        return self.s.s3_port

    @property
    def data_dir(self) -> Path:
        return self.s.home / "minio" / "data"

    def check_port_free(self) -> None:
        super().check_port_free()
        if process.port_open(self.s.host, self.s.s3_console_port):
            from stack.exceptions import PortInUse

            raise PortInUse(
                f"port {self.s.host}:{self.s.s3_console_port} (MinIO console) is already in use by another process",
                hint="stop that process, or set ECOM_S3_CONSOLE_PORT to a free port",
            )

    def prepare(self, inst: Installed) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def start(self, inst: Installed) -> None:
        env = dict(
            os.environ,
            MINIO_ROOT_USER=self.s.s3_access_key,
            MINIO_ROOT_PASSWORD=self.s.s3_secret_key.get_secret_value(),
            MINIO_BROWSER="on",
            MINIO_UPDATE="off",
            MINIO_CALLHOME_ENABLE="off",
        )
        cmd = [
            str(inst.minio),
            "server",
            str(self.data_dir),
            "--quiet",
            "--anonymous",
            "--address",
            f"{self.s.host}:{self.s.s3_port}",
            "--console-address",
            f"{self.s.host}:{self.s.s3_console_port}",
        ]
        process.start_detached(cmd, out_file=self.log_file, pid_file=self.pid_file, env=env)

    def health(self) -> Health:
        try:
            http.get_text(f"http://{self.s.s3_endpoint}/minio/health/live", timeout=3)
        except http.HttpUnavailable as exc:
            return Health(False, detail=exc.message[:200])
        return Health(
            True,
            version=versions.MINIO_VERSION.rsplit("-", 1)[-1][:12],
            detail=f"console http://{self.s.host}:{self.s.s3_console_port}",
        )

    def ensure_buckets(self) -> list[str]:
        from common.s3 import minio_client

        client = minio_client(self.s)
        made = []
        for bucket in self.s.buckets:
            if not client.bucket_exists(bucket):
                client.make_bucket(bucket)
                made.append(bucket)
        return made

    def ensure_stream_user(self) -> str:
        """Create (or reset the secret of) the stream workers' user and give it exactly
        :func:`stream_policy`; idempotent. Returns the policy name."""
        import urllib3
        from minio.credentials import StaticProvider
        from minio.error import MinioAdminException
        from minio.minioadmin import MinioAdmin

        admin = MinioAdmin(
            endpoint=self.s.s3_endpoint,
            credentials=StaticProvider(self.s.s3_access_key, self.s.s3_secret_key.get_secret_value()),
            secure=False,
        )
        user = self.s.stream_s3_access_key
        name = stream_policy_name(user)
        try:
            admin.user_add(user, self.s.stream_s3_secret_key.get_secret_value())
            admin.policy_add(name, policy=stream_policy(self.s.buckets))
            admin.policy_set(name, user=user)  # replaces whatever the user had
        except (MinioAdminException, urllib3.exceptions.HTTPError, OSError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise StackError(
                f"cannot set up the MinIO user {user} for the stream workers: {detail}",
                hint="check ECOM_S3_ACCESS_KEY/ECOM_S3_SECRET_KEY (the root user) and "
                "ECOM_STREAM_S3_ACCESS_KEY/ECOM_STREAM_S3_SECRET_KEY",
            ) from exc
        return name
