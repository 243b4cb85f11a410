"""The demo platform: sizes, determinism, the slow 'before' state, and row-level security as Supabase runs it."""

from __future__ import annotations

import hashlib

import pytest

from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.local import demo
from pg_ops.local.sandbox import SandboxInfo
from tests import servers
from tests.conftest import as_user

TABLES = ("public.profiles", "public.restaurants", "public.products", "public.orders", "public.order_items")


def _content_digest(dsn: str) -> str:
    digest = hashlib.sha256()
    with connection(dsn) as conn:
        for table in TABLES:
            for row in conn.execute(f"select md5(string_agg(t::text, '|' order by t::text)) as h from {table} t"):
                digest.update(str(row["h"]).encode())
    return digest.hexdigest()


def test_row_counts_follow_the_scale(demo_db: str) -> None:
    with connection(demo_db) as conn:
        params = conn.execute("select * from pgops_demo.params").fetchone()
        assert params is not None
        counts = {t: conn.execute(f"select count(*) as n from {t}").fetchone()["n"] for t in TABLES}  # type: ignore[index]
        roles = {r["role"]: r["n"] for r in conn.execute("select role, count(*) as n from profiles group by role")}
    assert counts["public.orders"] == params["n_orders"] == 2000
    assert 2.5 * counts["public.orders"] < counts["public.order_items"] < 3.5 * counts["public.orders"]
    assert counts["public.restaurants"] == params["n_restaurants"]
    assert counts["public.products"] == params["n_restaurants"] * 200
    assert roles == {"admin": 5, "restaurant_owner": params["n_restaurants"], "driver": params["n_drivers"],
                     "customer": params["n_customers"]}


