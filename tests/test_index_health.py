"""Index and table health at pg-index-health's level: each check on a copy of the rolled-out demo with the
problem planted, and the demo's own indexes as the control."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pg_ops.engine.db import connection
from pg_ops.engine.lint import linter
from pg_ops.engine.lint.rules import Finding
from pg_ops.engine.migrations import migrate
from pg_ops.engine.monitoring import monitoring_schema

PLANTED = """
  create table public.coupons (code text not null, percent int, tags text[], active boolean, note text,
                               order_id uuid references public.orders (id));
  insert into public.coupons select 'c' || i, i % 50, array['a', 'b'], i % 2 = 0, case when i % 3 = 0 then 'n' end,
                                    null from generate_series(1, 2000) i;
  create index coupons_percent_idx on public.coupons (percent);
  create index coupons_percent_again_idx on public.coupons (percent);
  create index coupons_percent_code_idx on public.coupons (percent, code);
  create index coupons_tags_idx on public.coupons (tags);
  create index coupons_active_idx on public.coupons (active, percent);
  create index coupons_note_idx on public.coupons (note);
  create index coupons_percent_not_null_idx on public.coupons (code) where percent is not null;
  alter table public.coupons alter column percent set not null;
  create unique index coupons_code_key on public.coupons (code);
  create index coupons_code_idx on public.coupons (code);
  create unique index coupons_code_unique_idx on public.coupons (code);
  create table public.churn (id bigint primary key, body text not null);
  insert into public.churn select i, md5(i::text) || md5((7 * i)::text) from generate_series(1, 200000) i;
  create index churn_body_idx on public.churn (body);
  create table public.coupon_uses (id bigint generated always as identity primary key,
                                   coupon_code text not null references public.coupons (code),
                                   used_at timestamptz not null);
  create index coupon_uses_coupon_code_idx on public.coupon_uses (coupon_code, used_at);
  delete from public.churn where id % 10 <> 0;
"""


@pytest.fixture(scope="module")
def planted(demo_db: str) -> list[Finding]:
    migrate.apply(demo_db, migrate.Settings.platform())
    monitoring_schema.apply(demo_db, "Health-pw-4242")
    with connection(demo_db) as conn:
        conn.execute(PLANTED)  # type: ignore[arg-type]
        conn.execute("vacuum analyze public.coupons, public.churn")
        with pytest.raises(psycopg.errors.UniqueViolation):  # what a failed concurrent build leaves behind
            conn.execute("create unique index concurrently coupons_percent_unique_idx on public.coupons (percent)")
    return linter.run(demo_db, with_evidence=False, unused_after_days=0, bloat_min_bytes=2**20).findings


def _objects(found: list[Finding], rule: str) -> set[str]:
    return {f.object for f in found if f.rule == rule}


def test_duplicate_prefix_and_intersected_indexes(planted: list[Finding]) -> None:
    # a plain index with exactly another's keys, a unique one's included, adds nothing
    assert _objects(planted, "duplicate_index") == {"index public.coupons_percent_again_idx",
                                                    "index public.coupons_code_idx"}
    assert {"index public.coupons_percent_idx"} <= _objects(planted, "redundant_index")
    intersected = {f.object: f for f in planted if f.rule == "intersected_index"}
    # two unique indexes on the same keys: what duplicate_indexes, judging plain indexes, leaves out
    twice = intersected["index public.coupons_code_key and public.coupons_code_unique_idx"]
    assert not twice.accepted and twice.fix.startswith("drop index concurrently public.coupons_code_unique_idx")
    # the demo's covering index beside the primary key is intentional: listed, said so, not counted
    covering = intersected["index public.profiles_pkey and public.profiles_id_role_idx"]
    assert covering.accepted and "intentional" in covering.why and "INCLUDE columns" in covering.why


def test_invalid_unindexed_and_table_checks(planted: list[Finding]) -> None:
    assert _objects(planted, "invalid_index") == {"index public.coupons_percent_unique_idx"}
    assert "foreign key coupons_order_id_fkey on public.coupons" in _objects(planted, "unindexed_foreign_key")
    assert _objects(planted, "table_without_primary_key") == {"table public.coupons"}


def test_column_kinds_and_predicates(planted: list[Finding]) -> None:
    assert _objects(planted, "btree_on_array") == {"index public.coupons_tags_idx"}
    assert _objects(planted, "boolean_in_index") == {"index public.coupons_active_idx",
                                                     "index public.products_restaurant_catalog_idx"}
    nulls = {f.object: f for f in planted if f.rule == "index_with_nulls"}
    assert set(nulls) == {"index public.coupons_note_idx", "index public.coupons_tags_idx",
                          "index public.coupons_active_idx", "index public.orders_driver_id_created_at_idx"}
    assert "(now 67% of the rows)" in nulls["index public.coupons_note_idx"].why  # ANALYZE's estimate, 2 of 3
    assert _objects(planted, "unnecessary_index_predicate") == {"index public.coupons_percent_not_null_idx"}


def test_unused_never_names_an_index_that_enforces_a_constraint(planted: list[Finding], demo_db: str) -> None:
    unused = _objects(planted, "unused_index")
    assert "index public.coupons_note_idx" in unused
    assert not {o for o in unused if o.endswith("_pkey") or o.endswith("_key")}
    # what a delete of a coupon will scan: dropping it would make the foreign key unindexed
    assert "index public.coupon_uses_coupon_code_idx" not in unused
    with connection(monitoring_schema.role_dsn(demo_db, "Health-pw-4242")) as conn:
        usage: dict[str, Any] = {r["index_name"]: r for r in conn.execute(
            "select index_name, usage, statistics_since from monitoring.index_usage where schema = 'public'")}
    assert usage["churn_pkey"]["usage"] == "CONSTRAINT_ONLY" and usage["coupons_code_key"]["usage"] == "CONSTRAINT_ONLY"
    assert usage["coupons_note_idx"]["usage"] == "NEVER_USED" and usage["churn_pkey"]["statistics_since"] is not None
    assert usage["coupon_uses_coupon_code_idx"]["usage"] == "FOREIGN_KEY_ONLY"


def test_bloat_is_estimated_for_tables_and_indexes(planted: list[Finding]) -> None:
    tables = {f.object: f for f in planted if f.rule == "table_bloat"}
    assert set(tables) == {"table public.churn"}  # 90% of its rows deleted, its pages kept
    assert "hold no live rows" in tables["table public.churn"].why
    assert {"index public.churn_body_idx", "index public.churn_pkey"} <= _objects(planted, "index_bloat")
    # the freshly built demo is not bloated
    assert not {o for o in _objects(planted, "table_bloat") | _objects(planted, "index_bloat")
                if ".orders" in o or ".products" in o}
