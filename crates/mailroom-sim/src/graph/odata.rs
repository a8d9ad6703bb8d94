//! The OData query options Graph mail lists understand: `$select`, `$top`, `$skip`, `$orderby`,
//! `$filter` and `$count`, with the subset of `$filter` a mail client uses (received time ranges,
//! a few booleans, and `internetMessageId eq '<…>'` to find a message by its Message-ID) and Outlook's rule that a sorted property must lead the filter.

use axum::http::StatusCode;

use super::api::ApiRequest;
use super::errors::{GraphError, GraphResult};
use super::mailbox::Message;

pub const DEFAULT_PAGE: usize = 10;
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Cmp {
    fn parse(s: &str) -> Option<Cmp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Cmp::Eq,
            "ne" => Cmp::Ne,
            "ge" => Cmp::Ge,
            "gt" => Cmp::Gt,
            "le" => Cmp::Le,
            "lt" => Cmp::Lt,
            _ => return None,
        })
    }

    fn test<T: Ord>(self, left: T, right: T) -> bool {
        match self {
            Cmp::Eq => left == right,
            Cmp::Ne => left != right,
            Cmp::Ge => left >= right,
            Cmp::Gt => left > right,
            Cmp::Le => left <= right,
            Cmp::Lt => left < right,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    Received(Cmp, i64),
    IsRead(Cmp, bool),
    IsDraft(Cmp, bool),
    HasAttachments(Cmp, bool),
    /// The Message-ID without angle brackets; only `eq` and `ne`.
    InternetMessageId(Cmp, String),
}

impl Clause {
    pub fn matches(&self, m: &Message) -> bool {
        match *self {
            Clause::Received(cmp, ms) => cmp.test(m.received_ms / 1000, ms / 1000),
            Clause::IsRead(cmp, v) => cmp.test(m.is_read, v),
            Clause::IsDraft(cmp, v) => cmp.test(m.is_draft, v),
            Clause::HasAttachments(cmp, v) => cmp.test(m.has_attachments(), v),
            Clause::InternetMessageId(cmp, ref id) => cmp.test(m.internet_message_id.as_str(), id.as_str()),
        }
    }

    fn property(&self) -> &'static str {
        match self {
            Clause::Received(..) => "receiveddatetime",
            Clause::IsRead(..) => "isread",
            Clause::IsDraft(..) => "isdraft",
            Clause::HasAttachments(..) => "hasattachments",
            Clause::InternetMessageId(..) => "internetmessageid",
        }
    }
}

fn invalid_filter() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )
}

/// Parses `prop op value [and prop op value]…`; `or` and functions are not supported.
pub fn parse_filter(filter: &str) -> GraphResult<Vec<Clause>> {
    let mut clauses = Vec::new();
    let words: Vec<&str> = filter.split_whitespace().collect();
    for part in words.split(|w| w.eq_ignore_ascii_case("and")) {
        let [property, op, value] = part else { return Err(invalid_filter()) };
        let property = property.trim_start_matches('(');
        let value = value.trim_end_matches(')');
        let cmp = Cmp::parse(op).ok_or_else(invalid_filter)?;
        let boolean = || match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid_filter()),
        };
        let clause = match property.to_ascii_lowercase().as_str() {
            "receiveddatetime" => Clause::Received(cmp, parse_time(value).ok_or_else(invalid_filter)?),
            "isread" => Clause::IsRead(cmp, boolean()?),
            "isdraft" => Clause::IsDraft(cmp, boolean()?),
            "hasattachments" => Clause::HasAttachments(cmp, boolean()?),
            "internetmessageid" if matches!(cmp, Cmp::Eq | Cmp::Ne) => {
                Clause::InternetMessageId(cmp, string_literal(value).ok_or_else(invalid_filter)?)
            }
            _ => return Err(invalid_filter()),
        };
        clauses.push(clause);
    }
    Ok(clauses)
}

/// An OData string literal (`'it''s'` is `it's`), angle brackets of a Message-ID taken off.
fn string_literal(value: &str) -> Option<String> {
    let inner = value.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'").trim_start_matches('<').trim_end_matches('>').to_owned())
}

/// A DateTimeOffset literal: RFC 3339, or a bare date meaning its midnight UTC.
pub fn parse_time(value: &str) -> Option<i64> {
    let value = value.trim_matches('\'');
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(t.timestamp_millis());
    }
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Graph's DateTimeOffset form, always UTC.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

/// `$select`: the chosen properties, lowercase; `None` for all defaults.
pub fn parse_select(request: &ApiRequest) -> Option<Vec<String>> {
    request
        .param("$select")
        .map(|s| s.split(',').map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect())
}

