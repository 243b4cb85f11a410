"""Loading the demo delivery platform (sql/demo/) in its slow "before" state."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from pg_ops.engine import preflight, sqlfiles
from pg_ops.engine.db import Connection, connection, describe
from pg_ops.engine.errors import PgOpsError

SCHEMA_FILES = ("00_supabase_base.sql", "10_schema.sql", "20_policies_before.sql", "30_reference_data.sql")
# orders and order_items are computed from the same hashes, independently: one session each, two cores.
PARALLEL_FILES = ("31_orders.sql", "32_order_items.sql")
FINISH_FILES = ("40_constraints.sql", "50_analyze.sql")
TABLES = ("auth.users", "public.profiles", "public.restaurants", "public.products", "public.orders",
          "public.order_items")

Progress = Callable[[str], None]


@dataclass
class LoadReport:
    scale: float
    seed: int
    anchor: dt.date
    target: str
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{table.split('.')[-1]} {n:,}" for table, n in self.rows.items())
        return (f"demo loaded into {self.target} at scale {self.scale:g} (seed {self.seed}, anchor "
                f"{self.anchor}) in {self.seconds:.1f} s: {counts}")


# 100 = 100,000,000 orders, hours of loading and about 100 GiB: beyond it the demo is no demo, and the
# generator's integer columns overflow long before anything would finish.
MAX_SCALE = 100.0
MAX_SEED = 2**31 - 1  # the generator multiplies the seed inside 64-bit hashes
# Measured at scale 1.0: the before state takes 0.62 GiB, and loading it writes about as much WAL again.
BYTES_PER_SCALE = 1.25 * 2**30


def validate_scale(scale: float) -> float:
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0 or scale == float("inf"):
        raise PgOpsError(f"scale must be a number greater than 0 (1.0 = 1,000,000 orders), got {scale!r}")
    if scale > MAX_SCALE:
        raise PgOpsError(f"scale {scale:g} is too large: at most {MAX_SCALE:g} ({MAX_SCALE * 1e6:,.0f} orders, "
                         f"about {MAX_SCALE * BYTES_PER_SCALE / 2**30:,.0f} GiB); 1.0 = 1,000,000 orders")
    return float(scale)


def validate_seed(seed: int) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise PgOpsError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return seed


def _refuse_without_room(conn: Connection, scale: float, target: str) -> None:
    """Before the old demo is dropped: a load that would fill the disk must not start."""
    free, _ = preflight.server_free_bytes(conn)
    if free is None:
        return  # not ours to see (not a superuser, or the server runs elsewhere)
    current = conn.execute("select pg_database_size(current_database()) as n").fetchone()
    reclaimed = int(current["n"]) if current else 0  # the old demo's space comes back once it is dropped
    needed = scale * BYTES_PER_SCALE
    if free + reclaimed < needed:
        raise PgOpsError(f"scale {scale:g} needs about {needed / 2**30:.1f} GiB on the server of {target}, which "
                         f"has {(free + reclaimed) / 2**30:.1f} GiB for it; choose a smaller --scale or free space "
                         "(nothing was changed)")


def _refuse_foreign_tables(conn: Connection, target: str) -> None:
    """Never drop tables pg_ops did not create: the demo replaces only an earlier demo."""
    row = conn.execute(
        "select to_regclass('public.orders') is not null as has_orders, "
        "exists (select 1 from pg_namespace where nspname = 'pgops_demo') as is_demo"
    ).fetchone()
    assert row is not None
    if row["has_orders"] and not row["is_demo"]:
        raise PgOpsError(
            f"{target} already has a public.orders table that pg_ops did not create; refusing to replace "
            "it with demo data (load the demo into an empty database)"
        )


def _run_file(conn: Connection, name: str) -> float:
    started = time.perf_counter()
    try:
        conn.execute(sqlfiles.read(f"demo/{name}"))
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PgOpsError(f"demo load failed in sql/demo/{name}: {first}") from None
    return time.perf_counter() - started


def load(
    dsn: str,
    scale: float = 0.1,
    seed: int = 42,
    anchor: str | dt.date | None = None,
    progress: Progress = lambda _: None,
) -> LoadReport:
    scale = validate_scale(scale)
    seed = validate_seed(seed)
    day = _parse_anchor(anchor)
    target = describe(dsn)
    report = LoadReport(scale=scale, seed=seed, anchor=day, target=target)
    started = time.perf_counter()
    with connection(dsn, purpose="demo load") as conn:
        _refuse_foreign_tables(conn, target)
        _refuse_without_room(conn, scale, target)
        conn.execute("select set_config('pg_ops.scale', %s, false), set_config('pg_ops.seed', %s, false), "
                     "set_config('pg_ops.anchor', %s, false)", (repr(scale), str(seed), day.isoformat()))
        for name in SCHEMA_FILES:
            report.steps[name] = _run_file(conn, name)
            progress(f"  {name}: {report.steps[name]:.1f} s")

    def run_alone(name: str) -> tuple[str, float]:
        with connection(dsn, purpose=f"demo load {name}") as own:
            return name, _run_file(own, name)

    with ThreadPoolExecutor(max_workers=len(PARALLEL_FILES)) as pool:
        for name, seconds in pool.map(run_alone, PARALLEL_FILES):
            report.steps[name] = seconds
            progress(f"  {name}: {seconds:.1f} s")

    with connection(dsn, purpose="demo load") as conn:
        for name in FINISH_FILES:
            report.steps[name] = _run_file(conn, name)
            progress(f"  {name}: {report.steps[name]:.1f} s")
        for table in TABLES:
            schema, rel = table.split(".")
            count = conn.execute(
                psycopg.sql.SQL("select count(*) as n from {}.{}").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(rel))
            ).fetchone()
            report.rows[table] = int(count["n"]) if count else 0
    report.seconds = time.perf_counter() - started
    return report


def _parse_anchor(anchor: str | dt.date | None) -> dt.date:
    if anchor is None:
        return dt.datetime.now(dt.UTC).date()
    if isinstance(anchor, dt.date):
        day = anchor
    else:
        try:
            day = dt.date.fromisoformat(anchor)
        except ValueError:
            raise PgOpsError(f"anchor must be a day as YYYY-MM-DD, got {anchor!r}") from None
    if not dt.date(1971, 1, 1) <= day <= dt.date(2199, 12, 31):
        raise PgOpsError(f"anchor {day} is out of range: give a day from 1971-01-01 to 2199-12-31")
    return day
