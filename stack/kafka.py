"""The JVM components: the Kafka broker (KRaft) and Kafka Connect with Debezium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from common import process
from common.connect import ConnectClient
from common.errors import EcomError
from common.kafka import client_config
from stack import versions
from stack.component import TEMPLATES, Component, Health
from stack.exceptions import StartFailed
from stack.install import Installed


class JvmComponent(Component):
    main_class = ""

    def heap(self) -> str:
        raise NotImplementedError

    def java_cmd(self, inst: Installed, *args: str) -> list[str]:
        log4j = TEMPLATES / "log4j2.properties"
        return [
            inst.java,
            "-Xms128m",
            f"-Xmx{self.heap()}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:MaxMetaspaceSize=256m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Decom.log.file={self.log_file}",
            "-cp",
            f"{inst.kafka_lib}/*",
            self.main_class,
            *args,
        ]


# ====================================================================== Kafka
class Kafka(JvmComponent):
    name = "kafka"
    setting = "ECOM_KAFKA_PORT"
    main_class = "kafka.Kafka"

    @property
    def port(self) -> int:
        return self.s.kafka_port

    @property
    def data_dir(self) -> Path:
        return self.s.home / "kafka" / "data"

    def heap(self) -> str:
        return self.s.kafka_heap

    def check_port_free(self) -> None:
        super().check_port_free()
        if process.port_open(self.s.host, self.s.kafka_controller_port):
            from stack.exceptions import PortInUse

            raise PortInUse(
                f"port {self.s.host}:{self.s.kafka_controller_port} (Kafka controller) is already in use by another process",
                hint="stop that process, or set ECOM_KAFKA_CONTROLLER_PORT to a free port",
            )

    def prepare(self, inst: Installed) -> None:
        conf = self.render(
            "kafka-server.properties", "kafka-server.properties", data_dir=self.data_dir
        )
        if (self.data_dir / "meta.properties").exists():
            return
        # Format the storage once; a failed format leaves no folder behind.
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        base = self.java_cmd(inst)[:-1]
        uuid = subprocess.run(
            base + ["kafka.tools.StorageTool", "random-uuid"],
            capture_output=True,
            text=True,
            check=False,
        )
        cluster_id = (
            uuid.stdout.strip().splitlines()[-1]
            if uuid.returncode == 0 and uuid.stdout.strip()
            else ""
        )
        if not cluster_id:
            raise StartFailed(
                f"Kafka storage tool failed: {uuid.stderr.strip()[-300:]}",
                hint=f"check the jars in {inst.kafka_lib}",
            )
        fmt = subprocess.run(
            base
            + [
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(conf),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise StartFailed(
                f"formatting Kafka storage failed: {(fmt.stderr or fmt.stdout).strip()[-300:]}",
                hint="see the message; `ecom stack reset --yes` starts from scratch",
            )

    def start(self, inst: Installed) -> None:
        conf = self.conf_dir / "kafka-server.properties"
        process.start_detached(
            self.java_cmd(inst, str(conf)), out_file=self.out_file, pid_file=self.pid_file
        )

    def health(self) -> Health:
        if not process.port_open(self.s.host, self.port):
            return Health(False, detail="port closed")
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient(client_config(self.s, {"socket.timeout.ms": 3000}))
            md = admin.list_topics(timeout=3)
        except Exception as exc:  # KafkaException carries the broker error
            return Health(False, detail=str(exc)[:200])
        if not md.brokers:
            return Health(False, detail="no broker in metadata")
        return Health(True, version=versions.kafka_version(), detail=f"{len(md.topics)} topics")


# ====================================================================== Connect
class Connect(JvmComponent):
    name = "connect"
    setting = "ECOM_CONNECT_PORT"
    main_class = "org.apache.kafka.connect.cli.ConnectDistributed"

    @property
    def port(self) -> int:
        return self.s.connect_port

    def heap(self) -> str:
        return self.s.connect_heap

    def prepare(self, inst: Installed) -> None:
        self.render(
            "connect-distributed.properties",
            "connect-distributed.properties",
            plugin_path=inst.plugin_path,
        )

    def start(self, inst: Installed) -> None:
        conf = self.conf_dir / "connect-distributed.properties"
        process.start_detached(
            self.java_cmd(inst, str(conf)), out_file=self.out_file, pid_file=self.pid_file
        )

    def health(self) -> Health:
        client = ConnectClient(self.s.connect_url, timeout=3.0)
        try:
            version = str(client.root().get("version", ""))
            plugins = client.plugin_classes()
        except EcomError as exc:
            return Health(False, detail=exc.message[:200])
        if "io.debezium.connector.postgresql.PostgresConnector" not in plugins:
            return Health(
                False, version=version, detail="Debezium PostgresConnector plugin not loaded"
            )
        return Health(True, version=version, detail=f"debezium {versions.debezium_version()}")


# ====================================================================== MinIO
