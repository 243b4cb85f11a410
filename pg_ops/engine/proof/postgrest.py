"""A function called exactly as PostgREST calls it for supabase-js's `rpc()`: one transaction per request
(READ ONLY for GET and for functions that are not VOLATILE), the request's settings through set_config, and
the arguments as a JSON body read by json_to_record into named arguments. PostgREST itself has no Debian
package; this reproduces its SQL (PostgREST 12, src/PostgREST/Query/QueryBuilder.hs) so tests and the
benchmark see what the app's requests run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import Connection, sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.errors import PgOpsError

Method = Literal["GET", "POST"]


@dataclass(frozen=True)
class Signature:
    schema: str
    name: str
    returns_rows: bool
    volatile: bool
    arguments: dict[str, str]  # name -> type, in order
    required: int  # arguments without a default


def signature(conn: Connection[Any], schema: str, name: str, keys: set[str]) -> Signature:
    """The overload PostgREST picks: the one whose argument names cover the request's keys and whose arguments
    without a default the request gives. A renamed parameter finds none, as PostgREST answers 404."""
    rows = conn.execute(sqlfiles.read("pgops/rpc_signature.sql"), {"schema": schema, "name": name}).fetchall()
    for row in rows:
        names, types = list(row["argument_names"]), list(row["argument_types"])
        required = len(types) - row["defaults"]
        if keys <= set(names) and set(names[:required]) <= keys:
            return Signature(schema, name, row["returns_rows"], row["volatility"] == "v",
                             dict(zip(names, types, strict=True)), required)
    raise PgOpsError(f"PostgREST would answer 404: no function {schema}.{name} takes the arguments "
                     f"{', '.join(sorted(keys)) or '(none)'}")


def request_settings(role: str, claims: dict[str, Any] | None, method: Method, path: str) -> tuple[sql.SQL,
                                                                                                       tuple[str, ...]]:
    """The select PostgREST runs first in every request's transaction."""
    query = sql.SQL("select set_config('search_path', '\"public\", \"extensions\"', true), "
                    "set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
                    "set_config('request.method', %s, true), set_config('request.path', %s, true)")
    return query, (role, json.dumps(claims or {"role": role}), method, path)


def call_statement(sig: Signature, keys: list[str]) -> sql.Composed:
    """The statement of /rpc/<name>: the JSON body ($1, one parameter) read by json_to_record into named
    arguments. A function returning rows is the lateral source itself; a scalar one is wrapped as
    `(select fn(...) pgrst_scalar)`. The body is the JSON the client receives."""
    columns = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
    # the types are format_type's text from the catalog, never the request's
    record = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(sig.arguments[k]))
                                for k in keys)
    named = sql.SQL(", ").join(sql.SQL("{} := pgrst_body.{}").format(sql.Identifier(k), sql.Identifier(k))
                               for k in keys)
    function = sql.Identifier(sig.schema, sig.name)
    body = sql.SQL("lateral (select {columns} from json_to_record(pgrst_payload.json_data) as _({record}) limit 1) "
                   "pgrst_body, ").format(columns=columns, record=record) if keys else sql.SQL("")
    if sig.returns_rows:
        call = sql.SQL("lateral {function}({named}) pgrst_call").format(function=function, named=named)
        source, result = sql.SQL("pgrst_call.*"), sql.SQL("coalesce(json_agg(_postgrest_t), '[]')::text")
    else:
        call = sql.SQL("lateral (select {function}({named}) pgrst_scalar) pgrst_call").format(function=function,
                                                                                               named=named)
        source = sql.SQL("pgrst_call.pgrst_scalar")
        result = sql.SQL("coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')")
    return sql.SQL("with pgrst_source as (select {source} from (select %s::json as json_data) pgrst_payload, "
                   "{body}{call}) select {result} as body from (select * from pgrst_source) _postgrest_t"
                   ).format(source=source, body=body, call=call, result=result)


def call(conn: Connection[Any], function: str, args: dict[str, Any], *, role: str,
         claims: dict[str, Any] | None = None, method: Method = "POST") -> Any:
    """One request to /rpc/<function> ("schema.name" or "name" in public) on a connection that is not in a
    transaction; the response body, parsed. GET sends every argument as text (the query string), POST as JSON.
    The transaction is rolled back afterwards: tests and benchmarks leave nothing behind."""
    schema, _, name = function.rpartition(".")
    sig = signature(conn, schema or "public", name, set(args))
    keys = [k for k in sig.arguments if k in args]
    payload = json.dumps({k: (str(args[k]) if method == "GET" else args[k]) for k in keys}, default=str)
    read_only = method == "GET" or not sig.volatile
    conn.execute(sql.SQL("begin isolation level read committed{}").format(
        sql.SQL(" read only") if read_only else sql.SQL("")))
    try:
        settings, values = request_settings(role, claims, method, f"/rpc/{name}")
        conn.execute(settings, values)
        row = conn.execute(call_statement(sig, keys), (payload,)).fetchone()
        assert row is not None  # an aggregate always returns a row
        return json.loads(row["body"] if isinstance(row, dict) else row[0])
    finally:
        conn.execute("rollback")
