"""The dashboards' daily rollup: filled online while the application writes, and always equal to raw orders."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pg_ops.engine.db import connect, connection
from pg_ops.engine.migrations import migrate
from pg_ops.local import demo
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

RAW = """select restaurant_id, (created_at at time zone 'UTC')::date as day, count(*) as orders,
                count(*) filter (where status = 'delivered') as delivered,
                count(*) filter (where status = 'cancelled') as cancelled,
                count(*) filter (where status = 'pending') as pending,
                count(*) filter (where status = 'delivered' and delivered_at <= estimated_delivery_at) as on_time,
                count(*) filter (where status = 'delivered' and delivered_at is not null) as timed,
                coalesce(sum(extract(epoch from delivered_at - created_at)) filter (where status = 'delivered'), 0)
                  as seconds,
                coalesce(sum(total_amount) filter (where status = 'delivered'), 0) as revenue
         from public.orders group by 1, 2"""
RAW_HOURLY = """select date_trunc('hour', created_at at time zone 'UTC') at time zone 'UTC' as hour, count(*) as orders,
                       count(*) filter (where status = 'delivered') as delivered,
                       count(*) filter (where status = 'pending') as pending,
                       count(*) filter (where status = 'delivered' and delivered_at <= estimated_delivery_at)
                         as on_time,
                       coalesce(sum(total_amount) filter (where status = 'delivered'), 0) as revenue
                from public.orders group by 1"""
HOURLY = """select hour, sum(orders) as orders, sum(delivered) as delivered, sum(pending) as pending,
                   sum(delivered_on_time) as on_time, sum(revenue) as revenue
            from private.platform_hourly_stats group by hour having sum(orders) <> 0"""
ROLLUP = """select restaurant_id, day, orders, delivered, cancelled, pending, delivered_on_time as on_time,
                   delivered_timed as timed, delivery_seconds as seconds, revenue
            from public.daily_restaurant_stats where orders <> 0"""


def _as_set(dsn: str, query: str) -> set[tuple[Any, ...]]:
    with connection(dsn) as conn:
        return {tuple(row.values()) for row in conn.execute(query)}  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def busy_db(pg: SandboxInfo) -> Iterator[str]:
    dsn = servers.create_database(pg, "rollup_busy")
    demo.load(dsn, scale=0.02, seed=3)  # 20,000 orders over 90 days: a backfill long enough to race with
    yield dsn
    servers.drop_database(pg, "rollup_busy")


def _app_writes(dsn: str, stop: threading.Event, errors: list[str], counter: list[int]) -> None:
    rng = random.Random(7)
    with connect(dsn, application_name="test app") as conn:
        sample = conn.execute("select customer_id, restaurant_id from orders limit 50").fetchall()
        while not stop.is_set():
            pick = rng.choice(sample)
            try:
                action = rng.random()
                if action < 0.4:  # a new order on any day of the history (late-arriving imports included)
                    conn.execute("insert into orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, "
                                 "total_amount, delivery_address, created_at, estimated_delivery_at, delivered_at) "
                                 "values (%s, %s, %s, 'delivered', 10, 2, 12, 'x', now() - %s * interval '1 hour', "
                                 "now() - %s * interval '1 hour' + interval '30 minutes', "
                                 "now() - %s * interval '1 hour' + interval '25 minutes')",
                                 (uuid.uuid4(), pick["customer_id"], pick["restaurant_id"],
                                  *[rng.randint(1, 2000)] * 3))
                elif action < 0.7:  # a status change
                    conn.execute("update orders set status = %s where id = (select id from orders order by random() "
                                 "limit 1)", (rng.choice(["cancelled", "delivered", "pending"]),))
                elif action < 0.85:  # an order moved to another day and restaurant
                    conn.execute("update orders set created_at = created_at - interval '2 days', restaurant_id = %s "
                                 "where id = (select id from orders order by random() limit 1)",
                                 (pick["restaurant_id"],))
                else:
                    conn.execute("delete from order_items where order_id = (select id from orders order by random() "
                                 "limit 1) returning order_id")
                counter[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure of the application is the finding
                errors.append(str(exc))


def test_online_backfill_under_writes_equals_raw_orders(busy_db: str) -> None:
    stop, errors, counter = threading.Event(), [], [0]
    writers = [threading.Thread(target=_app_writes, args=(busy_db, stop, errors, counter)) for _ in range(3)]
    for writer in writers:
        writer.start()
    try:
        report = migrate.apply(busy_db, migrate.Settings.platform())
    finally:
        stop.set()
        for writer in writers:
            writer.join(30)
    assert {"012", "018"} <= {a.version for a in report.applied}
    assert errors == [] and counter[0] > 100
    assert _as_set(busy_db, ROLLUP) == _as_set(busy_db, RAW)
    assert _as_set(busy_db, HOURLY) == _as_set(busy_db, RAW_HOURLY)
    with connection(busy_db) as conn:
        assert conn.execute("select count(*) as n from private.rollup_days where not covered or not platform_covered"
                            ).fetchone() == {"n": 0}


def test_rollup_follows_every_later_change(busy_db: str) -> None:
    migrate.apply(busy_db, migrate.Settings.platform())
    with connection(busy_db) as conn:
        conn.execute("update orders set status = 'delivered', delivered_at = created_at + interval '20 minutes' "
                     "where status = 'pending'")
        conn.execute("delete from orders where id in (select id from orders where status = 'cancelled' limit 20)")
        conn.execute("update orders set created_at = created_at + interval '1 day' where id in "
                     "(select id from orders order by id limit 30)")
    assert _as_set(busy_db, ROLLUP) == _as_set(busy_db, RAW)
    assert _as_set(busy_db, HOURLY) == _as_set(busy_db, RAW_HOURLY)
