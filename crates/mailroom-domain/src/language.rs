use serde::{Deserialize, Serialize};

/// The languages the UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Language {
    #[default]
    En,
    Cs,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::Cs];

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Cs => "cs",
        }
    }

    /// The language's own name, as shown in the language switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Cs => "Čeština",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "cs" => Some(Language::Cs),
            _ => None,
        }
    }

    /// Picks the supported language the browser ranks highest in an `Accept-Language` header
    /// (RFC 9110 §12.5.4); entries with `q=0` are refused ones. `None` when nothing matches.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Language)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let Some(language) = parts.next().and_then(Language::parse) else {
                continue;
            };
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, language));
            }
        }
        best.map(|(_, language)| language)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_highest_ranked_supported_language() {
        assert_eq!(Language::from_accept_language("cs-CZ,cs;q=0.9,en;q=0.8"), Some(Language::Cs));
        assert_eq!(Language::from_accept_language("de-DE,en;q=0.5,cs;q=0.4"), Some(Language::En));
        assert_eq!(Language::from_accept_language("en;q=0.3, cs;q=0.7"), Some(Language::Cs));
        assert_eq!(Language::from_accept_language("cs;q=0, en;q=0.1"), Some(Language::En));
        assert_eq!(Language::from_accept_language("de, fr"), None);
        assert_eq!(Language::from_accept_language(""), None);
    }
}
