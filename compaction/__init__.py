"""Nightly lake compaction and gold rebuild. Built in a later issue."""
