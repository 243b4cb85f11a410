"""Materializing the rollout in-process, for the command line and `make demo`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg


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


def materialize_all(selection: str | None = None, instance: dg.DagsterInstance | None = None) -> RunOutcome:
    from pg_ops.definitions import defs

    job = defs.resolve_job_def("rollout_job")
    run_instance = instance or _instance()
    result = job.execute_in_process(
        instance=run_instance,
        raise_on_error=False,
        asset_selection=[dg.AssetKey.from_user_string(k) for k in selection.split(",")] if selection else None,
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
            outcome.failures.append(f"{event.step_key}: {message}")
    return outcome
