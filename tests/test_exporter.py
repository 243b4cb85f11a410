"""monitoring/postgres_exporter/queries.yaml with the real exporter, logged in as the monitoring role."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pg_ops.engine.db import as_uri
from pg_ops.engine.monitoring import monitoring_schema
from pg_ops.engine.paths import monitoring_dir
from tests import servers

QUERIES = monitoring_dir() / "postgres_exporter" / "queries.yaml"
PASSWORD = "Exporter-pw-9091"


def families(path: Path) -> set[str]:
    """Every metric family a queries file declares: <key>_<column> for each column that is not a label."""
    declared = yaml.safe_load(path.read_text())
    return {f"{key}_{column}" for key, spec in declared.items() for metric in spec["metrics"]
            for column, info in metric.items() if info["usage"] != "LABEL"}


def scrape(url: str) -> dict[str, list[tuple[str, float]]]:
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    samples: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$", line)
        if match:
            samples.setdefault(match.group(1), []).append((match.group(2) or "", float(match.group(3))))
    return samples


@pytest.fixture(scope="module")
def monitoring_dsn(demo_db: str) -> Iterator[str]:
    monitoring_schema.apply(demo_db, PASSWORD)
    yield monitoring_schema.role_dsn(demo_db, PASSWORD)


def test_every_family_appears_with_plausible_values(monitoring_dsn: str, demo_db: str) -> None:
    expected = families(QUERIES)
    assert len(expected) >= 40 and all(name.startswith("pg_ops_") for name in expected)
    with servers.postgres_exporter(as_uri(monitoring_dsn), QUERIES) as url, \
            servers.lock_queue(demo_db, waiters=2) as blocker:  # lock waits exist only while someone waits
        scrape(url)  # the first scrape fills pg_stat_statements with the exporter's own queries
        samples = scrape(url)
    assert samples["pg_up"] == [("", 1.0)]
    assert samples["pg_exporter_last_scrape_error"] == [("", 0.0)]
    assert [v for _, v in samples["pg_exporter_user_queries_load_error"]] == [0.0]
    assert expected <= set(samples), sorted(expected - set(samples))
    assert samples["pg_ops_connections_total"][0][1] >= 1
    assert samples["pg_ops_database_total_bytes"][0][1] > 1_000_000
    assert 0 < samples["pg_ops_cache_hit_ratio"][0][1] <= 100
    assert samples["pg_ops_statements_max_entries"][0][1] == 10000
    assert 1 <= len(samples["pg_ops_query_calls"]) <= 20  # bounded: the top 20 statements by queryid
    label_names = {name for labels, _ in samples["pg_ops_query_calls"] for name in re.findall(r'(\w+)="', labels)}
    assert label_names == {"queryid", "username", "server"}  # never the statement text
    tables = {re.search(r'table_name="([^"]+)"', labels).group(1) for labels, _ in samples["pg_ops_table_live_tuples"]}  # type: ignore[union-attr]
    assert {"orders", "order_items", "products"} <= tables
    assert samples["pg_ops_indexes_health_unindexed_foreign_keys"][0][1] >= 1  # the demo's before state
    [(queue, waiting)] = samples["pg_ops_lock_wait_waiting"]
    assert waiting == 2 and f'blocker_pid="{blocker}"' in queue and 'blocker_state="idle in transaction"' in queue
    assert 'blocker_application="test lock holder"' in queue


def test_debians_example_fails_on_postgresql_15_where_ours_does_not(monitoring_dsn: str) -> None:
    """The contrast proves the check above can fail: the packaged example still uses pre-13 columns."""
    example = Path("/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml")
    with servers.postgres_exporter(as_uri(monitoring_dsn), example) as url:
        assert scrape(url)["pg_exporter_last_scrape_error"] == [("", 1.0)]
