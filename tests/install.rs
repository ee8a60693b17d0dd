//! `cognitod install` through the binary: the units it writes pass `systemd-analyze verify` with
//! nothing to say, the service's exposure score is recorded, and writing, --force and --remove
//! behave.

use std::path::Path;
use std::process::Command;

fn cognitod(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .args(args)
        .output()
        .unwrap()
}

/// `cognitod install -i DIR EXTRA`, with `--bin /usr/bin/cognitod` unless EXTRA names one: the
/// units need not start anything here, and the test binary itself may lie under /home or /tmp,
/// which install refuses for ExecStart (see the last test).
fn install_into(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["install", "-i", dir.to_str().unwrap()];
    if !extra.contains(&"--bin") {
        args.extend_from_slice(&["--bin", "/usr/bin/cognitod"]);
    }
    args.extend_from_slice(extra);
    cognitod(&args)
}

const UNITS: [&str; 4] = [
    "cognitod.service",
    "cognitod.socket",
    "cognitod-tcp.socket",
    "cognitod-http.socket",
];

/// `systemd-analyze verify` passes PATHS and says nothing at all: a warning is a failure too.
fn assert_verifies_silently(paths: &[String]) {
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(paths)
        .output()
        .expect("systemd-analyze (package systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify said:\n{said}"
    );
}

/// The "Overall exposure level" that `systemd-analyze security --offline=true` gives UNIT, as
/// it prints it.
fn exposure_score(unit: &Path) -> String {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.contains("Overall exposure level"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no score in:\n{text}"))
}

#[test]
fn dry_run_prints_the_golden_units_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = install_into(
        dir.path(),
        &[
            "--dry-run",
            "--bin",
            "/usr/bin/cognitod",
            "-s",
            "unix,tcp,http",
            "-g",
            "cognitod-clients",
            // The packaged units: no secret generated at build time (debian/stage.sh).
            "--allow-no-secret",
        ],
    );
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    for unit in UNITS {
        let golden = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("systemd")
                .join(unit),
        )
        .unwrap();
        assert!(
            printed.contains(&golden),
            "{unit} not printed as its golden file"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn written_units_pass_systemd_analyze_verify_silently() {
    let dir = tempfile::tempdir().unwrap();
    // The real binary, so that verify finds ExecStart's executable; --force if it lies where
    // the service's sandbox would hide it (a clone under /home), which verify does not model.
    let binary = env!("CARGO_BIN_EXE_cognitod");
    let mut args = vec![
        "--bin",
        binary,
        "-s",
        "unix",
        "-s",
        "tcp",
        "-s",
        "http",
        "-g",
        "nogroup",
        "-u",
        "root",
        "--allow-no-secret",
    ];
    if ["/home/", "/root/", "/tmp/", "/var/tmp/", "/run/user/"]
        .iter()
        .any(|d| binary.starts_with(d))
    {
        args.push("--force");
    }
    let out = install_into(dir.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths: Vec<String> = UNITS
        .iter()
        .map(|u| dir.path().join(u).display().to_string())
        .collect();
    assert_verifies_silently(&paths);
}

#[test]
fn the_service_exposure_score_is_at_most_1_2() {
    let dir = tempfile::tempdir().unwrap();
    assert!(install_into(dir.path(), &[]).status.success());
    let score: f64 = exposure_score(&dir.path().join("cognitod.service"))
        .parse()
        .unwrap();
    println!("systemd-analyze security --offline=true cognitod.service: {score}");
    assert!(score <= 1.2, "exposure {score}");
}

#[test]
fn refuses_to_overwrite_a_changed_unit_without_force_and_removes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        install_into(dir.path(), &["-s", "unix,http", "--allow-no-secret"])
            .status
            .success()
    );
    let service = dir.path().join("cognitod.service");
    std::fs::write(&service, "# edited by hand\n").unwrap();
    let refused = install_into(dir.path(), &["-s", "unix,http", "--allow-no-secret"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("--force") && err.contains("cognitod.service"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&service).unwrap(),
        "# edited by hand\n"
    );
    let forced = install_into(
        dir.path(),
        &["-s", "unix,http", "--allow-no-secret", "--force"],
    );
    assert!(forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stdout).contains("replaced"));
    assert!(std::fs::read_to_string(&service)
        .unwrap()
        .contains("Type=notify"));
    let removed = install_into(dir.path(), &["-s", "unix,http", "--remove"]);
    assert!(removed.status.success());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bad_flags_name_the_flag_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (vec!["--permissions", "rw"], "--permissions"),
        (
            vec!["-s", "tcp,http", "-P", "9000"],
            "--tcp-port and --http-port",
        ),
        (vec!["-H", "example.com"], "IP address"),
        (vec!["-n", "bad/name"], "--server-name"),
        (vec!["-c", "relative.json"], "absolute path"),
    ] {
        let out = install_into(dir.path(), &args);
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// Issue 14, point 1: installing tcp or http sockets gives them a shared secret: a new one beside
/// the configuration (0600, no newline, kept on a second install), or the file the configuration
/// names, loaded as the credential `auth_secret`; none with `--allow-no-secret`, or for unix alone.
#[test]
fn tcp_or_http_sockets_get_a_shared_secret() {
    use std::os::unix::fs::PermissionsExt;
    let etc = tempfile::tempdir().unwrap();
    let config = etc.path().join("config.json");
    let generated = etc.path().join("auth-secret");
    let units = tempfile::tempdir().unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec!["-c", config.to_str().unwrap(), "--force"];
        args.extend_from_slice(extra);
        let out = install_into(units.path(), &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let service = std::fs::read_to_string(units.path().join("cognitod.service")).unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), service)
    };

    let (said, service) = install(&["-s", "unix"]);
    assert!(!generated.exists(), "{said}");
    assert!(!service.contains("auth_secret"), "{service}");

    let (said, service) = install(&["-s", "unix,tcp"]);
    assert!(said.contains("wrote a new shared secret"), "{said}");
    let secret = std::fs::read(&generated).unwrap();
    assert!(secret.len() >= 40 && !secret.ends_with(b"\n"));
    let mode = std::fs::metadata(&generated).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        service.contains(&format!(
            "LoadCredential=auth_secret:{}\n",
            generated.display()
        )),
        "{service}"
    );
    // Again: the secret is kept, not replaced.
    let (said, _) = install(&["-s", "http"]);
    assert!(!said.contains("wrote a new shared secret"), "{said}");
    assert_eq!(std::fs::read(&generated).unwrap(), secret);

    // The configuration names its own secret file: that one is loaded.
    let named = etc.path().join("named-secret");
    std::fs::write(
        &config,
        format!(
            r#"{{"global": {{"auth_secret_file": "{}"}}}}"#,
            named.display()
        ),
    )
    .unwrap();
    let (_, service) = install(&["-s", "tcp"]);
    assert!(
        service.contains(&format!("LoadCredential=auth_secret:{}\n", named.display())),
        "{service}"
    );
    // The operator's explicit choice: no secret.
    std::fs::remove_file(&config).unwrap();
    let (_, service) = install(&["-s", "tcp", "--allow-no-secret"]);
    assert!(!service.contains("auth_secret"), "{service}");
}

