"""The engine: everything pg_ops does to a database, with no Dagster import (tests/test_layers.py)."""
