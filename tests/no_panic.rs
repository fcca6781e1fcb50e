//! Parse and check never panic: random bytes, and token-level mutations (delete,
//! duplicate, swap) of the example models.

use proptest::prelude::*;
use vic::source::analyze;

const EXAMPLES: [&str; 4] = [
    include_str!("../examples/vae.vi"),
    include_str!("../examples/logistic.vi"),
    include_str!("../examples/dlgm.vi"),
    include_str!("../examples/eight_schools.vi"),
];

/// Splits a model into tokens: words, numbers and single punctuation characters, with
/// whitespace kept as separators.
fn tokens(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in source.chars() {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        out.push(c.to_string());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

fn mutate(source: &str, mutations: &[Mutation]) -> String {
    let mut toks = tokens(source);
    for m in mutations {
        if toks.is_empty() {
            break;
        }
        let n = toks.len();
        match *m {
            Mutation::Delete(i) => {
                toks.remove(i % n);
            }
            Mutation::Duplicate(i) => {
                let t = toks[i % n].clone();
                toks.insert(i % n, t);
            }
            Mutation::Swap(a, b) => toks.swap(a % n, b % n),
        }
    }
    toks.concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = analyze("random.vi", text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = analyze("bytes.vi", text);
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0..EXAMPLES.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let source = mutate(EXAMPLES[which], &mutations);
        if let Err(vic::source::SourceError::Model { file, text, diagnostics }) = analyze("m.vi", source) {
            // Rendering must not panic either.
            let _ = vic::diag::render_all(&file, &text, &diagnostics);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "data y: real\ny ~ Normal({}0{}, 1)\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(analyze("deep.vi", deep).is_err());
    let minus = format!("data y: real\ny ~ Normal({}1, 1)\n", "- ".repeat(100_000));
    assert!(analyze("minus.vi", minus).is_err());
    // A flat sum is one level, however long.
    let long = format!("data y: real\ny ~ Normal({}1, 1)\n", "1 + ".repeat(100_000));
    assert!(analyze("long.vi", long).is_ok());
}

/// Nesting the bracket pre-scan cannot see (a chain of 100,000 indexings) is one error
/// for the whole expression, not one per 64 levels.
#[test]
fn one_deep_expression_is_one_error() {
    let chain = format!(
        "data v: real[2]\ndata y: real\ny ~ Normal(v{}, 1)\n",
        "[0]".repeat(100_000)
    );
    let Err(vic::source::SourceError::Model { diagnostics, .. }) = analyze("chain.vi", chain)
    else {
        panic!("a chain of 100,000 indexings is refused")
    };
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages, ["this expression is nested too deeply"]);
}
