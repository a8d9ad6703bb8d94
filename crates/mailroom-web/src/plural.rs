//! Counts in words: `1 message`, `2 messages`; `1 zpráva`, `2 zprávy`, `5 zpráv`. Which form a
//! number takes is the language's plural rule, from CLDR through `icu_plurals` (its compiled
//! data), not `if n == 1`: Czech has a form for 2 to 4 and another for 5 and up, and 21 is not
//! like 1 there as it is in Russian.

use icu_locale_core::locale;
use icu_plurals::{PluralCategory, PluralRules};
use mailroom_domain::Language;

/// A counted text in each plural form a language has; `{n}` is the number. English uses `one`
/// and `other`; Czech `one` (1), `few` (2 to 4), `many` (fractions, which the UI never counts)
/// and `other` (0, 5 and up).
pub struct Plural {
    pub one: &'static str,
    pub few: &'static str,
    pub many: &'static str,
    pub other: &'static str,
}

thread_local! {
    // Per thread, since the rules are not `Sync`. The compiled data has both languages; were one
    // missing, every count would take `other`.
    static EN: Option<PluralRules> = PluralRules::try_new_cardinal(locale!("en").into()).ok();
    static CS: Option<PluralRules> = PluralRules::try_new_cardinal(locale!("cs").into()).ok();
}

fn category(language: Language, n: i64) -> PluralCategory {
    let rules = match language {
        Language::En => &EN,
        Language::Cs => &CS,
    };
    rules.with(|rules| rules.as_ref().map_or(PluralCategory::Other, |rules| rules.category_for(n)))
}

/// A number to count with, however many references a template wraps it in.
pub trait Count {
    fn count(&self) -> i64;
}

impl Count for i64 {
    fn count(&self) -> i64 {
        *self
    }
}

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> i64 {
        (**self).count()
    }
}

/// The text for `n` in the form the language's rule picks for it.
pub fn count(language: Language, forms: &Plural, n: i64) -> String {
    let category = category(language, n);
    let text = match category {
        PluralCategory::One => forms.one,
        PluralCategory::Few => forms.few,
        PluralCategory::Many => forms.many,
        _ => forms.other,
    };
    text.replace("{n}", &n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::texts;

    #[test]
    fn czech_counts_take_their_three_forms() {
        let t = texts(Language::Cs);
        let messages: Vec<String> =
            [0, 1, 2, 5, 21, 22, 25].iter().map(|n| count(Language::Cs, &t.count_messages, *n)).collect();
        assert_eq!(messages, ["0 zpráv", "1 zpráva", "2 zprávy", "5 zpráv", "21 zpráv", "22 zpráv", "25 zpráv"]);
        let unread: Vec<String> =
            [0, 1, 2, 5, 21, 22, 25].iter().map(|n| count(Language::Cs, &t.count_unread, *n)).collect();
        assert_eq!(
            unread,
            [
                "0 nepřečtených",
                "1 nepřečtená",
                "2 nepřečtené",
                "5 nepřečtených",
                "21 nepřečtených",
                "22 nepřečtených",
                "25 nepřečtených"
            ]
        );
        assert_eq!(count(Language::Cs, &t.count_mailboxes, 1), "Máte 1 připojenou schránku.");
        assert_eq!(count(Language::Cs, &t.count_mailboxes, 3), "Máte 3 připojené schránky.");
        assert_eq!(count(Language::Cs, &t.count_mailboxes, 5), "Máte 5 připojených schránek.");
    }

    #[test]
    fn english_counts_take_one_and_other() {
        let t = texts(Language::En);
        let messages: Vec<String> =
            [0, 1, 2, 5, 21].iter().map(|n| count(Language::En, &t.count_messages, *n)).collect();
        assert_eq!(messages, ["0 messages", "1 message", "2 messages", "5 messages", "21 messages"]);
        assert_eq!(count(Language::En, &t.count_unread, 1), "1 unread");
        assert_eq!(count(Language::En, &t.count_mailboxes, 1), "You have 1 connected mailbox.");
        assert_eq!(count(Language::En, &t.count_mailboxes, 2), "You have 2 connected mailboxes.");
    }
}
