"""The store's operations: the one writer, WAL reads, migrations, backups, and durability of
a killed server (tests/store/test_durability.py runs a real `digigami serve`)."""
