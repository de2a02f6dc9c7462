//! A hand-written pre-tokenizer for the ASCII parts of a text, exactly equivalent to the
//! `o200k_base` and `cl100k_base` split regexes there, falling back to the regexes
//! (`bpe-openai`'s) for any piece whose boundaries depend on a non-ASCII character.
//!
//! The matcher below follows the regexes' alternatives in order, with their greedy,
//! backtracking semantics spelled out for ASCII, where the character classes are
//! disjoint: `\p{L}` is `[A-Za-z]` (`\p{Lu}` `[A-Z]`, `\p{Ll}` `[a-z]`, no `Lt`, `Lm`, `Lo`
//! or `M`), `\p{N}` is `[0-9]` and `\s` is `[\t\n\x0B\x0C\r ]`. It reads a byte through
//! [`at`], which stops the match (`None`) at the first non-ASCII byte it would have to
//! look at; the piece is then split by the regex instead. So a piece decided here depends
//! only on ASCII bytes, where both agree.

/// The split pattern of an encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitPattern {
    /// `o200k_base`'s.
    O200k,
    /// `cl100k_base`'s.
    Cl100k,
}

/// The end of the text, as [`at`] reports it.
const END: u16 = 256;

/// The byte at `index` (or [`END`]); `None` when it is not ASCII.
fn at(rest: &[u8], index: usize) -> Option<u16> {
    match rest.get(index) {
        None => Some(END),
        Some(&byte) if byte.is_ascii() => Some(u16::from(byte)),
        Some(_) => None,
    }
}

fn is_upper(c: u16) -> bool {
    (u16::from(b'A')..=u16::from(b'Z')).contains(&c)
}

fn is_lower(c: u16) -> bool {
    (u16::from(b'a')..=u16::from(b'z')).contains(&c)
}

fn is_letter(c: u16) -> bool {
    is_upper(c) || is_lower(c)
}

fn is_digit(c: u16) -> bool {
    (u16::from(b'0')..=u16::from(b'9')).contains(&c)
}

/// `\s` on ASCII: tab, line feed, vertical tab, form feed, carriage return, space.
fn is_space(c: u16) -> bool {
    (9..=13).contains(&c) || c == u16::from(b' ')
}

fn is_line_break(c: u16) -> bool {
    c == u16::from(b'\r') || c == u16::from(b'\n')
}

/// `[^\s\p{L}\p{N}]`.
fn is_other(c: u16) -> bool {
    c != END && !is_space(c) && !is_letter(c) && !is_digit(c)
}

/// `[^\r\n\p{L}\p{N}]`.
fn is_letter_prefix(c: u16) -> bool {
    c != END && !is_line_break(c) && !is_letter(c) && !is_digit(c)
}

fn lowercase(c: u16) -> u16 {
    if is_upper(c) { c + 32 } else { c }
}

/// The length of `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `index`, 0 when none matches.
fn contraction(rest: &[u8], index: usize) -> Option<usize> {
    if at(rest, index)? != u16::from(b'\'') {
        return Some(0);
    }
    // Case-insensitive matching is Unicode-aware (`s` also matches `ſ`, `k` the Kelvin
    // sign): `at` gives up on any non-ASCII byte here too.
    let first = lowercase(at(rest, index + 1)?);
    let len = match u8::try_from(first).unwrap_or(0) {
        b's' | b't' | b'm' | b'd' => 2,
        b'r' | b'v' if lowercase(at(rest, index + 2)?) == u16::from(b'e') => 3,
        b'l' if lowercase(at(rest, index + 2)?) == u16::from(b'l') => 3,
        _ => 0,
    };
    Some(len)
}

