//! Times as the user lives them: in their time zone, written the way their language writes them.
//! Every time a page shows goes through here. The formatting functions are pure (an instant, a
//! zone, a language and, for lists, the instant that counts as now), so they are tested without a
//! clock; [`Clock`] binds the zone, language and now of one request for pages to call.
//!
//! Zones come from jiff's bundled copy of the IANA database (`tzdb-bundle-always`), so a server
//! without `/usr/share/zoneinfo` shows the same times as one with it.

use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::{DateTime, Weekday};
use jiff::tz::TimeZone;
use mailroom_domain::Language;

use crate::i18n::texts;

/// The longest zone name accepted; the longest in the database is about 30 characters.
const MAX_ZONE_NAME: usize = 64;

/// A time zone by its IANA name (`Europe/Prague`), as the database spells it; `None` for a name
/// the database does not know, which callers ignore or refuse, never fail on.
pub fn parse_zone(name: &str) -> Option<TimeZone> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_ZONE_NAME || !name.chars().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    TimeZone::get(name).ok().filter(|zone| !zone.is_unknown() && zone.iana_name().is_some())
}

/// The zone's name as the database spells it (`europe/prague` becomes `Europe/Prague`).
pub fn zone_name(zone: &TimeZone) -> &str {
    zone.iana_name().unwrap_or("UTC")
}

/// The user's zone from its stored name: UTC until it is known, and for a name the database no
/// longer has.
pub fn user_zone(stored: Option<&str>) -> TimeZone {
    stored.and_then(parse_zone).unwrap_or(TimeZone::UTC)
}

/// The zones a user can choose from, sorted: the database's canonical names under the continents
/// and oceans, and UTC. Old links (`US/Eastern`, `Europe/Kiev`) and `Etc/GMT+5`-style offsets are
/// left out of the list, though a browser that reports one is still understood.
pub fn zone_choices() -> &'static [String] {
    static CHOICES: LazyLock<Vec<String>> = LazyLock::new(|| {
        const AREAS: [&str; 10] = [
            "Africa",
            "America",
            "Antarctica",
            "Arctic",
            "Asia",
            "Atlantic",
            "Australia",
            "Europe",
            "Indian",
            "Pacific",
        ];
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name.split_once('/').is_some_and(|(area, _)| AREAS.contains(&area)))
            .filter(|name| TimeZone::get(name).is_ok_and(|zone| zone.is_primary()))
            .collect();
        names.push("UTC".to_owned());
        names.sort();
        names.dedup();
        names
    });
    &CHOICES
}

fn civil(at: i64, zone: &TimeZone) -> Option<DateTime> {
    Timestamp::from_second(at).ok().map(|ts| zone.to_datetime(ts))
}

const EN_MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn en_weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

fn cs_weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "po",
        Weekday::Tuesday => "út",
        Weekday::Wednesday => "st",
        Weekday::Thursday => "čt",
        Weekday::Friday => "pá",
        Weekday::Saturday => "so",
        Weekday::Sunday => "ne",
    }
}

/// `2:05 PM` / `14:05`.
fn clock_time(dt: DateTime, language: Language) -> String {
    match language {
        Language::En => {
            let hour = match dt.hour() % 12 {
                0 => 12,
                h => h,
            };
            let half = if dt.hour() < 12 { "AM" } else { "PM" };
            format!("{hour}:{:02} {half}", dt.minute())
        }
        Language::Cs => format!("{}:{:02}", dt.hour(), dt.minute()),
    }
}

/// `Dec 6` / `6. 12.`, with the year when asked: `Dec 6, 2025` / `6. 12. 2025`.
fn day_month(dt: DateTime, language: Language, with_year: bool) -> String {
    match language {
        Language::En => {
            let month = EN_MONTHS[usize::try_from(dt.month() - 1).unwrap_or(0)];
            if with_year { format!("{month} {}, {}", dt.day(), dt.year()) } else { format!("{month} {}", dt.day()) }
        }
        Language::Cs => {
            if with_year {
                format!("{}. {}. {}", dt.day(), dt.month(), dt.year())
            } else {
                format!("{}. {}.", dt.day(), dt.month())
            }
        }
    }
}

