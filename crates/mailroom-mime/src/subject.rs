//! Subject normalisation for thread matching.

/// Reply and forward prefixes in the languages Mailroom's users are most likely to meet
/// (English, German, Polish, Scandinavian). Longer prefixes come first so "Fwd" wins over "Fw".
const PREFIXES: &[&str] = &["fwd", "odp", "re", "fw", "aw", "wg", "sv"];

/// Subject without any number of leading "Re:", "Fwd:", "Fw:", "AW:", "WG:", "Odp:", "RE:", "Sv:" prefixes
/// (case-insensitive, with optional "[n]"), trimmed: used to match threads.
pub fn normalized_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    while let Some(after) = strip_prefix(rest) {
        rest = after.trim_start();
    }
    rest.trim().to_owned()
}

/// One prefix ("Re:", "RE[2]:", "Fwd :") stripped, or `None` when `s` does not start with one.
fn strip_prefix(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    PREFIXES.iter().find_map(|prefix| {
        let n = prefix.len();
        // Byte-wise comparison: the prefixes are ASCII, so a match ends on a char boundary.
        if bytes.len() < n || !bytes[..n].eq_ignore_ascii_case(prefix.as_bytes()) {
            return None;
        }
        let mut i = n;
        // An optional counter some clients add instead of stacking prefixes: "Re[3]:".
        if bytes.get(i) == Some(&b'[') {
            let digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || bytes.get(i + 1 + digits) != Some(&b']') {
                return None;
            }
            i += digits + 2;
        }
        // Some clients put a space before the colon ("Re :", French style).
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        // Without the colon this is a word such as "Resume" or "Sven", not a prefix.
        (bytes.get(i) == Some(&b':')).then(|| &s[i + 1..])
    })
}

/// Whether a reply titled `reply` stays in a conversation titled `thread`: Gmail honours a
/// `threadId` only when "the Subject headers match" (its `Message.threadId` documentation), which it
/// reads with the reply prefixes set aside. Case is ignored, as Gmail's threading does.
pub fn subjects_match(thread: &str, reply: &str) -> bool {
    normalized_subject(thread).to_lowercase() == normalized_subject(reply).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::{normalized_subject, subjects_match};

    #[test]
    fn a_reply_matches_its_thread_only_when_the_subject_is_kept() {
        assert!(subjects_match("Quarterly plan", "Re: Quarterly plan"));
        assert!(subjects_match("Re: Quarterly plan", "RE: quarterly PLAN"));
        assert!(subjects_match("Fwd: Odp: Plán", "plán"));
        assert!(!subjects_match("Quarterly plan", "Re: Quarterly plan, revised"));
        assert!(!subjects_match("Quarterly plan", "New topic"));
    }

    #[test]
    fn reply_and_forward_prefixes_in_several_languages_are_stripped() {
        assert_eq!(normalized_subject("Re: Hello"), "Hello");
        assert_eq!(normalized_subject("RE: Re: Fwd: Hello"), "Hello");
        assert_eq!(normalized_subject("Fw: AW: WG: Odp: Sv: Hello "), "Hello");
        assert_eq!(normalized_subject("  fwd:Hello"), "Hello");
        assert_eq!(normalized_subject("Re[2]: Hello"), "Hello");
        assert_eq!(normalized_subject("Re : Hello"), "Hello");
    }

    #[test]
    fn words_that_merely_start_like_a_prefix_are_kept() {
        assert_eq!(normalized_subject("Resume attached"), "Resume attached");
        assert_eq!(normalized_subject("Sven: notes"), "Sven: notes");
        assert_eq!(normalized_subject("Re[x]: odd"), "Re[x]: odd");
        assert_eq!(normalized_subject("Hello Re: there"), "Hello Re: there");
    }

    #[test]
    fn empty_and_prefix_only_subjects_become_empty() {
        assert_eq!(normalized_subject(""), "");
        assert_eq!(normalized_subject("Re:"), "");
        assert_eq!(normalized_subject("Re: Fwd:  "), "");
    }

    #[test]
    fn non_ascii_subjects_are_handled_without_panicking() {
        assert_eq!(normalized_subject("Odp: Žluťoučký kůň"), "Žluťoučký kůň");
        assert_eq!(normalized_subject("Ře: x"), "Ře: x");
        assert_eq!(normalized_subject("R"), "R");
    }
}
