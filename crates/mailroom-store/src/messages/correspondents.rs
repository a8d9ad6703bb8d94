//! The people of a user's mail as the compose page suggests them, kept in `correspondents` (one
//! row per user and address), `correspondent_words` (each folded word of a row's name and
//! address, so that a typed prefix is a range of an index) and the groups the user writes to
//! together (`correspondent_groups`, `correspondent_group_members`).
//!
//! Every write that adds, changes or removes messages tallies the people of the messages it
//! touches before and after (read back from `participants`, so each path counts the same way)
//! and moves the rows by the difference, in its own transaction: a full resync of unchanged mail
//! writes nothing. A change the tallies cannot follow — the user's own addresses changing, a
//! mailbox removed with all its mail — marks the user in `correspondents_stale`, and the rows are
//! counted again from the mail before the next suggestion ([`Store::refresh_correspondents`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use mailroom_domain::UserId;
use mailroom_domain::search::text;

use super::{Backend, MAX_PARAMS, placeholder, placeholder_list, placeholder_rows, rows_per_statement};
use crate::db::{BeginWrite, with_pool};
use crate::{Result, Store};

/// 2020-01-01, the time at which a message weighs 1.
const WEIGHT_EPOCH: i64 = 1_577_836_800;
/// How long a message takes to lose half its weight in the ranking.
const HALF_LIFE_SECONDS: f64 = 90.0 * 86_400.0;
/// The most people a group holds: a message to more is an announcement, not a group.
pub const GROUP_MAX: usize = 10;
/// How many messages the user must have sent to the same people for them to be a group.
const GROUP_MIN_MESSAGES: i64 = 2;
/// The most groups one lookup suggests.
pub const GROUP_SUGGESTIONS: i64 = 3;
/// Messages tallied per statement when a user's rows are counted again.
const REBUILD_CHUNK: i64 = 2_000;

/// What a message sent or received at `at` adds to the ranking: 2^((at - 2020) / 90 days).
///
/// The ranking wants recent and frequent people first. A count in which each message's worth
/// halves every 90 days does both (one message last week outranks ten from three years ago, ten
/// from last month outrank one from yesterday), and stored as this sum it never needs updating as
/// time passes: the decayed count at any moment is the sum times the same 2^(-now / 90 days) for
/// every row, so the order is the same, and a message removed takes back exactly what it added.
/// The exponent is held within ±400 (a century either side), far inside a double's range.
pub(crate) fn weight(at: i64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "seconds far below 2^52")]
    let halves = (at.saturating_sub(WEIGHT_EPOCH) as f64 / HALF_LIFE_SECONDS).clamp(-400.0, 400.0);
    halves.exp2()
}

/// The folded words a correspondent is found by: those of the name and of the address.
pub(crate) fn words_of(name: Option<&str>, address: &str) -> Vec<String> {
    let mut words: Vec<String> = name.map(text::words).unwrap_or_default();
    words.extend(text::words(address));
    let mut seen = HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
    words
}

/// The words as the `words` column keeps them: each after a space, so that `LIKE '% nov%'`
/// asks whether a word begins with `nov`.
pub(crate) fn words_column(words: &[String]) -> String {
    words.iter().map(|w| format!(" {w}")).collect()
}

/// The upper end of the range of words that begin with `prefix`: no word holds U+10FFFF, the
/// last code point, which sorts after every other in UTF-8's byte order.
pub(crate) fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// What a set of messages adds to one correspondent.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PersonTally {
    seen: i64,
    sent: i64,
    weight: f64,
    last_at: i64,
    /// The name the newest message with one gave (the latest id among messages of one time),
    /// as (time, message id, name).
    name: Option<(i64, i64, String)>,
}

/// What a set of messages adds to one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GroupTally {
    sent: i64,
    weight: f64,
}

/// The people and groups of a set of messages, per user.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    people: HashMap<(i64, String), PersonTally>,
    groups: HashMap<(i64, String), GroupTally>,
}

/// A person of a message as [`people_sql`] reads them: message id, owner, received_at, the
/// message's From address, the role and the person's address and name.
pub(crate) type PersonRow = (i64, i64, i64, Option<String>, String, String, Option<String>);

pub(crate) fn people_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT m.id, m.user_id, m.received_at, m.from_address, p.role, p.address, p.name \
         FROM participants p JOIN messages m ON m.id = p.message_id \
         WHERE p.message_id IN ({}) AND p.role IN ('from', 'to', 'cc', 'bcc') AND NOT m.is_draft",
        placeholder_list(backend, rows, 1)
    )
}

/// Every address of the users `$n…`: their mailboxes' and the identities they send as.
pub(crate) fn own_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT a.user_id, LOWER(a.address), LOWER(i.address) FROM accounts a \
         LEFT JOIN identities i ON i.account_id = a.id WHERE a.user_id IN ({})",
        placeholder_list(backend, rows, 1)
    )
}

/// The stored rows of the user `$1` among the addresses `$2…`.
pub(crate) fn stored_people_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT address, name, name_at, last_at, seen_count, words FROM correspondents WHERE user_id = {} AND address IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

pub(crate) fn stored_groups_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT members, sent_count FROM correspondent_groups WHERE user_id = {} AND members IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

