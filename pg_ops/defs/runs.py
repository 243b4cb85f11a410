"""Runs whose process is gone: found by the worker's pid and host, marked failed, their pool slots freed.

A run killed with SIGKILL (or whose machine rebooted) stays STARTED in Dagster and keeps its `pg_ddl`
slot, so every later rollout waits forever on "blocked by limit for pool". Dagster's run monitoring finds
such runs only for launchers that can check a worker's health (Docker, Kubernetes); the local launcher
and `pg-ops run` cannot, so each run records where its worker lives, and this module checks it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

import dagster as dg

from pg_ops.engine.processes import process_alive

PID_TAG = "pg_ops/worker_pid"
HOST_TAG = "pg_ops/worker_host"
DATABASE_TAG = "pg_ops/database"  # one rollout per target database: dagster.yaml limits runs per value
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def worker_tags() -> dict[str, str]:
    """Where this process runs: the tags a run needs so that its death can be noticed."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def record_worker(instance: dg.DagsterInstance, run_id: str) -> None:
    run = instance.get_run_by_id(run_id)
    if run is not None and run.tags.get(PID_TAG) is None:
        instance.add_run_tags(run_id, worker_tags())


@dataclass(frozen=True)
class LiveRun:
    run_id: str
    worker: str
    started: str


def reap(instance: dg.DagsterInstance, database: str | None = None) -> tuple[list[str], list[LiveRun]]:
    """Mark failed every in-progress run (of `database`, or of any) whose worker on this host is gone.

    Returns one line per run reaped, and the runs still alive (on this host, or elsewhere: those only
    Dagster's run monitoring can judge)."""
    filters = dg.RunsFilter(statuses=IN_PROGRESS, tags={DATABASE_TAG: database} if database else None)
    here = socket.gethostname()
    reaped, live = [], []
    for record in instance.get_run_records(filters=filters):
        run = record.dagster_run
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        started = dt.datetime.fromtimestamp(record.create_timestamp.timestamp(), dt.UTC).strftime("%H:%M:%S UTC")
        if pid is None or host != here or process_alive(int(pid)):
            live.append(LiveRun(run.run_id, f"pid {pid} on {host}" if pid else "an unknown worker", started))
            continue
        instance.report_run_failed(run, f"pg_ops: the run's process (pid {pid} on {host}) is gone; marked failed "
                                        "so that its pool slots and run limit are free again")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(f"run {run.run_id[:8]} of {run.tags.get(DATABASE_TAG, 'an unknown database')}, started "
                      f"{started}, lost its process (pid {pid}): marked it failed and freed its pool slots")
    return reaped, live
