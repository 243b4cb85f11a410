"""`pg-ops`: the command line. Every user mistake ends as one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import psycopg

from pg_ops.engine.db import lost_connection
from pg_ops.engine.errors import PgOpsError

EXIT_USAGE = 2
EXIT_FAILED = 1


class UsageError(PgOpsError):
    """A command line that does not parse; its message starts with the command it belongs to."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints the whole usage block; a mistake deserves one line.
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def positive_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"--scale must be greater than 0 (1.0 = 1,000,000 orders), got {text}")
    return value


def whole_number(flag: str, low: int, high: int, meaning: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from low to high, or one line naming the flag."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} must be from {low} to {high}{meaning}, got {value}")
        return value
    return parse


restore_jobs = whole_number("--jobs", 1, 64, " (pg_restore's parallel jobs)")
port_number = whole_number("--port", 1, 65535)


def new_database(text: str) -> str:
    if not text.strip() or len(text.encode()) > 63:
        raise argparse.ArgumentTypeError(f"--into must name a database in 1 to 63 bytes (PostgreSQL cuts longer "
                                         f"names), got {text!r}")
    return text


def _sandbox(args: argparse.Namespace) -> int:
    from pg_ops.local import pooler, sandbox

    if args.action == "up":
        info, notes = sandbox.up(port=args.port)
        for note in notes:
            print(note)
        print(info.dsn())
    elif args.action == "down":
        for note in pooler.down():
            print(note)
        for note in sandbox.down(purge=args.purge):
            print(note)
    elif args.action == "pooler-up":
        _, notes = pooler.up(sandbox.running_info().dsn())
        for note in notes:
            print(note)
    elif args.action == "pooler-down":
        for note in pooler.down():
            print(note)
    elif args.action == "status":
        print(sandbox.status())
    elif args.action == "dsn":
        print(sandbox.running_info().dsn(args.db))
    elif args.action == "env":
        info = sandbox.running_info()
        for name, value in sandbox_environment(info).items():
            print(f"export {name}={value}")
    return 0


def sandbox_environment(info: object) -> dict[str, str]:
    """Environment that points pg_ops and the Dagster instance at the sandbox."""
    from pg_ops.local import dagster_home, pooler, sandbox

    assert isinstance(info, sandbox.SandboxInfo)
    running_pooler = pooler.load()
    return {
        **(running_pooler.environment() if running_pooler else {}),
        "PG_OPS_DSN": info.dsn(),
        "DAGSTER_HOME": str(dagster_home.prepare()),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(info.port),
        "DAGSTER_PG_USER": sandbox.SUPERUSER,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": sandbox.DAGSTER_DB,
        "MONITORING_PASSWORD": sandbox.monitoring_password(),
    }


def _demo(args: argparse.Namespace) -> int:
    from pg_ops.local import demo, sandbox

    dsn = args.dsn or sandbox.running_info().dsn()
    report = demo.load(dsn, scale=args.scale, seed=args.seed, anchor=args.anchor, progress=print)
    print(report.summary())
    return 0


def _preflight(args: argparse.Namespace) -> int:
    from pg_ops.engine import preflight

    dsn = args.dsn or require_dsn()
    result = preflight.check_target(dsn)
    for check in result.checks:
        print(f"{check.status.upper():4}  {check.name}: {check.detail}")
    if result.failures:
        raise PgOpsError(result.failure_message())
    return 0


def require_dsn() -> str:
    dsn = os.environ.get("PG_OPS_DSN", "").strip()
    if not dsn:
        raise PgOpsError(
            "PG_OPS_DSN is not set; export PG_OPS_DSN=postgresql://user@host:port/dbname (password in "
            "PGPASSWORD or ~/.pgpass), or use the sandbox: pg-ops sandbox up"
        )
    return dsn


def _run(args: argparse.Namespace) -> int:
    from pg_ops.definitions import defs
    from pg_ops.defs import runner
    from pg_ops.engine.db import describe
    from pg_ops.engine.migrations import migrate, schema_requirements
    from pg_ops.local import sandbox

    if args.sandbox:
        os.environ.update(sandbox_environment(sandbox.running_info()))
    dsn = require_dsn()
    # Before a run exists: the wrong database, an unreachable one, or a changed file is one line here,
    # not a failed step in the run log.
    plan = migrate.plan(dsn, migrate.Settings.platform())
    if plan.missing:
        raise PgOpsError(schema_requirements.refusal(describe(dsn), plan.missing))
    outcome = runner.materialize_all(defs, selection=args.select)
    print(outcome.summary())
    return 0 if outcome.success else EXIT_FAILED


