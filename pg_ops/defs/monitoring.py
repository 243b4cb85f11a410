"""The monitoring side of the rollout: what the exporter, Prometheus and the snapshot sensor read."""

import os

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.monitoring import monitoring_schema, monitoring_stack
from pg_ops.engine.paths import monitoring_dir


@dg.asset(name="monitoring_schema", group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["validation"])
@one_line_failures
def install_monitoring_schema(context: dg.AssetExecutionContext, target: PostgresTarget) -> dg.MaterializeResult:
    """pg_stat_statements, the monitoring views, and a `monitoring` role that can read them and nothing else."""
    password = monitoring_schema.password_from_env()
    report = monitoring_schema.apply(target.db, password, log=context.log.info)
    monitoring_dsn = monitoring_schema.role_target(target.db, password)
    # read as the role, as the exporter will
    counts = {view: len(rows) for view, rows in monitoring_schema.read_views(monitoring_dsn).items()}
    return dg.MaterializeResult(metadata={
        "outcome": f"applied {len(report.applied)} file(s)" if report.applied else "no-op: views already current",
        "pg_stat_statements_schema": report.extension_schema,
        "role": f"{monitoring_schema.ROLE} ({report.role})",
        "views": dg.MetadataValue.table(
            records=[dg.TableRecord({"view": f"monitoring.{v}", "rows_now": n}) for v, n in counts.items()],
            schema=dg.TableSchema(columns=[dg.TableColumn("view", "string"), dg.TableColumn("rows_now", "int")])),
    })


class MonitoringStackConfig(dg.Config):
    # Empty: that service is not checked (say so in the metadata); set them to check a running monitoring_stack.
    prometheus_url: str = ""
    alertmanager_url: str = ""
    pushgateway_url: str = ""
    exporter_url: str = ""


@dg.asset(name="monitoring_stack", group_name=ROLLOUT_GROUP, kinds={"prometheus"}, owners=OWNERS,
          deps=[install_monitoring_schema])
@one_line_failures
def check_monitoring_stack(context: dg.AssetExecutionContext, target: PostgresTarget,
                           config: MonitoringStackConfig) -> dg.MaterializeResult:
    """The stack as configured: promtool and amtool on its files, every exporter query as the monitoring
    role, and, where URLs are given, Prometheus targets up and rules loaded, Alertmanager and the
    Pushgateway ready. Every check runs; the failure names each one that did not pass."""
    password = monitoring_schema.password_from_env()
    findings = monitoring_stack.check_stack(
        monitoring_dir(), monitoring_schema.role_target(target.db, password), config.prometheus_url,
        config.alertmanager_url, config.pushgateway_url or os.environ.get("PUSHGATEWAY_URL", ""), config.exporter_url)
    for finding in findings:
        (context.log.info if finding.ok else context.log.warning)(f"{finding.component}: {finding.detail}")
    failed = [f for f in findings if not f.ok]
    if failed:
        raise dg.Failure(description="monitoring stack: " + "; ".join(f"{f.component}: {f.detail}" for f in failed),
                         allow_retries=False)
    configured = {"prometheus": config.prometheus_url, "alertmanager": config.alertmanager_url,
                  "exporter": config.exporter_url}
    unchecked = [name for name, url in configured.items() if not url]
    return dg.MaterializeResult(metadata={
        "checks": dg.MetadataValue.table(
            records=[dg.TableRecord({"component": f.component, "ok": f.ok, "detail": f.detail}) for f in findings],
            schema=dg.TableSchema(columns=[dg.TableColumn("component", "string"), dg.TableColumn("ok", "bool"),
                                           dg.TableColumn("detail", "string")])),
        "not_checked": ", ".join(unchecked) or "none",
    })
