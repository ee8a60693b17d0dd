//! Issue 16, point 7: a secret is held once in the daemon's memory. After it has signed in and
//! served, the daemon's whole address space (every readable mapping in /proc/PID/maps, read
//! through /proc/PID/mem, as root) holds the password and the client secret at most once each
//! (the copy kept to sign in again) and the shared secret at most once (it keeps only its digest,
//! so none is expected), whether they came from a 0600 config file or, with `-e`, from the
//! environment, whose block must have been overwritten once read.
//!
//! Freed memory counts: a copy dropped without being zeroed is still there for anyone who can
//! read the process (a core dump, a swap file, a debugger), so the test finds it; since glibc
//! overwrites the first 16 bytes of a freed chunk, each secret's tail is counted too.
//!
//! Reproduce the figures: `cargo test --test secrets_in_memory -- --nocapture` (as root).

mod common;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);
/// The bytes at the start of a freed heap chunk that glibc's allocator overwrites with its own
/// pointers (tcache next and key).
const FREED_HEADER: usize = 16;

/// How often each needle occurs in the readable memory of process `pid`.
fn count_in_memory(pid: u32, needles: &[&[u8]]) -> Vec<usize> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mem = File::open(format!("/proc/{pid}/mem"))
        .expect("reading another process's memory needs root (CAP_SYS_PTRACE)");
    let longest = needles.iter().map(|n| n.len()).max().unwrap_or(1);
    let mut counts = vec![0; needles.len()];
    let mut chunk = vec![0u8; 1 << 20];
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        // Chunks overlap by the longest needle less one byte, and a chunk counts only the
        // matches that start before the overlap, so none is missed or counted twice.
        let mut at = start;
        while at < end {
            let len = (end - at).min(chunk.len() as u64) as usize;
            let Ok(read) = mem.read_at(&mut chunk[..len], at) else {
                break; // a mapping that cannot be read (a guard page); nothing secret is there
            };
            let last = read < len || at + read as u64 >= end || read < longest;
            let starts_before = if last { read } else { read - (longest - 1) };
            for (needle, count) in needles.iter().zip(counts.iter_mut()) {
                *count += chunk[..read]
                    .windows(needle.len())
                    .enumerate()
                    .filter(|(i, w)| *i < starts_before && w == needle)
                    .count();
            }
            if last {
                break;
            }
            at += starts_before as u64;
        }
    }
    counts
}

/// A random secret the daemon never saw before.
fn fresh(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(prefix.as_bytes());
    format!("{prefix}-{:016x}-Qq7", h.finish())
}

