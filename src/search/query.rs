//! Turning what a user typed into a tantivy query, as plain functions.
//!
//! User text is never handed to tantivy's query parser: `"`, `:`, `(`, `*`,
//! `~`, `^` and friends are separators like spaces, so no input can change
//! the query's shape or reach a field it should not. Each word must match
//! (AND), in any of the kind's fields, either exactly (scored by BM25 and
//! ranked first), within a small edit distance (typos), or — for the last
//! word while the user is still typing — as a prefix (also with a typo
//! allowance for longer words). "panner r" thus finds "Paneer Roll".

use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream,
};

/// The longest accepted query, in characters (the API documents it).
pub const MAX_QUERY_CHARS: usize = 200;
/// Words after this many are ignored: a longer query narrows nothing a user
/// typing into a search box needs, and each word multiplies the work.
pub const MAX_TERMS: usize = 8;
/// Tokens longer than this (in bytes) are dropped at index and query time.
pub const MAX_TOKEN_BYTES: usize = 40;

/// The analyzer used for every text field and for queries, so both sides
/// agree: split on anything not a letter or digit, lower-case, fold accents.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    TooLong,
    NoWords,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::TooLong => write!(f, "must be at most {MAX_QUERY_CHARS} characters"),
            QueryError::NoWords => write!(f, "must contain at least one letter or digit"),
        }
    }
}

/// A normalised query: its words, and whether the last one is still being
/// typed (no space or punctuation after it), so it matches as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub terms: Vec<String>,
    pub last_is_prefix: bool,
}

pub fn normalize(raw: &str) -> Result<Normalized, QueryError> {
    if raw.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(raw);
    let mut terms = Vec::new();
    let mut truncated = false;
    while let Some(tok) = stream.next() {
        if terms.len() == MAX_TERMS {
            truncated = true;
            break;
        }
        if !terms.contains(&tok.text) {
            terms.push(tok.text.clone());
        }
    }
    if terms.is_empty() {
        return Err(QueryError::NoWords);
    }
    let last_is_prefix = !truncated && raw.chars().last().is_some_and(char::is_alphanumeric);
    Ok(Normalized {
        terms,
        last_is_prefix,
    })
}

/// Typo allowance for a whole word, by its length in characters: none for
/// one or two letters ("tv" must not match "to"), one edit up to six, two
/// beyond ("panner" → "paneer", "chay" → "chai").
pub fn fuzzy_distance(term: &str) -> u8 {
    match term.chars().count() {
        0..=2 => 0,
        3..=6 => 1,
        _ => 2,
    }
}

/// Typo allowance for a word still being typed, matched as a prefix. A
/// prefix within one edit of "chai" already covers every word starting
/// "chi", "cha" or "hai", so short prefixes are exact (the whole-word typo
/// match still catches "chay") and only long ones are forgiven.
pub fn prefix_distance(term: &str) -> u8 {
    match term.chars().count() {
        0..=5 => 0,
        6..=9 => 1,
        _ => 2,
    }
}

/// Builds the scoring part of a query: every word must match in at least
/// one of `fields` (each with its boost).
pub fn text_query(q: &Normalized, fields: &[(Field, f32)]) -> Box<dyn Query> {
    let n = q.terms.len();
    let per_term: Vec<(Occur, Box<dyn Query>)> = q
        .terms
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let prefix = q.last_is_prefix && i + 1 == n;
            (Occur::Must, word_query(word, prefix, fields))
        })
        .collect();
    Box::new(BooleanQuery::new(per_term))
}

fn word_query(word: &str, prefix: bool, fields: &[(Field, f32)]) -> Box<dyn Query> {
    let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for &(field, boost) in fields {
        let term = Term::from_field_text(field, word);
        // Exact word: BM25, weighted highest.
        any.push((
            Occur::Should,
            Box::new(BoostQuery::new(
                Box::new(tantivy::query::TermQuery::new(
                    term.clone(),
                    IndexRecordOption::WithFreqs,
                )),
                boost * 2.0,
            )),
        ));
        let d = fuzzy_distance(word);
        if d > 0 {
            any.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(
                    Box::new(FuzzyTermQuery::new(term.clone(), d, true)),
                    boost * 0.5,
                )),
            ));
        }
        if prefix {
            any.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(
                    Box::new(FuzzyTermQuery::new_prefix(term.clone(), 0, true)),
                    boost,
                )),
            ));
            let d = prefix_distance(word);
            if d > 0 {
                any.push((
                    Occur::Should,
                    Box::new(ConstScoreQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(term, d, true)),
                        boost * 0.3,
                    )),
                ));
            }
        }
    }
    Box::new(BooleanQuery::new(any))
}

