//! Words of a text as search indexes keep them: lower case, `ё` as `е`, letters and
//! digits only. The catalog and the messenger index and match with the same rules, so a
//! query finds the same words in both, in Cyrillic and Latin alike.

/// Longest token kept; longer words are cut (and a query word is cut the same way).
pub const MAX_TOKEN_CHARS: usize = 40;
/// Query words beyond this are ignored.
pub const MAX_QUERY_WORDS: usize = 8;

/// Lower-cases, folds `ё` into `е`, splits on anything but letters and digits.
pub fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('ё', "е")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(MAX_TOKEN_CHARS).collect())
        .collect()
}

/// The smallest string greater than every string starting with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    end.push(char::MAX);
    end
}

/// The words of a search query that take part in matching.
pub fn query_words(q: &str) -> Vec<String> {
    tokens(q).into_iter().take(MAX_QUERY_WORDS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_normalised() {
        assert_eq!(
            tokens("Полёт «Штурманские» 2614.2Н"),
            vec!["полет", "штурманские", "2614", "2н"]
        );
        assert_eq!(tokens("  ВОСТОК-Amphibia!! "), vec!["восток", "amphibia"]);
        assert!(tokens("— … —").is_empty());
    }
}
