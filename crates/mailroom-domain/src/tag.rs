//! The user's own labels ("tags" in the code, to tell them from Gmail's labels): a name and a
//! colour from a fixed palette, kept in Mailroom and never sent to the provider.

use crate::Invalid;

/// Longest tag name, in characters.
pub const TAG_NAME_MAX: usize = 50;

/// A tag's colour: a palette that reads on light and dark backgrounds alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagColor {
    Red,
    Orange,
    Yellow,
    Green,
    Teal,
    Blue,
    Purple,
    Gray,
}

impl TagColor {
    pub const ALL: [TagColor; 8] = [
        TagColor::Red,
        TagColor::Orange,
        TagColor::Yellow,
        TagColor::Green,
        TagColor::Teal,
        TagColor::Blue,
        TagColor::Purple,
        TagColor::Gray,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TagColor::Red => "red",
            TagColor::Orange => "orange",
            TagColor::Yellow => "yellow",
            TagColor::Green => "green",
            TagColor::Teal => "teal",
            TagColor::Blue => "blue",
            TagColor::Purple => "purple",
            TagColor::Gray => "gray",
        }
    }

    pub fn parse(input: &str) -> Result<TagColor, Invalid> {
        TagColor::ALL.into_iter().find(|c| c.as_str() == input).ok_or(Invalid::Choice)
    }
}

/// A tag's name: trimmed, 1 to [`TAG_NAME_MAX`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagName(String);

impl TagName {
    pub fn parse(input: &str) -> Result<TagName, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid::Required);
        }
        if name.chars().count() > TAG_NAME_MAX {
            return Err(Invalid::TooLong(TAG_NAME_MAX));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::Whitespace);
        }
        Ok(TagName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded_and_colours_come_from_the_palette() {
        assert_eq!(TagName::parse("  Clients ").unwrap().as_str(), "Clients");
        assert_eq!(TagName::parse(" "), Err(Invalid::Required));
        assert_eq!(TagName::parse(&"x".repeat(51)), Err(Invalid::TooLong(50)));
        assert_eq!(TagName::parse("a\u{7}b"), Err(Invalid::Whitespace));
        for color in TagColor::ALL {
            assert_eq!(TagColor::parse(color.as_str()), Ok(color));
        }
        assert_eq!(TagColor::parse("#ff0000"), Err(Invalid::Choice));
    }
}