def _migrate(args: argparse.Namespace) -> int:
    from pg_ops.engine.db import describe
    from pg_ops.engine.migrations import migrate, schema_requirements

    dsn = require_dsn()
    settings = migrate.Settings.platform()
    if args.repair and args.down_to:
        raise PgOpsError("--repair and --down-to do different things; give one of them")
    if args.down_to is not None and args.step:
        raise PgOpsError("--step chooses files to apply; --down-to rolls back every step after the version: give one")
    if args.compare_matrix and args.down_to is None:
        raise PgOpsError("--compare-matrix goes with --down-to VERSION (it checks a rollback)")
    if args.repair:
        print(migrate.repair(dsn, settings, args.repair, dry_run=args.plan))
        return 0
    if args.down_to is not None:
        return _roll_back(dsn, args.down_to, args.plan, args.compare_matrix)
    if args.plan:
        plan = migrate.plan(dsn, settings, step=args.step)
        for f in plan.done:
            print(f"applied  {f.label}")
        for f in plan.pending:
            mode = "in a transaction" if f.transactional else "statement by statement"
            print(f"pending  {f.label}  ({f.step}, {mode})")
        for f in plan.unavailable:
            print(f"skipped  {f.label}  (the server does not offer the {f.when_available} extension)")
        print(f"{len(plan.pending)} pending, {len(plan.done)} applied")
        if plan.missing:
            raise PgOpsError(schema_requirements.refusal(describe(dsn), plan.missing))
        return 0
    report = migrate.apply(dsn, settings, step=args.step, log=print)
    print(f"applied {len(report.applied)}, already applied {len(report.skipped)}, in {report.seconds:.1f} s "
          f"({report.statements_ms / 1000:.1f} s in statements)")
    return 0


