"""Nightly lake compaction and gold rebuild (``ecom gold rebuild`` / ``ecom gold verify``).

Steps of a rebuild (:func:`compaction.rebuild.rebuild`): compact the silver and bronze
lake per (table, day, partition); compute each table's current state and the customers'
SCD2 history from the silver change-log with DuckDB; load them into a fresh staging
schema of the gold database and compute the gold tables there with PostgreSQL SQL
(``compaction/sql/``); swap them into ``public`` in one transaction.
"""
