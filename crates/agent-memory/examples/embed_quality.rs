//! Turn-retrieval quality of the embedders on LoCoMo (recall@5 and @10): BM25 alone, the
//! built-in static model alone, hybrid BM25 + built-in (reciprocal rank fusion), and the
//! full all-MiniLM-L6-v2, alone and hybrid. Also times embedding throughput.
//!
//! Run with (the data is never copied into the repository):
//!
//! ```text
//! eval "$(scripts/deps/minilm.sh)"
//! cargo run --release -p agent-memory --features local-embeddings --example embed_quality -- ../shared/data/locomo-dev
//! ```
//!
//! For each question, every turn of its conversation (`"Speaker: text"`) is a candidate;
//! recall@k is the share of the question's evidence turns among the top k, averaged over
//! the questions that have evidence.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use agent_memory::embed::local::SentenceTransformer;
use agent_memory::embed::{BuiltinEmbedder, cosine_similarity};
use serde_json::Value;

struct Conversation {
    turn_ids: Vec<String>,
    texts: Vec<String>,
}

struct Question {
    conv_id: String,
    text: String,
    evidence: HashSet<String>,
}

fn read_jsonl(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Okapi BM25 (k1 = 1.2, b = 0.75) over one conversation's turns.
fn bm25_scores(docs: &[Vec<String>], query: &[String]) -> Vec<f32> {
    let n = docs.len() as f32;
    let avg_len = docs.iter().map(Vec::len).sum::<usize>() as f32 / n.max(1.0);
    let mut df: HashMap<&str, f32> = HashMap::new();
    for doc in docs {
        for word in doc.iter().map(String::as_str).collect::<HashSet<_>>() {
            *df.entry(word).or_default() += 1.0;
        }
    }
    docs.iter()
        .map(|doc| {
            let len = doc.len() as f32;
            query
                .iter()
                .map(|q| {
                    let tf = doc.iter().filter(|w| *w == q).count() as f32;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = df.get(q.as_str()).copied().unwrap_or(0.0);
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg_len))
                })
                .sum()
        })
        .collect()
}

fn ranking(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// Reciprocal rank fusion with k = 60.
fn fuse(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut score = vec![0.0f32; a.len()];
    for ranks in [a, b] {
        for (rank, &doc) in ranks.iter().enumerate() {
            score[doc] += 1.0 / (60.0 + rank as f32 + 1.0);
        }
    }
    ranking(&score)
}

fn recall(ranked: &[usize], conversation: &Conversation, evidence: &HashSet<String>, k: usize) -> f32 {
    let found = ranked.iter().take(k).filter(|&&i| evidence.contains(&conversation.turn_ids[i])).count();
    found as f32 / evidence.len() as f32
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "../shared/data/locomo-dev".into()));
    let minilm_dir = std::env::var("AGENT_MEMORY_TEST_MINILM").expect("run `eval \"$(scripts/deps/minilm.sh)\"` first");

    let mut conversations: HashMap<String, Conversation> = HashMap::new();
    for conv in read_jsonl(&dir.join("conversations.jsonl")) {
        let mut turn_ids = Vec::new();
        let mut texts = Vec::new();
        for session in conv["sessions"].as_array().unwrap() {
            for message in session["messages"].as_array().unwrap() {
                turn_ids.push(message["turn_id"].as_str().unwrap().to_owned());
                texts.push(format!("{}: {}", message["role"].as_str().unwrap(), message["content"].as_str().unwrap()));
            }
        }
        conversations.insert(conv["conv_id"].as_str().unwrap().to_owned(), Conversation { turn_ids, texts });
    }
    let questions: Vec<Question> = read_jsonl(&dir.join("questions.jsonl"))
        .into_iter()
        .map(|q| Question {
            conv_id: q["conv_id"].as_str().unwrap().to_owned(),
            text: q["question"].as_str().unwrap().to_owned(),
            evidence: q["evidence_turn_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect(),
        })
        .filter(|q| !q.evidence.is_empty() && conversations.contains_key(&q.conv_id))
        .collect();
    let turns: usize = conversations.values().map(|c| c.texts.len()).sum();
    println!("{} conversations, {turns} turns, {} questions with evidence", conversations.len(), questions.len());

    let builtin = BuiltinEmbedder::new();
    let minilm = SentenceTransformer::load(std::path::Path::new(&minilm_dir)).unwrap().with_batch_size(32);

    let mut builtin_turns: HashMap<&str, Vec<Vec<f32>>> = HashMap::new();
    let mut minilm_turns: HashMap<&str, Vec<Vec<f32>>> = HashMap::new();
    let mut builtin_secs = 0.0;
    let mut minilm_secs = 0.0;
    for (id, conversation) in &conversations {
        let start = Instant::now();
        builtin_turns.insert(id, builtin.embed_texts(&conversation.texts));
        builtin_secs += start.elapsed().as_secs_f64();
        let start = Instant::now();
        minilm_turns.insert(id, minilm.embed_blocking(&conversation.texts).unwrap());
        minilm_secs += start.elapsed().as_secs_f64();
    }
    println!(
        "embedding the turns: builtin {:.0} texts/s, MiniLM {:.0} texts/s (batch 32)",
        turns as f64 / builtin_secs,
        turns as f64 / minilm_secs
    );

    let methods = ["BM25", "builtin", "BM25 + builtin (RRF)", "MiniLM", "BM25 + MiniLM (RRF)"];
    let mut totals = vec![[0.0f32; 2]; methods.len()];
    let question_texts: Vec<&str> = questions.iter().map(|q| q.text.as_str()).collect();
    let minilm_questions = minilm.embed_blocking(&question_texts).unwrap();
    for (question, minilm_query) in questions.iter().zip(&minilm_questions) {
        let conversation = &conversations[&question.conv_id];
        let docs: Vec<Vec<String>> = conversation.texts.iter().map(|t| words(t)).collect();
        let bm25 = ranking(&bm25_scores(&docs, &words(&question.text)));
        let query = builtin.embed_text(&question.text);
        let dense = ranking(
            &builtin_turns[question.conv_id.as_str()].iter().map(|v| cosine_similarity(v, &query)).collect::<Vec<_>>(),
        );
        let mini = ranking(
            &minilm_turns[question.conv_id.as_str()]
                .iter()
                .map(|v| cosine_similarity(v, minilm_query))
                .collect::<Vec<_>>(),
        );
        let rankings = [bm25.clone(), dense.clone(), fuse(&bm25, &dense), mini.clone(), fuse(&bm25, &mini)];
        for (total, ranked) in totals.iter_mut().zip(&rankings) {
            total[0] += recall(ranked, conversation, &question.evidence, 5);
            total[1] += recall(ranked, conversation, &question.evidence, 10);
        }
    }
    println!("\n| method | recall@5 | recall@10 |\n|---|---|---|");
    for (method, total) in methods.iter().zip(&totals) {
        let n = questions.len() as f32;
        println!("| {method} | {:.3} | {:.3} |", total[0] / n, total[1] / n);
    }
}