/// The length of the first piece of the non-empty `rest`, or `None` when it depends on a
/// non-ASCII byte.
pub(crate) fn ascii_piece_len(rest: &[u8], pattern: SplitPattern) -> Option<usize> {
    let first = at(rest, 0)?;
    let prefix = usize::from(is_letter_prefix(first));
    match pattern {
        SplitPattern::O200k => {
            // [^\r\n\p{L}\p{N}]?[upper]*[lower]+(contraction)?
            // | [^\r\n\p{L}\p{N}]?[upper]+[lower]*(contraction)?
            // The prefix is only taken before a letter, and without it the first character
            // would have to be a letter: one attempt covers both.
            let mut index = prefix;
            while is_upper(at(rest, index)?) {
                index += 1;
            }
            while is_lower(at(rest, index)?) {
                index += 1;
            }
            if index > prefix {
                return Some(index + contraction(rest, index)?);
            }
        }
        SplitPattern::Cl100k => {
            // (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+
            let len = contraction(rest, 0)?;
            if len > 0 {
                return Some(len);
            }
            let mut index = prefix;
            while is_letter(at(rest, index)?) {
                index += 1;
            }
            if index > prefix {
                return Some(index);
            }
        }
    }
    // \p{N}{1,3}
    if is_digit(first) {
        let mut index = 1;
        while index < 3 && is_digit(at(rest, index)?) {
            index += 1;
        }
        return Some(index);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n/]*` (o200k) or ` ?[^\s\p{L}\p{N}]+[\r\n]*` (cl100k)
    let start = usize::from(first == u16::from(b' '));
    let mut index = start;
    while is_other(at(rest, index)?) {
        index += 1;
    }
    if index > start {
        loop {
            let c = at(rest, index)?;
            if is_line_break(c) || (pattern == SplitPattern::O200k && c == u16::from(b'/')) {
                index += 1;
            } else {
                return Some(index);
            }
        }
    }
    // Here `first` is whitespace. `\s*[\r\n]+` ends after the run's last line break;
    // `\s+$` takes a run that ends the text; `\s+(?!\S)` leaves the run's last character
    // to the next piece; `\s+` takes a single whitespace character.
    let mut run = 0;
    let mut last_line_break = None;
    loop {
        let c = at(rest, run)?;
        if !is_space(c) {
            break;
        }
        if is_line_break(c) {
            last_line_break = Some(run);
        }
        run += 1;
    }
    Some(match last_line_break {
        Some(last) => last + 1,
        None if at(rest, run)? == END => run,
        None if run >= 2 => run - 1,
        None => run,
    })
}

/// The pieces of `text`, as `tokenizer.split(text)` gives them.
pub(crate) fn split<'a>(
    tokenizer: &'a bpe_openai::Tokenizer,
    pattern: SplitPattern,
    text: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    let mut position = 0;
    std::iter::from_fn(move || {
        let rest = text.get(position..).filter(|rest| !rest.is_empty())?;
        let len = ascii_piece_len(rest.as_bytes(), pattern)
            .or_else(|| tokenizer.split(rest).next().map(str::len))
            .filter(|&len| len > 0 && rest.is_char_boundary(len))
            .unwrap_or(rest.len());
        position += len;
        Some(&rest[..len])
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(text: &str) -> Result<(), TestCaseError> {
        for (tokenizer, pattern) in
            [(bpe_openai::o200k_base(), SplitPattern::O200k), (bpe_openai::cl100k_base(), SplitPattern::Cl100k)]
        {
            let ours: Vec<&str> = split(tokenizer, pattern, text).collect();
            let regex: Vec<&str> = tokenizer.split(text).collect();
            prop_assert_eq!(ours, regex, "{:?} {:?}", pattern, text);
        }
        Ok(())
    }

    #[test]
    fn known_splits() {
        let o200k = |text| split(bpe_openai::o200k_base(), SplitPattern::O200k, text).collect::<Vec<_>>();
        let cl100k = |text| split(bpe_openai::cl100k_base(), SplitPattern::Cl100k, text).collect::<Vec<_>>();
        assert_eq!(
            o200k("Hello WORLD's  1234 x!!\n/ \n\n  end  "),
            ["Hello", " WORLD's", " ", " ", "123", "4", " x", "!!\n/", " \n\n", " ", " end", "  "]
        );
        assert_eq!(cl100k("I'LL go,\tnow's  12345"), ["I", "'LL", " go", ",", "\tnow", "'s", " ", " ", "123", "45"]);
        assert_eq!(o200k("caf\u{e9} naïve"), ["café", " naïve"]);
        assert_eq!(cl100k("it'\u{17f}"), ["it", "'\u{17f}"]);
    }

    fn ascii_heavy() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            4 => "[ \t\r\n\u{b}\u{c}]{1,4}",
            4 => "[a-zA-Z]{1,5}",
            3 => "'[sStTrRvVmMlLdDeEx]{0,2}",
            2 => "[0-9]{1,5}",
            2 => "[!-/:-@\\[-`{-~]{1,3}",
            1 => "[\u{0}-\u{1f}\u{7f}]",
            1 => prop::sample::select(vec![
                "é", "ſ", "\u{212a}", "日本", "\u{85}", "\u{a0}", "\u{2028}", "𝟘", "ǅ", "\u{301}", "Ⅻ", "²", "😀",
            ]).prop_map(str::to_owned),
        ];
        prop::collection::vec(atom, 0..40).prop_map(|atoms| atoms.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn ascii_heavy_text_splits_like_the_regexes(text in ascii_heavy()) {
            check(&text)?;
        }

        #[test]
        fn ascii_text_splits_like_the_regexes(text in "[\u{0}-\u{7f}]{0,80}") {
            check(&text)?;
        }

        #[test]
        fn any_text_splits_like_the_regexes(text in any::<String>()) {
            check(&text)?;
        }
    }
}
