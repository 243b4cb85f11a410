"""The RLS rewrite proven while the application writes: who reads which rows, at one snapshot around it."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from pg_ops.defs.migrations import rls_policies
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.db import connection
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import rls_matrix, verdicts
from pg_ops.local.sandbox import SandboxInfo
from tests import servers


@pytest.fixture
def busy(pg: SandboxInfo, demo_template: str) -> Iterator[str]:
    """A demo copy with its indexes built and the matrix recorded, and an app placing orders all along."""
    dsn = servers.create_database(pg, "rls_busy", template=demo_template)
    migrate.apply(dsn, migrate.Settings.platform(), step="index_migrations")
    rls_matrix.save(dsn, rls_matrix.take(dsn), rls_matrix.BEFORE_REWRITE)
    try:
        with servers.placing_orders(dsn):
            yield dsn
    finally:
        servers.drop_database(pg, "rls_busy")


def test_the_rewrite_is_proven_while_the_app_places_orders(busy: str) -> None:
    result = dg.materialize([rls_policies], resources={"target": PostgresTarget(dsn=busy)})
    meta = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert meta["outcome"] == "applied 2 file(s)"  # 009 and 019
    assert meta["reads_at_one_snapshot"] == "equal (6 users)"

    verdict = verdicts.rls_unchanged(busy)
    assert verdict.passed, verdict.description
    assert "reads at one snapshot around the rewrite" in verdict.description
    # What the check compared before: the baseline's matrix with one taken now, which the new orders change.
    confounded = rls_matrix.differences(rls_matrix.load(busy, rls_matrix.BEFORE_REWRITE) or {}, rls_matrix.take(busy))
    assert any("read_orders" in line for line in confounded), confounded


def test_a_policy_that_lets_more_through_shows_at_one_snapshot(busy: str) -> None:
    with rls_matrix.frozen(busy) as snapshot:
        before = rls_matrix.take(busy, snapshot=snapshot, reads_only=True)
        with connection(busy) as conn:
            conn.execute("create policy mt_leak on public.orders for select to authenticated using (true)")
        try:
            after = rls_matrix.take(busy, snapshot=snapshot, reads_only=True)
        finally:
            with connection(busy) as conn:
                conn.execute("drop policy mt_leak on public.orders")
    found = rls_matrix.differences(before, after)
    assert any(line.startswith("customer read_orders") for line in found), found
    assert not any(line.startswith("admin ") for line in found), found  # an admin saw every order already
