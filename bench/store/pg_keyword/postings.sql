-- The keyword search statement of the postings scheme (schema version 3), as
-- PostgresBackend::keyword_sql writes it for a page of :limit with the default depth
-- (limit + limit/2 + 16), scope ["users"] under the server's "local" tenant.
WITH stats AS MATERIALIZED (SELECT docs::float8 AS docs, tokens::float8 AS tokens FROM :schema.keyword_totals WHERE id = 1),
df AS MATERIALIZED (SELECT q.term, q.ord, coalesce(k.docs, 0) AS hits
    FROM unnest(':terms'::text[]) WITH ORDINALITY AS q(term, ord) LEFT JOIN :schema.keyword_terms AS k ON k.term = q.term),
weights AS MATERIALIZED (SELECT df.term, CASE WHEN w.idf > 0 THEN w.idf ELSE 1e-6::float8 END AS idf,
        stats.tokens / greatest(stats.docs, 1) AS average
    FROM df, stats, LATERAL (SELECT ln((stats.docs - df.hits + 0.5) / (df.hits + 0.5)) AS idf) AS w WHERE df.hits > 0 ORDER BY df.ord),
ranked AS MATERIALIZED (
    SELECT scored.ns, scored.key, round(scored.bm25 * 1000000000.0::float8) AS rank
    FROM (SELECT p.ns, p.key, sum(weights.idf * (p.tf::float8 * 2.2::float8)
              / (p.tf::float8 + 1.2::float8 * (0.25::float8 + 0.75::float8 * p.doc_len::float8 / weights.average))) AS bm25
          FROM weights CROSS JOIN LATERAL (SELECT p.ns, p.key, p.tf, p.doc_len FROM :schema.keyword_postings AS p
              WHERE p.term = weights.term AND p.ns >= E'local\x1fusers' AND p.ns < E'local\x1fusers ') AS p
          GROUP BY p.ns, p.key) AS scored
    ORDER BY rank DESC FETCH FIRST ((:limit * 3 / 2 + 16)::bigint) ROWS WITH TIES)
SELECT i.ns, i.key, i.value, i.created_at, i.updated_at, i.expires_at, i.ttl_seconds, i.doc_len, i.terms, i.tfs,
    stats.docs, stats.tokens, (SELECT array_agg(df.hits ORDER BY df.ord) FROM df) AS hits, (SELECT count(*) FROM ranked)
FROM ranked AS r JOIN :schema.items AS i ON i.ns = r.ns AND i.key = r.key CROSS JOIN stats
WHERE (i.expires_at IS NULL OR i.expires_at > extract(epoch FROM now()))
ORDER BY r.rank DESC, i.updated_at DESC, i.ns, i.key LIMIT (:limit * 3 / 2 + 16);
