//! The in-process keyword index as the backends hold it: one [`KeywordIndex`] per corpus,
//! the documents whose BM25 statistics a score counts ([`KeywordStatistics`]).
//!
//! Under [`KeywordStatistics::Store`] there is one corpus, every document. Under
//! [`KeywordStatistics::Tenant`] each tenant ([`keyword::tenant_of`] the first label) has
//! its own index, so its counts, lengths and document frequencies are its own, and a search
//! within one tenant (every search the service makes) walks only that tenant's posting lists.
//! A search whose scope spans tenants (the root prefix) asks each and merges the pages in
//! the order every keyword ranking uses (score, then recency, then address).
//!
//! **Invariant:** every document lies in the corpus of its namespace's tenant, and in no
//! other; a row written again under another tenant's namespace moves.

use std::cmp::Ordering;

use rustc_hash::FxHashMap;

use super::backend::Scope;
use super::keyword::{self, KeywordStatistics};
use super::keyword_index::{KeywordHit, KeywordIndex};
use super::namespace::LABEL_SEPARATOR;
use super::vector_index::RowMeta;

/// The keyword index of a backend. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct KeywordCorpora {
    statistics: KeywordStatistics,
    /// The corpora by number.
    corpora: Vec<KeywordIndex>,
    /// Tenant (`""` under [`KeywordStatistics::Store`]) → its number in `corpora`.
    numbers: FxHashMap<Box<str>, u32>,
    /// Row id → the number of the corpus that holds it (kept only with several corpora
    /// possible, [`KeywordStatistics::Tenant`]).
    corpus_of_row: FxHashMap<i64, u32>,
}

impl KeywordCorpora {
    /// An empty index whose scores count `statistics`' documents.
    pub(super) fn new(statistics: KeywordStatistics) -> KeywordCorpora {
        KeywordCorpora { statistics, ..KeywordCorpora::default() }
    }

    /// Whose documents each score counts.
    pub(super) fn statistics(&self) -> KeywordStatistics {
        self.statistics
    }

    /// Documents held.
    pub(super) fn len(&self) -> usize {
        self.corpora.iter().map(KeywordIndex::len).sum()
    }

