"""The monitoring side of the rollout: what the exporter, Prometheus and the snapshot sensor read."""

import dagster as dg

from pg_ops import monitoring_schema as engine
from pg_ops.dagster_errors import one_line_failures
from pg_ops.resources import PostgresTarget
from pg_ops.rollout_assets import OWNERS, ROLLOUT_GROUP


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["validation"])
@one_line_failures
def monitoring_schema(context: dg.AssetExecutionContext, target: PostgresTarget) -> dg.MaterializeResult:
    """pg_stat_statements, the monitoring views, and a `monitoring` role that can read them and nothing else."""
    password = engine.password_from_env()
    report = engine.apply(target.dsn, password, log=context.log.info)
    monitoring_dsn = engine.role_dsn(target.dsn, password)
    counts = {view: len(rows) for view, rows in engine.read_views(monitoring_dsn).items()}  # read as the role
    return dg.MaterializeResult(metadata={
        "outcome": f"applied {len(report.applied)} file(s)" if report.applied else "no-op: views already current",
        "pg_stat_statements_schema": report.extension_schema,
        "role": f"{engine.ROLE} ({report.role})",
        "views": dg.MetadataValue.table(
            records=[dg.TableRecord({"view": f"monitoring.{v}", "rows_now": n}) for v, n in counts.items()],
            schema=dg.TableSchema(columns=[dg.TableColumn("view", "string"), dg.TableColumn("rows_now", "int")])),
    })
