DROP SCHEMA IF EXISTS ann_kw CASCADE;
CREATE SCHEMA ann_kw;
-- items shaped like agent-memory's (keyword columns), N rows of 8 words w<k>, k log-uniform in 1..5000
CREATE TABLE ann_kw.items AS
SELECT 'bench' || chr(31) || 'items' AS ns, 'k' || g AS key, json_build_object('doc', g) AS value,
       1.0::float8 AS created_at, g::float8 AS updated_at, NULL::float8 AS expires_at, NULL::float8 AS ttl_seconds,
       8 AS doc_len,
       ARRAY(SELECT DISTINCT 'w' || floor(power(5000, random()))::int FROM generate_series(1, 8) WHERE g > 0) AS terms
FROM generate_series(1, :n) AS g;
ALTER TABLE ann_kw.items ADD COLUMN tfs integer[];
UPDATE ann_kw.items SET tfs = array_fill(1, ARRAY[cardinality(terms)]);
CREATE INDEX ON ann_kw.items USING gin (terms);
CREATE TABLE ann_kw.keyword_totals AS SELECT 1 AS id, count(*) AS docs, sum(doc_len)::bigint AS tokens FROM ann_kw.items;
CREATE TABLE ann_kw.keyword_terms AS SELECT t AS term, count(*) AS docs FROM ann_kw.items, unnest(terms) t GROUP BY t;
ALTER TABLE ann_kw.keyword_terms ADD PRIMARY KEY (term);
ANALYZE ann_kw.items; ANALYZE ann_kw.keyword_terms;
