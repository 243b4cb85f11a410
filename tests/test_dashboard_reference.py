"""The pandas reference the analytics functions must equal (and the dashboards' baseline client)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pg_ops.engine.proof import dashboard_reference

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _order(status: str, minutes: int | None, estimate: int, total: str) -> dict[str, object]:
    return {"status": status, "total_amount": Decimal(total), "created_at": T0,
            "delivered_at": None if minutes is None else T0 + dt.timedelta(minutes=minutes),
            "estimated_delivery_at": T0 + dt.timedelta(minutes=estimate)}


def test_an_empty_window_gives_empty_metrics_not_a_crash() -> None:
    """Today's dashboard just after midnight asks for a window with no orders yet."""
    assert dashboard_reference.metrics([]) == {
        "on_time_rate": None, "avg_delivery_minutes": None, "revenue_total": Decimal(0), "revenue_orders": 0,
        "avg_order_value": None, "status_distribution": {}}


def test_metrics_of_a_few_orders() -> None:
    rows = [_order("delivered", 30, 40, "10.00"), _order("delivered", 50, 40, "20.00"),
            _order("cancelled", None, 40, "99.00")]
    got = dashboard_reference.metrics(rows)
    assert got["on_time_rate"] == 50.0 and got["avg_delivery_minutes"] == 40.0
    assert (got["revenue_total"], got["revenue_orders"], got["avg_order_value"]) == (Decimal("30.00"), 2, 15.0)
    assert got["status_distribution"] == {"delivered": (2, 66.67), "cancelled": (1, 33.33)}
