"""monitoring_snapshot: every 30 s, the monitoring views into the Pushgateway and pgops.monitoring_snapshots.

The work happens in the sensor itself, not in a run per tick: a run costs seconds of process start and
event-log writes, 2,880 times a day, for a read that takes a tenth of a second. The sensor never launches
runs; each tick is a SkipReason whose message is the tick's one-line outcome, visible in the UI."""

from __future__ import annotations

import atexit
import datetime as dt
import json
import threading

import dagster as dg

from pg_ops.defs import runs
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import snapshot

INTERVAL_ENV = "PG_OPS_SNAPSHOT_INTERVAL_S"


# The code server keeps the Snapshotter (and its three open sessions) of the watched database between ticks.
_snapshotters: dict[snapshot.SnapshotTarget, snapshot.Snapshotter] = {}
_snapshotters_lock = threading.Lock()


def snapshotter_for(target: snapshot.SnapshotTarget) -> snapshot.Snapshotter:
    with _snapshotters_lock:
        for stale in [t for t in _snapshotters if t != target]:
            _snapshotters.pop(stale).close()  # another database, new settings or a new password
        if target not in _snapshotters:
            _snapshotters[target] = snapshot.Snapshotter(target)
        return _snapshotters[target]


@atexit.register
def close_all() -> None:
    """Log out of every watched database (at exit, so the server does not log an unexpected EOF)."""
    with _snapshotters_lock:
        while _snapshotters:
            _snapshotters.popitem()[1].close()


def take_snapshot(cursor: str | None, target: PostgresTarget, gateway: PushgatewayTarget) -> tuple[str, str]:
    """One tick: (its one-line outcome, the new cursor). The cursor holds the last success and the databases
    whose groups are on the gateway, so a database dropped from the configuration has its group deleted."""
    try:
        state = json.loads(cursor) if cursor else {}
    except ValueError:  # a cursor edited by hand: start afresh rather than fail every tick
        state = {}
    try:
        snapshot_target = snapshot.target_from_env(target.db, gateway.url, min(gateway.timeout_s, 5.0))
    except PgOpsError as exc:
        return f"no snapshot: {exc}", json.dumps(state)
    outcome = snapshotter_for(snapshot_target).tick()
    line = outcome.line()
    on_gateway: list[str] = state.get("on_gateway", [])
    if gateway.url:
        for database in [d for d in on_gateway if d != outcome.database]:
            try:
                snapshot.retire(gateway.url, database, snapshot_target.push_timeout_s)
                on_gateway.remove(database)
                line += f"; deleted the group of {database}, no longer configured"
            except PgOpsError as exc:
                line += f"; could not delete the group of {database} yet: {exc}"
        if outcome.pushed and outcome.database not in on_gateway:
            on_gateway.append(outcome.database)
    state["on_gateway"] = on_gateway
    if outcome.ok:
        state["last_success"] = outcome.taken_at.isoformat(timespec="seconds")
    elif state.get("last_success"):
        line += f" (last full success {state['last_success']})"
    state["last_tick"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return line, json.dumps(state)


@dg.sensor(
    name="monitoring_snapshot",
    minimum_interval_seconds=int(snapshot.env_number(INTERVAL_ENV, 30, 5)),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads every monitoring view as the `monitoring` role, pushes them to PUSHGATEWAY_URL "
    "(job pg_ops_snapshot) and keeps them in pgops.monitoring_snapshots. Launches no runs.",
)
def monitoring_snapshot(context: dg.SensorEvaluationContext, target: PostgresTarget,
                        pushgateway: PushgatewayTarget) -> dg.SkipReason:
    line, cursor = take_snapshot(context.cursor, target, pushgateway)
    context.update_cursor(cursor)
    context.log.info(line)
    return dg.SkipReason(line)


@dg.sensor(
    name="dead_runs",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose worker process on this host is gone (killed, or its machine "
    "rebooted), freeing their pg_ddl pool slots and the one-rollout-per-database limit. Launches no runs.",
)
def dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    reaped, _ = runs.reap(context.instance)
    for line in reaped:
        context.log.warning(line)
    return dg.SkipReason("; ".join(reaped) or "no run has lost its process")
