//! A sync run in words: what it is, the phase it is in with a count that moves, the time it has
//! left, and what it waits for, in the page's language. Pure functions of a run, its provider and
//! the time now, so that every wording is unit-tested in both languages.

use mailroom_domain::{Language, Provider};
use mailroom_store::{RunKind, RunTrigger, SyncRun, WaitReason};

use crate::i18n::Texts;
use crate::plural::count;

/// The phase a run records, in words. A phase this version does not know is shown as starting.
pub fn phase_text(t: &Texts, phase: &str) -> &'static str {
    match phase {
        "writing back" => t.phase_writing_back,
        "listing" => t.phase_listing,
        "importing" => t.phase_importing,
        "changes" => t.phase_changes,
        "comparing" => t.phase_comparing,
        "finishing" => t.phase_finishing,
        "done" => t.phase_done,
        _ => t.phase_starting,
    }
}

/// What a run is called where that says something: an import of any kind, or a run a user asked
/// for. The changes the schedule fetches are the ordinary case and go unnamed.
pub fn run_label(t: &Texts, run: &SyncRun) -> Option<&'static str> {
    match run.kind {
        Some(RunKind::FirstImport) => Some(t.kind_first_import),
        Some(RunKind::FullResync) => Some(t.kind_full_resync),
        Some(RunKind::Reimport) => Some(t.kind_reimport_short),
        _ if run.trigger == RunTrigger::Manual => Some(t.run_sync_now),
        _ => None,
    }
}

/// The phase with its count: "Importing: 2900 of about 3000 messages" while an import knows its
/// total, else "Fetching changes: 12 messages so far"; a phase without messages to count (listing
/// the folders, sending the user's changes) is its name alone.
pub fn phase_progress(language: Language, t: &Texts, run: &SyncRun) -> String {
    let phase = phase_text(t, &run.phase);
    if let Some(total) = run.estimated_total.filter(|total| *total > 0 && run.phase == "importing") {
        return t
            .sync_importing
            .replace("{phase}", phase)
            .replace("{done}", &run.imported.to_string())
            .replace("{total}", &count(language, &t.count_of_messages, total));
    }
    if run.imported == 0 && matches!(run.phase.as_str(), "starting" | "listing" | "writing back") {
        return phase.to_owned();
    }
    t.sync_working_count
        .replace("{phase}", phase)
        .replace("{messages}", &count(language, &t.count_messages, run.imported))
}

/// The time an import has left, roughly: under a minute, minutes (rounded up) up to two hours,
/// then hours.
pub fn time_left(language: Language, t: &Texts, seconds: i64) -> String {
    if seconds < 60 {
        return t.time_left_under_minute.to_owned();
    }
    let minutes = (seconds + 59) / 60;
    if minutes < 120 {
        return count(language, &t.time_left_minutes, minutes);
    }
    count(language, &t.time_left_hours, (minutes + 30) / 60)
}