/// Keeps the selected properties of an object (and its `@odata.*` annotations and `id`).
/// Whether `$select` keeps the property `key`: annotations and the id always come.
pub fn selected(key: &str, select: Option<&[String]>) -> bool {
    select.is_none_or(|select| key.starts_with('@') || key == "id" || select.contains(&key.to_ascii_lowercase()))
}

pub fn apply_select(
    object: serde_json::Map<String, serde_json::Value>,
    select: Option<&[String]>,
) -> serde_json::Value {
    let Some(select) = select else { return serde_json::Value::Object(object) };
    serde_json::Value::Object(object.into_iter().filter(|(k, _)| selected(k, Some(select))).collect())
}

pub fn parse_top(request: &ApiRequest) -> GraphResult<Option<usize>> {
    let Some(top) = request.param("$top") else { return Ok(None) };
    match top.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(Some(n)),
        _ => Err(GraphError::bad_request(format!("Invalid $top value '{top}': the range is 1 to {MAX_PAGE}."))),
    }
}

/// `$orderby receivedDateTime [asc|desc]`: whether descending, or `None` when absent.
pub fn parse_orderby(request: &ApiRequest) -> GraphResult<Option<bool>> {
    let Some(orderby) = request.param("$orderby") else { return Ok(None) };
    let mut words = orderby.split_whitespace();
    let property = words.next().unwrap_or_default();
    if !property.eq_ignore_ascii_case("receivedDateTime") {
        return Err(GraphError::bad_request(format!("Sorting by '{property}' is not supported.")));
    }
    match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => Ok(Some(false)),
        Some("desc") => Ok(Some(true)),
        Some(other) => Err(GraphError::bad_request(format!("Invalid sort direction '{other}'."))),
    }
}

/// Query options of a message list.
pub struct ListOptions {
    pub select: Option<Vec<String>>,
    pub top: usize,
    pub skip: usize,
    pub descending: bool,
    pub filter: Vec<Clause>,
    pub count: bool,
}

impl ListOptions {
    pub fn parse(request: &ApiRequest) -> GraphResult<ListOptions> {
        let top = parse_top(request)?.unwrap_or(DEFAULT_PAGE);
        let skip = match request.param("$skip") {
            Some(s) => s.parse().map_err(|_| GraphError::bad_request(format!("Invalid $skip value '{s}'.")))?,
            None => 0,
        };
        let filter = request.param("$filter").map(parse_filter).transpose()?.unwrap_or_default();
        let orderby = parse_orderby(request)?;
        // Outlook sorts only on what it filters first: "The restriction or sort order is too
        // complex for this operation." otherwise.
        if orderby.is_some() && filter.first().is_some_and(|c| c.property() != "receiveddatetime") {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            ));
        }
        let count = request.param("$count").is_some_and(|c| c.eq_ignore_ascii_case("true"));
        Ok(ListOptions { select: parse_select(request), top, skip, descending: orderby.unwrap_or(true), filter, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_found_by_its_internet_message_id() {
        let clauses = parse_filter("internetMessageId eq '<a.b@example.com>'").unwrap();
        assert_eq!(clauses, vec![Clause::InternetMessageId(Cmp::Eq, "a.b@example.com".to_owned())]);
        assert!(parse_filter("internetMessageId gt '<a@b>'").is_err());
        assert!(parse_filter("internetMessageId eq a@b").is_err());
    }

    #[test]
    fn filters_take_and_clauses_of_dates_and_booleans() {
        let clauses = parse_filter("receivedDateTime ge 2024-10-01T00:00:00Z and isRead eq false").unwrap();
        assert_eq!(clauses, [Clause::Received(Cmp::Ge, 1_727_740_800_000), Clause::IsRead(Cmp::Eq, false)]);
        assert_eq!(
            parse_filter("receivedDateTime lt 2024-10-01").unwrap(),
            [Clause::Received(Cmp::Lt, 1_727_740_800_000)]
        );
        assert!(parse_filter("subject eq 'x'").is_err());
        assert!(parse_filter("isRead eq false or isRead eq true").is_err());
        assert!(parse_filter("isRead eq maybe").is_err());
    }

    #[test]
    fn times_print_as_utc_seconds() {
        assert_eq!(format_time(1_727_776_800_123), "2024-10-01T10:00:00Z");
        assert_eq!(parse_time("2024-10-01T12:00:00+02:00"), Some(1_727_776_800_000));
    }
}
