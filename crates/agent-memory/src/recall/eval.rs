//! Retrieval evaluation on LoCoMo: does search put the turns that hold the answer among
//! the top-k chunks?
//!
//! Per question, with the conversation's chunks ranked for the question text:
//!
//! * **turn recall@k**: the fraction of the question's evidence turns found in the
//!   messages of the top-k chunks (questions without evidence turns are left out);
//! * **session hit@k**: 1 when one of the top-k chunks comes from an evidence session.
//!
//! Both are averaged per category and overall ([`EvalRow`]).

use std::collections::{BTreeMap, HashSet};

use super::locomo::{LocomoDataset, LocomoQuestion};
use super::{ConversationMemory, RecallError, RecallQuery, SearchResult};
use crate::store::SearchMode;

/// The cut-offs reported: top 1, 5 and 10.
pub const DEFAULT_KS: [usize; 3] = [1, 5, 10];

/// The name of the row that averages every question.
pub const OVERALL: &str = "overall";

/// Averages over the questions of one category (or all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    /// The LoCoMo category, or [`OVERALL`].
    pub category: String,
    /// Questions with evidence turns (the turn-recall denominator).
    pub questions: usize,
    /// Mean turn recall at each k.
    pub turn_recall: Vec<f64>,
    /// Mean session hit at each k.
    pub session_hit: Vec<f64>,
}

/// One question's scores at each k; `None` when it has no evidence of that kind.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionScores {
    /// Turn recall at each k.
    pub turn_recall: Option<Vec<f64>>,
    /// Session hit (0 or 1) at each k.
    pub session_hit: Option<Vec<f64>>,
}

/// Scores one question against ranked results (best first).
///
/// ```
/// use agent_memory::recall::eval::score_question;
///
/// // Evidence D1:3 and D2:1; the top chunk holds D1:3 (session_1), the second D2:1.
/// let ranked = [(vec!["D1:2", "D1:3"], "session_1"), (vec!["D2:1"], "session_2")];
/// let scores = score_question(&["D1:3", "D2:1"], &["session_2"], &ranked, &[1, 5]);
/// assert_eq!(scores.turn_recall, Some(vec![0.5, 1.0]));
/// assert_eq!(scores.session_hit, Some(vec![0.0, 1.0]));
/// ```
pub fn score_question<T: AsRef<str>, S: AsRef<str>>(
    evidence_turns: &[T],
    evidence_sessions: &[T],
    ranked: &[(Vec<S>, S)],
    ks: &[usize],
) -> QuestionScores {
    let turns: HashSet<&str> = evidence_turns.iter().map(AsRef::as_ref).collect();
    let sessions: HashSet<&str> = evidence_sessions.iter().map(AsRef::as_ref).collect();
    let turn_recall = (!turns.is_empty()).then(|| {
        ks.iter()
            .map(|&k| {
                let found: HashSet<&str> = ranked
                    .iter()
                    .take(k)
                    .flat_map(|(ids, _)| ids.iter().map(AsRef::as_ref))
                    .filter(|id| turns.contains(id))
                    .collect();
                found.len() as f64 / turns.len() as f64
            })
            .collect()
    });
    let session_hit = (!sessions.is_empty()).then(|| {
        ks.iter()
            .map(|&k| f64::from(u8::from(ranked.iter().take(k).any(|(_, s)| sessions.contains(s.as_ref())))))
            .collect()
    });
    QuestionScores { turn_recall, session_hit }
}

/// Indexes every LoCoMo conversation into `memory` (user = `conv_id`), calling
/// `progress` with the number of sessions done; returns the number of chunks written.
///
/// # Errors
///
/// As [`ConversationMemory::index_conversation`].
pub async fn index_dataset(
    memory: &ConversationMemory,
    dataset: &LocomoDataset,
    mut progress: impl FnMut(usize),
) -> Result<usize, RecallError> {
    let mut chunks = 0;
    let mut sessions = 0;
    for conversation in &dataset.conversations {
        for record in conversation.records() {
            chunks += memory
                .index_conversation(&record.user_id, &record.session_id, &record.messages, &record.metadata)
                .await?
                .len();
            sessions += 1;
            progress(sessions);
        }
    }
    Ok(chunks)
}

