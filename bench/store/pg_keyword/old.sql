WITH stats AS MATERIALIZED (
     SELECT count(*)::float8 AS docs, coalesce(sum(doc_len), 0)::float8 AS tokens FROM ann_kw.items),
 df AS MATERIALIZED (SELECT q.term, q.ord,
            (SELECT count(*) FROM ann_kw.items AS d WHERE d.terms @> ARRAY[q.term]) AS hits
        FROM unnest(:'q'::text[]) WITH ORDINALITY AS q(term, ord)),
 idf AS (SELECT df.term, greatest(ln((stats.docs - df.hits + 0.5) / (df.hits + 0.5)), 1e-6) AS idf FROM df, stats WHERE df.hits > 0)
 SELECT i.ns, i.key, i.value, i.created_at, i.updated_at, i.expires_at, i.ttl_seconds, i.doc_len, i.terms, i.tfs, stats.docs, stats.tokens,
     (SELECT array_agg(df.hits ORDER BY df.ord) FROM df) AS hits,
     (SELECT sum(idf.idf * t.tf * 2.2 / (t.tf + 1.2 * (1 - 0.75 + 0.75 * i.doc_len / (stats.tokens / stats.docs))))
      FROM idf CROSS JOIN LATERAL (SELECT i.tfs[array_position(i.terms, idf.term)]::float8 AS tf) AS t WHERE t.tf IS NOT NULL) AS bm25
 FROM ann_kw.items AS i, stats
 WHERE i.terms && :'q'::text[] AND (i.expires_at IS NULL OR i.expires_at > 0)
 ORDER BY bm25 DESC, i.updated_at DESC, i.ns, i.key LIMIT 10;