/// A time in a list: today's as its time, this year's as day and month, older ones with the year.
/// "Today" and "this year" are the user's, in their zone.
pub fn list_time(at: i64, zone: &TimeZone, language: Language, now: i64) -> String {
    let (Some(at), Some(now)) = (civil(at, zone), civil(now, zone)) else { return String::new() };
    if at.date() == now.date() { clock_time(at, language) } else { day_month(at, language, at.year() != now.year()) }
}

/// The whole date and time with the weekday: `Sat, Dec 6, 2025, 2:05 PM` / `so 6. 12. 2025 14:05`.
pub fn full_time(at: i64, zone: &TimeZone, language: Language) -> String {
    let Some(at) = civil(at, zone) else { return String::new() };
    match language {
        Language::En => {
            format!("{}, {}, {}", en_weekday(at.weekday()), day_month(at, language, true), clock_time(at, language))
        }
        Language::Cs => {
            format!("{} {} {}", cs_weekday(at.weekday()), day_month(at, language, true), clock_time(at, language))
        }
    }
}

/// The value of a `datetime-local` input for an instant: `2025-12-06T14:05` in the zone.
pub fn input_value(at: i64, zone: &TimeZone) -> String {
    civil(at, zone).map(|dt| dt.strftime("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default()
}

/// The instant a `datetime-local` input's value (`2025-12-06T14:05`, seconds allowed) means in the
/// zone. A time the clocks skip in spring is read as the same time after the jump; one they pass
/// twice in autumn as the first of the two.
pub fn parse_input(value: &str, zone: &TimeZone) -> Option<i64> {
    let value = value.trim();
    let dt =
        DateTime::strptime("%Y-%m-%dT%H:%M", value).or_else(|_| DateTime::strptime("%Y-%m-%dT%H:%M:%S", value)).ok()?;
    zone.to_timestamp(dt).ok().map(Timestamp::as_second)
}

/// One request's way of showing times: the user's zone and language, and the moment it is.
#[derive(Clone)]
pub struct Clock {
    pub zone: TimeZone,
    pub language: Language,
    pub now: i64,
}

impl Clock {
    pub fn new(zone: TimeZone, language: Language, now: i64) -> Self {
        Clock { zone, language, now }
    }

    /// The clock of a request by this user (UTC for anyone whose zone is not known), now.
    pub fn of(user: Option<&mailroom_store::User>, language: Language) -> Self {
        Clock::new(user_zone(user.and_then(|u| u.time_zone.as_deref())), language, mailroom_store::now())
    }

    /// A time in a list (see [`list_time`]).
    pub fn list(&self, at: i64) -> String {
        list_time(at, &self.zone, self.language, self.now)
    }

    /// The whole date and time (see [`full_time`]).
    pub fn full(&self, at: i64) -> String {
        full_time(at, &self.zone, self.language)
    }

    /// The whole date and time, or the word for never.
    pub fn when(&self, at: Option<i64>) -> String {
        at.map_or_else(|| texts(self.language).never.to_owned(), |at| self.full(at))
    }

    /// Now as a `datetime-local` value in the zone: the earliest a message can be scheduled for.
    pub fn input_now(&self) -> String {
        input_value(self.now, &self.zone)
    }

    /// The zone's IANA name, for the page's `data-zone` and the settings.
    pub fn zone_name(&self) -> &str {
        zone_name(&self.zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        parse_zone(name).unwrap()
    }

    /// The Unix time of a UTC date and time.
    fn utc(year: i16, month: i8, day: i8, hour: i8, minute: i8) -> i64 {
        jiff::civil::date(year, month, day)
            .at(hour, minute, 0, 0)
            .to_zoned_datetime(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second()
    }

    #[test]
    fn lists_show_todays_time_this_years_day_and_older_with_the_year() {
        let prague = zone("Europe/Prague");
        let now = utc(2025, 12, 6, 16, 0);
        let today = utc(2025, 12, 6, 13, 5);
        let this_year = utc(2025, 3, 14, 10, 0);
        let older = utc(2024, 12, 6, 13, 5);
        assert_eq!(list_time(today, &prague, Language::Cs, now), "14:05");
        assert_eq!(list_time(today, &prague, Language::En, now), "2:05 PM");
        assert_eq!(list_time(this_year, &prague, Language::Cs, now), "14. 3.");
        assert_eq!(list_time(this_year, &prague, Language::En, now), "Mar 14");
        assert_eq!(list_time(older, &prague, Language::Cs, now), "6. 12. 2024");
        assert_eq!(list_time(older, &prague, Language::En, now), "Dec 6, 2024");
    }

    #[test]
    fn full_times_have_the_weekday_date_and_time() {
        let prague = zone("Europe/Prague");
        let at = utc(2025, 12, 6, 13, 5);
        assert_eq!(full_time(at, &prague, Language::En), "Sat, Dec 6, 2025, 2:05 PM");
        assert_eq!(full_time(at, &prague, Language::Cs), "so 6. 12. 2025 14:05");
        // Midnight and noon on a twelve-hour clock.
        assert_eq!(full_time(utc(2025, 12, 6, 23, 5), &prague, Language::En), "Sun, Dec 7, 2025, 12:05 AM");
        assert_eq!(full_time(utc(2025, 12, 6, 11, 30), &prague, Language::En), "Sat, Dec 6, 2025, 12:30 PM");
        assert_eq!(full_time(utc(2025, 12, 6, 23, 5), &prague, Language::Cs), "ne 7. 12. 2025 0:05");
    }

    #[test]
    fn just_after_local_midnight_is_today_though_utc_is_still_yesterday() {
        let prague = zone("Europe/Prague");
        // 00:30 on 7 December in Prague is 23:30 on 6 December in UTC.
        let at = utc(2025, 12, 6, 23, 30);
        let now = utc(2025, 12, 7, 9, 0);
        assert_eq!(list_time(at, &prague, Language::Cs, now), "0:30");
        assert_eq!(list_time(at, &prague, Language::En, now), "12:30 AM");
        assert_eq!(list_time(at, &TimeZone::UTC, Language::Cs, now), "6. 12.");
        assert_eq!(full_time(at, &prague, Language::Cs), "ne 7. 12. 2025 0:30");
        // And the other way: 20:00 in New York is already tomorrow in UTC.
        let new_york = zone("America/New_York");
        let evening = utc(2025, 12, 7, 1, 0);
        assert_eq!(list_time(evening, &new_york, Language::En, utc(2025, 12, 6, 15, 0)), "8:00 PM");
    }

    #[test]
    fn daylight_saving_time_moves_the_offset_in_prague_and_new_york() {
        let prague = zone("Europe/Prague");
        // Prague goes from +1 to +2 at 02:00 on 30 March 2025 and back at 03:00 on 26 October.
        assert_eq!(full_time(utc(2025, 3, 30, 0, 59), &prague, Language::Cs), "ne 30. 3. 2025 1:59");
        assert_eq!(full_time(utc(2025, 3, 30, 1, 0), &prague, Language::Cs), "ne 30. 3. 2025 3:00");
        assert_eq!(full_time(utc(2025, 10, 26, 0, 30), &prague, Language::Cs), "ne 26. 10. 2025 2:30");
        assert_eq!(full_time(utc(2025, 10, 26, 1, 30), &prague, Language::Cs), "ne 26. 10. 2025 2:30");
        assert_eq!(full_time(utc(2025, 10, 26, 2, 0), &prague, Language::Cs), "ne 26. 10. 2025 3:00");
        let new_york = zone("America/New_York");
        // New York goes from -5 to -4 at 02:00 on 9 March 2025 and back at 02:00 on 2 November.
        assert_eq!(full_time(utc(2025, 3, 9, 6, 59), &new_york, Language::En), "Sun, Mar 9, 2025, 1:59 AM");
        assert_eq!(full_time(utc(2025, 3, 9, 7, 0), &new_york, Language::En), "Sun, Mar 9, 2025, 3:00 AM");
        assert_eq!(full_time(utc(2025, 11, 2, 5, 30), &new_york, Language::En), "Sun, Nov 2, 2025, 1:30 AM");
        assert_eq!(full_time(utc(2025, 11, 2, 6, 30), &new_york, Language::En), "Sun, Nov 2, 2025, 1:30 AM");
        assert_eq!(full_time(utc(2025, 11, 2, 7, 30), &new_york, Language::En), "Sun, Nov 2, 2025, 2:30 AM");
    }

    #[test]
    fn a_scheduled_local_time_is_the_same_wall_clock_time_in_winter_and_summer() {
        let prague = zone("Europe/Prague");
        assert_eq!(parse_input("2025-12-08T09:00", &prague), Some(utc(2025, 12, 8, 8, 0)));
        assert_eq!(parse_input("2025-07-08T09:00", &prague), Some(utc(2025, 7, 8, 7, 0)));
        assert_eq!(input_value(utc(2025, 12, 8, 8, 0), &prague), "2025-12-08T09:00");
        let new_york = zone("America/New_York");
        assert_eq!(parse_input("2025-12-08T09:00", &new_york), Some(utc(2025, 12, 8, 14, 0)));
        assert_eq!(parse_input("2025-07-08T09:00:00", &new_york), Some(utc(2025, 7, 8, 13, 0)));
        // 02:30 does not exist on the night clocks go forward: it is read as 03:30.
        assert_eq!(parse_input("2025-03-30T02:30", &prague), Some(utc(2025, 3, 30, 1, 30)));
        // 02:30 happens twice on the night they go back: the first one counts.
        assert_eq!(parse_input("2025-10-26T02:30", &prague), Some(utc(2025, 10, 26, 0, 30)));
        for bad in ["", "tomorrow", "2025-13-01T09:00", "2025-12-08 09:00", "2025-12-08T25:00"] {
            assert_eq!(parse_input(bad, &prague), None, "{bad:?}");
        }
    }

    #[test]
    fn zone_names_are_the_databases_and_nothing_else() {
        assert_eq!(parse_zone("europe/prague").map(|z| zone_name(&z).to_owned()).as_deref(), Some("Europe/Prague"));
        assert!(parse_zone("UTC").is_some());
        for bad in
            ["", "Mars/Olympus_Mons", "Europe/\nPrague", "../../etc/passwd", "Etc/Unknown", "+01:00", "CET-1CEST"]
        {
            assert!(parse_zone(bad).is_none(), "{bad:?}");
        }
        assert!(user_zone(Some("Nowhere/Else")).iana_name() == Some("UTC"));
        assert!(user_zone(None).iana_name() == Some("UTC"));
        let choices = zone_choices();
        assert!(choices.iter().any(|z| z == "Europe/Prague"));
        assert!(choices.iter().any(|z| z == "America/New_York"));
        assert!(choices.iter().any(|z| z == "UTC"));
        assert!(!choices.iter().any(|z| z == "US/Eastern" || z.starts_with("Etc/")));
        assert!(choices.iter().all(|z| parse_zone(z).is_some()));
    }

    #[test]
    fn the_clock_says_never_in_the_users_language() {
        let clock = Clock::new(zone("Europe/Prague"), Language::Cs, utc(2025, 12, 6, 16, 0));
        assert_eq!(clock.when(None), texts(Language::Cs).never);
        assert_eq!(clock.when(Some(utc(2025, 12, 6, 13, 5))), "so 6. 12. 2025 14:05");
        assert_eq!(clock.list(utc(2025, 12, 6, 13, 5)), "14:05");
        assert_eq!(clock.zone_name(), "Europe/Prague");
    }
}
