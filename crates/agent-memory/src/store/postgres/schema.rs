//! Schema migrations: numbered, applied once, recorded in `<schema>.schema_migrations`.
//!
//! [`migrate`] runs in one transaction under a database-wide advisory lock, so several
//! processes opening stores at once (on the same schema or on different ones) never race
//! on `CREATE EXTENSION`, `CREATE SCHEMA` or a migration. A database whose schema is newer
//! than this build knows is refused rather than guessed at.

use tokio_postgres::Client;

/// The advisory lock key that serializes migrations (any fixed 64-bit number; this is
/// "agentmem" in ASCII).
pub(super) const MIGRATION_LOCK: i64 = 0x6167_656e_746d_656d;

/// One migration: its version (1, 2, …), what it does, and its SQL with `{schema}` standing
/// for the quoted schema name.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Never edit a published one: add a new version.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "items with keyword postings and an untyped vector column; the model registry",
        sql: r#"
CREATE TABLE {schema}.models (
    id serial PRIMARY KEY,
    model text NOT NULL UNIQUE,
    dimensions integer NOT NULL CHECK (dimensions > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.items (
    ns text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value json NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    expires_at double precision,
    ttl_seconds double precision,
    doc_len integer NOT NULL,
    terms text[] NOT NULL,
    tfs integer[] NOT NULL,
    embedding vector,
    embedding_model integer REFERENCES {schema}.models (id),
    PRIMARY KEY (ns, key),
    CHECK ((embedding IS NULL) = (embedding_model IS NULL)),
    CHECK (cardinality(terms) = cardinality(tfs))
);
CREATE INDEX items_recency ON {schema}.items (ns, updated_at DESC, key);
CREATE INDEX items_expiry ON {schema}.items (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX items_terms ON {schema}.items USING gin (terms);
"#,
    },
    Migration {
        version: 2,
        description: "keyword statistics (document count, token count, per-term document frequency) kept by triggers",
        sql: r#"
CREATE TABLE {schema}.keyword_totals (
    id integer PRIMARY KEY CHECK (id = 1),
    docs bigint NOT NULL,
    tokens bigint NOT NULL
);
CREATE TABLE {schema}.keyword_terms (
    term text COLLATE "C" PRIMARY KEY,
    docs bigint NOT NULL
);
LOCK TABLE {schema}.items IN SHARE MODE;
INSERT INTO {schema}.keyword_totals (id, docs, tokens)
    SELECT 1, count(*), coalesce(sum(doc_len), 0) FROM {schema}.items;
INSERT INTO {schema}.keyword_terms (term, docs)
    SELECT t.term, count(*) FROM {schema}.items, unnest(terms) AS t(term) GROUP BY t.term;
-- One statement-level trigger function for the three events (PL/pgSQL plans a statement
-- only when it runs, so each branch names only its event's transition tables). The totals
-- row is locked first, so concurrent writers queue there and never deadlock on term rows.
CREATE FUNCTION {schema}.keyword_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE {schema}.keyword_totals SET
            docs = docs + (SELECT count(*) FROM new_rows),
            tokens = tokens + (SELECT coalesce(sum(doc_len), 0) FROM new_rows)
        WHERE id = 1;
        INSERT INTO {schema}.keyword_terms AS k (term, docs)
            SELECT t.term, count(*) FROM new_rows, unnest(new_rows.terms) AS t(term) GROUP BY t.term ORDER BY t.term
        ON CONFLICT (term) DO UPDATE SET docs = k.docs + EXCLUDED.docs;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE {schema}.keyword_totals SET
            docs = docs - (SELECT count(*) FROM old_rows),
            tokens = tokens - (SELECT coalesce(sum(doc_len), 0) FROM old_rows)
        WHERE id = 1;
        UPDATE {schema}.keyword_terms AS k SET docs = k.docs - d.docs
            FROM (SELECT t.term, count(*) AS docs FROM old_rows, unnest(old_rows.terms) AS t(term)
                  GROUP BY t.term ORDER BY t.term) AS d
            WHERE k.term = d.term;
    ELSE
        UPDATE {schema}.keyword_totals SET
            tokens = tokens + (SELECT coalesce(sum(doc_len), 0) FROM new_rows)
                            - (SELECT coalesce(sum(doc_len), 0) FROM old_rows)
        WHERE id = 1;
        INSERT INTO {schema}.keyword_terms AS k (term, docs)
            SELECT term, sum(change) FROM (
                SELECT t.term, 1 AS change FROM new_rows, unnest(new_rows.terms) AS t(term)
                UNION ALL
                SELECT t.term, -1 FROM old_rows, unnest(old_rows.terms) AS t(term)
            ) AS changes GROUP BY term HAVING sum(change) <> 0 ORDER BY term
        ON CONFLICT (term) DO UPDATE SET docs = k.docs + EXCLUDED.docs;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_keyword_insert AFTER INSERT ON {schema}.items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.keyword_stats();
CREATE TRIGGER items_keyword_update AFTER UPDATE ON {schema}.items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.keyword_stats();
CREATE TRIGGER items_keyword_delete AFTER DELETE ON {schema}.items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.keyword_stats();
"#,
    },
    Migration {
        version: 3,
        description: "keyword postings (term, item, tf, doc_len) kept by the statistics triggers; no GIN index on terms",
        sql: r#"
-- One row per (term, item): a keyword search reads the query terms' postings in its scope
-- from this index alone (index-only scans), scores them with one aggregate and reads
-- items only for the page.
CREATE TABLE {schema}.keyword_postings (
    term text COLLATE "C" NOT NULL,
    ns text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    tf integer NOT NULL,
    doc_len integer NOT NULL,
    PRIMARY KEY (term, ns, key) INCLUDE (tf, doc_len)
);
LOCK TABLE {schema}.items IN SHARE MODE;
INSERT INTO {schema}.keyword_postings (term, ns, key, tf, doc_len)
    SELECT t.term, i.ns, i.key, t.tf, i.doc_len FROM {schema}.items AS i, unnest(i.terms, i.tfs) AS t(term, tf)
    ORDER BY 1, 2, 3;
-- Search no longer reads the GIN index; every write paid for it.
DROP INDEX IF EXISTS {schema}.items_terms;
-- The version 2 function plus the postings. Rows are matched across old_rows and new_rows
-- by address, which an UPDATE never changes; a TTL refresh (same terms) leaves the postings.
CREATE OR REPLACE FUNCTION {schema}.keyword_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE {schema}.keyword_totals SET
            docs = docs + (SELECT count(*) FROM new_rows),
            tokens = tokens + (SELECT coalesce(sum(doc_len), 0) FROM new_rows)
        WHERE id = 1;
        INSERT INTO {schema}.keyword_terms AS k (term, docs)
            SELECT t.term, count(*) FROM new_rows, unnest(new_rows.terms) AS t(term) GROUP BY t.term ORDER BY t.term
        ON CONFLICT (term) DO UPDATE SET docs = k.docs + EXCLUDED.docs;
        INSERT INTO {schema}.keyword_postings (term, ns, key, tf, doc_len)
            SELECT t.term, n.ns, n.key, t.tf, n.doc_len FROM new_rows AS n, unnest(n.terms, n.tfs) AS t(term, tf);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE {schema}.keyword_totals SET
            docs = docs - (SELECT count(*) FROM old_rows),
            tokens = tokens - (SELECT coalesce(sum(doc_len), 0) FROM old_rows)
        WHERE id = 1;
        UPDATE {schema}.keyword_terms AS k SET docs = k.docs - d.docs
            FROM (SELECT t.term, count(*) AS docs FROM old_rows, unnest(old_rows.terms) AS t(term)
                  GROUP BY t.term ORDER BY t.term) AS d
            WHERE k.term = d.term;
        DELETE FROM {schema}.keyword_postings AS p USING old_rows AS o, unnest(o.terms) AS t(term)
            WHERE p.term = t.term AND p.ns = o.ns AND p.key = o.key;
    ELSE
        UPDATE {schema}.keyword_totals SET
            tokens = tokens + (SELECT coalesce(sum(doc_len), 0) FROM new_rows)
                            - (SELECT coalesce(sum(doc_len), 0) FROM old_rows)
        WHERE id = 1;
        INSERT INTO {schema}.keyword_terms AS k (term, docs)
            SELECT term, sum(change) FROM (
                SELECT t.term, 1 AS change FROM new_rows, unnest(new_rows.terms) AS t(term)
                UNION ALL
                SELECT t.term, -1 FROM old_rows, unnest(old_rows.terms) AS t(term)
            ) AS changes GROUP BY term HAVING sum(change) <> 0 ORDER BY term
        ON CONFLICT (term) DO UPDATE SET docs = k.docs + EXCLUDED.docs;
        DELETE FROM {schema}.keyword_postings AS p
            USING old_rows AS o JOIN new_rows AS n ON n.ns = o.ns AND n.key = o.key, unnest(o.terms) AS t(term)
            WHERE (o.terms, o.tfs, o.doc_len) IS DISTINCT FROM (n.terms, n.tfs, n.doc_len)
                AND p.term = t.term AND p.ns = o.ns AND p.key = o.key;
        INSERT INTO {schema}.keyword_postings (term, ns, key, tf, doc_len)
            SELECT t.term, n.ns, n.key, t.tf, n.doc_len
            FROM old_rows AS o JOIN new_rows AS n ON n.ns = o.ns AND n.key = o.key, unnest(n.terms, n.tfs) AS t(term, tf)
            WHERE (o.terms, o.tfs, o.doc_len) IS DISTINCT FROM (n.terms, n.tfs, n.doc_len);
    END IF;
    RETURN NULL;
END
$$;
"#,
    },
    Migration {
        version: 4,
        description: "a commit-ordered change sequence and a log of changed addresses, for in-process keyword indexes",
        sql: r#"
-- The change sequence: bumped by every statement that changes items, in the statement's
-- trigger, together with the totals every writer already updates first and holds locked
-- until it commits. Writers therefore take sequence numbers in commit order, with no gaps,
-- and a snapshot that sees number n sees every change numbered up to n and none after.
ALTER TABLE {schema}.keyword_totals ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
-- Every address a statement inserted, updated or deleted, under the statement's number.
-- A reader whose index reflects number n reads the addresses changed after n, and then
-- those rows as they are now (absent: removed).
CREATE TABLE {schema}.item_changes (
    seq bigint NOT NULL,
    ns text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL
);
CREATE INDEX item_changes_seq ON {schema}.item_changes (seq);
-- Old entries are purged: the log is complete only after `seq`, and a reader behind it
-- reloads every row.
CREATE TABLE {schema}.item_changes_floor (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO {schema}.item_changes_floor (id, seq) VALUES (1, 0);
-- The version 3 function, which now also numbers the statement and logs its addresses. A
-- statement that changed no row (a TTL refresh of nothing, a delete of a missing key)
-- changes nothing here either, and no longer waits for the totals row.
CREATE OR REPLACE FUNCTION {schema}.keyword_stats() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_seq bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows) THEN
            RETURN NULL;
        END IF;
        UPDATE {schema}.keyword_totals SET
            docs = docs + (SELECT count(*) FROM new_rows),
            tokens = tokens + (SELECT coalesce(sum(doc_len), 0) FROM new_rows),
            change_seq = change_seq + 1
        WHERE id = 1 RETURNING change_seq INTO this_seq;
        INSERT INTO {schema}.keyword_terms AS k (term, docs)
            SELECT t.term, count(*) FROM new_rows, unnest(new_rows.terms) AS t(term) GROUP BY t.term ORDER BY t.term
        ON CONFLICT (term) DO UPDATE SET docs = k.docs + EXCLUDED.docs;
        INSERT INTO {schema}.keyword_postings (term, ns, key, tf, doc_len)
            SELECT t.term, n.ns, n.key, t.tf, n.doc_len FROM new_rows AS n, unnest(n.terms, n.tfs) AS t(term, tf);
        INSERT INTO {schema}.item_changes (seq, ns, key) SELECT this_seq, n.ns, n.key FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT FROM old_rows) THEN
            RETURN NULL;
        END IF;
        UPDATE {schema}.keyword_totals SET
            docs = docs - (SELECT count(*) FROM old_rows),
            tokens = tokens - (SELECT coalesce(sum(doc_len), 0) FROM old_rows),
            change_seq = change_seq + 1
        WHERE id = 1 RETURNING change_seq INTO this_seq;
        UPDATE {schema}.keyword_terms AS k SET docs = k.docs - d.docs
            FROM (SELECT t.term, count(*) AS docs FROM old_rows, unnest(old_rows.terms) AS t(term)
                  GROUP BY t.term ORDER BY t.term) AS d
            WHERE k.term = d.term;
        DELETE FROM {schema}.keyword_postings AS p USING old_rows AS o, unnest(o.terms) AS t(term)
            WHERE p.term = t.term AND p.ns = o.ns AND p.key = o.key;
        INSERT INTO {schema}.item_changes (seq, ns, key) SELECT this_seq, o.ns, o.key FROM old_rows AS o;
    ELSE
        IF NOT EXISTS (SELECT FROM new_rows) THEN
            RETURN NULL;
        END IF;
        UPDATE {schema}.keyword_totals SET
            tokens = tokens + (SELECT coalesce(sum(doc_len), 0) FROM new_rows)
                            - (SELECT coalesce(sum(doc_len), 0) FROM old_rows),
            change_seq = change_seq + 1
        WHERE id = 1 RETURNING change_seq INTO this_seq;
        INSERT INTO {schema}.keyword_terms AS k (term, docs)
            SELECT term, sum(change) FROM (
                SELECT t.term, 1 AS change FROM new_rows, unnest(new_rows.terms) AS t(term)
                UNION ALL
                SELECT t.term, -1 FROM old_rows, unnest(old_rows.terms) AS t(term)
            ) AS changes GROUP BY term HAVING sum(change) <> 0 ORDER BY term
        ON CONFLICT (term) DO UPDATE SET docs = k.docs + EXCLUDED.docs;
        DELETE FROM {schema}.keyword_postings AS p
            USING old_rows AS o JOIN new_rows AS n ON n.ns = o.ns AND n.key = o.key, unnest(o.terms) AS t(term)
            WHERE (o.terms, o.tfs, o.doc_len) IS DISTINCT FROM (n.terms, n.tfs, n.doc_len)
                AND p.term = t.term AND p.ns = o.ns AND p.key = o.key;
        INSERT INTO {schema}.keyword_postings (term, ns, key, tf, doc_len)
            SELECT t.term, n.ns, n.key, t.tf, n.doc_len
            FROM old_rows AS o JOIN new_rows AS n ON n.ns = o.ns AND n.key = o.key, unnest(n.terms, n.tfs) AS t(term, tf)
            WHERE (o.terms, o.tfs, o.doc_len) IS DISTINCT FROM (n.terms, n.tfs, n.doc_len);
        -- The old addresses too: an UPDATE that rewrites a key removes the old address.
        INSERT INTO {schema}.item_changes (seq, ns, key)
            SELECT this_seq, n.ns, n.key FROM new_rows AS n
            UNION
            SELECT this_seq, o.ns, o.key FROM old_rows AS o;
    END IF;
    RETURN NULL;
END
$$;
"#,
    },
    Migration {
        version: 5,
        description: "each item's own index spec (LangGraph's put(..., index=...)): NULL for the store's fields",
        sql: r#"
-- JSON text: `false` (not indexed) or an array of field paths; NULL: the store's fields.
-- Existing items keep NULL, which is what they were written with. Adding a nullable column
-- without a default rewrites nothing.
ALTER TABLE {schema}.items ADD COLUMN index_spec text;
"#,
    },
    Migration {
        version: 6,
        description: "item and token counts per tenant, kept by triggers, for keyword statistics counted per tenant",
        sql: r#"
-- The tenant of a namespace (`keyword::tenant_of` its first label): labels are joined by
-- U+001F, and a first label's tenant ends at its first `/`.
CREATE FUNCTION {schema}.item_tenant(ns text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $f$ SELECT split_part(split_part(ns, chr(31), 1), chr(47), 1) $f$;
-- What `keyword_totals` holds for the store, per tenant: under per-tenant statistics a
-- keyword search reads its tenant's row here instead of counting the tenant's items.
CREATE TABLE {schema}.keyword_tenant_totals (
    tenant text COLLATE "C" PRIMARY KEY,
    docs bigint NOT NULL,
    tokens bigint NOT NULL
);
LOCK TABLE {schema}.items IN SHARE MODE;
INSERT INTO {schema}.keyword_tenant_totals (tenant, docs, tokens)
    SELECT {schema}.item_tenant(ns), count(*), coalesce(sum(doc_len), 0) FROM {schema}.items GROUP BY 1;
-- Statement-level like `keyword_stats`, whose triggers fire first (trigger names in order),
-- so a writer has locked the totals row before any tenant row; tenant rows in order.
CREATE FUNCTION {schema}.keyword_tenant_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {schema}.keyword_tenant_totals AS t (tenant, docs, tokens)
            SELECT {schema}.item_tenant(n.ns), count(*), coalesce(sum(n.doc_len), 0) FROM new_rows AS n
            GROUP BY 1 ORDER BY 1
        ON CONFLICT (tenant) DO UPDATE SET docs = t.docs + EXCLUDED.docs, tokens = t.tokens + EXCLUDED.tokens;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE {schema}.keyword_tenant_totals AS t SET docs = t.docs - d.docs, tokens = t.tokens - d.tokens
            FROM (SELECT {schema}.item_tenant(o.ns) AS tenant, count(*) AS docs, coalesce(sum(o.doc_len), 0) AS tokens
                  FROM old_rows AS o GROUP BY 1 ORDER BY 1) AS d
            WHERE t.tenant = d.tenant;
    ELSE
        -- An update may move a row to another namespace: the old row leaves its tenant.
        INSERT INTO {schema}.keyword_tenant_totals AS t (tenant, docs, tokens)
            SELECT tenant, sum(docs), sum(tokens) FROM (
                SELECT {schema}.item_tenant(n.ns) AS tenant, 1 AS docs, n.doc_len::bigint AS tokens FROM new_rows AS n
                UNION ALL
                SELECT {schema}.item_tenant(o.ns), -1, -o.doc_len::bigint FROM old_rows AS o
            ) AS d GROUP BY tenant HAVING sum(docs) <> 0 OR sum(tokens) <> 0 ORDER BY tenant
        ON CONFLICT (tenant) DO UPDATE SET docs = t.docs + EXCLUDED.docs, tokens = t.tokens + EXCLUDED.tokens;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_tenant_insert AFTER INSERT ON {schema}.items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.keyword_tenant_stats();
CREATE TRIGGER items_tenant_update AFTER UPDATE ON {schema}.items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.keyword_tenant_stats();
CREATE TRIGGER items_tenant_delete AFTER DELETE ON {schema}.items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.keyword_tenant_stats();
"#,
    },
];

/// The newest schema version this build knows.
pub(super) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Why migrating failed.
#[derive(Debug)]
pub(super) enum MigrateError {
    /// The database said no.
    Database(tokio_postgres::Error),
    /// The schema was written by a newer build.
    TooNew { found: i32, known: i32 },
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(error: tokio_postgres::Error) -> MigrateError {
        MigrateError::Database(error)
    }
}

/// Creates the `vector` extension and `schema` (a quoted identifier) if needed and applies
/// the pending migrations; returns the schema version now in place.
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<i32, MigrateError> {
    migrate_to(client, schema, latest_version()).await
}

/// [`migrate`], applying only the migrations up to `target` (an older schema, to test
/// upgrades from it); returns the schema version now in place.
pub(super) async fn migrate_to(client: &mut Client, schema: &str, target: i32) -> Result<i32, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(&format!(
        "SET LOCAL client_min_messages = warning;
         CREATE EXTENSION IF NOT EXISTS vector;
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
             version integer PRIMARY KEY,
             description text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await?;
    let current: i32 =
        tx.query_one(&format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_migrations"), &[]).await?.get(0);
    if current > latest_version() {
        return Err(MigrateError::TooNew { found: current, known: latest_version() });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current && m.version <= target) {
        tx.batch_execute(&migration.sql.replace("{schema}", schema)).await?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_migrations (version, description) VALUES ($1, $2)"),
            &[&migration.version, &migration.description],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(current.max(target.min(latest_version())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i32::try_from(i + 1).expect("few migrations"));
            assert!(!migration.description.is_empty());
        }
        assert_eq!(latest_version(), 6);
    }

    /// `item_tenant` splits at the separators `keyword::tenant_of` and namespaces use.
    #[test]
    fn the_tenant_function_uses_the_store_separators() {
        let label = format!("chr({})", u32::from(crate::store::LABEL_SEPARATOR));
        let tenant = format!("chr({})", u32::from(crate::store::keyword::TENANT_SEPARATOR));
        let definition = format!("split_part(split_part(ns, {label}, 1), {tenant}, 1)");
        assert!(MIGRATIONS[5].sql.contains(&definition), "{definition}");
    }
}
