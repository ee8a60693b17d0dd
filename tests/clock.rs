//! The wall clock decides expiry, against real processes with a faked clock: the emulator and the
//! daemon run under libfaketime (Debian's `faketime`), which moves their wall clock while leaving
//! CLOCK_MONOTONIC real (`DONT_FAKE_MONOTONIC=1`), as a suspend does; `FAKETIME_TIMESTAMP_FILE`
//! with `FAKETIME_NO_CACHE=1` lets the test move it mid-run.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const START: Duration = Duration::from_secs(20);
/// The threaded build of libfaketime (the daemon and the emulator both run threads).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// A faked wall clock shared by the processes started with its `env()`.
struct FakeClock {
    file: PathBuf,
}

impl FakeClock {
    fn new(dir: &Path, offset_s: i64) -> FakeClock {
        assert!(
            Path::new(LIBFAKETIME).exists(),
            "{LIBFAKETIME} is missing: apt-get install faketime (tests/setup.sh does)"
        );
        let clock = FakeClock {
            file: dir.join("faketime"),
        };
        clock.set(offset_s);
        clock
    }

    /// Moves the faked clocks to `offset_s` seconds from the real time.
    fn set(&self, offset_s: i64) {
        std::fs::write(&self.file, format!("{offset_s:+}\n")).unwrap();
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", self.file.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("DONT_FAKE_MONOTONIC", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Seconds from the faked "now" (real time plus `offset_s`) to an `Expiration`.
fn seconds_left(expiration: &str, offset_s: i64) -> f64 {
    seconds_until(expiration) - offset_s as f64
}

#[test]
fn after_a_one_hour_jump_no_answer_is_expired_and_fresh_credentials_come_within_5_s() {
    let dir = temp_dir();
    let clock = FakeClock::new(dir.path(), 0);
    let emulator = Emulator::start_with_env(&borrowed(&clock.env()));
    let pool = Pool::seed(&emulator, SeedOptions::default());
    // One-hour credentials, as Cognito gives: renewal would be due in 40 minutes by the
    // monotonic clock.
    emulator.set_identity_ttl(&pool.identity_pool_id, 3600);
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-s", "unix", "-S", socket.to_str().unwrap()],
    )
    .envs(pool.env())
    .envs(clock.env())
    .start();
    let first = wait_for_credentials(&socket, None, START);
    let first_expiration = first["Expiration"].as_str().unwrap().to_owned();
    assert!(seconds_left(&first_expiration, 0) > 3500.0, "{first}");

    // The lid opens an hour later.
    clock.set(3600);
    let jumped = Instant::now();
    let mut answers = 0;
    let mut expired = Vec::new();
    let mut errors = Vec::new();
    let mut fresh_after = None;
    while jumped.elapsed() < Duration::from_secs(5) {
        let doc = unix_json(&socket, None);
        answers += 1;
        match doc["Expiration"].as_str() {
            Some(expiration) => {
                let left = seconds_left(expiration, 3600);
                if left <= 0.0 {
                    expired.push(doc.to_string());
                } else if fresh_after.is_none() && left > 3500.0 {
                    fresh_after = Some(jumped.elapsed());
                }
            }
            None => errors.push(doc.to_string()),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "{answers} answers in 5 s after the jump: {} expired, {} errors, fresh after {fresh_after:?}",
        expired.len(),
        errors.len()
    );
    assert!(expired.is_empty(), "expired answers: {expired:?}");
    let fresh_after = fresh_after.expect("fresh credentials within 5 s of the jump");
    assert!(fresh_after < Duration::from_secs(5));
    // Errors are allowed only while the renewal ran, and must say so.
    for error in &errors {
        assert!(error.contains("renewing"), "{error}");
    }
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("GetCredentialsForIdentity"),
        Some(&2),
        "one renewal after the jump, not a loop: {calls:?}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_host_clock_ten_minutes_ahead_still_signs_in_and_is_reported_with_both_times() {
    let dir = temp_dir();
    // Only the daemon's clock is off; the emulator (Cognito) keeps the real time and refuses an
    // SRP TIMESTAMP more than five minutes from it.
    let clock = FakeClock::new(dir.path(), 600);
    let emulator = Emulator::start();
    let pool = Pool::seed(&emulator, SeedOptions::default());
    emulator.set_identity_ttl(&pool.identity_pool_id, 3600);
    let notify = NotifySocket::bind(dir.path());
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-s", "unix", "-S", socket.to_str().unwrap()],
    )
    .envs(pool.env())
    .envs(clock.env())
    .env("NOTIFY_SOCKET", notify.path.to_str().unwrap())
    .start();
    // Signed in: the TIMESTAMP was written on Cognito's clock, learnt from the first answer.
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    // The credentials look ten minutes shorter to this host, as to every SDK on it.
    let left = seconds_left(doc["Expiration"].as_str().unwrap(), 600);
    assert!(
        (2900.0..3000.0).contains(&left),
        "{left} s left by the host clock"
    );

    let ready = notify.wait_for("READY=1", 0, |m| m.contains("READY=1"));
    let message = &notify.all()[ready];
    assert!(
        message.contains("host clock 600 s ahead of Cognito's (host "),
        "{message}"
    );
    assert!(message.contains("timedatectl"), "{message}");
    let log = daemon.plain_log();
    let warnings: Vec<_> = log
        .lines()
        .filter(|l| l.contains("clock_skew") || l.contains("ahead of Cognito's"))
        .collect();
    assert_eq!(warnings.len(), 1, "warned once: {log}");
    let host = time::OffsetDateTime::now_utc() + time::Duration::seconds(600);
    let hour = format!("{}T{:02}:", host.date(), host.hour());
    assert!(
        warnings[0].contains(&hour),
        "the warning names the host's time: {}",
        warnings[0]
    );
    assert!(warnings[0].contains("Cognito"), "{}", warnings[0]);
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
