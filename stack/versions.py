"""Pinned versions of the stack's components: one place to read them from.

Kafka, Connect, Debezium and the Apicurio schema registry versions live in
``stack/pom.xml`` (Maven resolves and checksum-verifies them); MinIO is pinned here as a Go module version because the
community edition ships as source only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
#: The jars the Spark gold engine adds to pyspark's runtime (s3a, JDBC).
SPARK_POM = Path(__file__).with_name("spark-pom.xml")

#: ``go install github.com/minio/minio@MINIO_VERSION`` (commit of 2026-02-12).
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"

#: Oldest toolchains that build/run the pinned versions.
MIN_JAVA = 17
MIN_REGISTRY_JAVA = 21
MIN_GO = (1, 24)
MIN_POSTGRES = 15


@cache
def pom_properties(pom: Path = POM) -> dict[str, str]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(pom).getroot()
    props = root.find("m:properties", ns)
    if props is None:
        return {}
    return {child.tag.split("}", 1)[1]: (child.text or "").strip() for child in props}


def kafka_version() -> str:
    return pom_properties()["kafka.version"]


def debezium_version() -> str:
    return pom_properties()["debezium.version"]


def apicurio_version() -> str:
    return pom_properties()["apicurio.version"]


def spark_jars_label() -> str:
    """The pinned versions of the Spark engine's jars, as one folder-name-safe label."""
    props = pom_properties(SPARK_POM)
    return (
        f"hadoop-aws-{props['hadoop.version']}_awssdk-{props['awssdk.version']}"
        f"_postgresql-{props['postgresql.version']}"
    )