/// Searches every question in `mode` and averages the scores per category and overall
/// (overall last; categories in name order). `progress` gets the number of questions done.
///
/// # Errors
///
/// As [`ConversationMemory::search`].
pub async fn evaluate(
    memory: &ConversationMemory,
    questions: &[LocomoQuestion],
    mode: SearchMode,
    ks: &[usize],
    mut progress: impl FnMut(usize),
) -> Result<Vec<EvalRow>, RecallError> {
    let depth = ks.iter().copied().max().unwrap_or(0);
    let mut per_category: BTreeMap<String, Vec<QuestionScores>> = BTreeMap::new();
    for (done, question) in questions.iter().enumerate() {
        let results =
            memory.search(&question.conv_id, &RecallQuery::new(&question.question).limit(depth).mode(mode)).await?;
        let ranked: Vec<(Vec<&str>, &str)> = results.iter().map(ranked_ids).collect();
        let scores = score_question(&question.evidence_turn_ids, &question.evidence_session_ids, &ranked, ks);
        per_category.entry(question.category.clone()).or_default().push(scores);
        progress(done + 1);
    }
    let mut rows: Vec<EvalRow> = per_category.iter().map(|(category, scores)| average(category, scores, ks)).collect();
    let all: Vec<QuestionScores> = per_category.into_values().flatten().collect();
    rows.push(average(OVERALL, &all, ks));
    Ok(rows)
}

fn ranked_ids(result: &SearchResult) -> (Vec<&str>, &str) {
    let ids = result.chunk.messages.iter().filter_map(|m| m.id.as_deref()).collect();
    (ids, result.chunk.session_id.as_str())
}

fn average(category: &str, scores: &[QuestionScores], ks: &[usize]) -> EvalRow {
    let mean =
        |values: Vec<&Vec<f64>>| -> Vec<f64> {
            (0..ks.len())
                .map(|i| {
                    if values.is_empty() { 0.0 } else { values.iter().map(|v| v[i]).sum::<f64>() / values.len() as f64 }
                })
                .collect()
        };
    let turns: Vec<&Vec<f64>> = scores.iter().filter_map(|s| s.turn_recall.as_ref()).collect();
    let questions = turns.len();
    let sessions: Vec<&Vec<f64>> = scores.iter().filter_map(|s| s.session_hit.as_ref()).collect();
    EvalRow { category: category.to_owned(), questions, turn_recall: mean(turns), session_hit: mean(sessions) }
}

/// Renders rows as a Markdown table: one line per (setting, category), with turn recall
/// and session hit at each k.
///
/// ```
/// use agent_memory::recall::eval::{markdown_table, EvalRow};
///
/// let row = EvalRow { category: "overall".into(), questions: 2, turn_recall: vec![0.5, 1.0], session_hit: vec![1.0, 1.0] };
/// let table = markdown_table(&[("bm25", &[row][..])], &[1, 5]);
/// assert_eq!(table, "| setting | category | n | R@1 | R@5 | S@1 | S@5 |\n\
///                    |---|---|---:|---:|---:|---:|---:|\n\
///                    | bm25 | overall | 2 | 0.500 | 1.000 | 1.000 | 1.000 |\n");
/// ```
pub fn markdown_table(settings: &[(&str, &[EvalRow])], ks: &[usize]) -> String {
    let mut table = String::from("| setting | category | n |");
    for k in ks {
        table.push_str(&format!(" R@{k} |"));
    }
    for k in ks {
        table.push_str(&format!(" S@{k} |"));
    }
    table.push_str("\n|---|---|---:|");
    table.push_str(&"---:|".repeat(2 * ks.len()));
    table.push('\n');
    for (setting, rows) in settings {
        for row in *rows {
            table.push_str(&format!("| {setting} | {} | {} |", row.category, row.questions));
            for value in row.turn_recall.iter().chain(&row.session_hit) {
                table.push_str(&format!(" {value:.3} |"));
            }
            table.push('\n');
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_without_evidence_are_left_out_of_the_means() {
        let ranked = [(vec!["a"], "s1")];
        let with = score_question(&["a"], &["s1"], &ranked, &[1]);
        let without = score_question::<&str, &str>(&[], &[], &ranked, &[1]);
        assert_eq!(without, QuestionScores { turn_recall: None, session_hit: None });
        let row = average("x", &[with, without], &[1]);
        assert_eq!(row, EvalRow { category: "x".into(), questions: 1, turn_recall: vec![1.0], session_hit: vec![1.0] });
    }

    #[test]
    fn duplicate_turns_across_chunks_count_once() {
        let ranked = [(vec!["a", "b"], "s1"), (vec!["b", "c"], "s1")];
        let scores = score_question(&["b", "z"], &["s9"], &ranked, &[2]);
        assert_eq!(scores.turn_recall, Some(vec![0.5]));
        assert_eq!(scores.session_hit, Some(vec![0.0]));
    }
}
