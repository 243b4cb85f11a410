-- The tsquery a search box's text asks for: every word must appear. The last word, which the user may
-- still be typing, matches as a whole word when some available product has that word, and otherwise as
-- the start of a word ('red chee' finds 'red cheese'; 'with' does not also look for 'without').
-- Empty when the text has no word. 'simple' configuration, like the documents (013).
-- Called by search_products, with its (the owner's) rights: it reads the private search documents.
-- The file name sorts before search_products.sql, so this exists before the function that calls it.
-- pg_ops: step=rpc_functions

create or replace function private.search_query(p_text text) returns tsquery
language plpgsql stable
set search_path = ''
set plan_cache_mode = force_custom_plan  -- the probe's best plan depends on the word: an index for a rare one
as $$
declare
  q tsquery := pg_catalog.plainto_tsquery('simple'::regconfig, coalesce(p_text, ''));
  last_word tsquery;
begin
  if pg_catalog.numnode(q) = 0 then
    return q;
  end if;
  -- plainto_tsquery joins the words with ' & ', and a 'simple' lexeme never holds a space
  last_word := pg_catalog.regexp_replace(q::text, '^.* & ', '')::tsquery;
  if exists (select 1 from private.product_search s
             where s.available and s.document operator(pg_catalog.@@) last_word) then
    return q;
  end if;
  return pg_catalog.regexp_replace(q::text, '''$', ''':*')::tsquery;
end
$$;

revoke all on function private.search_query(text) from public;
