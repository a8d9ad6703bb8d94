//! Words as search sees them: runs of letters and digits, with case and diacritics folded, so
//! that `prilohy` finds `přílohy` and `ANN` finds `ann@example.org`. The PostgreSQL index is built
//! from these words, and the snippets of search results mark them. (SQLite's FTS5 index folds
//! the same way with its own `unicode61 remove_diacritics 2` tokenizer.)

use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

/// The word lowercased with its diacritics taken off: `Přílohy` → `prilohy`.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        // All folding does to ASCII.
        return word.to_ascii_lowercase();
    }
    word.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// Whether the word of a text `word` folds to `folded` (a folded word); an ASCII word is compared
/// as it is, without making its folded copy.
fn folds_to(word: &str, folded: &str) -> bool {
    if word.is_ascii() { word.eq_ignore_ascii_case(folded) } else { fold(word) == folded }
}

/// Whether the character at byte `at` of `text` belongs to a word (letters and digits; everything
/// else separates words), and its length in bytes.
fn char_at(text: &str, at: usize) -> (bool, usize) {
    let byte = text.as_bytes()[at];
    if byte.is_ascii() {
        return (byte.is_ascii_alphanumeric(), 1);
    }
    text[at..].chars().next().map_or((false, 1), |c| (c.is_alphanumeric(), c.len_utf8()))
}

/// The byte ranges of the words of `text`, in order.
pub fn word_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = loop {
            if at >= text.len() {
                return None;
            }
            let (in_word, len) = char_at(text, at);
            if in_word {
                break at;
            }
            at += len;
        };
        while at < text.len() {
            let (in_word, len) = char_at(text, at);
            if !in_word {
                break;
            }
            at += len;
        }
        Some((start, at))
    })
}

/// The words of a text read as far as asked for: a snippet of a long message reads to its first
/// match and a window beyond, not the whole message.
struct Spans<'a, I> {
    rest: I,
    read: Vec<(usize, usize)>,
    text: &'a str,
}

impl<'a, I: Iterator<Item = (usize, usize)>> Spans<'a, I> {
    /// Word `i`, when the text has that many.
    fn get(&mut self, i: usize) -> Option<(usize, usize)> {
        while self.read.len() <= i {
            self.read.push(self.rest.next()?);
        }
        Some(self.read[i])
    }

    /// The words of `term` (folded words) start at word `i`.
    fn starts(&mut self, i: usize, term: &[String]) -> bool {
        let text = self.text;
        term.iter().enumerate().all(|(k, w)| self.get(i + k).is_some_and(|(s, e)| folds_to(&text[s..e], w)))
    }
}

/// The longest word kept, in bytes: longer runs (encoded data pasted as text, mostly) are cut
/// here, within what PostgreSQL takes as one lexeme (2,047 bytes).
pub const WORD_MAX_BYTES: usize = 200;