    /// The corpus a document of (encoded) `namespace` belongs to.
    fn corpus_name<'n>(&self, namespace: &'n str) -> &'n str {
        match self.statistics {
            KeywordStatistics::Store => "",
            KeywordStatistics::Tenant => tenant_of_namespace(namespace),
        }
    }

    /// The number of the corpus named `name`, made when new.
    fn corpus_number(&mut self, name: &str) -> u32 {
        if let Some(&number) = self.numbers.get(name) {
            return number;
        }
        let number = u32::try_from(self.corpora.len()).expect("fewer than 2^32 tenants");
        self.corpora.push(KeywordIndex::new());
        self.numbers.insert(name.into(), number);
        number
    }

    /// The corpus holding row `id`, if any.
    fn holder(&self, id: i64) -> Option<&KeywordIndex> {
        match self.statistics {
            KeywordStatistics::Store => self.corpora.first(),
            KeywordStatistics::Tenant => Some(&self.corpora[*self.corpus_of_row.get(&id)? as usize]),
        }
    }

    /// [`KeywordCorpora::holder`], to change.
    fn holder_mut(&mut self, id: i64) -> Option<&mut KeywordIndex> {
        match self.statistics {
            KeywordStatistics::Store => self.corpora.first_mut(),
            KeywordStatistics::Tenant => Some(&mut self.corpora[*self.corpus_of_row.get(&id)? as usize]),
        }
    }

    /// The corpus row `id` of `meta`'s namespace belongs in, after taking the row out of
    /// any other.
    fn place(&mut self, id: i64, meta: &RowMeta) -> &mut KeywordIndex {
        let name = self.corpus_name(&meta.namespace);
        let number = self.corpus_number(name);
        if self.statistics == KeywordStatistics::Tenant
            && let Some(previous) = self.corpus_of_row.insert(id, number)
            && previous != number
        {
            self.corpora[previous as usize].remove(id);
        }
        &mut self.corpora[number as usize]
    }

    /// [`KeywordIndex::upsert`] in the row's corpus.
    pub(super) fn upsert(&mut self, id: i64, text: &str, meta: RowMeta) {
        self.place(id, &meta).upsert(id, text, meta);
    }

    /// [`KeywordIndex::upsert_counted`] in the row's corpus.
    pub(super) fn upsert_counted(
        &mut self,
        id: i64,
        counts: impl IntoIterator<Item = (String, u32)>,
        length: u32,
        text_hash: u64,
        meta: RowMeta,
    ) {
        self.place(id, &meta).upsert_counted(id, counts, length, text_hash, meta);
    }

    /// [`KeywordIndex::doc_terms`].
    pub(super) fn doc_terms(&self, id: i64) -> Option<impl Iterator<Item = (&str, u32)> + '_> {
        self.holder(id)?.doc_terms(id)
    }

    /// [`KeywordIndex::remove`].
    pub(super) fn remove(&mut self, id: i64) {
        if let Some(index) = self.holder_mut(id) {
            index.remove(id);
        }
        self.corpus_of_row.remove(&id);
    }

    /// [`KeywordIndex::set_expiry`].
    pub(super) fn set_expiry(&mut self, id: i64, expires_at: Option<f64>) {
        if let Some(index) = self.holder_mut(id) {
            index.set_expiry(id, expires_at);
        }
    }

    /// [`KeywordIndex::holds`].
    pub(super) fn holds(&self, id: i64, meta: &RowMeta, text_hash: u64) -> bool {
        self.holder(id).is_some_and(|index| index.holds(id, meta, text_hash))
    }

    /// [`KeywordIndex::retain`], in every corpus.
    pub(super) fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        for index in &mut self.corpora {
            index.retain(&keep);
        }
        self.corpus_of_row.retain(|&id, _| keep(id));
    }

    /// The best `want` live documents in `scope` that contain at least one of `terms`, each
    /// scored within its own corpus, best first (score descending, ties in recency order),
    /// and whether there may be more ([`KeywordIndex::search`]).
    pub(super) fn search(&self, terms: &[String], scope: &Scope, now: f64, want: usize) -> (Vec<KeywordHit>, bool) {
        let corpus = match (self.statistics, scope_tenant(scope)) {
            (KeywordStatistics::Store, _) => self.corpora.first(),
            (KeywordStatistics::Tenant, Some(tenant)) => {
                self.numbers.get(tenant).map(|&number| &self.corpora[number as usize])
            }
            (KeywordStatistics::Tenant, None) => return self.search_every_corpus(terms, scope, now, want),
        };
        match corpus {
            Some(index) => index.search(terms, scope, now, want),
            None => (Vec::new(), false),
        }
    }

    /// [`KeywordCorpora::search`] over every corpus: each one's best `want`, merged.
    fn search_every_corpus(&self, terms: &[String], scope: &Scope, now: f64, want: usize) -> (Vec<KeywordHit>, bool) {
        let mut more = false;
        let mut merged: Vec<(KeywordHit, &KeywordIndex)> = Vec::new();
        for index in &self.corpora {
            let (hits, corpus_more) = index.search(terms, scope, now, want);
            more |= corpus_more;
            merged.extend(hits.into_iter().map(|hit| (hit, index)));
        }
        let order = |(a, a_index): &(KeywordHit, &KeywordIndex), (b, b_index): &(KeywordHit, &KeywordIndex)| {
            b.score.total_cmp(&a.score).then_with(|| match (a_index.recency_key(a.id), b_index.recency_key(b.id)) {
                (Some(a), Some(b)) => b.0.total_cmp(&a.0).then_with(|| (a.1, a.2).cmp(&(b.1, b.2))),
                _ => Ordering::Equal,
            })
        };
        merged.sort_unstable_by(order);
        if merged.len() > want {
            merged.truncate(want);
            more = true;
        }
        (merged.into_iter().map(|(hit, _)| hit).collect(), more)
    }
}

/// The tenant of an encoded namespace ([`keyword::tenant_of`] its first label).
pub(super) fn tenant_of_namespace(encoded: &str) -> &str {
    keyword::tenant_of(encoded.split(LABEL_SEPARATOR).next().unwrap_or(encoded))
}

/// The one tenant whose namespaces `scope` covers; `None` for the root prefix (every tenant).
pub(super) fn scope_tenant(scope: &Scope) -> Option<&str> {
    let first_label = match scope {
        Scope::Namespace(namespace) => namespace.labels().first(),
        Scope::Prefix(prefix) => prefix.labels().first(),
    };
    first_label.map(|label| keyword::tenant_of(label))
}

