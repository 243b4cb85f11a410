"""Who can see and write what: the allow/deny matrix of the demo platform, taken as each kind of user."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from pg_ops.db import connection
from tests.conftest import as_user

READ_TABLES = ("orders", "order_items", "products", "restaurants", "profiles")


def _users(dsn: str) -> dict[str, Any]:
    with connection(dsn) as conn:
        def first(query: str) -> Any:
            row = conn.execute(query).fetchone()
            assert row is not None, query
            return row["id"]
        return {
            "customer": first("select customer_id as id from orders group by 1 order by count(*) desc, 1 limit 1"),
            "customer_2": first("select customer_id as id from orders group by 1 order by count(*), 1 limit 1"),
            "driver": first("select driver_id as id from orders where driver_id is not null group by 1 "
                            "order by count(*) desc, 1 limit 1"),
            "owner": first("select owner_id as id from restaurants order by name limit 1"),
            "admin": first("select id from profiles where role = 'admin' order by id limit 1"),
            "anon": None,
        }


def _write_attempts(conn: psycopg.Connection[Any], me: Any) -> dict[str, str]:
    """Each write in a savepoint, rolled back: the outcome is the row count or the error class."""
    attempts = {
        "update_any_order_status": "update orders set status = status where id in (select id from orders limit 50)",
        "update_my_orders": "update orders set updated_at = updated_at "
                            "where customer_id = %(me)s or driver_id = %(me)s",
        "delete_orders": "delete from orders where id in (select id from orders order by id limit 3)",
        "insert_order_for_me": "insert into orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, "
                               "total_amount, delivery_address) select gen_random_uuid(), %(me)s, id, 'pending', 1, 1, "
                               "2, 'x' from restaurants order by id limit 1",
        "insert_order_for_other": "insert into orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, "
                                  "total_amount, delivery_address) select gen_random_uuid(), p.id, r.id, 'pending', 1, "
                                  "1, 2, 'x' from profiles p, restaurants r where p.id is distinct from %(me)s "
                                  "order by p.id, r.id limit 1",
        "update_products": "update products set price = price where id in (select id from products limit 300)",
        "update_restaurants": "update restaurants set is_active = is_active",
        "update_profiles": "update profiles set phone = phone",
    }
    outcomes = {}
    for name, statement in attempts.items():
        conn.execute("savepoint attempt")
        try:
            cursor = conn.execute(statement, {"me": me})  # type: ignore[arg-type]
            outcomes[name] = f"rows={cursor.rowcount}"
        except psycopg.Error as exc:
            outcomes[name] = type(exc).__name__
        conn.execute("rollback to savepoint attempt")
    return outcomes


def take(dsn: str) -> dict[str, dict[str, str]]:
    matrix: dict[str, dict[str, str]] = {}
    for who, user in _users(dsn).items():
        role = "anon" if user is None else "authenticated"
        with as_user(dsn, role, user) as conn:
            row: dict[str, str] = {}
            for table in READ_TABLES:
                ids = [str(r["id"]) for r in conn.execute(f"select id from {table} order by id")]
                row[f"read_{table}"] = f"{len(ids)}:{hashlib.md5(','.join(ids).encode()).hexdigest()[:10]}"
            row.update(_write_attempts(conn, user))
        matrix[who] = row
    return matrix
