//! Seeding mailboxes from the corpus and from the generator.

use mailroom_sim::seed;

use crate::support::*;

fn corpus() -> std::path::PathBuf {
    shared_file("corpora/spamassassin.tar.gz")
}

#[tokio::test]
async fn the_corpus_tarball_seeds_every_message_across_users_and_providers() {
    let messages = seed::read_emls(&corpus()).unwrap();
    assert_eq!(messages.len(), 3250, "the SpamAssassin corpus holds 3,250 messages");
    assert!(messages.windows(2).all(|w| w[0].0 <= w[1].0), "in path order");
    let sim = Sim::start().await;
    let users = [ANN.to_owned(), BEN.to_owned(), CARL.to_owned()];
    let report = seed::seed(sim.state(), &users, messages).unwrap();
    assert_eq!(report, seed::SeedReport { messages: 3250, skipped: 0 });
    let mut world = sim.state().world();
    let counts = [
        world.gmail(ANN).unwrap().message_count(),
        world.gmail(BEN).unwrap().message_count(),
        world.graph(CARL).unwrap().message_count(),
    ];
    assert_eq!(counts.iter().sum::<usize>(), 3250);
    assert!(counts.iter().all(|c| (1083..=1084).contains(c)), "{counts:?}");
    // The corpus's spam is its folder spam-1 (500 messages); its path prefix `spamassassin/` is not.
    let mut spam = 0;
    for user in [ANN, BEN] {
        let gmail = world.gmail(user).unwrap();
        let in_spam = gmail.messages().filter(|m| m.has("SPAM")).count();
        assert!(gmail.messages().filter(|m| m.has("INBOX")).count() > 500, "{user}'s inbox holds most of their mail");
        spam += in_spam;
    }
    let outlook = world.graph(CARL).unwrap();
    let junk = outlook.well_known_id("junkemail");
    let inbox = outlook.well_known_id("inbox");
    spam += outlook.messages.iter().filter(|m| m.folder_id == junk).count();
    assert!(outlook.messages.iter().filter(|m| m.folder_id == inbox).count() > 500);
    assert_eq!(spam, 500, "the corpus's spam-1 folder, and nothing else, is spam");
}

#[tokio::test]
async fn seeding_nobody_or_a_missing_file_is_a_clear_error() {
    let sim = Sim::start().await;
    assert!(matches!(seed::seed(sim.state(), &[], Vec::new()), Err(seed::SeedError::NoUsers)));
    let err = seed::read_emls(std::path::Path::new("/nonexistent/corpus.tar.gz")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/corpus.tar.gz"), "{err}");
}

#[tokio::test]
async fn generated_mail_seeds_a_folder_like_the_corpus() {
    let dir = std::env::temp_dir().join(format!("mailroom-sim-seed-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("inbox")).unwrap();
    for (path, raw) in seed::generate(1, 12, ANN) {
        let name = path.rsplit('/').next().unwrap().to_owned();
        std::fs::write(dir.join("inbox").join(name), raw).unwrap();
    }
    let messages = seed::read_emls(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(messages.len(), 12);
    let sim = Sim::start().await;
    let report = seed::seed(sim.state(), &[ANN.to_owned(), "nobody@example.test".to_owned()], messages).unwrap();
    assert_eq!(report, seed::SeedReport { messages: 6, skipped: 6 });
}
