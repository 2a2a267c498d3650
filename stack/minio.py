"""MinIO, built from source with `go install`."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from stack import process, versions
from stack.component import Component, Health
from stack.install import Installed


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
            MINIO_ROOT_PASSWORD=self.s.s3_secret_key,
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
            with urllib.request.urlopen(  # noqa: S310 (loopback URL)
                f"http://{self.s.s3_endpoint}/minio/health/live", timeout=3
            ) as resp:
                ok = resp.status == 200
        except (OSError, urllib.error.URLError) as exc:
            return Health(False, detail=str(exc)[:200])
        return Health(
            ok,
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
