"""Materializing the rollout in-process, for the command line and `make demo`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg

from pg_ops.defs import runs
from pg_ops.engine.errors import PgOpsError


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    materialized: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"run {self.run_id}: {'SUCCESS' if self.success else 'FAILURE'}"]
        lines += [f"  materialized {key}" for key in self.materialized]
        lines += [f"  check {name}: {'passed' if ok else 'FAILED'} ({detail})" for name, ok, detail in self.checks]
        lines += [f"  failed: {message}" for message in self.failures]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines)


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME the run lands in the instance the UI shows; without it, nowhere (ephemeral).
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def parse_selection(selection: str | None, known: list[str]) -> list[dg.AssetKey] | None:
    """`a,b` as asset keys of the rollout, or one line naming the unknown ones and listing the known."""
    if selection is None:
        return None
    names = [name.strip() for name in selection.split(",")]
    if not all(names):
        raise PgOpsError(f"--select {selection!r} has an empty name; give asset names separated by commas, "
                         f"e.g. --select preflight,backup")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise PgOpsError(f"--select: no asset named {', '.join(unknown)} in the rollout; the assets are "
                         f"{', '.join(sorted(known))}")
    return [dg.AssetKey.from_user_string(name) for name in names]


def clear_dead_runs(instance: dg.DagsterInstance, database: str | None) -> list[str]:
    """Before a rollout: a run of this database whose process died is marked failed (its pool slot freed,
    said in one line); a run still alive is waited for by nobody, so refuse, naming it."""
    reaped, live = runs.reap(instance, database)
    for line in reaped:
        print(line)
    if live:
        run = live[0]
        raise PgOpsError(f"run {run.run_id[:8]} of {database} is in progress (worker {run.worker}, started "
                         f"{run.started}); wait for it to end, or stop it from the Dagster UI, then run again")
    return reaped


def materialize_all(defs: dg.Definitions, selection: str | None = None,
                    instance: dg.DagsterInstance | None = None) -> RunOutcome:
    """`defs`' rollout_job, in this process (the entry point passes the code location it assembled)."""
    job = defs.resolve_job_def("rollout_job")
    keys = parse_selection(selection, [key.to_user_string() for key in job.asset_layer.executable_asset_keys])
    run_instance = instance or _instance()
    clear_dead_runs(run_instance, job.tags.get(runs.DATABASE_TAG))
    result = job.execute_in_process(
        instance=run_instance,
        raise_on_error=False,
        asset_selection=keys,
        tags=runs.worker_tags(),
    )
    outcome = RunOutcome(success=result.success, run_id=result.run_id)
    events = result.get_asset_materialization_events()
    outcome.materialized = [e.asset_key.to_user_string() for e in events if e.asset_key is not None]
    for event in events:
        summary = event.materialization.metadata.get("summary")
        if summary is not None:  # validation's before/after table
            outcome.notes.append(str(summary.value))
    outcome.checks = [(f"{c.asset_key.to_user_string()}.{c.check_name}", c.passed, c.description or "")
                      for c in result.get_asset_check_evaluations()]
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_failure_data is not None:
            error = event.step_failure_data.error
            message = error.message.strip() if error else "unknown error"
            message = message.removeprefix("dagster._core.definitions.events.Failure: ")
            outcome.failures.append(f"{event.step_key}: {message}")
    return outcome