def _roll_back(dsn: str, to_version: str, plan_only: bool, compare_matrix: bool) -> int:
    from pg_ops.engine.migrations import migrate, rollback

    settings = migrate.Settings.platform()
    if plan_only:
        planned = rollback.plan(dsn, settings, to_version)
        for f in planned.steps:
            print(f"undo  {f.label}  ({planned.how[f.version]})")
        for note in planned.notes:
            print(f"note  {note}")
        print(f"{len(planned.steps)} to roll back to version {planned.to_version} (--plan: nothing changed)")
        return 0
    report = rollback.rollback(dsn, settings, to_version, log=print, compare_matrix=compare_matrix)
    print(f"rolled back {len(report.undone)} file(s) to version {report.to_version} in {report.seconds:.1f} s; "
          f"row-level security: {report.rls_matrix}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pg_ops.engine import restore
    from pg_ops.engine.paths import state_dir
    from pg_ops.local import sandbox

    if args.sandbox:
        os.environ.update(sandbox_environment(sandbox.running_info()))
    dsn = require_dsn()
    if args.rehearse:
        if args.backup or args.into:
            raise PgOpsError("--rehearse restores the newest backup into a scratch database; without --backup/--into")
        drill = restore.rehearse(dsn, Path(args.folder) if args.folder else state_dir() / "backups", jobs=args.jobs,
                                 log=print)
        outcome = drill.restored
        print(f"drill: {drill.backup.name} (taken {drill.taken_at}, pg_dump {drill.dump_seconds:.1f} s) restored "
              f"in {outcome.seconds:.1f} s ({drill.ratio:.2f}x pg_dump's time); scratch database dropped")
    else:
        if not (args.backup and args.into):
            raise PgOpsError("restore needs --backup FILE and --into NEW_DATABASE (or --rehearse)")
        archive = restore.read_archive(Path(args.backup))
        outcome = restore.restore_into(dsn, archive, args.into, jobs=args.jobs, log=print)
        print(f"restored {archive.path.name} into {outcome.database} in {outcome.seconds:.1f} s")
    for check in outcome.checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    if not outcome.passed:
        kept = "" if args.rehearse else f"; {outcome.database} is kept for inspection"
        print(f"restore checks failed: {outcome.failures()}{kept}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _ui(args: argparse.Namespace) -> int:
    from pg_ops.engine.paths import project_root
    from pg_ops.local import sandbox, ui

    env = dict(os.environ)
    if args.sandbox:
        env.update(sandbox_environment(sandbox.running_info()))
    workspace = project_root() / "workspace.yaml"
    if not workspace.is_file():
        raise PgOpsError(f"{workspace} not found; run pg-ops ui from a checkout of pg_ops (or set PG_OPS_ROOT)")
    print(f"Dagster UI on http://{args.host}:{args.port} (Ctrl-C stops it and everything it started)", flush=True)
    return ui.run(workspace, args.host, args.port, env)


def _snapshot(args: argparse.Namespace) -> int:
    from pg_ops.engine.monitoring import snapshot
    from pg_ops.local import sandbox

    if args.sandbox:
        os.environ.update(sandbox_environment(sandbox.running_info()))
    outcome = snapshot.once(snapshot.target_from_env(require_dsn(), os.environ.get("PUSHGATEWAY_URL", "").strip()))
    print(outcome.line())
    return 0 if outcome.ok else EXIT_FAILED


def _pooler(args: argparse.Namespace) -> int:
    from pg_ops.engine.db import Target
    from pg_ops.engine.pooler import app_traffic, config, maintenance, metrics
    from pg_ops.engine.pooler.deploy import Policy
    from pg_ops.engine.pooler.window import MaintenanceWindow
    from pg_ops.local import pooler, sandbox

    if args.sandbox:
        info = sandbox.running_info()
        pooler.running_info()
        os.environ.update(sandbox_environment(info))
    target = Target(dsn=require_dsn())
    live = maintenance.live_from_env()
    if args.action == "status":
        reading = metrics.read(live)
        print(reading.line())
        return 0 if reading.up else EXIT_FAILED
    server = maintenance.server_of(target)
    login = maintenance.login_from_env(server.database)
    if args.action == "traffic":
        traffic = app_traffic.send(target, live.host, live.port, login)
        print(traffic.line())
        return 0 if not traffic.failures else EXIT_FAILED
    start, _, end = args.window.partition("-")
    policy = Policy(window=MaintenanceWindow.parse(start, end), override_window=args.override_window or "",
                    allow_restart=args.allow_restart, force=args.force)
    run = maintenance.Maintenance(settings=config.settings_from_pairs(args.set or []), live=live,
                                  server_host=server.host, server_port=server.port, database=server.database,
                                  login=login, policy=policy,
                                  pushgateway_url=os.environ.get("PUSHGATEWAY_URL", "").strip())
    proven = maintenance.prove_candidate(target, run, log=print)
    done = maintenance.deploy_live(target, run, proven, log=print)
    for change in done.changes:
        print(f"  {change['key']}: {change['before']} -> {change['after']}")
    print(f"PgBouncer {done.pooler}: {done.outcome} in {done.seconds:.2f} s ({done.detail}); {done.smoke}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import datetime as dt

    from pg_ops.engine.db import Target
    from pg_ops.engine.reports import days
    from pg_ops.local import sandbox

    if args.sandbox:
        os.environ.update(sandbox_environment(sandbox.running_info()))
    first = days.parse_day(args.first, "--from")
    last = days.parse_day(args.last, "--to") if args.last else first
    wanted = days.day_range(first, last, dt.datetime.now(dt.UTC).date())
    outcomes = days.build_days(Target(dsn=require_dsn()), wanted, days.reports_folder(args.folder or ""), log=print)
    missing = [o for o in outcomes if o.missing]
    print(f"{len(outcomes) - len(missing)} report(s) built, {len(missing)} day(s) without snapshots")
    return EXIT_FAILED if len(missing) == len(outcomes) else 0


def schema_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"--schemas must name at least one schema, e.g. public,api; got {text!r}")
    return names


def _lint(args: argparse.Namespace) -> int:
    import json

    from pg_ops.engine.lint import linter
    from pg_ops.local import sandbox

    dsn = args.dsn or (sandbox.running_info().dsn() if args.sandbox else require_dsn())
    report = linter.run(dsn, exposed_schemas=args.schemas, with_evidence=not args.no_evidence)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return EXIT_FAILED if report.has_errors else 0


def _advise(args: argparse.Namespace) -> int:
    from pg_ops.engine.advisor import advise
    from pg_ops.local import sandbox

    dsn = args.dsn or (sandbox.running_info().dsn() if args.sandbox else require_dsn())
    settings = advise.Settings(margin=args.margin, min_gain_ms=args.min_gain_ms, write_limit=args.write_limit,
                               max_indexes=args.max_indexes,
                               executions=args.executions, write_window_s=args.write_window, plan_only=args.plan)
    advice = advise.run(dsn, settings, log=print)
    print("\n".join(advice.lines()))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pg_ops.local import bench

    result = bench.run(scale=args.scale, out=Path(args.out) if args.out else None)
    print(bench.table(result))
    print(f"\nwritten to {result['written_to']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pg-ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    box = commands.add_parser("sandbox", help="a throwaway PostgreSQL 15 on 127.0.0.1 under .pg_ops/")
    box.add_argument("action", choices=["up", "down", "status", "dsn", "env", "pooler-up", "pooler-down"])
    box.add_argument("--port", type=port_number, help="preferred port for up (another is chosen if taken)")
    box.add_argument("--purge", action="store_true", help="down: remove the data folder too")
    box.add_argument("--db", default="delivery", help="dsn: database name (default delivery)")
    box.set_defaults(handler=_sandbox)

    demo = commands.add_parser("demo", help="load the demo delivery platform in its slow 'before' state")
    demo.add_argument("action", choices=["load"])
    demo.add_argument("--scale", type=positive_scale, default=0.1, help="1.0 = 1,000,000 orders (default 0.1)")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--anchor", help="UTC day the 90-day history ends on, YYYY-MM-DD (default today)")
    demo.add_argument("--dsn", help="target database (default: the sandbox's delivery database)")
    demo.set_defaults(handler=_demo)

    check = commands.add_parser("preflight", help="check a database is ready for a rollout")
    check.add_argument("--dsn", help="default: PG_OPS_DSN")
    check.set_defaults(handler=_preflight)

    run = commands.add_parser("run", help="materialize the rollout's assets in-process against PG_OPS_DSN")
    run.add_argument("--sandbox", action="store_true", help="target the running sandbox")
    run.add_argument("--select", help="Dagster asset selection (default: every asset)")
    run.set_defaults(handler=_run)

    mig = commands.add_parser("migrate", help="apply sql/migrations and sql/functions to PG_OPS_DSN")
    mig.add_argument("--plan", action="store_true", help="show what is applied and what is pending; change nothing")
    mig.add_argument("--step", choices=["index_migrations", "rls_policies", "rpc_functions"])
    mig.add_argument("--repair", metavar="VERSION", help="accept an applied file's changed content (after review)")
    mig.add_argument("--down-to", metavar="VERSION", help="roll back: undo every applied file after VERSION, newest "
                     "first (the functions, then the versioned files' downs); 0 undoes the whole rollout")
    mig.add_argument("--compare-matrix", action="store_true", help="with --down-to: after a policy file's down, "
                     "also compare the allow/deny matrix with the one recorded before the rewrite (slow on big tables)")
    mig.set_defaults(handler=_migrate)

    rest = commands.add_parser("restore", help="restore a pg_ops backup into a new database on PG_OPS_DSN's server, "
                               "then check it (row counts, RLS matrix, indexes); or rehearse with the newest backup")
    rest.add_argument("--backup", metavar="FILE", help="a *.dump the backup asset wrote")
    rest.add_argument("--into", metavar="NEW_DATABASE", type=new_database,
                      help="a database that does not exist yet (or exists empty)")
    rest.add_argument("--rehearse", action="store_true", help="the drill: the newest backup of PG_OPS_DSN's database "
                      "into a scratch database, checked, timed, dropped")
    rest.add_argument("--folder", help="where the backups are (default: <state dir>/backups)")
    rest.add_argument("--jobs", type=restore_jobs, default=2, help="pg_restore parallel jobs (default 2)")
    rest.add_argument("--sandbox", action="store_true", help="target the running sandbox")
    rest.set_defaults(handler=_restore)

    dev = commands.add_parser("ui", help="the Dagster UI (dagster dev) on this machine; Ctrl-C stops every process "
                              "it started")
    dev.add_argument("--sandbox", action="store_true", help="against the running sandbox (make ui)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=port_number, default=3000)
    dev.set_defaults(handler=_ui)

    snap = commands.add_parser("snapshot", help="one monitoring snapshot now, as the monitoring_snapshot sensor "
                               "takes it: PG_OPS_DSN, MONITORING_PASSWORD, PUSHGATEWAY_URL (optional)")
    snap.add_argument("--sandbox", action="store_true", help="target the running sandbox")
    snap.set_defaults(handler=_snapshot)

    pool = commands.add_parser("pooler", help="PgBouncer in the maintenance window: deploy (render, prove on a "
                               "candidate, deploy, verify, roll back), status, traffic (the app's queries through it); "
                               "PG_OPS_DSN and PGBOUNCER_* (see the README)")
    pool.add_argument("action", choices=["deploy", "status", "traffic"])
    pool.add_argument("--sandbox", action="store_true", help="the sandbox and its PgBouncer (pg-ops sandbox pooler-up)")
    pool.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting, e.g. --set pool_mode=transaction")
    pool.add_argument("--window", default="02:00-04:00", help="maintenance window in UTC, HH:MM-HH:MM (default "
                      "02:00-04:00)")
    pool.add_argument("--override-window", metavar="REASON", help="deploy outside the window; the reason is logged and "
                      "kept in pgops.pooler_deployments")
    pool.add_argument("--allow-restart", action="store_true", help="restart PgBouncer (inside the window) when a "
                      "changed setting needs it")
    pool.add_argument("--force", action="store_true", help="replace a live file that was changed by hand")
    pool.set_defaults(handler=_pooler)

    report = commands.add_parser("report", help="daily performance reports of PG_OPS_DSN for a day or a range "
                                 "(what a Dagster backfill of daily_performance_report builds)")
    report.add_argument("--from", dest="first", required=True, metavar="DAY", help="first UTC day, YYYY-MM-DD")
    report.add_argument("--to", dest="last", metavar="DAY", help="last UTC day (default: --from)")
    report.add_argument("--folder", help="where the HTML and PNGs go (default PG_OPS_REPORTS_DIR or .pg_ops/reports)")
    report.add_argument("--sandbox", action="store_true", help="target the running sandbox")
    report.set_defaults(handler=_report)

    lint = commands.add_parser("lint", help="row-level security and schema lint of PG_OPS_DSN: slow policy patterns "
                               "with the plan that shows them, unsafe objects; exit 1 on an error-severity finding")
    lint.add_argument("--dsn", help="default: PG_OPS_DSN")
    lint.add_argument("--sandbox", action="store_true", help="target the running sandbox")
    lint.add_argument("--json", action="store_true", help="the findings as JSON")
    lint.add_argument("--schemas", type=schema_list,
                      help="schemas the API exposes (PostgREST's db-schemas), comma-separated (default "
                      "public,graphql_public)")
    lint.add_argument("--no-evidence", action="store_true", help="skip the plans (catalog and parse tree only)")
    lint.set_defaults(handler=_lint)

    adv = commands.add_parser("advise", help="index advice proven by measurement: candidates from the benchmark "
                              "suite weighed with HypoPG, the best built concurrently, kept only if measured faster")
    adv.add_argument("--dsn", help="default: PG_OPS_DSN")
    adv.add_argument("--sandbox", action="store_true", help="target the running sandbox")
    adv.add_argument("--plan", action="store_true", help="estimate only (HypoPG): build nothing")
    adv.add_argument("--margin", type=float, default=0.2, help="how much faster (p95) each query an index was "
                     "meant for must get to keep it (default 0.2)")
    adv.add_argument("--min-gain-ms", type=float, default=0.5, help="and by at least this many milliseconds "
                     "(default 0.5)")
    adv.add_argument("--write-limit", type=float, default=1.5, help="how much slower the app's writes to the "
                     "table may get (default 1.5x)")
    adv.add_argument("--max-indexes", type=int, default=3, help="at most this many found indexes built (default 3)")
    adv.add_argument("--executions", type=int, default=100, help="timed executions per query, before and after")
    adv.add_argument("--write-window", type=float, default=30.0, help="seconds the app's writes are watched "
                     "before and after each build (default 30)")
    adv.set_defaults(handler=_advise)

    bench = commands.add_parser("bench", help="measure the figures the README reports, on the sandbox")
    bench.add_argument("--scale", type=positive_scale, default=1.0, help="default 1.0 = 1,000,000 orders")
    bench.add_argument("--out", help="JSON file to write (default .pg_ops/bench/bench.json)")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)  # already names the command: "pg-ops demo: ..."
        return EXIT_USAGE
    except PgOpsError as exc:
        print(f"pg-ops: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except psycopg.OperationalError as exc:
        print(f"pg-ops: {lost_connection(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pg-ops: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
