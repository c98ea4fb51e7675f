"""The one durable store: a SQLite file through sqlite-utils (the only package that imports
sqlite3 or sqlite_utils). See `Store` for the threading rules and `migrations` for the
schema."""

from webapi.store.database import SchemaError, Store, default_path, new_id, now_iso

__all__ = ["SchemaError", "Store", "default_path", "new_id", "now_iso"]