/// Issue 14, point 6: `--remove` removes every unit an install of that NAME wrote, whatever `-s`
/// says now, and says what it removed; other names' units stay.
#[test]
fn remove_takes_every_unit_of_the_name_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        install_into(dir.path(), &["-s", "unix,tcp,http", "--allow-no-secret"])
            .status
            .success()
    );
    assert!(install_into(
        dir.path(),
        &["-n", "other", "-s", "http", "--allow-no-secret"]
    )
    .status
    .success());
    // The default -s unix, as someone undoing an install would type it.
    let removed = install_into(dir.path(), &["--remove"]);
    assert!(removed.status.success(), "{removed:?}");
    let said = String::from_utf8_lossy(&removed.stdout);
    for unit in UNITS {
        assert!(
            said.contains(&format!("removed {}", dir.path().join(unit).display())),
            "{unit} not reported: {said}"
        );
        assert!(!dir.path().join(unit).exists(), "{unit} left behind");
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["other-http.socket", "other.service"]);
    let again = install_into(dir.path(), &["--remove"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to remove"));
}

/// Issue 14, point 8: an install whose ExecStart would point into /tmp or /home (a clone's
/// target/debug/cognitod), which the service's PrivateTmp=/ProtectHome= hide, is refused without
/// --force, naming where to install the binary; nothing is written.
#[test]
fn a_binary_the_service_cannot_see_is_refused_without_force() {
    for binary in [
        "/tmp/clone/target/debug/cognitod",
        "/home/alice/cognitod/target/release/cognitod",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let refused = install_into(dir.path(), &["--bin", binary]);
        assert!(!refused.status.success(), "{binary}");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains(binary)
                && err.contains("cargo install --locked --path . --root /usr/local")
                && err.contains("--force"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let forced = install_into(dir.path(), &["--bin", binary, "--force"]);
        assert!(forced.status.success());
        assert!(String::from_utf8_lossy(&forced.stderr).contains("warning"));
    }
}

/// `cognitod install --instance`: the template units pass `systemd-analyze verify` silently,
/// are as confined as the plain service (the same exposure score), match their golden files,
/// and the instance's settings are drop-ins beside them.
#[test]
fn instance_templates_verify_silently_and_score_as_the_plain_service() {
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_cognitod");
    let mut args = vec![
        "--bin",
        binary,
        "--instance",
        "alice",
        "-s",
        "unix,tcp,http",
        "--http-port",
        "8081",
        "-g",
        "nogroup",
        "--allow-no-secret",
    ];
    if ["/home/", "/root/", "/tmp/", "/var/tmp/", "/run/user/"]
        .iter()
        .any(|d| binary.starts_with(d))
    {
        args.push("--force");
    }
    let out = install_into(dir.path(), &args);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(
            "next: systemctl daemon-reload && systemctl enable --now cognitod@alice.socket \
             cognitod-tcp@alice.socket cognitod-http@alice.socket"
        ),
        "{said}"
    );
    let templates = [
        "cognitod@.service",
        "cognitod@.socket",
        "cognitod-tcp@.socket",
        "cognitod-http@.socket",
    ];
    let paths: Vec<String> = templates
        .iter()
        .map(|u| dir.path().join(u).display().to_string())
        .collect();
    assert_verifies_silently(&paths);
    let http = std::fs::read_to_string(dir.path().join("cognitod-http@alice.socket.d/listen.conf"))
        .unwrap();
    assert!(
        http.contains("ListenStream=\nListenStream=127.0.0.1:8081\nListenStream=[::1]:8081\n"),
        "{http}"
    );
    let access =
        std::fs::read_to_string(dir.path().join("cognitod@alice.socket.d/access.conf")).unwrap();
    assert!(access.contains("SocketGroup=nogroup\n"), "{access}");

    let plain = tempfile::tempdir().unwrap();
    assert!(install_into(plain.path(), &[]).status.success());
    let (template_score, plain_score) = (
        exposure_score(&dir.path().join("cognitod@.service")),
        exposure_score(&plain.path().join("cognitod.service")),
    );
    println!("exposure: cognitod@.service {template_score}, cognitod.service {plain_score}");
    assert_eq!(template_score, plain_score);

    // The golden files are what --instance writes with the defaults the plain ones use
    // (systemd/README.md); the template's socket takes no group (that is the drop-in's).
    let golden = tempfile::tempdir().unwrap();
    assert!(install_into(
        golden.path(),
        &[
            "--instance",
            "x",
            "-s",
            "unix,tcp,http",
            "--allow-no-secret"
        ]
    )
    .status
    .success());
    for unit in templates {
        let expected = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("systemd")
                .join(unit),
        )
        .unwrap();
        let written = std::fs::read_to_string(golden.path().join(unit)).unwrap();
        assert_eq!(written, expected, "{unit}");
    }
}

