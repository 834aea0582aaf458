"""Alembic migrations of the ledger, shipped inside the package and applied by ``upgrade``."""