/// A half-open range `[low, high)` of encoded namespaces that holds every namespace of
/// `tenant` (the first label `tenant`, or `tenant/…`) and few others: those whose first label
/// continues with a character that sorts below `/` (`tenant!x`), which a reader must still
/// test with [`tenant_of_namespace`]. Both separators sort below every character a label may
/// continue with after them, so the range is one index seek.
pub(super) fn tenant_range(tenant: &str) -> (String, String) {
    const ABOVE_SEPARATOR: char = match char::from_u32(keyword::TENANT_SEPARATOR as u32 + 1) {
        Some(next) => next,
        None => panic!("the tenant separator is not the last character"),
    };
    const { assert!(LABEL_SEPARATOR < keyword::TENANT_SEPARATOR) };
    (tenant.to_owned(), format!("{tenant}{ABOVE_SEPARATOR}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Namespace, NamespacePrefix};

    fn meta(namespace: &[&str], key: &str, updated_at: f64) -> RowMeta {
        let namespace = Namespace::new(namespace.iter().copied()).expect("namespace").encoded();
        RowMeta { namespace, key: key.to_owned(), updated_at, expires_at: None }
    }

    fn prefix(labels: &[&str]) -> Scope {
        Scope::Prefix(NamespacePrefix::new(labels.iter().copied()).expect("prefix"))
    }

    fn terms(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    /// Two tenants; `acme` holds the same two documents in both indexes, `globex` many
    /// documents with `rust`, which changes `rust`'s idf store-wide but not within `acme`.
    fn filled(statistics: KeywordStatistics) -> KeywordCorpora {
        let mut index = KeywordCorpora::new(statistics);
        index.upsert(1, "rust memory", meta(&["acme", "notes"], "a", 1.0));
        index.upsert(2, "python memory", meta(&["acme/u1", "conversations"], "b", 2.0));
        for id in 10..30 {
            index.upsert(id, "rust rust", meta(&["globex", "notes"], &format!("k{id}"), 3.0));
        }
        index
    }

    fn scores(index: &KeywordCorpora, scope: &Scope) -> Vec<(i64, f64)> {
        let (hits, _) = index.search(&terms(&["rust", "memory"]), scope, 0.0, 100);
        hits.into_iter().map(|hit| (hit.id, hit.score)).collect()
    }

    #[test]
    fn a_tenants_scores_count_only_its_own_documents() {
        let mut alone = KeywordCorpora::new(KeywordStatistics::Store);
        alone.upsert(1, "rust memory", meta(&["acme", "notes"], "a", 1.0));
        alone.upsert(2, "python memory", meta(&["acme/u1", "conversations"], "b", 2.0));
        let acme = prefix(&["acme"]);
        let tenant = filled(KeywordStatistics::Tenant);
        assert_eq!(scores(&tenant, &acme), scores(&alone, &acme), "globex's documents moved acme's scores");
        let store = filled(KeywordStatistics::Store);
        assert_ne!(scores(&store, &acme), scores(&alone, &acme), "store-wide statistics count every tenant");
        // A tenant's conversations (`TENANT/USER`) are in the tenant's corpus.
        let conversations = prefix(&["acme/u1"]);
        assert_eq!(scores(&tenant, &conversations), scores(&alone, &conversations));
        assert!(scores(&tenant, &prefix(&["initech"])).is_empty());
    }

    #[test]
    fn a_search_across_tenants_merges_each_corpus_in_the_store_order() {
        let index = filled(KeywordStatistics::Tenant);
        let (hits, more) = index.search(&terms(&["rust"]), &prefix(&[]), 0.0, 5);
        assert!(more);
        assert_eq!(hits.len(), 5);
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
        let every: Vec<i64> =
            index.search(&terms(&["rust"]), &prefix(&[]), 0.0, 100).0.iter().map(|hit| hit.id).collect();
        assert_eq!(every.len(), 21);
        assert!(every.contains(&1));
        // Equal scores (every globex document) in recency order, then by key.
        let globex: Vec<i64> = every.into_iter().filter(|&id| id >= 10).collect();
        assert_eq!(globex, (10..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_tenants_range_holds_every_namespace_of_it() {
        let (low, high) = tenant_range("acme");
        let inside = |labels: &[&str]| {
            let encoded = Namespace::new(labels.iter().copied()).expect("namespace").encoded();
            (low.as_str()..high.as_str()).contains(&encoded.as_str()) && tenant_of_namespace(&encoded) == "acme"
        };
        assert!(inside(&["acme"]));
        assert!(inside(&["acme", "users", "u1"]));
        assert!(inside(&["acme/u1", "conversations", "s1"]));
        assert!(inside(&["acme/", "x"]));
        assert!(!inside(&["acmex", "users"]));
        assert!(!inside(&["acme!", "users"]));
        assert!(!inside(&["acm"]));
        assert!(!inside(&["globex", "acme"]));
        assert_eq!(scope_tenant(&prefix(&["acme/u1", "conversations"])), Some("acme"));
        assert_eq!(scope_tenant(&prefix(&[])), None);
    }

    #[test]
    fn a_row_moved_to_another_tenant_leaves_its_old_corpus() {
        let mut index = filled(KeywordStatistics::Tenant);
        index.upsert(1, "rust memory", meta(&["globex", "notes"], "a", 4.0));
        assert!(scores(&index, &prefix(&["acme"])).is_empty());
        assert!(scores(&index, &prefix(&["globex"])).iter().any(|&(id, _)| id == 1));
        // acme's statistics no longer count it.
        let mut only_two = KeywordCorpora::new(KeywordStatistics::Store);
        only_two.upsert(2, "python memory", meta(&["acme/u1", "conversations"], "b", 2.0));
        assert_eq!(scores(&index, &prefix(&["acme/u1"])), scores(&only_two, &prefix(&["acme/u1"])));
        assert!(index.holds(
            1,
            &meta(&["globex", "notes"], "a", 4.0),
            super::super::keyword_index::text_hash("rust memory")
        ));
        index.remove(1);
        assert_eq!(index.len(), 21);
        assert!(index.doc_terms(1).is_none());
    }
}