/// Two instances with ports of their own, installed into one directory: the shared template
/// units keep the plain sockets' addresses (so the second install finds them unchanged and
/// needs no --force), and each instance's ports and host are in its own listen.conf only.
#[test]
fn two_instances_on_their_own_ports_share_the_template_units() {
    let dir = tempfile::tempdir().unwrap();
    let templates = [
        "cognitod@.service",
        "cognitod@.socket",
        "cognitod-tcp@.socket",
        "cognitod-http@.socket",
    ];
    for (instance, host, tcp, http) in [
        ("alice", "localhost", "5501", "8081"),
        ("bob", "127.0.0.1", "5502", "8082"),
    ] {
        let out = install_into(
            dir.path(),
            &[
                "--instance",
                instance,
                "-s",
                "unix,tcp,http",
                "-H",
                host,
                "--tcp-port",
                tcp,
                "--http-port",
                http,
                "--allow-no-secret",
            ],
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{instance}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if instance == "bob" {
            for unit in templates {
                let path = dir.path().join(unit).display().to_string();
                assert!(said.contains(&format!("unchanged {path}")), "{said}");
            }
        }
    }
    for unit in templates {
        let expected = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("systemd")
                .join(unit),
        )
        .unwrap();
        let written = std::fs::read_to_string(dir.path().join(unit)).unwrap();
        assert_eq!(written, expected, "{unit} differs from its golden file");
    }
    let listen = |unit: &str| {
        let path = dir.path().join(format!("{unit}.d/listen.conf"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    for (unit, lines) in [
        (
            "cognitod-tcp@alice.socket",
            "ListenStream=\nListenStream=127.0.0.1:5501\nListenStream=[::1]:5501\n",
        ),
        (
            "cognitod-http@alice.socket",
            "ListenStream=\nListenStream=127.0.0.1:8081\nListenStream=[::1]:8081\n",
        ),
        (
            "cognitod-tcp@bob.socket",
            "ListenStream=\nListenStream=127.0.0.1:5502\n",
        ),
        (
            "cognitod-http@bob.socket",
            "ListenStream=\nListenStream=127.0.0.1:8082\n",
        ),
    ] {
        let text = listen(unit);
        assert!(text.ends_with(lines), "{unit}:\n{text}");
    }
}