/// A pool whose app client has a secret, a fresh shared secret, and a directory for the files.
struct Case {
    pool: Pool,
    client_secret: String,
    shared: String,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Case {
    fn new() -> Case {
        let options = SeedOptions {
            client_secret: true,
            ..Default::default()
        };
        let pool = Pool::seed(Emulator::shared(), options);
        let dir = temp_dir();
        Case {
            client_secret: pool.client_secret.clone().unwrap(),
            pool,
            shared: fresh("Shared"),
            socket: dir.path().join("c.sock"),
            dir,
        }
    }

    /// Starts `cognitod serve ARGS` with `env` (through `wrapper`, a command that execs the rest),
    /// asks it for credentials a few times (sending `line`), counts each secret in its memory,
    /// prints the counts, and fails above one copy. Returns the daemon, still running.
    fn assert_held_once(
        &self,
        name: &str,
        wrapper: &[&str],
        args: &[&str],
        env: Vec<(String, String)>,
        line: &str,
    ) -> Daemon {
        let daemon = DaemonCommand::serve_under(wrapper, &Emulator::shared().url(), args)
            .envs(env)
            .start();
        let line = Some(line.as_bytes());
        assert_process_credentials(&wait_for_credentials(&self.socket, line, START));
        for _ in 0..5 {
            assert_process_credentials(&unix_json(&self.socket, line));
        }
        let secrets = [
            ("password", self.pool.password.as_str()),
            ("client secret", self.client_secret.as_str()),
            ("shared secret", self.shared.as_str()),
        ];
        // Each whole, and each from its 17th byte: glibc's free() writes its list pointers over
        // the first 16 bytes of a freed chunk, so a copy freed unzeroed shows only its tail.
        let mut needles: Vec<&[u8]> = secrets.iter().map(|(_, s)| s.as_bytes()).collect();
        needles.extend(secrets.iter().map(|(_, s)| &s.as_bytes()[FREED_HEADER..]));
        let counts = count_in_memory(daemon.pid(), &needles);
        let (whole, tails) = counts.split_at(secrets.len());
        for (((what, _), count), tail) in secrets.iter().zip(whole).zip(tails) {
            println!(
                "{name}: {count} copies of the {what} in the daemon's memory ({tail} of its tail)"
            );
        }
        for (((what, _), count), tail) in secrets.iter().zip(whole).zip(tails) {
            assert!(
                *count <= 1 && *tail <= 1,
                "{name}: the {what} is {count} times in the daemon's memory, its tail {tail} times"
            );
        }
        daemon
    }
}

#[test]
fn secrets_from_a_config_file_are_held_once() {
    let case = Case::new();
    let pool = &case.pool;
    let config = case.dir.path().join("config.json");
    let text = serde_json::json!({
        "global": { "auth_secret": case.shared },
        "server": { "socket_path": case.socket },
        "cognito": {
            "username": pool.username, "password": pool.password, "app_id": pool.client_id,
            "client_secret": case.client_secret, "user_pool_id": pool.user_pool_id,
            "identity_pool_id": pool.identity_pool_id, "region": pool.region,
        }
    });
    write_file(&config, &text.to_string(), 0o600);
    let line = format!("{}\n", case.shared);
    case.assert_held_once(
        "config file",
        &[],
        &["-c", config.to_str().unwrap()],
        vec![],
        &line,
    );
}

/// The other two files a secret may come from: the profile (password and client secret), a
/// systemd credential (the shared secret, in `$CREDENTIALS_DIRECTORY`).
#[test]
fn secrets_from_a_profile_and_a_systemd_credential_are_held_once() {
    let case = Case::new();
    let pool = &case.pool;
    let profile = case.dir.path().join("cognito_credentials");
    let text = format!(
        "[default]\nusername = {}\npassword = {}\napp_id = {}\nclient_secret = {}\n\
         user_pool_id = {}\nidentity_pool_id = {}\nregion = {}\n",
        pool.username,
        pool.password,
        pool.client_id,
        case.client_secret,
        pool.user_pool_id,
        pool.identity_pool_id,
        pool.region
    );
    write_file(&profile, &text, 0o600);
    let credentials = case.dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    write_file(&credentials.join("auth_secret"), &case.shared, 0o400);
    let args = [
        "-f",
        profile.to_str().unwrap(),
        "-S",
        case.socket.to_str().unwrap(),
    ];
    let env = vec![(
        "CREDENTIALS_DIRECTORY".into(),
        credentials.display().to_string(),
    )];
    case.assert_held_once("profile and credential", &[], &args, env, &case.shared);
}

#[test]
fn secrets_from_the_environment_are_held_once_and_the_environment_block_is_overwritten() {
    environment_case("environment", &[]);
}

/// The same for a daemon that is not root (a user's `serve -e`, the service's dynamic user): once
/// undumpable, its /proc/self files belong to root, so it opens its own memory before that.
#[test]
fn the_environment_block_is_overwritten_for_a_daemon_that_is_not_root_too() {
    environment_case(
        "environment, as nobody",
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
    );
}

/// `-e` under `wrapper`: the secrets are held once, and the environment block no longer shows
/// them (the rest of it is left as it was).
fn environment_case(name: &str, wrapper: &[&str]) {
    let case = Case::new();
    let secret_file = case.dir.path().join("secret");
    write_file(&secret_file, &case.shared, 0o600);
    // The daemon's user owns its directory and secret file (root owns them already).
    for path in [case.dir.path(), secret_file.as_path()] {
        let id = if wrapper.is_empty() { 0 } else { 65534 };
        nix::unistd::chown(path, Some(id.into()), Some(id.into())).unwrap();
    }
    let args = [
        "-e",
        "-S",
        case.socket.to_str().unwrap(),
        "--auth-secret-file",
        secret_file.to_str().unwrap(),
    ];
    let daemon = case.assert_held_once(name, wrapper, &args, case.pool.env(), &case.shared);
    // The environment block, as /proc shows it to any process of the same user.
    let environ = std::fs::read(format!("/proc/{}/environ", daemon.pid())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for (what, secret) in [
        ("password", &case.pool.password),
        ("client secret", &case.client_secret),
    ] {
        assert!(
            !environ.contains(secret.as_str()),
            "{name}: the {what} is still in the environment block"
        );
    }
    assert!(
        environ.contains("COGNITO_USERNAME="),
        "the rest of the environment is left as it was"
    );
}