/// The folded words of `text`, in order, each at most [`WORD_MAX_BYTES`]; a word that folds to
/// nothing (only combining marks) is left out.
pub fn words(text: &str) -> Vec<String> {
    word_spans(text)
        .map(|(start, end)| {
            let mut word = fold(&text[start..end]);
            if word.len() > WORD_MAX_BYTES {
                let cut = (0..=WORD_MAX_BYTES).rev().find(|&i| word.is_char_boundary(i)).unwrap_or(0);
                word.truncate(cut);
            }
            word
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// A piece of a snippet: text, marked when it matched the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub matched: bool,
}

/// Up to about `width` characters of `text` around the first place where one of `terms` (each a
/// word or a phrase, as folded [`words`]) occurs, whitespace collapsed, with every occurrence of a
/// term marked. `None` when no term occurs in the text.
pub fn highlight(text: &str, terms: &[Vec<String>], width: usize) -> Option<Vec<Piece>> {
    let mut spans = Spans { rest: word_spans(text), read: Vec::new(), text };
    // The longest term at word `i`, in words.
    let match_at = |spans: &mut Spans<'_, _>, i: usize| -> Option<usize> {
        let mut longest = None;
        for term in terms {
            if !term.is_empty() && longest.is_none_or(|l| term.len() > l) && spans.starts(i, term) {
                longest = Some(term.len());
            }
        }
        longest
    };
    let mut first = 0;
    loop {
        spans.get(first)?;
        if match_at(&mut spans, first).is_some() {
            break;
        }
        first += 1;
    }
    // The window starts a few words before the first match, at a word's start.
    let lead = first.saturating_sub(6);
    let start = if lead == 0 { 0 } else { spans.read[lead].0 };
    let mut end = text[start..].char_indices().nth(width).map_or(text.len(), |(at, _)| start + at);
    // Every matched run of words in the window, as (first word, last word), not overlapping.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = first;
    while spans.get(i).is_some_and(|(s, _)| s < end) {
        match match_at(&mut spans, i) {
            Some(len) => {
                runs.push((i, i + len - 1));
                i += len;
            }
            None => i += 1,
        }
    }
    // Never end inside a word (the words read reach past the window's end).
    if end < text.len()
        && let Some(&(s, _)) = spans.read[first..].iter().find(|&&(s, e)| s < end && end < e)
    {
        end = s.max(start);
    }
    let spans = spans.read;
    let mut pieces: Vec<Piece> = Vec::new();
    let mut push = |piece: &str, matched: bool| {
        let mut collapsed = piece.split_whitespace().collect::<Vec<_>>().join(" ");
        if piece.starts_with(char::is_whitespace) && !collapsed.is_empty() {
            collapsed.insert(0, ' ');
        }
        if piece.ends_with(char::is_whitespace) && !piece.trim().is_empty() {
            collapsed.push(' ');
        }
        if piece.trim().is_empty() && !piece.is_empty() {
            collapsed = " ".to_owned();
        }
        if pieces.last().is_some_and(|p| p.text.ends_with(' ')) && collapsed.starts_with(' ') {
            collapsed.remove(0);
        }
        if collapsed.is_empty() {
            return;
        }
        match pieces.last_mut() {
            Some(last) if last.matched == matched => last.text.push_str(&collapsed),
            _ => pieces.push(Piece { text: collapsed, matched }),
        }
    };
    if start > 0 {
        push("… ", false);
    }
    let mut at = start;
    for &(a, b) in &runs {
        let (s, e) = (spans[a].0, spans[b].1);
        if s < start {
            continue;
        }
        if e > end {
            break;
        }
        push(&text[at..s], false);
        push(&text[s..e], true);
        at = e;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push(" …", false);
    }
    if let Some(first) = pieces.first_mut() {
        first.text = first.text.trim_start().to_owned();
    }
    if let Some(last) = pieces.last_mut() {
        last.text = last.text.trim_end().to_owned();
    }
    Some(pieces)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn marked(pieces: &[Piece]) -> String {
        pieces.iter().map(|p| if p.matched { format!("[{}]", p.text) } else { p.text.clone() }).collect()
    }

    #[test]
    fn case_and_diacritics_fold() {
        assert_eq!(fold("Přílohy"), "prilohy");
        assert_eq!(fold("ŽLUŤOUČKÝ"), "zlutoucky");
        assert_eq!(fold("Ångström"), "angstrom");
        assert_eq!(
            words("Ann <ann.smith@example.org>, 2024-05!"),
            ["ann", "ann", "smith", "example", "org", "2024", "05"]
        );
        assert!(words(" -- !! ").is_empty());
        // A letter that is nothing but a combining mark folds to nothing and is no word.
        assert!(words("\u{345}").is_empty());
        assert_eq!(words(&"x".repeat(500))[0].len(), WORD_MAX_BYTES);
    }

    #[test]
    fn a_snippet_marks_words_and_phrases_around_the_first_match() {
        let text = "Dobrý den,\n\nv příloze posílám  přílohy k faktuře. Přílohy jsou dvě.";
        let pieces = highlight(text, &[words("prilohy")], 200).unwrap();
        assert_eq!(marked(&pieces), "Dobrý den, v příloze posílám [přílohy] k faktuře. [Přílohy] jsou dvě.");
        let pieces = highlight(text, &[words("k faktuře"), words("dve")], 200).unwrap();
        assert_eq!(marked(&pieces), "Dobrý den, v příloze posílám přílohy [k faktuře]. Přílohy jsou [dvě].");
        // A match far into the text: the window starts a few words before it.
        let long = format!("{} needle here", "word ".repeat(50));
        let pieces = highlight(&long, &[words("needle")], 60).unwrap();
        assert_eq!(marked(&pieces), "… word word word word word word [needle] here");
        assert_eq!(highlight(text, &[words("invoice")], 200), None);
        // A short window ends at a word's start and says there is more.
        let pieces = highlight("alpha beta gamma delta epsilon", &[words("alpha")], 13).unwrap();
        assert_eq!(marked(&pieces), "[alpha] beta …");
    }

    proptest! {
        /// A snippet is found exactly when the text holds the term (as folded words), and what it
        /// marks is the term, however the text spells it.
        #[test]
        fn a_snippet_marks_the_term_wherever_the_text_has_it(
            text in proptest::collection::vec(
                prop_oneof![
                    Just("Přílohy"), Just("prilohy"), Just("k"), Just("faktuře"), Just("FAKTURE"), Just("a-b"),
                    Just(" "), Just(", "), Just("\n\n"), Just("日本"), Just("x1"),
                ],
                0..60,
            ).prop_map(|parts| parts.join(" ")),
            term in prop_oneof![Just("prilohy"), Just("k faktuře"), Just("faktuře prilohy"), Just("b x1")],
            width in 5usize..80,
        ) {
            let term = words(term);
            let folded = words(&text);
            let holds = folded.windows(term.len()).any(|w| w == term.as_slice());
            let pieces = highlight(&text, std::slice::from_ref(&term), width);
            prop_assert_eq!(pieces.is_some(), holds, "{}", text);
            for piece in pieces.iter().flatten().filter(|p| p.matched) {
                prop_assert_eq!(words(&piece.text), term.clone(), "{}", text);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        /// Any text, however hostile, is cut into words and highlighted without a panic; words
        /// are never empty, never longer than the limit, and a highlight's pieces are the text's.
        #[test]
        fn any_text_gives_words_and_highlights(
            text in crate::search::tests::hostile_text(200),
            term in crate::search::tests::hostile_text(12),
            width in 0usize..120,
        ) {
            let folded = words(&text);
            prop_assert!(folded.iter().all(|w| !w.is_empty() && w.len() <= WORD_MAX_BYTES));
            for (start, end) in word_spans(&text) {
                prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end) && start < end);
            }
            let _ = fold(&text);
            let term = words(&term);
            if let Some(pieces) = highlight(&text, &[term], width) {
                let shown: String = pieces.iter().map(|p| p.text.as_str()).collect();
                let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
                prop_assert!(collapsed.contains(shown.trim_matches(['…', ' '])), "{:?} not in {:?}", shown, text);
            }
        }
    }
}