/// A wait's length as a clock would count it down: `40 s`, `2 min 5 s`, `3 min`. The units are
/// abbreviated alike in English and Czech, and take no plural.
pub fn wait_length(seconds: i64) -> String {
    let seconds = seconds.max(1);
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// "Waiting for Gmail's rate limit, resumes in 40 s", or that the provider does not answer for
/// now and is asked again then.
pub fn waiting_text(t: &Texts, provider: Provider, reason: WaitReason, seconds: i64) -> String {
    let text = match (provider, reason) {
        (Provider::Google, WaitReason::RateLimit) => t.waiting_rate_gmail,
        (Provider::Microsoft, WaitReason::RateLimit) => t.waiting_rate_graph,
        (Provider::Google, WaitReason::ProviderError) => t.waiting_error_gmail,
        (Provider::Microsoft, WaitReason::ProviderError) => t.waiting_error_graph,
    };
    text.replace("{wait}", &wait_length(seconds))
}

/// What a run going on adds to its count at `now`: what it waits for and until when, or else the
/// time it has left, once there is enough to estimate it.
pub fn running_detail(language: Language, t: &Texts, provider: Provider, run: &SyncRun, now: i64) -> Option<String> {
    if let (Some(until), Some(reason)) = (run.waiting_until, run.waiting_for)
        && until > now
    {
        return Some(waiting_text(t, provider, reason, until - now));
    }
    run.estimate_at.map(|at| time_left(language, t, (at - now).max(0)))
}

#[cfg(test)]
mod tests {
    use mailroom_domain::AccountId;
    use mailroom_store::RunMode;

    use super::*;
    use crate::i18n::texts;

    fn run(phase: &str, imported: i64, estimated_total: Option<i64>) -> SyncRun {
        SyncRun {
            id: 1,
            account_id: AccountId(1),
            mode: RunMode::Incremental,
            trigger: RunTrigger::Schedule,
            phase: phase.to_owned(),
            imported,
            deleted: 0,
            estimated_total,
            started_at: 0,
            finished_at: None,
            outcome: None,
            error: None,
            kind: None,
            added: None,
            changed: None,
            removed: None,
            estimate_at: None,
            waiting_until: None,
            waiting_for: None,
            request_seq: None,
        }
    }

    #[test]
    fn phases_are_named_with_a_count_that_moves() {
        let (en, cs) = (texts(Language::En), texts(Language::Cs));
        let importing = run("importing", 2900, Some(3000));
        assert_eq!(phase_progress(Language::En, en, &importing), "Importing: 2900 of about 3000 messages");
        assert_eq!(phase_progress(Language::Cs, cs, &importing), "Import: 2900 z přibližně 3000 zpráv");
        // Czech takes the genitive after "z": one "zprávy", then "zpráv".
        assert_eq!(phase_progress(Language::Cs, cs, &run("importing", 1, Some(1))), "Import: 1 z přibližně 1 zprávy");
        assert_eq!(phase_progress(Language::Cs, cs, &run("importing", 1, Some(3))), "Import: 1 z přibližně 3 zpráv");
        let changes = run("changes", 12, None);
        assert_eq!(phase_progress(Language::En, en, &changes), "Fetching changes: 12 messages so far");
        assert_eq!(phase_progress(Language::Cs, cs, &changes), "Stahování změn: zatím 12 zpráv");
        assert_eq!(phase_progress(Language::Cs, cs, &run("changes", 2, None)), "Stahování změn: zatím 2 zprávy");
        assert_eq!(phase_progress(Language::En, en, &run("listing", 0, None)), "Listing folders and labels");
        assert_eq!(phase_progress(Language::Cs, cs, &run("listing", 0, None)), "Načítání složek a štítků");
        assert_eq!(phase_progress(Language::En, en, &run("writing back", 0, None)), "Sending your changes");
        assert_eq!(
            phase_progress(Language::En, en, &run("comparing", 40, Some(40))),
            "Comparing labels: 40 messages so far"
        );
        // The total of an import is not the total of the phases after it.
        assert_eq!(phase_progress(Language::En, en, &run("finishing", 40, Some(40))), "Finishing: 40 messages so far");
        assert_eq!(phase_text(en, "something new"), "Starting");
    }

    #[test]
    fn the_time_left_is_rounded_as_people_say_it() {
        let (en, cs) = (texts(Language::En), texts(Language::Cs));
        let english: Vec<String> =
            [0, 59, 60, 61, 150, 7140, 7200, 9000].iter().map(|s| time_left(Language::En, en, *s)).collect();
        assert_eq!(
            english,
            [
                "less than a minute left",
                "less than a minute left",
                "about 1 minute left",
                "about 2 minutes left",
                "about 3 minutes left",
                "about 119 minutes left",
                "about 2 hours left",
                "about 3 hours left",
            ]
        );
        let czech: Vec<String> =
            [30, 60, 120, 300, 1260, 3600 * 5].iter().map(|s| time_left(Language::Cs, cs, *s)).collect();
        assert_eq!(
            czech,
            [
                "zbývá méně než minuta",
                "zbývá asi 1 minuta",
                "zbývají asi 2 minuty",
                "zbývá asi 5 minut",
                "zbývá asi 21 minut",
                "zbývá asi 5 hodin",
            ]
        );
    }

    #[test]
    fn a_wait_says_for_whom_and_how_long() {
        let (en, cs) = (texts(Language::En), texts(Language::Cs));
        assert_eq!(
            waiting_text(en, Provider::Google, WaitReason::RateLimit, 40),
            "Waiting for Gmail's rate limit, resumes in 40 s"
        );
        assert_eq!(
            waiting_text(en, Provider::Microsoft, WaitReason::RateLimit, 125),
            "Waiting for Outlook's rate limit (Microsoft Graph), resumes in 2 min 5 s"
        );
        assert_eq!(
            waiting_text(cs, Provider::Google, WaitReason::RateLimit, 40),
            "Čeká se na limit požadavků Gmailu, pokračuje za 40 s"
        );
        assert_eq!(
            waiting_text(cs, Provider::Microsoft, WaitReason::ProviderError, 180),
            "Outlook (Microsoft Graph) teď neodpovídá; další pokus za 3 min"
        );
        assert_eq!(
            waiting_text(en, Provider::Google, WaitReason::ProviderError, 0),
            "Gmail is not answering for now; trying again in 1 s"
        );
    }

    #[test]
    fn a_wait_goes_before_the_time_left_and_ends_when_its_time_has_passed() {
        let en = texts(Language::En);
        let mut importing = run("importing", 100, Some(400));
        assert_eq!(running_detail(Language::En, en, Provider::Google, &importing, 1000), None, "nothing to go by yet");
        importing.estimate_at = Some(1000 + 150);
        assert_eq!(
            running_detail(Language::En, en, Provider::Google, &importing, 1000).as_deref(),
            Some("about 3 minutes left")
        );
        importing.waiting_until = Some(1040);
        importing.waiting_for = Some(WaitReason::RateLimit);
        assert_eq!(
            running_detail(Language::En, en, Provider::Google, &importing, 1000).as_deref(),
            Some("Waiting for Gmail's rate limit, resumes in 40 s")
        );
        assert_eq!(
            running_detail(Language::En, en, Provider::Google, &importing, 1040).as_deref(),
            Some("about 2 minutes left"),
            "the wait is over"
        );
    }

    #[test]
    fn imports_and_requested_runs_are_named() {
        let (en, cs) = (texts(Language::En), texts(Language::Cs));
        let mut first = run("importing", 0, None);
        first.kind = Some(RunKind::FirstImport);
        assert_eq!(run_label(en, &first), Some("First import"));
        assert_eq!(run_label(cs, &first), Some("První import"));
        let mut asked = run("changes", 0, None);
        asked.trigger = RunTrigger::Manual;
        asked.kind = Some(RunKind::Changes);
        assert_eq!(run_label(en, &asked), Some("Sync now"));
        asked.trigger = RunTrigger::Schedule;
        assert_eq!(run_label(en, &asked), None);
    }
}