def test_history_has_skew_peaks_and_both_languages(demo_db: str) -> None:
    with connection(demo_db) as conn:
        per_restaurant = [r["n"] for r in conn.execute(
            "select count(*) as n from orders group by restaurant_id order by 1 desc")]
        peak_share = conn.execute(
            "select avg((extract(hour from created_at at time zone 'UTC') in (12, 13, 14, 18, 19, 20, 21))::int) "
            "as share from orders").fetchone()["share"]  # type: ignore[index]
        span = conn.execute("select max(created_at) - min(created_at) as span from orders").fetchone()["span"]  # type: ignore[index]
        statuses = {r["status"]: r["share"] for r in conn.execute(
            "select status, count(*)::float / sum(count(*)) over () as share from orders group by status")}
        late = conn.execute("select avg((delivered_at > estimated_delivery_at)::int) as late from orders "
                            "where status = 'delivered'").fetchone()["late"]  # type: ignore[index]
        georgian_hits = conn.execute(
            "select count(*) as n from products where to_tsvector('simple', name || ' ' || description) "
            "@@ plainto_tsquery('simple', 'ხაჭაპური')").fetchone()["n"]  # type: ignore[index]
        english_hits = conn.execute(
            "select count(*) as n from products where to_tsvector('simple', name || ' ' || description) "
            "@@ plainto_tsquery('simple', 'pizza')").fetchone()["n"]  # type: ignore[index]
    assert per_restaurant[0] > 2 * per_restaurant[len(per_restaurant) // 2], per_restaurant
    assert peak_share > 0.6  # 7 of 24 hours would be 0.29 without peaks
    assert 88 <= span.days <= 90
    assert 0.75 < statuses["delivered"] < 0.85 and 0.05 < statuses["cancelled"] < 0.11
    assert 0.3 < late < 0.8
    assert georgian_hits > 0 and english_hits > 0


def test_before_state_has_only_constraint_indexes(demo_db: str) -> None:
    with connection(demo_db) as conn:
        indexes = conn.execute(
            "select i.indexrelid::regclass::text as name, coalesce(c.contype, '-') as contype "
            "from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace "
            "left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = i.indrelid "
            "and c.contype in ('p', 'u', 'x') "
            "where n.nspname = 'public'").fetchall()
        rls = conn.execute("select relname from pg_class where relnamespace = 'public'::regnamespace "
                           "and relkind = 'r' and not relrowsecurity").fetchall()
    assert indexes and all(row["contype"] != "-" for row in indexes), indexes
    assert "order_items_order_id_idx" not in {row["name"] for row in indexes}
    assert rls == []


def test_same_seed_and_anchor_give_the_same_rows(pg: SandboxInfo) -> None:
    first = servers.create_database(pg, "determinism_a")
    second = servers.create_database(pg, "determinism_b")
    other = servers.create_database(pg, "determinism_c")
    try:
        demo.load(first, scale=0.001, seed=11, anchor="2026-01-31")
        demo.load(second, scale=0.001, seed=11, anchor="2026-01-31")
        demo.load(other, scale=0.001, seed=12, anchor="2026-01-31")
        assert _content_digest(first) == _content_digest(second)
        assert _content_digest(first) != _content_digest(other)
    finally:
        for name in ("determinism_a", "determinism_b", "determinism_c"):
            servers.drop_database(pg, name)


def test_customer_sees_only_own_orders_and_anon_sees_none(demo_db: str) -> None:
    with connection(demo_db) as conn:
        customer = conn.execute("select customer_id, count(*) as n from orders group by 1 "
                                "order by 2 desc limit 1").fetchone()
        assert customer is not None
    with as_user(demo_db, "authenticated", customer["customer_id"]) as conn:
        seen = conn.execute("select customer_id from orders").fetchall()
        items = conn.execute("select count(*) as n from order_items").fetchone()
    assert len(seen) == customer["n"] > 1
    assert {row["customer_id"] for row in seen} == {customer["customer_id"]}
    assert items is not None and items["n"] >= len(seen)
    with as_user(demo_db, "anon", None) as conn:
        assert conn.execute("select count(*) as n from orders").fetchone()["n"] == 0  # type: ignore[index]
        assert conn.execute("select count(*) as n from order_items").fetchone()["n"] == 0  # type: ignore[index]
        assert conn.execute("select count(*) as n from products where not is_available").fetchone()["n"] == 0  # type: ignore[index]


@pytest.mark.parametrize("role_name, column", [("driver", "driver_id"), ("restaurant_owner", None), ("admin", None)])
def test_staff_see_exactly_their_orders(demo_db: str, role_name: str, column: str | None) -> None:
    with connection(demo_db) as conn:
        user = conn.execute("select id from profiles where role = %s order by id limit 1", (role_name,)).fetchone()
        assert user is not None
        if role_name == "driver":
            expected = conn.execute("select count(*) as n from orders where driver_id = %s", (user["id"],))
        elif role_name == "restaurant_owner":
            expected = conn.execute("select count(*) as n from orders o join restaurants r on r.id = o.restaurant_id "
                                    "where r.owner_id = %s", (user["id"],))
        else:
            expected = conn.execute("select count(*) as n from orders")
        want = expected.fetchone()["n"]  # type: ignore[index]
    with as_user(demo_db, "authenticated", user["id"]) as conn:
        got = conn.execute("select count(*) as n from orders").fetchone()["n"]  # type: ignore[index]
    assert got == want > 0


def test_customer_cannot_write_someone_elses_order(demo_db: str) -> None:
    with connection(demo_db) as conn:
        rows = conn.execute("select id, customer_id from orders order by id limit 2").fetchall()
    victim, intruder = rows[0], rows[1]
    with as_user(demo_db, "authenticated", intruder["customer_id"]) as conn:
        updated = conn.execute("update orders set status = 'cancelled' where id = %s", (victim["id"],))
        assert updated.rowcount == 0


def test_refuses_to_replace_tables_it_did_not_create(pg: SandboxInfo) -> None:
    dsn = servers.create_database(pg, "someone_elses")
    try:
        with connection(dsn) as conn:
            conn.execute("create table public.orders (id int primary key); insert into public.orders values (1)")
        with pytest.raises(PgOpsError, match="already has a public.orders table that pg_ops did not create"):
            demo.load(dsn, scale=0.001)
        with connection(dsn) as conn:
            assert conn.execute("select count(*) as n from public.orders").fetchone()["n"] == 1  # type: ignore[index]
    finally:
        servers.drop_database(pg, "someone_elses")


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), "abc", True])
def test_bad_scale_is_refused_before_connecting(scale: object) -> None:
    with pytest.raises(PgOpsError, match="scale must be a number greater than 0"):
        demo.load("postgresql://nobody@127.0.0.1:1/none", scale=scale)  # type: ignore[arg-type]