impl Tallies {
    /// Tallies `rows` (see [`PersonRow`]); `own` holds each user's own addresses, who are no
    /// correspondents. A message is the user's own when it is from one of them: it was sent to
    /// its To, Cc and Bcc, and when those are two to [`GROUP_MAX`] people, to them as a group.
    pub(crate) fn of(rows: Vec<PersonRow>, own: &HashMap<i64, HashSet<String>>) -> Tallies {
        struct Message {
            user: i64,
            at: i64,
            from: Option<String>,
            /// Per address: whether a recipient, and the name given (the From header's first,
            /// then the greatest, so that the choice does not hang on the order of rows).
            people: HashMap<String, (bool, Option<(bool, String)>)>,
        }
        let none = HashSet::new();
        let mut messages: HashMap<i64, Message> = HashMap::new();
        for (id, user, at, from, role, address, name) in rows {
            let message = messages.entry(id).or_insert_with(|| Message { user, at, from, people: HashMap::new() });
            let entry = message.people.entry(address).or_insert((false, None));
            entry.0 |= role != "from";
            if let Some(name) = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
                let named = (role == "from", name);
                if entry.1.as_ref().is_none_or(|had| *had < named) {
                    entry.1 = Some(named);
                }
            }
        }
        let mut tallies = Tallies::default();
        for (id, message) in messages {
            let own = own.get(&message.user).unwrap_or(&none);
            let sent = message.from.as_ref().is_some_and(|f| own.contains(&f.to_lowercase()));
            let weight = weight(message.at);
            let mut recipients = BTreeSet::new();
            for (address, (recipient, name)) in message.people {
                if own.contains(&address) {
                    continue;
                }
                let sent_to = sent && recipient;
                if sent_to {
                    recipients.insert(address.clone());
                }
                let t = tallies.people.entry((message.user, address)).or_default();
                t.seen += 1;
                t.sent += i64::from(sent_to);
                t.weight += weight;
                t.last_at = t.last_at.max(message.at);
                if let Some((_, name)) = name
                    && t.name.as_ref().is_none_or(|(at, of, _)| (*at, *of) < (message.at, id))
                {
                    t.name = Some((message.at, id, name));
                }
            }
            if (2..=GROUP_MAX).contains(&recipients.len()) {
                let members = recipients.into_iter().collect::<Vec<_>>().join("\n");
                let g = tallies.groups.entry((message.user, members)).or_default();
                g.sent += 1;
                g.weight += weight;
            }
        }
        tallies
    }

    pub(crate) fn users(&self) -> Vec<i64> {
        let mut users: Vec<i64> = self.people.keys().map(|(u, _)| *u).collect();
        users.sort_unstable();
        users.dedup();
        users
    }
}

/// A change to one stored correspondent: what the rows become.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PersonChange {
    pub user: i64,
    pub address: String,
    pub seen: i64,
    pub sent: i64,
    pub weight: f64,
    pub last_at: i64,
    pub name: Option<String>,
    pub name_at: i64,
    /// Whether the row goes (no message with them is left).
    pub gone: bool,
    /// Whether the row's time and name are to be read again from the mail: messages of theirs
    /// went or changed, and one of them may have been the newest or given the name.
    pub recount: bool,
    pub words_removed: Vec<String>,
    pub words_added: Vec<String>,
    pub words: String,
}

/// A stored correspondent as [`stored_people_sql`] reads it: name, name_at, last_at, seen_count,
/// words.
pub(crate) type StoredPerson = (Option<String>, i64, i64, i64, String);

/// What the rows of `stored` become when messages tallied as `before` are now tallied as
/// `after`: counts and weight moved by the difference, the newest name taken, a row whose last
/// message went removed. People whose rows do not change are left out.
pub(crate) fn person_changes(
    before: &Tallies,
    after: &Tallies,
    stored: &HashMap<(i64, String), StoredPerson>,
) -> Vec<PersonChange> {
    let mut keys: Vec<&(i64, String)> = before.people.keys().chain(after.people.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    let zero = PersonTally::default();
    let mut changes = Vec::new();
    for key in keys {
        let b = before.people.get(key).unwrap_or(&zero);
        let a = after.people.get(key).unwrap_or(&zero);
        let (seen, sent, weight) = (a.seen - b.seen, a.sent - b.sent, a.weight - b.weight);
        let row = stored.get(key);
        let (old_name, old_name_at, old_at, old_seen, old_words) = match row {
            Some((name, name_at, at, seen, words)) => (name.clone(), *name_at, *at, *seen, words.as_str()),
            None => (None, 0, 0, 0, ""),
        };
        let (name, name_at) = match &a.name {
            Some((at, _, name)) if old_name.is_none() || *at >= old_name_at => (Some(name.clone()), *at),
            _ => (old_name.clone(), old_name_at),
        };
        // The same messages again (a full resync): nothing to write. Weights summed in another
        // order may differ in their last bits.
        let same_weight = weight.abs() <= 1e-9 * b.weight.abs().max(f64::MIN_POSITIVE);
        if row.is_some() && seen == 0 && sent == 0 && same_weight && name == old_name && a.last_at <= old_at {
            continue;
        }
        if row.is_none() && a.seen == 0 {
            continue;
        }
        let gone = old_seen + seen <= 0;
        let new_words = if gone { Vec::new() } else { words_of(name.as_deref(), &key.1) };
        let old: Vec<&str> = old_words.split(' ').filter(|w| !w.is_empty()).collect();
        changes.push(PersonChange {
            user: key.0,
            address: key.1.clone(),
            seen,
            sent,
            weight,
            last_at: a.last_at,
            name_at,
            recount: b.seen > 0 && !gone,
            words_removed: old.iter().filter(|w| !new_words.iter().any(|n| n == *w)).map(|w| (*w).to_owned()).collect(),
            words_added: new_words.iter().filter(|n| !old.contains(&n.as_str())).cloned().collect(),
            words: words_column(&new_words),
            name,
            gone,
        });
    }
    changes
}

/// A change to one stored group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupChange {
    pub user: i64,
    pub members: String,
    pub sent: i64,
    pub weight: f64,
    pub new: bool,
    pub gone: bool,
}

