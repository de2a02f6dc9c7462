//! Property: no body, however malformed, makes any endpoint answer 5xx or panic; every
//! non-2xx answer is a JSON error with a code.

use axum::body::Body;
use axum::http::{Method, Request, header};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{ACME_KEY, Harness};

const ROUTES: [(&str, &str); 13] = [
    ("PUT", "/store/items"),
    ("DELETE", "/store/items"),
    ("POST", "/store/items/search"),
    ("POST", "/store/namespaces"),
    ("POST", "/store/batch"),
    ("POST", "/context/count"),
    ("POST", "/context/trim"),
    ("POST", "/context/fit"),
    ("GET", "/store/items"),
    ("POST", "/conversations"),
    ("POST", "/conversations/search"),
    ("POST", "/sessions/s1/messages"),
    ("PUT", "/sessions/s1"),
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![Just("namespace"), Just("key"), Just("value"), Just("op"), Just("put"), Just("ttl")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("namespace".to_owned()),
                    Just("namespace_prefix".to_owned()),
                    Just("key".to_owned()),
                    Just("value".to_owned()),
                    Just("ttl".to_owned()),
                    Just("filter".to_owned()),
                    Just("limit".to_owned()),
                    Just("query".to_owned()),
                    Just("ops".to_owned()),
                    Just("op".to_owned()),
                    Just("messages".to_owned()),
                    Just("max_depth".to_owned()),
                    Just("strategy".to_owned()),
                    Just("max_tokens".to_owned()),
                    Just("max_messages".to_owned()),
                    Just("user_id".to_owned()),
                    Just("session_id".to_owned()),
                    Just("metadata".to_owned()),
                    "\\PC{0,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body: arbitrary JSON, or arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|value| value.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Percent-encodes every byte that is not a lowercase letter, a digit or a dot.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn query() -> impl Strategy<Value = String> {
    ("[a-z.\\[\\]\",0-9]{0,12}", "\\PC{0,8}", prop::option::of("[a-z]{0,6}")).prop_map(|(namespace, key, refresh)| {
        let (namespace, key) = (encode(&namespace), encode(&key));
        match refresh {
            Some(refresh) => format!("?namespace={namespace}&key={key}&refresh_ttl={refresh}"),
            None => format!("?namespace={namespace}&key={key}"),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_a_5xx(route in 0..ROUTES.len(), body in body(), query in query()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (status, answer) = runtime.block_on(async {
            let harness = Harness::keyed();
            let (method, path) = ROUTES[route];
            let uri = if method == "GET" { format!("{path}{query}") } else { path.to_owned() };
            let request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).expect("method"))
                .uri(uri)
                .header("x-api-key", ACME_KEY)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .expect("request");
            let (status, _, answer) = harness.send(request).await;
            (status, answer)
        });
        prop_assert!(!status.is_server_error(), "{status}: {answer}");
        if !status.is_success() {
            prop_assert!(answer["code"].is_string() && answer["message"].is_string(), "{answer}");
        }
    }
}

#[test]
fn the_strategy_reaches_success_too() {
    // A sanity check that the property is not vacuous: a valid body through the same
    // path succeeds.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let status = runtime.block_on(async {
        let harness = Harness::keyed();
        let body = json!({"namespace": ["n"], "key": "k", "value": {"v": 1}});
        harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await.0
    });
    assert!(status.is_success());
}
