"""Debezium connector definitions (one JSON file each) and their management through Connect's REST API."""
