"""PostgresTarget: the one way Dagster assets reach the database being rolled out."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from pg_ops.defs import runs
from pg_ops.engine.db import Connection, Target, describe


class PostgresTarget(dg.ConfigurableResource):
    """The target database. The DSN comes from the environment (PG_OPS_DSN) and is never logged; its
    settings travel with it to every connection the engine opens (`db`)."""

    dsn: str
    application_name: str = "pg_ops"
    connect_timeout_s: int = 10
    statement_timeout_ms: int = 60_000  # the engine lifts it where a long statement is the job (DDL, backup)

    @property
    def db(self) -> Target:
        """What the engine is given: the DSN and its settings, as one object."""
        return Target(dsn=self.dsn, application_name=self.application_name, connect_timeout_s=self.connect_timeout_s,
                      statement_timeout_ms=self.statement_timeout_ms)

    def connect(self, purpose: str = "", **overrides: Any) -> Connection:
        return self.db.connect(purpose, **overrides)

    @property
    def label(self) -> str:
        """user@host:port/db: safe for logs, metadata and tags."""
        return self.db.label

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Where the run's worker lives, so that a run whose process died can be told from a slow one.
        if context.instance is not None and context.run is not None:
            runs.record_worker(context.instance, context.run.run_id)


def target_from_env() -> PostgresTarget:
    return PostgresTarget(dsn=dg.EnvVar("PG_OPS_DSN"))


def target_label_from_env() -> str:
    """The run tag that keeps one rollout per database: read at load time, without the password."""
    dsn = os.environ.get("PG_OPS_DSN", "")
    return describe(dsn) if dsn else "unset"


class PushgatewayTarget(dg.ConfigurableResource):
    """Where outcomes are pushed; an empty URL means no Pushgateway, which is not an error."""

    url: str = ""
    timeout_s: float = 5.0


def pushgateway_from_env() -> PushgatewayTarget:
    return PushgatewayTarget(url=dg.EnvVar("PUSHGATEWAY_URL")) if os.environ.get("PUSHGATEWAY_URL") \
        else PushgatewayTarget()
