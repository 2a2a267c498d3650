"""Shared test configuration: integration tests are marked and need the real stack."""
