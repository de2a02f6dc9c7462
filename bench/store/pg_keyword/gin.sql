-- The keyword search statement of schema version 2 (GIN index on items.terms, BM25 per
-- matching row with array_position subqueries), as the session-3 backend wrote it.
WITH stats AS MATERIALIZED (SELECT docs::float8 AS docs, tokens::float8 AS tokens FROM :schema.keyword_totals WHERE id = 1),
df AS MATERIALIZED (SELECT q.term, q.ord, coalesce((SELECT k.docs FROM :schema.keyword_terms AS k WHERE k.term = q.term), 0) AS hits
    FROM unnest(':terms'::text[]) WITH ORDINALITY AS q(term, ord)),
idf AS (SELECT df.term, greatest(ln((stats.docs - df.hits + 0.5) / (df.hits + 0.5)), 1e-6) AS idf FROM df, stats WHERE df.hits > 0)
SELECT i.ns, i.key, i.value, i.created_at, i.updated_at, i.expires_at, i.ttl_seconds, i.doc_len, i.terms, i.tfs, stats.docs, stats.tokens,
    (SELECT array_agg(df.hits ORDER BY df.ord) FROM df) AS hits,
    (SELECT sum(idf.idf * t.tf * 2.2 / (t.tf + 1.2 * (1 - 0.75 + 0.75 * i.doc_len / (stats.tokens / stats.docs))))
     FROM idf CROSS JOIN LATERAL (SELECT i.tfs[array_position(i.terms, idf.term)]::float8 AS tf) AS t WHERE t.tf IS NOT NULL) AS bm25
FROM :schema.items AS i, stats
WHERE i.terms && ':terms'::text[] AND (i.expires_at IS NULL OR i.expires_at > extract(epoch FROM now()))
    AND i.ns >= E'local\x1fusers' AND i.ns < E'local\x1fusers '
ORDER BY bm25 DESC, i.updated_at DESC, i.ns, i.key LIMIT :limit;
