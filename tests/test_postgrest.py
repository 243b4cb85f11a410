"""The RPCs as supabase-js reaches them: PostgREST's transaction, settings and json_to_record call, GET and POST."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import postgrest
from tests.conftest import as_user

ANALYTICS = ("calculate_on_time_rate", "calculate_avg_delivery_time", "calculate_revenue_metrics",
             "get_order_status_distribution")
SCALAR = {"calculate_on_time_rate", "calculate_avg_delivery_time"}


@pytest.fixture(scope="module")
def platform(demo_db: str) -> dict[str, Any]:
    migrate.apply(demo_db, migrate.Settings.platform())
    with connection(demo_db) as conn:
        admin = conn.execute("select id from profiles where role = 'admin' limit 1").fetchone()["id"]
        owner, restaurant = conn.execute("select owner_id, id from restaurants order by id limit 1").fetchone().values()
        customer = conn.execute("select customer_id from orders group by 1 order by count(*) desc limit 1"
                                ).fetchone()["customer_id"]
        end = conn.execute("select max(created_at) + interval '1 second' as e from orders").fetchone()["e"]
    return {"admin": admin, "owner": owner, "restaurant": restaurant, "customer": customer, "end": end}


def _direct(dsn: str, user: Any, function: str, args: dict[str, Any]) -> Any:
    """The same call as a plain SQL statement by the same user, as JSON the way PostgREST would encode it."""
    named = ", ".join(f"{k} => %({k})s" for k in args)
    with as_user(dsn, "authenticated", user) as conn:
        if function in SCALAR:
            value = conn.execute(f"select public.{function}({named}) as v", args).fetchone()["v"]  # type: ignore[arg-type]
            return json.loads(json.dumps(value, default=float))
        rows = conn.execute(f"select * from public.{function}({named})", args).fetchall()  # type: ignore[arg-type]
        return json.loads(json.dumps(rows, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))


def _window(platform: dict[str, Any]) -> dict[str, Any]:
    end: dt.datetime = platform["end"]
    return {"p_start": (end - dt.timedelta(days=30)).isoformat(), "p_end": end.isoformat()}


@pytest.mark.parametrize("who", ["admin", "owner", "customer"])
def test_each_analytics_function_by_post_and_get_equals_the_direct_call(demo_db: str, platform: dict[str, Any],
                                                                        who: str) -> None:
    user = platform[who]
    args = _window(platform)
    if who == "owner":
        args["p_restaurant_id"] = str(platform["restaurant"])
    claims = {"sub": str(user), "role": "authenticated"}
    with connection(demo_db) as conn:
        for function in ANALYTICS:
            post = postgrest.call(conn, function, args, role="authenticated", claims=claims)
            get = postgrest.call(conn, function, args, role="authenticated", claims=claims, method="GET")
            direct = _direct(demo_db, user, function, args)
            assert post == get == direct, (who, function)
    if who == "admin":  # not trivially equal: the admin sees revenue
        assert post and isinstance(post, list) and all(row["order_count"] > 0 for row in post)


def test_anon_is_refused_the_analytics_and_served_the_search(demo_db: str, platform: dict[str, Any]) -> None:
    with connection(demo_db) as conn:
        for function in ANALYTICS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
                postgrest.call(conn, function, _window(platform), role="anon")
        hits = postgrest.call(conn, "search_products", {"p_query": "cheese", "p_limit": 5}, role="anon", method="GET")
        as_customer = postgrest.call(conn, "search_products", {"p_query": "cheese", "p_limit": 5}, role="authenticated",
                                     claims={"sub": str(platform["customer"]), "role": "authenticated"})
    with as_user(demo_db, "anon", None) as conn:
        direct = conn.execute("select id::text, name from public.search_products('cheese', 5)").fetchall()
    assert 0 < len(hits) <= 5 and [(h["id"], h["name"]) for h in hits] == [(d["id"], d["name"]) for d in direct]
    assert as_customer == hits


def test_the_request_runs_read_only_with_postgrests_settings(demo_db: str, platform: dict[str, Any]) -> None:
    with connection(demo_db) as conn:
        sig = postgrest.signature(conn, "public", "calculate_revenue_metrics", {"p_start", "p_end"})
        assert not sig.volatile and sig.returns_rows and sig.required == 2
        conn.execute("begin read only")
        settings, values = postgrest.request_settings("authenticated", {"sub": str(platform["admin"])}, "POST",
                                                      "/rpc/calculate_revenue_metrics")
        conn.execute(settings, values)
        seen = conn.execute("select current_user as role, current_setting('request.path') as path, "
                            "auth.uid()::text as uid, current_setting('transaction_read_only') as ro").fetchone()
        conn.execute("rollback")
    assert seen == {"role": "authenticated", "path": "/rpc/calculate_revenue_metrics",
                    "uid": str(platform["admin"]), "ro": "on"}


def test_a_renamed_parameter_or_a_missing_grant_fails_the_call(demo_db: str, platform: dict[str, Any]) -> None:
    claims = {"sub": str(platform["admin"]), "role": "authenticated"}
    with connection(demo_db) as conn:
        renamed = {"p_from" if k == "p_start" else k: v for k, v in _window(platform).items()}
        with pytest.raises(PgOpsError, match="PostgREST would answer 404: no function "
                                              "public.calculate_on_time_rate takes the arguments p_end, p_from"):
            postgrest.call(conn, "calculate_on_time_rate", renamed, role="authenticated", claims=claims)
        conn.execute("revoke execute on function public.calculate_on_time_rate(timestamptz, timestamptz, uuid) "
                     "from authenticated")
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                postgrest.call(conn, "calculate_on_time_rate", _window(platform), role="authenticated", claims=claims)
        finally:
            conn.execute("grant execute on function public.calculate_on_time_rate(timestamptz, timestamptz, uuid) "
                         "to authenticated")