/// An exact-value filter on a raw (untokenised) field; it does not score.
pub fn filter(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(
        Box::new(tantivy::query::TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        )),
        0.0,
    ))
}

/// Any of several exact values (e.g. the shops a vendor works for).
pub fn filter_any(field: Field, values: &[String]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        values
            .iter()
            .map(|v| (Occur::Should, filter(field, v)))
            .collect(),
    ))
}

/// The scoring query plus every filter, all required.
pub fn with_filters(text: Box<dyn Query>, filters: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    let mut all = vec![(Occur::Must, text)];
    all.extend(filters.into_iter().map(|f| (Occur::Must, f)));
    Box::new(BooleanQuery::new(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<String> {
        normalize(q).unwrap().terms
    }

    #[test]
    fn words_are_lower_cased_folded_and_split_on_anything_else() {
        assert_eq!(terms("Paneer ROLL"), ["paneer", "roll"]);
        assert_eq!(terms("Crème Brûlée"), ["creme", "brulee"]);
        assert_eq!(terms("UP-7K3Q9"), ["up", "7k3q9"]);
        assert_eq!(terms("a@uni.edu"), ["a", "uni", "edu"]);
    }

    #[test]
    fn query_syntax_is_plain_text() {
        assert_eq!(
            terms(r#"name:"chai" (tea* OR coffee~2)^3"#),
            ["name", "chai", "tea", "or", "coffee", "2", "3"]
        );
        for only_syntax in [
            r#"""#,
            ":",
            "(",
            "*",
            ")",
            "~",
            "^",
            r#"" : ( * ) ~ ^"#,
            "   ",
        ] {
            assert_eq!(
                normalize(only_syntax),
                Err(QueryError::NoWords),
                "{only_syntax:?}"
            );
        }
        assert_eq!(normalize(""), Err(QueryError::NoWords));
    }

    #[test]
    fn the_last_word_is_a_prefix_only_while_typed() {
        assert!(normalize("panner r").unwrap().last_is_prefix);
        assert!(!normalize("panner r ").unwrap().last_is_prefix);
        assert!(!normalize("chai.").unwrap().last_is_prefix);
        assert!(normalize("chaï").unwrap().last_is_prefix);
    }

    #[test]
    fn length_and_word_count_are_bounded() {
        assert_eq!(normalize(&"a".repeat(10_000)), Err(QueryError::TooLong));
        let accented = "é ".repeat(MAX_QUERY_CHARS / 2);
        assert_eq!(accented.chars().count(), MAX_QUERY_CHARS);
        assert!(normalize(&accented).is_ok());
        assert_eq!(normalize(&format!("{accented}é")), Err(QueryError::TooLong));
        let many = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10";
        let n = normalize(many).unwrap();
        assert_eq!(n.terms.len(), MAX_TERMS);
        assert!(!n.last_is_prefix, "a cut query has no word being typed");
        // Repeats count once.
        assert_eq!(terms("chai chai CHAI"), ["chai"]);
        // A token longer than the limit is dropped, not an error.
        let long_word = format!("{} tea", "x".repeat(100));
        assert_eq!(terms(&long_word), ["tea"]);
    }

    #[test]
    fn typo_allowance_grows_with_length() {
        assert_eq!(fuzzy_distance("tv"), 0);
        assert_eq!(fuzzy_distance("chay"), 1);
        assert_eq!(fuzzy_distance("panner"), 1);
        assert_eq!(fuzzy_distance("sandwhich"), 2);
        assert_eq!(prefix_distance("chai"), 0);
        assert_eq!(prefix_distance("sandwh"), 1);
        assert_eq!(prefix_distance("sandwhichs"), 2);
    }
}
