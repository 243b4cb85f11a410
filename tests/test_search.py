"""Catalog search after the rollout: documents kept beside products, ranked from the index, proven against
plain SQL; and what a search box's text matches."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from pg_ops.engine.db import connect, connection
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import search_ranking, suite
from tests.conftest import as_user

DOCUMENTS_EQUAL_PRODUCTS = """
select count(*) as wrong from public.products p
full join private.product_search s on s.product_id = p.id
where p.id is null or s.product_id is null or s.available <> p.is_available
   or s.document <> private.product_document(p.name, p.description)"""


@pytest.fixture(scope="module")
def rolled_out(demo_db: str) -> str:
    migrate.apply(demo_db, migrate.Settings.platform())
    return demo_db


def _search(dsn: str, text: str, role: str = "anon") -> list[dict[str, Any]]:
    with as_user(dsn, role, None) as conn:
        return conn.execute("select id, name, rank from public.search_products(%s)", (text,)).fetchall()


def test_select_star_on_products_returns_what_it_did_before(rolled_out: str) -> None:
    with connection(rolled_out) as conn:
        columns = [r["attname"] for r in conn.execute(
            "select attname from pg_attribute where attrelid = 'public.products'::regclass and attnum > 0 "
            "and not attisdropped order by attnum")]
    assert columns == ["id", "restaurant_id", "name", "description", "category", "price", "is_available",
                       "created_at"]


def test_documents_follow_every_product_write(rolled_out: str) -> None:
    with connection(rolled_out) as conn:
        row = conn.execute("select id, restaurant_id from public.products limit 1").fetchone()
        assert row is not None
        new_id = uuid.uuid4()
        conn.execute("insert into public.products (id, restaurant_id, name, description, category, price) "
                     "values (%s, %s, 'zzquokka pie', 'with quince', 'pie', 9)", (new_id, row["restaurant_id"]))
        assert [r["id"] for r in _search(rolled_out, "zzquokka")] == [new_id]
        conn.execute("update public.products set name = 'zzwombat pie' where id = %s", (new_id,))
        assert _search(rolled_out, "zzquokka") == [] and len(_search(rolled_out, "zzwombat")) == 1
        conn.execute("update public.products set is_available = false where id = %s", (new_id,))
        assert _search(rolled_out, "zzwombat") == []
        conn.execute("update public.products set is_available = true where id = %s", (new_id,))
        assert len(_search(rolled_out, "zzwombat")) == 1
        conn.execute("delete from public.products where id = %s", (new_id,))
        assert _search(rolled_out, "zzwombat") == []
        assert conn.execute(DOCUMENTS_EQUAL_PRODUCTS).fetchone() == {"wrong": 0}


def test_the_last_word_is_a_prefix_only_while_no_product_has_it_whole(rolled_out: str) -> None:
    with connection(rolled_out) as conn:
        word = conn.execute("select word from ts_stat('select document from private.product_search "
                            "where available') where length(word) >= 6 and word ~ '^[a-z]+$' "
                            "order by ndoc desc limit 1").fetchone()
        assert word is not None
        full = word["word"]
        row = conn.execute("select id, restaurant_id from public.products limit 1").fetchone()
        assert row is not None
        longer = uuid.uuid4()
        conn.execute("insert into public.products (id, restaurant_id, name, category, price) "
                     "values (%s, %s, %s, 'x', 1)", (longer, row["restaurant_id"], full + "zz"))
        try:
            typed = {r["id"] for r in _search(rolled_out, full[:4])}
            whole = {r["id"] for r in _search(rolled_out, full)}
            assert whole and longer not in whole  # a whole word does not also find longer words
            with connection(rolled_out) as c2:
                prefixed = {r["id"] for r in c2.execute(
                    "select s.product_id as id from private.product_search s where s.available "
                    "and s.document @@ to_tsquery('simple', %s)", (full[:4] + ":*",))}
            assert typed <= prefixed and len(typed) == min(20, len(prefixed))
            assert _search(rolled_out, "") == [] and _search(rolled_out, " !? ") == []
        finally:
            conn.execute("delete from public.products where id = %s", (longer,))


def test_anon_and_authenticated_may_search_but_not_read_the_documents(rolled_out: str) -> None:
    assert _search(rolled_out, "with", "anon") and _search(rolled_out, "with", "authenticated")
    with as_user(rolled_out, "anon", None) as conn, pytest.raises(Exception, match="permission denied"):
        conn.execute("select * from private.product_search limit 1")


def test_the_top_results_equal_the_plain_sql_ranking_with_rum_and_without(rolled_out: str) -> None:
    with connection(rolled_out) as conn:
        assert conn.execute("select private.search_ranked_by_rum() as rum").fetchone() == {"rum": True}
    with_rum = search_ranking.verify(rolled_out, suite.load(), per_class=2)
    assert with_rum.passed, with_rum.description
    assert {r["class"] for r in with_rum.rows} >= {"search_word_top", "search_word_common", "search_prefix",
                                                  "search_two_words", "product_search"}
    # without the RUM index (rum missing, or its build failed) the function ranks with GIN and ts_rank
    with connection(rolled_out) as conn:
        definition = conn.execute("select pg_get_indexdef('private.product_search_rank_idx'::regclass) as d"
                                  ).fetchone()
        assert definition is not None
        conn.execute("drop index private.product_search_rank_idx")
        try:
            assert conn.execute("select private.search_ranked_by_rum() as rum").fetchone() == {"rum": False}
            without = search_ranking.verify(rolled_out, suite.load(), per_class=2)
            assert without.passed, without.description
            assert _search(rolled_out, "with")
        finally:
            conn.execute(definition["d"])


def test_the_proof_fails_when_the_function_returns_something_else() -> None:
    every = [{"id": i, "rank": 1.0 - i / 100} for i in range(30)]
    assert search_ranking.differences(every[:20], every, "rum") == []
    assert search_ranking.differences(every[1:21], every, "rum")  # the best match is missing
    assert search_ranking.differences([{"id": 99, "rank": every[0]["rank"]}, *every[1:20]], every, "rum")
    assert search_ranking.differences(every[:20], every, "gin") == []
    assert search_ranking.differences([every[1], every[0], *every[2:20]], every, "gin")


def test_backfill_under_product_writes_leaves_every_document_right(demo_db: str, pg: Any) -> None:
    """The backfill (014's procedure, in small batches) while the app edits and deletes products: every
    document ends equal to its product. The documents are emptied first, as before the rollout."""
    with connection(demo_db) as conn:
        conn.execute("truncate private.product_search")
    stop, errors, done = threading.Event(), [], [0]

    def edits() -> None:
        with connect(demo_db, application_name="test catalog editor") as conn:
            while not stop.is_set():
                try:
                    conn.execute("update public.products set name = name || ' x', is_available = not is_available "
                                 "where id = (select id from public.products order by random() limit 1)")
                    conn.execute("delete from public.products where id = (select id from public.products "
                                 "where id not in (select product_id from public.order_items) limit 1)")
                    done[0] += 1
                except Exception as exc:  # noqa: BLE001 - any failure of the application is the finding
                    errors.append(str(exc))

    writers = [threading.Thread(target=edits) for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        while done[0] < 10 and not errors:
            time.sleep(0.01)
        with connect(demo_db, autocommit=True) as conn:
            conn.execute("call private.product_search_backfill(5)")  # many small batches, edits between them
        started = done[0]
        while done[0] < started + 10 and not errors:
            time.sleep(0.01)
    finally:
        stop.set()
        for writer in writers:
            writer.join(30)
    assert errors == []
    with connection(demo_db) as conn:
        assert conn.execute(DOCUMENTS_EQUAL_PRODUCTS).fetchone() == {"wrong": 0}
