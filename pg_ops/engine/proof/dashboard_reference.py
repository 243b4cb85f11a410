"""The analytics dashboard computed from raw order rows in pandas.

Two uses: the baseline (what the app did before the functions existed: fetch the window's orders and
aggregate them client-side), and the reference the functions' results must equal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd

COLUMNS = ["status", "total_amount", "created_at", "delivered_at", "estimated_delivery_at"]


def metrics(rows: list[dict[str, Any]] | pd.DataFrame) -> dict[str, Any]:
    """On-time rate (%), average delivery minutes, revenue (total, count, average), status distribution."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=COLUMNS)
    delivered = frame[frame["status"] == "delivered"]
    total = sum(delivered["total_amount"], Decimal(0))
    # an empty window has untyped (object) columns, which have no .dt: today's dashboard just after midnight
    minutes = ((delivered["delivered_at"] - delivered["created_at"]).dt.total_seconds() / 60 if len(delivered)
               else pd.Series(dtype=float))
    on_time = int((delivered["delivered_at"] <= delivered["estimated_delivery_at"]).sum())
    counts = frame["status"].value_counts()
    return {
        "on_time_rate": round(100 * on_time / len(delivered), 2) if len(delivered) else None,
        "avg_delivery_minutes": round(float(minutes.mean()), 2) if len(delivered) else None,
        "revenue_total": total,
        "revenue_orders": len(delivered),
        "avg_order_value": round(float(total) / len(delivered), 2) if len(delivered) else None,
        "status_distribution": {str(s): (int(n), round(100 * n / len(frame), 2)) for s, n in counts.items()},
    }


def window(frame: pd.DataFrame, start: dt.datetime, end: dt.datetime, restaurant_id: Any = None) -> pd.DataFrame:
    chosen = frame[(frame["created_at"] >= start) & (frame["created_at"] < end)]
    if restaurant_id is not None:
        chosen = chosen[chosen["restaurant_id"] == restaurant_id]
    return chosen


def differences(got: dict[str, Any], want: dict[str, Any], tolerance: float = 0.0051) -> list[str]:
    """What differs, beyond the last rounded digit (both sides round to 2 decimals, differently)."""
    problems = []
    if (got["revenue_total"], got["revenue_orders"]) != (want["revenue_total"], want["revenue_orders"]):
        problems.append(f"revenue {got['revenue_total']}/{got['revenue_orders']} != "
                        f"{want['revenue_total']}/{want['revenue_orders']}")
    for key in ("on_time_rate", "avg_delivery_minutes", "avg_order_value"):
        a, b = got[key], want[key]
        if (a is None) != (b is None) or (a is not None and abs(float(a) - float(b)) > tolerance):
            problems.append(f"{key} {a} != {b}")
    gd, wd = got["status_distribution"], want["status_distribution"]
    if gd.keys() != wd.keys():
        problems.append(f"statuses {sorted(gd)} != {sorted(wd)}")
    else:
        for status, (count, share) in wd.items():
            if gd[status][0] != count or abs(float(gd[status][1]) - share) > tolerance:
                problems.append(f"{status} {gd[status]} != {(count, share)}")
    return problems
