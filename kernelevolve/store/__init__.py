"""Persistence: run metadata in SQLite, kernel sources and reports in an object store."""
