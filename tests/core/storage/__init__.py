"""Storage contract tests, run against real SQLite files and real PostgreSQL databases.

Every test that takes ``database_url`` runs on both backends (see tests/conftest.py).
Concurrency tests rely on the implementation's locks only: no sleeps, and each one
would observe lost updates, duplicate keys or a wrong event order if a lock were missing.
"""
