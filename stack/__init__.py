"""The local stack without Docker: PostgreSQL, Kafka (KRaft), Kafka Connect + Debezium, MinIO.

``install`` puts pinned binaries into the download cache (outside the repo);
``services`` starts, stops and checks the processes, with state under ``ECOM_HOME``.
"""
