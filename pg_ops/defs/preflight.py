"""preflight: is the target fit for a rollout? The first asset of the graph."""

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.preflight import check_target


class PreflightConfig(dg.Config):
    long_transaction_seconds: int = 300


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS)
@one_line_failures
def preflight(
    context: dg.AssetExecutionContext, target: PostgresTarget, config: PreflightConfig
) -> dg.MaterializeResult:
    """The target is fit for a rollout: version, pg_stat_statements, privileges, no long transactions, disk."""
    result = check_target(target.db, long_transaction_s=config.long_transaction_seconds)
    for check in result.checks:
        log = context.log.warning if check.status != "pass" else context.log.info
        log(f"{check.status.upper()} {check.name}: {check.detail}")
    if result.failures:
        raise dg.Failure(description=result.failure_message(), allow_retries=False)
    return dg.MaterializeResult(
        metadata={
            "target": dg.MetadataValue.text(result.target),
            "server_version": dg.MetadataValue.text(result.server_version),
            "database_size_bytes": dg.MetadataValue.int(result.database_size_bytes),
            "database_size": dg.MetadataValue.text(f"{result.database_size_bytes / 2**20:,.0f} MiB"),
            "checks": dg.MetadataValue.table(
                records=[dg.TableRecord({"check": c.name, "status": c.status, "detail": c.detail})
                         for c in result.checks],
                schema=dg.TableSchema(columns=[dg.TableColumn("check", "string"),
                                               dg.TableColumn("status", "string"),
                                               dg.TableColumn("detail", "string")]),
            ),
            "settings": dg.MetadataValue.table(
                records=[dg.TableRecord({k: str(v) if v is not None else "" for k, v in row.items()})
                         for row in result.settings],
                schema=dg.TableSchema(columns=[dg.TableColumn(name, "string")
                                               for name in ("name", "setting", "unit", "source")]),
            ),
        }
    )
