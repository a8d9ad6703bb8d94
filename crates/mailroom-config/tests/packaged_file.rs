//! The settings file the Debian package installs as /etc/mailroom/mailroom.toml
//! (`packaging/mailroom.toml`): it loads as shipped, names every setting once in its section, shows
//! the literal defaults, and still loads with every example uncommented.

use std::collections::HashMap;
use std::path::PathBuf;

use mailroom_config::{Config, ConfigErrors, SETTINGS};

const SHIPPED: &str = include_str!("../../../packaging/mailroom.toml");

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::load(Some(("packaging/mailroom.toml", text)), &HashMap::new())
}

/// A setting's line in the file, set or commented out.
#[derive(Debug)]
struct Line {
    /// The key as `SETTINGS` names it, `google.scopes` for `scopes` under `[google]`.
    key: String,
    /// The value without its quotes.
    value: String,
    commented: bool,
    /// The line's index in the file.
    index: usize,
}

fn setting_lines() -> Vec<Line> {
    let mut section = String::new();
    let mut lines = Vec::new();
    for (index, line) in SHIPPED.lines().enumerate() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (commented, rest) = match line.strip_prefix("# ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((key, value)) = rest.split_once(" = ") else { continue };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let key = if section.is_empty() { key.to_owned() } else { format!("{section}.{key}") };
        lines.push(Line { key, value: value.trim_matches('"').to_owned(), commented, index });
    }
    lines
}

#[test]
fn the_shipped_file_loads_as_it_is() {
    let config = load(SHIPPED).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/mailroom"));
    assert!(config.secret_key.is_none(), "the key is made on first start, never shipped");
}

#[test]
fn every_setting_is_listed_once_with_its_default() {
    let lines = setting_lines();
    for line in &lines {
        assert!(SETTINGS.iter().any(|s| s.key == line.key), "line {}: unknown setting {}", line.index + 1, line.key);
    }
    for setting in SETTINGS {
        let found: Vec<&Line> = lines.iter().filter(|l| l.key == setting.key).collect();
        assert_eq!(found.len(), 1, "{} should be in packaging/mailroom.toml once", setting.key);
        // A default worked out from other settings, or none, is described in the comment instead.
        let literal = !setting.default.contains('<') && !setting.default.starts_with('(');
        let line = found[0];
        let example = matches!(setting.key, "public_url" | "database_url" | "trusted_proxies");
        if line.commented && literal && !example {
            assert_eq!(line.value, setting.default, "the default of {}", setting.key);
        }
    }
}

#[test]
fn the_file_still_loads_with_every_example_uncommented() {
    let examples: Vec<usize> =
        setting_lines().iter().filter(|l| l.commented && !l.value.contains('<')).map(|l| l.index).collect();
    let uncommented: Vec<&str> = SHIPPED
        .lines()
        .enumerate()
        .map(|(i, line)| if examples.contains(&i) { line.trim_start_matches("# ") } else { line })
        .collect();
    let config = load(&uncommented.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.base_url(), "https://mail.example.com");
    assert_eq!(config.sync.concurrency, 4);
}