pub(crate) fn group_changes(
    before: &Tallies,
    after: &Tallies,
    stored: &HashMap<(i64, String), i64>,
) -> Vec<GroupChange> {
    let mut keys: Vec<&(i64, String)> = before.groups.keys().chain(after.groups.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    let zero = GroupTally::default();
    let mut changes = Vec::new();
    for key in keys {
        let b = before.groups.get(key).unwrap_or(&zero);
        let a = after.groups.get(key).unwrap_or(&zero);
        let sent = a.sent - b.sent;
        let weight = a.weight - b.weight;
        let old = stored.get(key).copied();
        let same_weight = weight.abs() <= 1e-9 * b.weight.abs().max(f64::MIN_POSITIVE);
        if (old.is_some() && sent == 0 && same_weight) || (old.is_none() && a.sent == 0) {
            continue;
        }
        changes.push(GroupChange {
            user: key.0,
            members: key.1.clone(),
            sent,
            weight,
            new: old.is_none(),
            gone: old.unwrap_or(0) + sent <= 0,
        });
    }
    changes
}

pub(crate) const UPSERT_PEOPLE_HEAD: &str = "INSERT INTO correspondents (user_id, address, name, name_at, seen_count, sent_count, written, weight, last_at, words) \
     VALUES ";
pub(crate) const UPSERT_PEOPLE_TAIL: &str = " ON CONFLICT (user_id, address) DO UPDATE SET \
     seen_count = correspondents.seen_count + excluded.seen_count, \
     sent_count = correspondents.sent_count + excluded.sent_count, \
     written = CASE WHEN correspondents.sent_count + excluded.sent_count > 0 THEN 1 ELSE 0 END, \
     weight = correspondents.weight + excluded.weight, \
     last_at = CASE WHEN excluded.last_at > correspondents.last_at THEN excluded.last_at ELSE correspondents.last_at END, \
     name = excluded.name, name_at = excluded.name_at, words = excluded.words";
pub(crate) const DELETE_PERSON: &str = "DELETE FROM correspondents WHERE user_id = $1 AND address = $2";
pub(crate) const INSERT_WORDS_HEAD: &str = "INSERT INTO correspondent_words (user_id, word, address) VALUES ";
pub(crate) const DELETE_WORD: &str =
    "DELETE FROM correspondent_words WHERE user_id = $1 AND word = $2 AND address = $3";
pub(crate) const UPSERT_GROUPS_HEAD: &str =
    "INSERT INTO correspondent_groups (user_id, members, sent_count, weight) VALUES ";
pub(crate) const UPSERT_GROUPS_TAIL: &str = " ON CONFLICT (user_id, members) DO UPDATE SET \
     sent_count = correspondent_groups.sent_count + excluded.sent_count, \
     weight = correspondent_groups.weight + excluded.weight";
pub(crate) const DELETE_GROUP: &str = "DELETE FROM correspondent_groups WHERE user_id = $1 AND members = $2";
pub(crate) const INSERT_MEMBERS_HEAD: &str =
    "INSERT INTO correspondent_group_members (user_id, address, members) VALUES ";
pub(crate) const DELETE_MEMBERS: &str =
    "DELETE FROM correspondent_group_members WHERE user_id = $1 AND address = $2 AND members = $3";
pub(crate) const MARK_STALE: &str = "INSERT INTO correspondents_stale (user_id) VALUES ($1) ON CONFLICT DO NOTHING";

/// Tallies the people of the messages `$ids` as they are stored now, in `$tx` (see [`Tallies`]).
macro_rules! tally_people {
    ($tx:expr, $backend:expr, $ids:expr) => {{
        let ids: &[i64] = $ids;
        let rows = select_in!(
            $tx,
            $backend,
            $crate::messages::correspondents::people_sql,
            ids,
            $crate::messages::correspondents::PersonRow
        );
        let mut users: Vec<i64> = rows.iter().map(|r| r.1).collect();
        users.sort_unstable();
        users.dedup();
        let mut own: std::collections::HashMap<i64, std::collections::HashSet<String>> =
            std::collections::HashMap::new();
        for (user, account, identity) in
            select_in!($tx, $backend, $crate::messages::correspondents::own_sql, users, (i64, String, Option<String>))
        {
            let set = own.entry(user).or_default();
            set.insert(account);
            set.extend(identity);
        }
        $crate::messages::correspondents::Tallies::of(rows, &own)
    }};
}
pub(crate) use tally_people;

/// Moves the stored correspondents and groups from what messages were (`$before`, a
/// [`Tallies`]) to what they are (`$after`), in `$tx`.
macro_rules! move_correspondents {
    ($tx:expr, $backend:expr, $before:expr, $after:expr) => {{
        use $crate::messages::correspondents as c;
        let (before, after): (&c::Tallies, &c::Tallies) = (&$before, &$after);
        let mut stored: std::collections::HashMap<(i64, String), c::StoredPerson> = std::collections::HashMap::new();
        let mut stored_groups: std::collections::HashMap<(i64, String), i64> = std::collections::HashMap::new();
        let mut users: Vec<i64> = before.users();
        users.extend(after.users());
        users.extend(before.group_users());
        users.extend(after.group_users());
        users.sort_unstable();
        users.dedup();
        for user in users {
            let addresses = before.addresses_of(user, after);
            for (address, name, name_at, last_at, seen, words) in select_in!(
                $tx,
                $backend,
                c::stored_people_sql,
                addresses,
                (String, Option<String>, i64, i64, i64, String),
                user
            ) {
                stored.insert((user, address), (name, name_at, last_at, seen, words));
            }
            let groups = before.groups_of(user, after);
            for (members, sent) in select_in!($tx, $backend, c::stored_groups_sql, groups, (String, i64), user) {
                stored_groups.insert((user, members), sent);
            }
        }
        let changes = c::person_changes(before, after, &stored);
        let (gone, kept): (Vec<&c::PersonChange>, Vec<&c::PersonChange>) = changes.iter().partition(|ch| ch.gone);
        for ch in &gone {
            sqlx::query(c::DELETE_PERSON).bind(ch.user).bind(&ch.address).execute(&mut *$tx).await?;
        }
        insert_rows!($tx, $backend, c::UPSERT_PEOPLE_HEAD, c::UPSERT_PEOPLE_TAIL, 10, kept, |q, ch| q
            .bind(ch.user)
            .bind(&ch.address)
            .bind(ch.name.as_deref())
            .bind(ch.name_at)
            .bind(ch.seen)
            .bind(ch.sent)
            .bind(i64::from(ch.sent > 0))
            .bind(ch.weight)
            .bind(ch.last_at)
            .bind(&ch.words));
        for ch in &changes {
            for word in &ch.words_removed {
                sqlx::query(c::DELETE_WORD).bind(ch.user).bind(word).bind(&ch.address).execute(&mut *$tx).await?;
            }
        }
        let words: Vec<(i64, &str, &str)> = changes
            .iter()
            .flat_map(|ch| ch.words_added.iter().map(move |w| (ch.user, w.as_str(), ch.address.as_str())))
            .collect();
        insert_rows!($tx, $backend, c::INSERT_WORDS_HEAD, " ON CONFLICT DO NOTHING", 3, words, |q,
                                                                                                (
            user,
            word,
            address,
        )| q
            .bind(*user)
            .bind(*word)
            .bind(*address));
        let group_changes = c::group_changes(before, after, &stored_groups);
        let (gone, kept): (Vec<&c::GroupChange>, Vec<&c::GroupChange>) = group_changes.iter().partition(|g| g.gone);
        for g in &gone {
            sqlx::query(c::DELETE_GROUP).bind(g.user).bind(&g.members).execute(&mut *$tx).await?;
            for address in g.members.split('\n') {
                sqlx::query(c::DELETE_MEMBERS).bind(g.user).bind(address).bind(&g.members).execute(&mut *$tx).await?;
            }
        }
        insert_rows!($tx, $backend, c::UPSERT_GROUPS_HEAD, c::UPSERT_GROUPS_TAIL, 4, kept, |q, g| q
            .bind(g.user)
            .bind(&g.members)
            .bind(g.sent)
            .bind(g.weight));
        let members: Vec<(i64, &str, &str)> = kept
            .iter()
            .filter(|g| g.new)
            .flat_map(|g| g.members.split('\n').map(move |a| (g.user, a, g.members.as_str())))
            .collect();
        insert_rows!($tx, $backend, c::INSERT_MEMBERS_HEAD, " ON CONFLICT DO NOTHING", 3, members, |q,
                                                                                                    (
            user,
            address,
            members,
        )| q
            .bind(*user)
            .bind(*address)
            .bind(*members));
        // Messages of these people went or changed: their newest message's time and the name
        // are read again from the mail that is left, which the tallies cannot take back.
        let recount: Vec<&c::PersonChange> = changes.iter().filter(|ch| ch.recount).collect();
        let mut users: Vec<i64> = recount.iter().map(|ch| ch.user).collect();
        users.dedup();
        for user in users {
            let addresses: Vec<&str> =
                recount.iter().filter(|ch| ch.user == user).map(|ch| ch.address.as_str()).collect();
            let ids: Vec<i64> = select_in!($tx, $backend, c::messages_with_sql, addresses, (i64,), user)
                .into_iter()
                .map(|(id,)| id)
                .collect();
            let mut ids = ids;
            ids.sort_unstable();
            ids.dedup();
            let exact = tally_people!($tx, $backend, &ids);
            for ch in recount.iter().filter(|ch| ch.user == user) {
                let Some((last_at, name, name_at)) = exact.time_and_name(user, &ch.address) else { continue };
                let words = c::words_of(name.as_deref(), &ch.address);
                let had: Vec<&str> = ch.words.split(' ').filter(|w| !w.is_empty()).collect();
                sqlx::query(c::SET_TIME_AND_NAME)
                    .bind(user)
                    .bind(&ch.address)
                    .bind(last_at)
                    .bind(name.as_deref())
                    .bind(name_at)
                    .bind(c::words_column(&words))
                    .execute(&mut *$tx)
                    .await?;
                for word in had.iter().filter(|w| !words.iter().any(|n| n == *w)) {
                    sqlx::query(c::DELETE_WORD).bind(user).bind(*word).bind(&ch.address).execute(&mut *$tx).await?;
                }
                for word in words.iter().filter(|n| !had.contains(&n.as_str())) {
                    sqlx::query(c::INSERT_WORD).bind(user).bind(word).bind(&ch.address).execute(&mut *$tx).await?;
                }
            }
        }
    }};
}
pub(crate) use move_correspondents;

/// The messages of user `$1` with any of the addresses `$2…` among their people.
pub(crate) fn messages_with_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT DISTINCT p.message_id FROM participants p JOIN messages m ON m.id = p.message_id \
         WHERE m.user_id = {} AND p.address IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

pub(crate) const SET_TIME_AND_NAME: &str =
    "UPDATE correspondents SET last_at = $3, name = $4, name_at = $5, words = $6 WHERE user_id = $1 AND address = $2";
pub(crate) const INSERT_WORD: &str =
    "INSERT INTO correspondent_words (user_id, word, address) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

impl Tallies {
    /// The newest message's time, the name and the time of the message that gave it, of one
    /// correspondent.
    pub(crate) fn time_and_name(&self, user: i64, address: &str) -> Option<(i64, Option<String>, i64)> {
        let t = self.people.get(&(user, address.to_owned()))?;
        Some((t.last_at, t.name.as_ref().map(|(_, _, n)| n.clone()), t.name.as_ref().map_or(0, |(at, _, _)| *at)))
    }

    pub(crate) fn group_users(&self) -> Vec<i64> {
        self.groups.keys().map(|(u, _)| *u).collect()
    }

    /// The addresses of `user` in this tally and in `other`.
    pub(crate) fn addresses_of<'a>(&'a self, user: i64, other: &'a Tallies) -> Vec<&'a str> {
        let mut out: Vec<&str> = self
            .people
            .keys()
            .chain(other.people.keys())
            .filter(|(u, _)| *u == user)
            .map(|(_, a)| a.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn groups_of<'a>(&'a self, user: i64, other: &'a Tallies) -> Vec<&'a str> {
        let mut out: Vec<&str> = self
            .groups
            .keys()
            .chain(other.groups.keys())
            .filter(|(u, _)| *u == user)
            .map(|(_, m)| m.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Someone the user has mail with, as the compose page suggests them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correspondent {
    pub address: String,
    pub name: Option<String>,
    /// In how many of the user's messages they are sender or recipient.
    pub messages: i64,
    /// How many of those the user sent them.
    pub sent: i64,
    /// When the newest of them came, Unix seconds.
    pub last_at: i64,
}

/// People the user has written to together at least twice, suggested as one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrespondentGroup {
    /// Each member's address and name, by address.
    pub members: Vec<(String, Option<String>)>,
    /// How many messages the user sent to exactly these people.
    pub messages: i64,
}

/// What one lookup suggests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestions {
    pub people: Vec<Correspondent>,
    pub groups: Vec<CorrespondentGroup>,
}

/// The most suggestions one lookup gives.
pub const SUGGESTION_LIMIT: i64 = 20;

/// The typed words, folded; `driver` the longest, whose prefix range of the index is read.
struct Typed {
    driver: String,
    others: Vec<String>,
}

/// The folded words typed, each once, in order; `None` when there is none.
fn typed_words(typed: &str) -> Option<Vec<String>> {
    let mut words = text::words(typed);
    let mut seen = HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
    (!words.is_empty()).then_some(words)
}

/// How many words of the index each of `$2, $4…` (up to `$3, $5…`) begins, up to
/// [`DENSE_PREFIX`], and whether the user `$1`'s rows are to be counted again.
fn probe_sql(words: usize) -> String {
    let mut sql = String::from("SELECT ");
    for n in 0..words {
        sql.push_str(&format!(
            "(SELECT COUNT(*) FROM (SELECT 1 FROM correspondent_words WHERE user_id = $1 AND word >= ${} \
             AND word < ${} LIMIT {DENSE_PREFIX}) AS w{n}), ",
            2 * n + 2,
            2 * n + 3
        ));
    }
    sql.push_str("(SELECT COUNT(*) FROM correspondents_stale WHERE user_id = $1)");
    sql
}

impl Typed {
    /// The typed words with `words[driver]` driving: the one that begins the fewest words of the
    /// index (of equals, the longest, then the first).
    fn new(mut words: Vec<String>, driver: usize) -> Typed {
        let driver = words.remove(driver);
        Typed { driver, others: words }
    }

    /// Which of `words`, begun by `counts` words of the index, drives the lookup.
    fn driver(words: &[String], counts: &[i64]) -> usize {
        (0..words.len()).min_by_key(|&i| (counts[i], std::cmp::Reverse(words[i].len()), i)).unwrap_or(0)
    }

    #[cfg(test)]
    fn parse(typed: &str) -> Option<Typed> {
        let words = typed_words(typed)?;
        let lengths: Vec<i64> = words.iter().map(|_| 0).collect();
        let driver = Typed::driver(&words, &lengths);
        Some(Typed::new(words, driver))
    }

    /// `LIKE` patterns for the words after the driver (`$4` on): a folded word holds neither `%`
    /// nor `_`, and each word of the `words` column follows a space.
    fn patterns(&self) -> Vec<String> {
        self.others.iter().map(|w| format!("% {w}%")).collect()
    }

    fn others_match(&self, from: usize) -> String {
        (0..self.others.len()).map(|n| format!(" AND c.words LIKE ${}", n + from)).collect()
    }

    /// The lookup's statements: the best `wanted` people of a rare prefix, read from its range of
    /// the index (`$2`, `$3`); of a common one, read in the ranking's order until enough match
    /// (`$2` a `LIKE` pattern). The limits are clamped numbers, written into the statements as
    /// the lists do.
    fn statements(&self, backend: Backend, wanted: i64) -> (String, String) {
        let columns = "c.address, c.name, c.seen_count, c.sent_count, c.last_at";
        // Ordered by expressions, which no index holds: walking the ranking's index and asking
        // about each row is what the dense statement does, and for a rare prefix it reads them
        // all. PostgreSQL is told to look each match up by its key (a lateral subquery with a
        // limit is not merged into the join): it takes `LIKE` for rare and would read the whole
        // table to join it.
        let matched = match backend {
            Backend::Sqlite => {
                "correspondents c WHERE c.user_id = $1 AND c.address IN \
                 (SELECT w.address FROM correspondent_words w WHERE w.user_id = $1 AND w.word >= $2 AND w.word < $3)"
            }
            Backend::Postgres => {
                "(SELECT DISTINCT w.address FROM correspondent_words w \
                 WHERE w.user_id = $1 AND w.word >= $2 AND w.word < $3) m \
                 CROSS JOIN LATERAL (SELECT * FROM correspondents k WHERE k.user_id = $1 AND k.address = m.address LIMIT 1) c \
                 WHERE true"
            }
        };
        let sparse = format!(
            "SELECT {columns} FROM {matched}{} AND c.address NOT IN ({OWN}) \
             ORDER BY c.written + 0 DESC, c.weight + 0 DESC, c.address DESC LIMIT {wanted}",
            self.others_match(4)
        );
        let dense = format!(
            "SELECT {columns} FROM correspondents c WHERE c.user_id = $1 AND c.words LIKE $2{} \
             AND c.address NOT IN ({OWN}) ORDER BY c.written DESC, c.weight DESC, c.address DESC LIMIT {wanted}",
            self.others_match(3)
        );
        (sparse, dense)
    }
}

/// The user's own addresses, which are never suggested.
const OWN: &str = "SELECT LOWER(a.address) FROM accounts a WHERE a.user_id = $1 \
     UNION SELECT LOWER(i.address) FROM identities i JOIN accounts a ON a.id = i.account_id WHERE a.user_id = $1";

/// Of how many words of the index every typed word must be the beginning for the lookup to read
/// the people in the ranking's order instead: then at least one in twenty people or so matches,
/// and reading the best until enough match reads a few hundred rows at most, where reading every
/// match and ordering them would read thousands (a one-letter prefix in a mailbox of 20,000
/// people took 10 ms so). With several words typed the rarest drives, since the people matching
/// all of them are fewer than those matching any: "jana n" reads the people whose words begin
/// with `jana`, not all whose words begin with `n`.
const DENSE_PREFIX: i64 = 1_000;

/// How many of the best people found are looked up in the groups.
const GROUPED_PEOPLE: i64 = 20;

impl Store {
    /// The people in the user's mail (the user's own addresses left out) with a word of their
    /// name or address beginning with each word typed, case and accents folded (`nov` finds
    /// Nováková), those the user has written to first, then by the decayed count of their mail
    /// (see [`weight`]); and the groups the user has written to at least twice with one of the
    /// best people found among them. Only words (letters and digits) are read, so `%` and `_`
    /// match nothing.
    pub async fn correspondents(&self, user: UserId, typed: &str, limit: i64) -> Result<Suggestions> {
        let Some(words) = typed_words(typed) else {
            return Ok(Suggestions::default());
        };
        let limit = limit.clamp(1, SUGGESTION_LIMIT);
        let wanted = limit.max(GROUPED_PEOPLE);
        let backend = self.db.backend();
        let probe = probe_sql(words.len());
        let ends: Vec<String> = words.iter().map(|w| prefix_end(w)).collect();
        let (people, groups, names) = with_pool!(self.db, pool => {
            let probed = || {
                let q = sqlx::query(sqlx::AssertSqlSafe(probe.as_str())).bind(user.0);
                words.iter().zip(&ends).fold(q, |q, (w, e)| q.bind(w).bind(e)).fetch_one(pool)
            };
            let row = probed().await?;
            let mut counts: Vec<i64> =
                (0..=words.len()).map(|i| sqlx::Row::try_get(&row, i)).collect::<std::result::Result<_, _>>()?;
            if counts[words.len()] > 0 {
                self.recount_correspondents(user).await?;
                let row = probed().await?;
                counts = (0..=words.len()).map(|i| sqlx::Row::try_get(&row, i)).collect::<std::result::Result<_, _>>()?;
            }
            let driver = Typed::driver(&words, &counts);
            let common = counts[driver] >= DENSE_PREFIX;
            let typed = Typed::new(words.clone(), driver);
            let (sparse, dense) = typed.statements(backend, wanted);
            let patterns = typed.patterns();
            let q = if common {
                sqlx::query_as::<_, (String, Option<String>, i64, i64, i64)>(sqlx::AssertSqlSafe(dense.as_str()))
                    .bind(user.0)
                    .bind(format!("% {}%", typed.driver))
            } else {
                sqlx::query_as::<_, (String, Option<String>, i64, i64, i64)>(sqlx::AssertSqlSafe(sparse.as_str()))
                    .bind(user.0)
                    .bind(typed.driver.clone())
                    .bind(prefix_end(&typed.driver))
            };
            let people = patterns.iter().fold(q, |q, p| q.bind(p)).fetch_all(pool).await?;
            let mut groups: Vec<(String, i64)> = Vec::new();
            if !people.is_empty() {
                // Plain `?` on SQLite after the first, as the batched statements have them.
                let sql = format!(
                    "SELECT DISTINCT g.members, g.sent_count, g.weight FROM correspondent_group_members gm \
                     JOIN correspondent_groups g ON g.user_id = gm.user_id AND g.members = gm.members \
                     WHERE gm.user_id = {} AND gm.address IN ({}) AND g.sent_count >= {GROUP_MIN_MESSAGES} \
                     ORDER BY g.weight DESC, g.members LIMIT {GROUP_SUGGESTIONS}",
                    placeholder(backend, 1),
                    placeholder_list(backend, people.len(), 2)
                );
                let q = sqlx::query_as::<_, (String, i64, f64)>(sqlx::AssertSqlSafe(sql)).bind(user.0);
                groups = people
                    .iter()
                    .fold(q, |q, p| q.bind(&p.0))
                    .fetch_all(pool)
                    .await?
                    .into_iter()
                    .map(|(members, sent, _)| (members, sent))
                    .collect();
            }
            let mut members: Vec<&str> = groups.iter().flat_map(|(m, _)| m.split('\n')).collect();
            members.sort_unstable();
            members.dedup();
            let mut names: HashMap<String, Option<String>> = HashMap::new();
            for chunk in members.chunks(MAX_PARAMS - 1) {
                let sql = format!(
                    "SELECT address, name FROM correspondents WHERE user_id = {} AND address IN ({})",
                    placeholder(backend, 1),
                    placeholder_list(backend, chunk.len(), 2)
                );
                let q = sqlx::query_as::<_, (String, Option<String>)>(sqlx::AssertSqlSafe(sql)).bind(user.0);
                names.extend(chunk.iter().fold(q, |q, a| q.bind(*a)).fetch_all(pool).await?);
            }
            (people, groups, names)
        });
        Ok(Suggestions {
            people: people
                .into_iter()
                .take(usize::try_from(limit).unwrap_or(0))
                .map(|(address, name, messages, sent, last_at)| Correspondent {
                    address,
                    name,
                    messages,
                    sent,
                    last_at,
                })
                .collect(),
            groups: groups
                .into_iter()
                .map(|(members, messages)| CorrespondentGroup {
                    members: members.split('\n').map(|a| (a.to_owned(), names.get(a).cloned().flatten())).collect(),
                    messages,
                })
                .collect(),
        })
    }

    /// Counts again, from their mail, the correspondents of every user marked stale (by the
    /// migration that made the table, a change of their own addresses or a removed mailbox).
    /// The server runs it at start; a suggestion for a stale user runs it for that user first.
    pub async fn refresh_correspondents(&self) -> Result<usize> {
        let users: Vec<i64> = with_pool!(self.db, pool =>
            sqlx::query_scalar("SELECT user_id FROM correspondents_stale ORDER BY user_id").fetch_all(pool).await)?;
        for user in &users {
            self.recount_correspondents(UserId(*user)).await?;
        }
        Ok(users.len())
    }

    /// How the database runs a lookup of `typed` (its plans, as `EXPLAIN QUERY PLAN` on SQLite
    /// and `EXPLAIN` on PostgreSQL give them): the probe, and the statement for a rare and for a
    /// common prefix. For the benchmark, which shows that every one reads an index.
    pub async fn explain_correspondents(&self, user: UserId, typed: &str) -> Result<Vec<String>> {
        let Some(words) = typed_words(typed) else { return Ok(Vec::new()) };
        let typed = Typed::new(words, 0);
        let probe = probe_sql(1);
        let (sparse, dense) = typed.statements(self.db.backend(), SUGGESTION_LIMIT);
        let end = prefix_end(&typed.driver);
        let explain = match self.db.backend() {
            Backend::Sqlite => "EXPLAIN QUERY PLAN ",
            Backend::Postgres => "EXPLAIN ",
        };
        let mut lines = Vec::new();
        for (name, sql, dense) in
            [("probe", probe, false), ("rare prefix", sparse, false), ("common prefix", dense, true)]
        {
            lines.push(format!("{name}:"));
            let sql = format!("{explain}{sql}");
            let first = if dense { format!("% {}%", typed.driver) } else { typed.driver.clone() };
            let found: Vec<String> = with_pool!(self.db, pool => {
                let q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(user.0).bind(first);
                let q = if dense { q } else { q.bind(&end) };
                let q = typed.patterns().into_iter().fold(q, |q, p| q.bind(p));
                q.fetch_all(pool).await?.iter().map(|row| {
                    use sqlx::Row as _;
                    // SQLite: id, parent, notused, detail; PostgreSQL: one line of text.
                    let at = if row.len() > 1 { 3 } else { 0 };
                    row.try_get::<String, _>(at).unwrap_or_default()
                }).collect()
            });
            lines.extend(found.into_iter().map(|l| format!("  {l}")));
        }
        Ok(lines)
    }

    /// Marks the user's correspondents to be counted again from their mail.
    pub async fn mark_correspondents_stale(&self, user: UserId) -> Result<()> {
        with_pool!(self.db, pool => sqlx::query(MARK_STALE).bind(user.0).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// How many correspondents and groups the user has kept.
    pub async fn correspondent_counts(&self, user: UserId) -> Result<(i64, i64)> {
        let sql = "SELECT (SELECT COUNT(*) FROM correspondents WHERE user_id = $1), \
                   (SELECT COUNT(*) FROM correspondent_groups WHERE user_id = $1)";
        Ok(with_pool!(self.db, pool => sqlx::query_as(sql).bind(user.0).fetch_one(pool).await)?)
    }

    /// Counts the user's correspondents again when they are marked stale, in one transaction.
    async fn recount_correspondents(&self, user: UserId) -> Result<()> {
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            // Sync writes of the user's mailboxes take their account's row first; so does this,
            // so that none moves the rows while they are counted.
            sqlx::query("UPDATE accounts SET event_seq = event_seq WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
            let marked = sqlx::query("DELETE FROM correspondents_stale WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
            if marked.rows_affected() > 0 {
                for table in [
                    "DELETE FROM correspondents WHERE user_id = $1",
                    "DELETE FROM correspondent_words WHERE user_id = $1",
                    "DELETE FROM correspondent_groups WHERE user_id = $1",
                    "DELETE FROM correspondent_group_members WHERE user_id = $1",
                ] {
                    sqlx::query(table).bind(user.0).execute(&mut *tx).await?;
                }
                let mut after_id = 0i64;
                loop {
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "SELECT id FROM messages WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    )
                    .bind(user.0)
                    .bind(after_id)
                    .bind(REBUILD_CHUNK)
                    .fetch_all(&mut *tx)
                    .await?;
                    let Some(last) = ids.last() else { break };
                    after_id = *last;
                    let counted = tally_people!(tx, backend, &ids);
                    move_correspondents!(tx, backend, Tallies::default(), counted);
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, at: i64, from: &str, role: &str, address: &str, name: Option<&str>) -> PersonRow {
        (id, 1, at, Some(from.to_owned()), role.to_owned(), address.to_owned(), name.map(str::to_owned))
    }

    #[test]
    fn a_message_weighs_half_as_much_ninety_days_older_and_never_overflows() {
        let now = 1_800_000_000;
        assert!((weight(now) / weight(now - 90 * 86_400) - 2.0).abs() < 1e-9);
        assert!(weight(i64::MAX).is_finite() && weight(i64::MIN) > 0.0);
    }

    #[test]
    fn words_fold_case_and_accents_of_the_name_and_the_address() {
        assert_eq!(words_of(Some("Jana Nováková"), "jana.novakova@example.cz"), ["jana", "novakova", "example", "cz"]);
        assert_eq!(words_column(&["a".into(), "b".into()]), " a b");
        assert!(prefix_end("nov").as_str() > "novakova" && prefix_end("nov").as_str() < "now");
    }

    #[test]
    fn typed_text_is_read_as_folded_words_the_longest_driving() {
        let t = Typed::parse(" Jana  NOVÁK ").unwrap();
        assert_eq!((t.driver.as_str(), t.others.as_slice()), ("novak", &["jana".to_owned()][..]));
        assert!(Typed::parse("  % _ ").is_none());
        assert_eq!(Typed::parse("jana.n").unwrap().others, ["n"]);
    }

    #[test]
    fn a_sent_message_counts_its_recipients_as_written_to_and_as_a_group() {
        let own: HashMap<i64, HashSet<String>> = HashMap::from([(1, HashSet::from(["me@x.cz".to_owned()]))]);
        let rows = vec![
            row(1, 100, "me@x.cz", "from", "me@x.cz", Some("Me")),
            row(1, 100, "me@x.cz", "to", "jana@x.cz", Some("Jana")),
            row(1, 100, "me@x.cz", "cc", "petr@x.cz", None),
            row(2, 200, "jana@x.cz", "from", "jana@x.cz", Some("Jana Nováková")),
            row(2, 200, "jana@x.cz", "to", "me@x.cz", None),
        ];
        let t = Tallies::of(rows, &own);
        assert!(!t.people.contains_key(&(1, "me@x.cz".to_owned())));
        let jana = &t.people[&(1, "jana@x.cz".to_owned())];
        assert_eq!((jana.seen, jana.sent, jana.last_at), (2, 1, 200));
        assert_eq!(jana.name.as_ref().map(|n| n.2.as_str()), Some("Jana Nováková"));
        let petr = &t.people[&(1, "petr@x.cz".to_owned())];
        assert_eq!((petr.seen, petr.sent), (1, 1));
        assert_eq!(t.groups.keys().map(|k| k.1.as_str()).collect::<Vec<_>>(), ["jana@x.cz\npetr@x.cz"]);
    }

    #[test]
    fn the_same_messages_again_change_nothing_and_the_last_going_removes_the_row() {
        let own = HashMap::new();
        let rows = || vec![row(1, 100, "a@x.cz", "from", "a@x.cz", Some("Anna"))];
        let (before, after) = (Tallies::of(rows(), &own), Tallies::of(rows(), &own));
        let stored = HashMap::from([(
            (1, "a@x.cz".to_owned()),
            (Some("Anna".to_owned()), 100, 100, 1, " anna a x cz".to_owned()),
        )]);
        assert!(person_changes(&before, &after, &stored).is_empty());
        let gone = person_changes(&before, &Tallies::default(), &stored);
        assert_eq!(gone.len(), 1);
        assert!(gone[0].gone);
        assert_eq!(gone[0].words_removed, ["anna", "a", "x", "cz"]);
        let new = person_changes(&Tallies::default(), &after, &HashMap::new());
        assert_eq!((new[0].seen, new[0].gone, new[0].words.as_str()), (1, false, " anna a x cz"));
    }
}
