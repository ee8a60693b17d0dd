//! The .deb and the .rpm, built by the README's commands (`bash debian/build.sh`, `bash
//! rpm/build.sh`) once per run of this test binary; cargo's own freshness makes that quick when
//! nothing changed, and the first build of the release binary takes minutes.
//!
//! Checked: lintian and rpmlint; the layout of both (modes, conffiles, stripped binary); the
//! packaged units against what `cognitod install` renders; the man pages and completions; the rpm
//! scriptlets against the deb's maintainer scripts (both run with a recording systemctl, then
//! compared); and end to end in a real systemd: `dpkg -i`, `cognitod configure`, `systemctl
//! enable --now cognitod.socket`, credentials over the socket, the journal, `man cognitod`, an
//! upgrade while clients keep connecting, and a purge that leaves nothing behind.

mod common;
mod systemd_box;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{repo, Emulator, Pool, SeedOptions};
use serde_json::Value;
use systemd_box::SystemdBox;

const UNIT_DIR: &str = "usr/lib/systemd/system";
const SOCKETS: [&str; 3] = [
    "cognitod.socket",
    "cognitod-tcp.socket",
    "cognitod-http.socket",
];

/// The packages of this run.
struct Packages {
    deb: PathBuf,
    /// The same build with a higher version, for the upgrade.
    deb_next: PathBuf,
    rpm: PathBuf,
}

fn packages() -> &'static Packages {
    static BUILT: OnceLock<Result<Packages, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let start = Instant::now();
        let version = format!("{}-1", env!("CARGO_PKG_VERSION"));
        // First: cargo-deb deletes other versions' packages from target/debian/, wherever it
        // writes.
        let next_dir = repo().join("target/debian-next");
        let _ = std::fs::remove_dir_all(&next_dir);
        std::fs::create_dir_all(&next_dir).unwrap();
        // `+upgrade1` sorts after the real version.
        let deb_next = build_script(
            "debian/build.sh",
            &[
                "--deb-version",
                &format!("{version}+upgrade1"),
                "--output",
                next_dir.to_str().unwrap(),
            ],
        )?;
        let deb = build_script("debian/build.sh", &[])?;
        let built = output("dpkg-deb", &["--field", deb.to_str().unwrap(), "Version"]);
        if built.trim() != version {
            return Err(format!(
                "{} is version {built}, not {version}",
                deb.display()
            ));
        }
        let rpm = build_script("rpm/build.sh", &[])?;
        println!("packages built in {:?}", start.elapsed());
        Ok(Packages { deb, deb_next, rpm })
    });
    built.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a build script; its last line of output is the package's path.
fn build_script(script: &str, args: &[&str]) -> Result<PathBuf, String> {
    let out = Command::new("sh")
        .arg(repo().join(script))
        .args(args)
        .current_dir(repo())
        .output()
        .map_err(|e| format!("running {script}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{script} {args:?} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    let path = if path.is_absolute() {
        path
    } else {
        repo().join(path)
    };
    if !path.is_file() {
        return Err(format!(
            "{script} printed {path:?}, which is not a file:\n{stdout}"
        ));
    }
    Ok(path)
}

/// Runs a host command, panicking unless it succeeds; returns stdout.
#[track_caller]
fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The deb's files, unpacked (no scripts run).
fn unpack_deb(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    output(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), dir.path().to_str().unwrap()],
    );
    dir
}

/// The rpm installed into an empty root with `rpm --root` (no scripts, no dependencies: the
/// root holds nothing else).
fn install_rpm(rpm: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    output("rpm", &["--root", root, "--initdb"]);
    output(
        "rpm",
        &[
            "--root",
            root,
            "-i",
            "--nodeps",
            "--noscripts",
            "--nosignature",
            rpm.to_str().unwrap(),
        ],
    );
    dir
}

/// The subcommands, from `cognitod --help`: one man page each.
fn subcommands() -> Vec<String> {
    let help = output(env!("CARGO_BIN_EXE_cognitod"), &["--help"]);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

fn man_pages() -> Vec<String> {
    let mut pages = vec!["usr/share/man/man1/cognitod.1.gz".to_owned()];
    pages.extend(
        subcommands()
            .iter()
            .map(|c| format!("usr/share/man/man1/cognitod-{c}.1.gz")),
    );
    pages
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn lintian_reports_no_error_and_no_unexplained_warning() {
    let p = packages();
    // With --show-overrides, overridden tags would count for --fail-on: judged by the lines.
    let out = Command::new("lintian")
        .args(["--fail-on", "none", "--display-info", "--show-overrides"])
        .arg(&p.deb)
        .output()
        .expect("lintian (debian/build.sh installs it)");
    let said = String::from_utf8_lossy(&out.stdout);
    println!("lintian {}:\n{said}", p.deb.display());
    assert!(out.status.success(), "lintian failed:\n{said}");
    let unexplained: Vec<_> = said
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(unexplained.is_empty(), "{unexplained:#?}");
}

#[test]
fn rpmlint_reports_no_error_and_no_unexplained_warning() {
    let p = packages();
    let out = Command::new("rpmlint")
        .arg("-c")
        .arg(repo().join("rpm/rpmlint.toml"))
        .arg(&p.rpm)
        .output()
        .expect("rpmlint (rpm/build.sh installs it)");
    let said = String::from_utf8_lossy(&out.stdout);
    println!("rpmlint {}:\n{said}", p.rpm.display());
    assert!(out.status.success(), "rpmlint failed:\n{said}");
    assert!(said.contains(" 0 errors, 0 warnings"), "{said}");
}

#[test]
fn the_deb_has_the_expected_layout() {
    let p = packages();
    let listing = output("dpkg-deb", &["--contents", p.deb.to_str().unwrap()]);
    // "drwxr-x--- root/root 0 2026-11-28 12:00 ./etc/cognitod/"
    let entries: BTreeSet<(String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<_> = l.split_whitespace().collect();
            assert_eq!(f[1], "root/root", "{l}");
            (f[5].trim_start_matches("./").to_owned(), f[0].to_owned())
        })
        .collect();
    let files: BTreeSet<String> = entries
        .iter()
        .filter(|(_, m)| !m.starts_with('d'))
        .map(|(p, _)| p.clone())
        .collect();
    let mut expected: BTreeSet<String> = [
        "etc/cognitod/config.json.example",
        "usr/bin/cognitod",
        "usr/lib/systemd/system/cognitod.service",
        "usr/lib/systemd/system/cognitod.socket",
        "usr/lib/systemd/system/cognitod-tcp.socket",
        "usr/lib/systemd/system/cognitod-http.socket",
        "usr/lib/systemd/system/cognitod@.service",
        "usr/lib/systemd/system/cognitod@.socket",
        "usr/lib/systemd/system/cognitod-tcp@.socket",
        "usr/lib/systemd/system/cognitod-http@.socket",
        "usr/share/bash-completion/completions/cognitod",
        "usr/share/zsh/vendor-completions/_cognitod",
        "usr/share/fish/vendor_completions.d/cognitod.fish",
        "usr/share/doc/cognitod/copyright",
        "usr/share/doc/cognitod/changelog.Debian.gz",
        "usr/share/doc/cognitod/README.md",
        "usr/share/lintian/overrides/cognitod",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    expected.extend(man_pages());
    assert_eq!(files, expected, "{listing}");
    let mode_of = |path: &str| {
        entries
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} not in the deb"))
            .1
            .clone()
    };
    assert_eq!(mode_of("etc/cognitod/"), "drwxr-x---");
    assert_eq!(mode_of("usr/bin/cognitod"), "-rwxr-xr-x");
    for (path, m) in &entries {
        if path != "etc/cognitod/" && path != "usr/bin/cognitod" {
            assert!(m == "drwxr-xr-x" || m == "-rw-r--r--", "{m} {path}");
        }
    }

    let conffiles = output(
        "dpkg-deb",
        &["--info", p.deb.to_str().unwrap(), "conffiles"],
    );
    assert_eq!(conffiles.trim(), "/etc/cognitod/config.json.example");
    let control = output("dpkg-deb", &["--field", p.deb.to_str().unwrap()]);
    println!("{control}");
    assert!(control.contains("Depends: libc6"), "{control}");

    let root = unpack_deb(&p.deb);
    assert_stripped(&root.path().join("usr/bin/cognitod"));
    let copyright =
        std::fs::read_to_string(root.path().join("usr/share/doc/cognitod/copyright")).unwrap();
    assert!(copyright.contains("License: MIT or Apache-2.0"));
    assert!(
        copyright.contains(" tokio v1."),
        "no crate list:\n{copyright}"
    );
}

#[test]
fn the_rpm_has_the_expected_layout() {
    let p = packages();
    let rpm = p.rpm.to_str().unwrap();
    let listing = output("rpm", &["-qpl", rpm]);
    println!("rpm -qpl:\n{listing}");
    let files: BTreeSet<&str> = listing.lines().collect();
    // No /etc/cognitod: cargo-generate-rpm cannot package a directory; rpm/post.sh makes it 0750.
    let mut expected: BTreeSet<String> = [
        "/etc/cognitod/config.json.example",
        "/usr/bin/cognitod",
        "/usr/lib/systemd/system/cognitod.service",
        "/usr/lib/systemd/system/cognitod.socket",
        "/usr/lib/systemd/system/cognitod-tcp.socket",
        "/usr/lib/systemd/system/cognitod-http.socket",
        "/usr/lib/systemd/system/cognitod@.service",
        "/usr/lib/systemd/system/cognitod@.socket",
        "/usr/lib/systemd/system/cognitod-tcp@.socket",
        "/usr/lib/systemd/system/cognitod-http@.socket",
        "/usr/share/bash-completion/completions/cognitod",
        "/usr/share/zsh/site-functions/_cognitod",
        "/usr/share/fish/vendor_completions.d/cognitod.fish",
        "/usr/share/licenses/cognitod/copyright",
        "/usr/share/licenses/cognitod/Apache-2.0",
        "/usr/share/doc/cognitod/changelog",
        "/usr/share/doc/cognitod/README.md",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    expected.extend(man_pages().iter().map(|m| format!("/{m}")));
    assert_eq!(
        files,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    // %config(noreplace) on the example, %doc on the documentation.
    let flags = output(
        "rpm",
        &[
            "-qp",
            "--qf",
            "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]",
            rpm,
        ],
    );
    println!("{flags}");
    let line = |path: &str| {
        flags
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} not in:\n{flags}"))
            .to_owned()
    };
    assert!(line("/etc/cognitod/config.json.example").starts_with("-rw-r--r-- root:root cn "));
    assert!(line("/usr/bin/cognitod").starts_with("-rwxr-xr-x root:root  "));
    assert!(line("/usr/share/man/man1/cognitod.1.gz").contains(" d "));

    let root = install_rpm(&p.rpm);
    let r = root.path();
    assert_eq!(mode(&r.join("usr/bin/cognitod")), 0o755);
    assert_stripped(&r.join("usr/bin/cognitod"));
    let verify = Command::new("rpm")
        .args(["--root", r.to_str().unwrap(), "-V", "--nodeps", "cognitod"])
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stdout.is_empty(),
        "rpm -V: {verify:?}"
    );
}

#[track_caller]
fn assert_stripped(binary: &Path) {
    let sections = output("readelf", &["-S", "-W", binary.to_str().unwrap()]);
    for section in [".symtab", ".debug_info", ".debug_line"] {
        assert!(
            !sections.contains(&format!(" {section} ")),
            "{} has {section}",
            binary.display()
        );
    }
}

/// The one source of truth: the packaged units are what `cognitod install` writes (sockets as
/// with `-s unix,tcp,http`; the service as with `-s unix`; the template units as with
/// `--instance`, see debian/stage.sh).
#[test]
fn packaged_units_are_what_cognitod_install_renders() {
    let p = packages();
    let rendered = |transports: &str, more: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "install",
            "-i",
            dir.path().to_str().unwrap(),
            "--bin",
            "/usr/bin/cognitod",
            "-s",
            transports,
            "--allow-no-secret",
        ];
        args.extend_from_slice(more);
        output(env!("CARGO_BIN_EXE_cognitod"), &args);
        dir
    };
    let all = rendered("unix,tcp,http", &[]);
    let unix = rendered("unix", &[]);
    let templates = rendered("unix,tcp,http", &["--instance", "x"]);
    let deb = unpack_deb(&p.deb);
    let rpm = install_rpm(&p.rpm);
    for root in [deb.path(), rpm.path()] {
        let dir = root.join(UNIT_DIR);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "cognitod-http.socket",
                "cognitod-http@.socket",
                "cognitod-tcp.socket",
                "cognitod-tcp@.socket",
                "cognitod.service",
                "cognitod.socket",
                "cognitod@.service",
                "cognitod@.socket"
            ]
        );
        for name in names {
            let expected_dir = if name == "cognitod.service" {
                unix.path()
            } else if name.contains('@') {
                templates.path()
            } else {
                all.path()
            };
            let expected = std::fs::read_to_string(expected_dir.join(&name)).unwrap();
            let packaged = std::fs::read_to_string(dir.join(&name)).unwrap();
            assert_eq!(
                packaged,
                expected,
                "{} differs from `cognitod install`",
                dir.join(&name).display()
            );
        }
        let service = std::fs::read_to_string(dir.join("cognitod.service")).unwrap();
        assert!(service.contains("ExecStart=/usr/bin/cognitod serve\n"));
        assert!(service.contains("LoadCredential=config:/etc/cognitod/config.json\n"));
        assert!(
            service.contains("\nRequires=cognitod.socket\n"),
            "{service}"
        );
        let template = std::fs::read_to_string(dir.join("cognitod@.service")).unwrap();
        assert!(template.contains("LoadCredential=config:/etc/cognitod/%i.json\n"));
        assert!(
            template.contains("\nRequires=cognitod@%i.socket\n"),
            "{template}"
        );
    }
}

#[test]
fn man_pages_and_completions_are_there_and_render() {
    let p = packages();
    let root = unpack_deb(&p.deb);
    let subcommands = subcommands();
    assert!(subcommands.contains(&"serve".to_owned()), "{subcommands:?}");
    for page in man_pages() {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(root.path().join(&page))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .expect("man (man-db)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{page}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("NAME"), "{page}:\n{text}");
        assert!(text.contains("SEE ALSO"), "{page}:\n{text}");
    }
    let main = output(
        "sh",
        &[
            "-c",
            "MANPAGER=cat MANWIDTH=80 man -l \"$1\"",
            "sh",
            root.path()
                .join("usr/share/man/man1/cognitod.1.gz")
                .to_str()
                .unwrap(),
        ],
    );
    for sub in &subcommands {
        assert!(main.contains(&format!("cognitod-{sub}(1)")), "{main}");
    }
    assert!(main.contains("/etc/cognitod/config.json"), "{main}");
    let serve = output(
        "sh",
        &[
            "-c",
            "MANPAGER=cat MANWIDTH=80 man -l \"$1\"",
            "sh",
            root.path()
                .join("usr/share/man/man1/cognitod-serve.1.gz")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(serve.contains("--server-type"), "{serve}");

    // bash loads the completion; zsh and fish files are what those shells expect.
    let bash = root
        .path()
        .join("usr/share/bash-completion/completions/cognitod");
    let complete = output(
        "bash",
        &[
            "-c",
            "source \"$1\" && complete -p cognitod",
            "bash",
            bash.to_str().unwrap(),
        ],
    );
    assert!(complete.contains("cognitod"), "{complete}");
    let zsh = std::fs::read_to_string(
        root.path()
            .join("usr/share/zsh/vendor-completions/_cognitod"),
    )
    .unwrap();
    assert!(zsh.starts_with("#compdef cognitod"), "{zsh}");
    let fish = std::fs::read_to_string(
        root.path()
            .join("usr/share/fish/vendor_completions.d/cognitod.fish"),
    )
    .unwrap();
    assert!(fish.contains("complete -c cognitod"), "{fish}");
}

/// The example configuration, its `#` lines removed as its header says, is a valid
/// configuration.
#[test]
fn the_example_configuration_is_valid_once_its_comments_are_removed() {
    let text = std::fs::read_to_string(repo().join("debian/config.json.example")).unwrap();
    let json: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = common::temp_dir();
    let path = dir.path().join("config.json");
    common::write_file(&path, &json, 0o600);
    let out = Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .args(["check", "-c"])
        .arg(&path)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- maintainer scripts against scriptlets ----

/// What the scripts of one phase asked of systemd.
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    /// Runtime actions (daemon-reload, start, stop, try-restart, ...), each once, in order.
    actions: Vec<String>,
    /// Enable-state bookkeeping (enable, disable, preset, mask, unmask).
    bookkeeping: Vec<String>,
    /// What the scripts printed.
    said: Vec<String>,
}

fn asked(log: &str, said: &str) -> Asked {
    let mut actions = Vec::new();
    let mut bookkeeping = Vec::new();
    for line in log.lines() {
        // Options that do not change what is asked.
        let words: Vec<_> = line
            .split_whitespace()
            .filter(|w| !matches!(*w, "--system" | "--quiet" | "-q" | "--no-reload" | "--"))
            .collect();
        let Some(verb) = words.first() else { continue };
        let call = words.join(" ");
        let list = match *verb {
            "daemon-reload"
            | "start"
            | "stop"
            | "restart"
            | "try-restart"
            | "reload"
            | "reload-or-restart"
            | "try-reload-or-restart"
            | "kill" => &mut actions,
            "enable" | "disable" | "preset" | "mask" | "unmask" | "reenable" => &mut bookkeeping,
            _ => continue, // queries: is-enabled, is-active, ...
        };
        if !list.contains(&call) {
            list.push(call);
        }
    }
    Asked {
        actions,
        bookkeeping,
        said: said.lines().map(str::to_owned).collect(),
    }
}

/// Runs scripts in the box with the recording systemctl first in PATH; returns what they asked.
fn run_phase(b: &SystemdBox, scripts: &[(&str, &[&str])]) -> Asked {
    b.sh_ok("rm -f /root/systemctl.log");
    let mut said = String::new();
    for (script, args) in scripts {
        let mut cmd = vec![
            "env",
            "PATH=/root/stub:/usr/sbin:/usr/bin:/sbin:/bin",
            "sh",
            script,
        ];
        cmd.extend_from_slice(args);
        said.push_str(&b.exec_ok(&cmd));
    }
    let log = b.sh_ok("cat /root/systemctl.log 2>/dev/null || true");
    asked(&log, &said)
}

/// `rpm -qp --scripts`, split into scriptlets by their headers.
fn rpm_scriptlets(rpm: &Path) -> Vec<(String, String)> {
    let text = output("rpm", &["-qp", "--scripts", rpm.to_str().unwrap()]);
    println!("rpm -qp --scripts:\n{text}");
    let mut scriptlets: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_suffix(" scriptlet (using /bin/sh):") {
            scriptlets.push((name.to_owned(), String::new()));
        } else if let Some((_, body)) = scriptlets.last_mut() {
            body.push_str(line);
            body.push('\n');
        } else {
            panic!("text before the first scriptlet header: {line:?}");
        }
    }
    scriptlets
}

#[test]
fn rpm_scriptlets_ask_systemd_what_the_deb_maintainer_scripts_ask() {
    let p = packages();
    let scriptlets = rpm_scriptlets(&p.rpm);
    let names: Vec<_> = scriptlets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["postinstall", "preuninstall", "postuninstall"]);

    let b = SystemdBox::boot();
    b.copy_in(&p.deb, "/root/cognitod.deb", 0o644);
    // The package's files, so deb-systemd-helper finds the units; its scripts run below.
    b.exec_ok(&["dpkg-deb", "-x", "/root/cognitod.deb", "/"]);
    b.exec_ok(&["dpkg-deb", "-e", "/root/cognitod.deb", "/root/deb"]);
    b.copy_in(
        &repo().join("tests/packages/systemctl-stub.sh"),
        "/root/stub/systemctl",
        0o755,
    );
    for (name, body) in &scriptlets {
        b.write_file(&format!("/root/rpm/{name}"), body.as_bytes(), 0o755);
    }
    let (post, preun, postun) = (
        "/root/rpm/postinstall",
        "/root/rpm/preuninstall",
        "/root/rpm/postuninstall",
    );
    let (postinst, prerm, postrm) = ("/root/deb/postinst", "/root/deb/prerm", "/root/deb/postrm");
    let (old, new) = ("0.0.9-1", "0.1.0-1");

    // The rpm first: its scriptlets keep no state; the deb's keep deb-systemd-helper's.
    b.sh_ok("chmod 0755 /etc/cognitod");
    let rpm_install = run_phase(&b, &[(post, &["1"])]);
    // rpm creates the directory 0755 for the example; %post closes it.
    assert_eq!(
        b.exec_ok(&["stat", "-c", "%a", "/etc/cognitod"]).trim(),
        "750"
    );
    let rpm_upgrade = run_phase(&b, &[(post, &["2"]), (preun, &["1"]), (postun, &["1"])]);
    let rpm_remove = run_phase(&b, &[(preun, &["0"]), (postun, &["0"])]);
    b.sh_ok("mkdir -p /etc/cognitod && echo '{}' > /etc/cognitod/config.json");
    let rpm_configured = run_phase(&b, &[(post, &["1"])]);
    b.sh_ok("rm /etc/cognitod/config.json");

    let deb_install = run_phase(&b, &[(postinst, &["configure"])]);
    let deb_upgrade = run_phase(
        &b,
        &[
            (prerm, &["upgrade", new]),
            (postrm, &["upgrade", new]),
            (postinst, &["configure", old]),
        ],
    );
    let deb_remove = run_phase(&b, &[(prerm, &["remove"]), (postrm, &["remove"])]);
    let deb_purge = run_phase(&b, &[(postrm, &["purge"])]);
    b.sh_ok("mkdir -p /etc/cognitod && echo '{}' > /etc/cognitod/config.json");
    let deb_configured = run_phase(&b, &[(postinst, &["configure"])]);

    for (phase, deb, rpm) in [
        ("install", &deb_install, &rpm_install),
        ("upgrade", &deb_upgrade, &rpm_upgrade),
        ("remove", &deb_remove, &rpm_remove),
        ("install, configured", &deb_configured, &rpm_configured),
    ] {
        println!("{phase}:\n  deb {deb:?}\n  rpm {rpm:?}");
        assert_eq!(deb.actions, rpm.actions, "{phase}: deb and rpm differ");
        assert_eq!(
            deb.said, rpm.said,
            "{phase}: deb and rpm say different things"
        );
    }
    println!("purge (deb only):\n  {deb_purge:?}");

    let reload = "daemon-reload";
    // The plain units and every loaded instance of the templates.
    let stop = "stop cognitod.socket cognitod-tcp.socket cognitod-http.socket cognitod@*.socket \
                cognitod-tcp@*.socket cognitod-http@*.socket cognitod.service cognitod@*.service";
    assert_eq!(rpm_install.actions, [reload]);
    assert_eq!(
        rpm_install.said,
        ["cognitod: not started: create /etc/cognitod/config.json with 'cognitod configure', then 'systemctl enable --now cognitod.socket'"]
    );
    assert!(rpm_configured.said.is_empty(), "{rpm_configured:?}");
    assert_eq!(
        rpm_upgrade.actions,
        [reload, "try-restart cognitod.service cognitod@*.service"]
    );
    assert_eq!(rpm_remove.actions, [stop, reload]);
    // Nothing enabled on install or upgrade; rpm disables on erase (no purge to do it later).
    assert!(rpm_install.bookkeeping.is_empty() && rpm_upgrade.bookkeeping.is_empty());
    assert!(deb_install.bookkeeping.is_empty() && deb_upgrade.bookkeeping.is_empty());
    assert_eq!(
        rpm_remove.bookkeeping,
        [format!("disable {}", SOCKETS.join(" "))]
    );
    // deb-systemd-helper only: no stop or restart on purge.
    assert!(
        deb_purge.actions.iter().all(|a| a == reload),
        "{deb_purge:?}"
    );
    assert!(deb_purge.said.is_empty());
}

// ---- end to end ----

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

/// Every path of the box's root file system, except what changes by itself (logs, caches, apt
/// and dpkg's databases; dpkg's is checked on its own).
fn file_list(b: &SystemdBox) -> BTreeSet<String> {
    b.sh_ok(
        "find / -xdev \\( -path /var/log -o -path /var/cache -o -path /var/lib/apt \
         -o -path /var/lib/dpkg -o -path /var/tmp -o -path /tmp \\) -prune -o -print",
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

fn show(b: &SystemdBox, property: &str, unit: &str) -> String {
    b.exec_ok(&["systemctl", "show", "-p", property, "--value", unit])
        .trim()
        .to_owned()
}

#[test]
fn deb_installs_serves_upgrades_under_load_and_purges_clean_in_a_real_systemd() {
    let p = packages();
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let began = Instant::now();
    let b = SystemdBox::boot();

    b.copy_in(&p.deb, "/root/cognitod.deb", 0o644);
    b.copy_in(&p.deb_next, "/root/cognitod-next.deb", 0o644);
    b.copy_in(
        &repo().join("tests/e2e/load_clients.py"),
        "/root/load_clients.py",
        0o644,
    );
    b.write_file(
        "/root/password",
        format!("{}\n", pool.password).as_bytes(),
        0o600,
    );
    let files_before = file_list(&b);
    let users_before = b.exec_ok(&["getent", "passwd"]) + &b.exec_ok(&["getent", "group"]);

    // Installed: nothing enabled or started, one line pointing to cognitod configure.
    let installed = b.exec_ok(&["dpkg", "-i", "/root/cognitod.deb"]);
    assert!(
        installed.contains("cognitod: not started: create /etc/cognitod/config.json with 'cognitod configure', then 'systemctl enable --now cognitod.socket'"),
        "{installed}"
    );
    for unit in SOCKETS.iter().chain(&["cognitod.service"]) {
        assert_eq!(show(&b, "ActiveState", unit), "inactive", "{unit}");
    }
    assert_eq!(show(&b, "UnitFileState", "cognitod.socket"), "disabled");
    assert_eq!(
        b.exec_ok(&["stat", "-c", "%U:%G %a", "/etc/cognitod"])
            .trim(),
        "root:root 750"
    );

    // The emulator stands in for Cognito (the box shares the host's network namespace).
    b.write_file(
        "/etc/systemd/system/cognitod.service.d/test.conf",
        format!(
            "[Service]\nEnvironment=AWS_ENDPOINT_URL={}\n",
            emulator.url()
        )
        .as_bytes(),
        0o644,
    );
    let configured = b.exec_ok(&[
        "cognitod",
        "configure",
        "--non-interactive",
        "--username",
        &pool.username,
        "--password-file",
        "/root/password",
        "--app-id",
        &pool.client_id,
        "--user-pool-id",
        &pool.user_pool_id,
        "--identity-pool-id",
        &pool.identity_pool_id,
    ]);
    assert!(
        configured.contains("wrote /etc/cognitod/config.json"),
        "{configured}"
    );

    // All it takes.
    b.exec_ok(&["systemctl", "enable", "--now", "cognitod.socket"]);
    let first = json(&b.exec_ok(&["nc", "-U", "-N", "/run/cognitod.sock"]));
    common::assert_process_credentials(&first);
    assert_eq!(show(&b, "ActiveState", "cognitod.service"), "active");
    assert_eq!(
        b.exec_ok(&["stat", "-c", "%U:%G %a", "/run/cognitod.sock"])
            .trim(),
        "root:root 660"
    );
    // The service did not pull in the tcp and http sockets: only enabled sockets listen, and
    // systemd holds no TCP or HTTP port for cognitod, only the unix socket.
    for unit in ["cognitod-tcp.socket", "cognitod-http.socket"] {
        assert_eq!(show(&b, "ActiveState", unit), "inactive", "{unit}");
    }
    let listening = b.exec_ok(&["systemctl", "list-sockets", "--no-legend", "--no-pager"]);
    let ours: Vec<_> = listening
        .lines()
        .filter(|l| l.contains("cognitod"))
        .collect();
    assert_eq!(ours.len(), 1, "{listening}");
    assert!(
        ours[0].trim_start().starts_with("/run/cognitod.sock "),
        "cognitod listens beyond its unix socket: {listening}"
    );
    let journal = b.wait_for_journal(
        "cognitod.service",
        "credentials obtained",
        Duration::from_secs(10),
    );
    println!("journalctl -u cognitod:\n{journal}");
    assert!(
        !journal.contains(&pool.password),
        "the password is in the journal"
    );

    // What the package and the administrator's steps added (also shows that the listing sees them).
    let files_installed = file_list(&b);
    let added: Vec<_> = files_installed.difference(&files_before).collect();
    println!(
        "installed, configured and enabled: {} new paths",
        added.len()
    );
    for path in [
        "/usr/lib/systemd/system/cognitod.service",
        "/etc/cognitod/config.json",
        "/etc/systemd/system/sockets.target.wants/cognitod.socket",
    ] {
        assert!(
            files_installed.contains(path),
            "{path} not seen: {added:#?}"
        );
    }
    // Every packaged file as shipped (DEBIAN/md5sums), the conffile included.
    b.exec_ok(&["dpkg", "--verify", "cognitod"]);

    let man = b.sh_ok("MANPAGER=cat MANWIDTH=80 man cognitod");
    assert!(man.contains("cognitod-serve(1)"), "{man}");
    let man_serve = b.sh_ok("MANPAGER=cat MANWIDTH=80 man cognitod-serve");
    assert!(man_serve.contains("--server-type"), "{man_serve}");

    // Upgrade while 50 clients keep connecting: the service restarts, the socket never closes.
    let pid_before = show(&b, "MainPID", "cognitod.service");
    let socket_since = show(&b, "ActiveEnterTimestampMonotonic", "cognitod.socket");
    let upgrade_began = Instant::now();
    let (load, upgraded) = std::thread::scope(|scope| {
        let clients = scope.spawn(|| {
            b.exec_ok(&[
                "python3",
                "/root/load_clients.py",
                "/run/cognitod.sock",
                "50",
                "8",
            ])
        });
        std::thread::sleep(Duration::from_secs(2));
        let upgraded = b.exec_ok(&["dpkg", "-i", "/root/cognitod-next.deb"]);
        (clients.join().unwrap(), upgraded)
    });
    let counts = json(&load);
    println!(
        "upgrade under load (50 clients, 8 s, dpkg -i at 2 s, took {:?}): {counts}\n{upgraded}",
        upgrade_began.elapsed()
    );
    assert_eq!(counts.get("refused"), None, "{counts}");
    assert!(counts["served"].as_u64().unwrap() > 100, "{counts}");
    let version = b.exec_ok(&["dpkg-query", "-W", "-f", "${Version}", "cognitod"]);
    assert!(version.ends_with("+upgrade1"), "{version}");
    let pid_after = show(&b, "MainPID", "cognitod.service");
    assert_ne!(pid_after, pid_before, "the service was not restarted");
    assert_ne!(
        pid_after, "0",
        "the service is not running after the upgrade"
    );
    assert_eq!(
        show(&b, "ActiveEnterTimestampMonotonic", "cognitod.socket"),
        socket_since,
        "the socket was restarted"
    );
    assert_eq!(show(&b, "UnitFileState", "cognitod.socket"), "enabled");
    common::assert_process_credentials(&json(&b.exec_ok(&[
        "nc",
        "-U",
        "-N",
        "/run/cognitod.sock",
    ])));

    // Purge: nothing left, apart from the test's own drop-in, removed here.
    let purged = b.exec_ok(&["dpkg", "--purge", "cognitod"]);
    println!("dpkg --purge:\n{purged}");
    b.sh_ok("rm -r /etc/systemd/system/cognitod.service.d && systemctl daemon-reload");
    for listing in [
        b.exec_ok(&[
            "systemctl",
            "list-units",
            "--all",
            "--no-legend",
            "cognitod*",
        ]),
        // (list-unit-files fails when nothing matches)
        b.sh_ok("systemctl list-unit-files --no-legend 'cognitod*' || true"),
        b.sh_ok("ls /var/lib/dpkg/info/ | grep '^cognitod' || true"),
        b.sh_ok("ls /run | grep cognitod || true"),
        // The package's sockets (the box shares the host's network namespace, where other
        // programs' unix sockets, such as a benchmark's under /tmp, may be named cognitod).
        b.sh_ok("ss -xl | grep ' /run/cognitod' || true"),
    ] {
        assert_eq!(listing.trim(), "", "left behind");
    }
    let users_after = b.exec_ok(&["getent", "passwd"]) + &b.exec_ok(&["getent", "group"]);
    assert_eq!(users_after, users_before, "users or groups left behind");
    let files_after = file_list(&b);
    let added: Vec<_> = files_after.difference(&files_before).collect();
    let removed: Vec<_> = files_before.difference(&files_after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "left behind: {added:#?}\nremoved: {removed:#?}"
    );

    println!(
        "deb end to end took {:?} (box boot {:?})",
        began.elapsed(),
        b.boot_time()
    );
}

/// Password sign-ins the emulator saw for a pool (SRP's second step: only a sign-in with the
/// password answers PASSWORD_VERIFIER).
fn password_sign_ins(emulator: &Emulator, pool: &Pool) -> u64 {
    emulator
        .calls(&pool.user_pool_id)
        .get("RespondToAuthChallenge:PASSWORD_VERIFIER")
        .copied()
        .unwrap_or(0)
}

/// Runs the command given (if any), then asks the unix socket once (as `nc -U -N` would) and
/// prints the answer and the moment it arrived on CLOCK_MONOTONIC in microseconds, as systemd
/// states its timestamps. Python is started before the command, so its start-up is not counted.
const TIMED_CLIENT: &str = r#"
import json, socket, subprocess, sys, time
if len(sys.argv) > 1:
    subprocess.run(sys.argv[1:], check=True)
s = socket.socket(socket.AF_UNIX)
s.connect("/run/cognitod.sock")
s.shutdown(socket.SHUT_WR)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except ConnectionResetError:
    print(json.dumps({"reset": time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}))
    sys.exit(0)
arrived = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
print(json.dumps({"arrived_us": arrived, "answer": json.loads(data)}))
"#;

/// How long a start took to its first answer, in milliseconds.
struct StartTiming {
    /// From systemd's fork of the main process (ExecMainStartTimestamp): includes the sandbox
    /// systemd sets up before exec (namespaces, mounts, the dynamic user, the credentials).
    fork_to_answer: f64,
    /// From the new process's first journal line (written right after it took its sockets) to
    /// the answer: the daemon's own part.
    process_to_answer: f64,
    /// From the fork to READY=1 (ActiveEnterTimestamp).
    fork_to_ready: f64,
}

/// One start, timed. The client connects right after `command` (a restart, or nothing: the
/// connection starts the service) and waits in the socket's queue, which systemd holds across
/// the restart. A round answered by the process before the restart (it still accepted) is
/// repeated.
fn time_a_start(b: &SystemdBox, command: &[&str]) -> StartTiming {
    let property = |name: &str| -> i64 { show(b, name, "cognitod.service").parse().unwrap() };
    for _ in 0..5 {
        let mut cmd = vec!["python3", "/root/timed_client.py"];
        cmd.extend_from_slice(command);
        let out = json(&b.exec_ok(&cmd));
        if let Some(at) = out.get("reset") {
            let journal = b.sh_ok("journalctl -o short-monotonic --no-pager -n 60");
            panic!("connection reset at {at} us (monotonic):\n{journal}");
        }
        common::assert_process_credentials(&out["answer"]);
        let answered = out["arrived_us"].as_i64().unwrap();
        let forked = property("ExecMainStartTimestampMonotonic");
        if answered < forked {
            continue;
        }
        let pid = property("MainPID");
        let first_line = json(
            b.exec_ok(&[
                "journalctl",
                &format!("_PID={pid}"),
                "-o",
                "json",
                "--no-pager",
            ])
            .lines()
            .next()
            .expect("the new process logged nothing"),
        );
        let process_began: i64 = first_line["__MONOTONIC_TIMESTAMP"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let ms = |us: i64| us as f64 / 1000.0;
        return StartTiming {
            fork_to_answer: ms(answered - forked),
            process_to_answer: ms(answered - process_began),
            fork_to_ready: ms(property("ActiveEnterTimestampMonotonic") - forked),
        };
    }
    panic!("every round was answered by the process before the restart");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[test]
fn the_sign_in_survives_restart_upgrade_and_reload_in_the_fd_store_and_stop_flushes_it() {
    let p = packages();
    let emulator = Emulator::shared();
    let alice = Pool::seed(emulator, SeedOptions::default());
    let bob = Pool::seed(emulator, SeedOptions::default());
    let b = SystemdBox::boot();
    b.copy_in(&p.deb, "/root/cognitod.deb", 0o644);
    b.copy_in(&p.deb_next, "/root/cognitod-next.deb", 0o644);
    b.write_file("/root/timed_client.py", TIMED_CLIENT.as_bytes(), 0o644);
    for (name, pool) in [("alice", &alice), ("bob", &bob)] {
        b.write_file(
            &format!("/root/{name}.password"),
            format!("{}\n", pool.password).as_bytes(),
            0o600,
        );
    }
    b.exec_ok(&["dpkg", "-i", "/root/cognitod.deb"]);
    b.write_file(
        "/etc/systemd/system/cognitod.service.d/test.conf",
        format!(
            // This test restarts the service far more often than the crash-loop guard of the
            // unit allows (5 starts a minute), which would stop the socket.
            "[Unit]\nStartLimitBurst=1000\n[Service]\nEnvironment=AWS_ENDPOINT_URL={} RUST_LOG=info\n",
            emulator.url()
        )
        .as_bytes(),
        0o644,
    );
    let configure = |name: &str, pool: &Pool| {
        b.exec_ok(&[
            "cognitod",
            "configure",
            "--non-interactive",
            "--force",
            "--username",
            &pool.username,
            "--password-file",
            &format!("/root/{name}.password"),
            "--app-id",
            &pool.client_id,
            "--user-pool-id",
            &pool.user_pool_id,
            "--identity-pool-id",
            &pool.identity_pool_id,
        ])
    };
    configure("alice", &alice);
    b.exec_ok(&["systemctl", "enable", "--now", "cognitod.socket"]);
    let ask = || json(&b.exec_ok(&["nc", "-U", "-N", "/run/cognitod.sock"]));
    let stored = || show(&b, "NFileDescriptorStore", "cognitod.service");

    let first = ask();
    common::assert_process_credentials(&first);
    let signed_in = password_sign_ins(emulator, &alice);
    let exchanged = || emulator.calls(&alice.user_pool_id)["GetCredentialsForIdentity"];
    let exchanges = exchanged();
    assert_eq!(signed_in, 1);
    // The state is handed over after the renewal, which is logged just before it.
    b.wait_for_journal(
        "cognitod.service",
        "credentials obtained",
        Duration::from_secs(10),
    );
    assert_eq!(stored(), "1", "the state is in the store");

    // Restart, upgrade (the new package's postinst try-restarts), reload (a restart): each new
    // process answers with the kept credentials, without one call to Cognito.
    let mut pids = vec![show(&b, "MainPID", "cognitod.service")];
    for (what, command) in [
        ("restart", "systemctl restart cognitod.service"),
        ("upgrade", "dpkg -i /root/cognitod-next.deb"),
        ("reload", "systemctl reload cognitod.service && sleep 1"),
        (
            "crash (Restart=on-failure)",
            "systemctl kill -s KILL cognitod.service && sleep 2",
        ),
    ] {
        b.sh_ok(command);
        let answer = ask();
        let pid = show(&b, "MainPID", "cognitod.service");
        assert!(
            !pids.contains(&pid),
            "{what}: the process did not change ({pid})"
        );
        pids.push(pid);
        // The emulator's keys are constant: the Expiration tells credentials apart.
        assert_eq!(
            (&answer["AccessKeyId"], &answer["Expiration"]),
            (&first["AccessKeyId"], &first["Expiration"]),
            "{what}: not the kept credentials"
        );
        assert_eq!(
            password_sign_ins(emulator, &alice),
            signed_in,
            "{what}: signed in again"
        );
        assert_eq!(exchanged(), exchanges, "{what}: called Cognito");
        assert_eq!(stored(), "1", "{what}");
    }
    let journal = b.journal("cognitod.service");
    assert_eq!(
        journal
            .matches("credentials restored from the state systemd kept")
            .count(),
        4,
        "{journal}"
    );
    assert!(!journal.contains(&alice.password));

    // The figure: exec to first answer, with the kept state and cold (after a stop).
    let (mut kept, mut cold) = (vec![], vec![]);
    for _ in 0..5 {
        kept.push(time_a_start(
            &b,
            &["systemctl", "restart", "--no-block", "cognitod.service"],
        ));
        b.exec_ok(&["systemctl", "stop", "cognitod.service"]);
        cold.push(time_a_start(&b, &[]));
        // The cold start signed in again and handed its state over: the next round has one.
        b.sh_ok("for i in $(seq 50); do [ \"$(systemctl show -p NFileDescriptorStore --value cognitod.service)\" = 1 ] && exit 0; sleep 0.1; done; exit 1");
    }
    let summary = |timings: &[StartTiming]| {
        let pick = |f: fn(&StartTiming) -> f64| median(timings.iter().map(f).collect());
        format!(
            "process to answer {:.1} ms, fork to answer {:.1} ms, fork to READY=1 {:.1} ms \
             (medians of {}; process to answer {:.1?})",
            pick(|t| t.process_to_answer),
            pick(|t| t.fork_to_answer),
            pick(|t| t.fork_to_ready),
            timings.len(),
            timings
                .iter()
                .map(|t| t.process_to_answer)
                .collect::<Vec<_>>()
        )
    };
    println!("start with the kept state: {}", summary(&kept));
    println!("cold start (sign-in):      {}", summary(&cold));

    // Stop flushes the store: the next connection starts a new process that signs in.
    let before = password_sign_ins(emulator, &alice);
    b.exec_ok(&["systemctl", "stop", "cognitod.service"]);
    assert_eq!(stored(), "0", "stop flushed the store");
    let after_stop = ask();
    common::assert_process_credentials(&after_stop);
    assert_eq!(
        password_sign_ins(emulator, &alice),
        before + 1,
        "a fresh sign-in"
    );
    assert_ne!(after_stop["Expiration"], first["Expiration"]);

    // Another user in the configuration, alice's state in the store: discarded, bob signs in.
    configure("bob", &bob);
    let bob_before = password_sign_ins(emulator, &bob);
    let alice_before = password_sign_ins(emulator, &alice);
    b.exec_ok(&["systemctl", "restart", "cognitod.service"]);
    let bobs = ask();
    common::assert_process_credentials(&bobs);
    assert_eq!(password_sign_ins(emulator, &bob), bob_before + 1);
    assert_eq!(password_sign_ins(emulator, &alice), alice_before);
    let journal = b.journal("cognitod.service");
    assert_eq!(
        journal
            .matches("the kept state belongs to another configuration")
            .count(),
        1,
        "{journal}"
    );
    assert_eq!(stored(), "1", "bob's state replaced alice's");
}

/// Two users side by side from the .deb's template units: `cognitod configure --instance` and
/// `cognitod get --instance` as a user types them, two pools on /run/cognitod/alice.sock and
/// /run/cognitod/bob.sock, each instance its own user, state and journal; stopping one leaves
/// the other serving; no TCP or HTTP port; an upgrade restarts both, each keeping its sign-in in
/// its own FD store; a purge leaves nothing.
#[test]
fn deb_serves_two_instances_side_by_side_in_a_real_systemd() {
    let p = packages();
    let emulator = Emulator::shared();
    let pools = [
        ("alice", Pool::seed(emulator, SeedOptions::default())),
        ("bob", Pool::seed(emulator, SeedOptions::default())),
    ];
    let b = SystemdBox::boot();
    b.copy_in(&p.deb, "/root/cognitod.deb", 0o644);
    b.copy_in(&p.deb_next, "/root/cognitod-next.deb", 0o644);
    let files_before = file_list(&b);
    b.exec_ok(&["dpkg", "-i", "/root/cognitod.deb"]);
    // Every instance reaches the emulator (the box shares the host's network namespace).
    b.write_file(
        "/etc/systemd/system/cognitod@.service.d/test.conf",
        format!(
            "[Service]\nEnvironment=AWS_ENDPOINT_URL={}\n",
            emulator.url()
        )
        .as_bytes(),
        0o644,
    );
    b.exec_ok(&["systemctl", "daemon-reload"]);

    for (name, pool) in &pools {
        b.write_file(
            &format!("/root/{name}-password"),
            format!("{}\n", pool.password).as_bytes(),
            0o600,
        );
        let configured = b.exec_ok(&[
            "cognitod",
            "configure",
            "--instance",
            name,
            "--non-interactive",
            "--username",
            &pool.username,
            "--password-file",
            &format!("/root/{name}-password"),
            "--app-id",
            &pool.client_id,
            "--user-pool-id",
            &pool.user_pool_id,
            "--identity-pool-id",
            &pool.identity_pool_id,
        ]);
        assert!(
            configured.contains(&format!("wrote /etc/cognitod/{name}.json (mode 0600)")),
            "{configured}"
        );
    }
    // A name that is a path is refused before anything is written.
    let refused = b.exec(&[
        "cognitod",
        "configure",
        "--instance",
        "../x",
        "--non-interactive",
    ]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(said.contains("may not contain '/' or '..'"), "{said}");

    b.exec_ok(&[
        "systemctl",
        "enable",
        "--now",
        "cognitod@alice.socket",
        "cognitod@bob.socket",
    ]);
    let mut served = Vec::new();
    let mut uids = Vec::new();
    for (name, pool) in &pools {
        let got = json(&b.exec_ok(&["cognitod", "get", "--instance", name]));
        common::assert_process_credentials(&got);
        let unit = format!("cognitod@{name}.service");
        assert_eq!(show(&b, "ActiveState", &unit), "active", "{unit}");
        // Its own dynamic user, and its own state: the identity id of its own user and pool.
        assert_eq!(show(&b, "User", &unit), format!("cognitod-{name}"));
        let pid = show(&b, "MainPID", &unit);
        let uid = b.exec_ok(&["stat", "-c", "%u", &format!("/proc/{pid}")]);
        assert_ne!(uid.trim(), "0", "{unit} runs as root");
        uids.push(uid.trim().to_owned());
        let kept = json(&b.read_file(&format!(
            "/var/lib/cognitod-instances/{name}/identity-id.json"
        )));
        assert_eq!(kept["username"], pool.username.as_str(), "{kept}");
        assert_eq!(kept["user_pool_id"], pool.user_pool_id.as_str(), "{kept}");
        assert_eq!(
            kept["identity_pool_id"],
            pool.identity_pool_id.as_str(),
            "{kept}"
        );
        assert_eq!(
            b.exec_ok(&[
                "stat",
                "-c",
                "%U:%G %a",
                &format!("/run/cognitod/{name}.sock")
            ])
            .trim(),
            "root:root 660"
        );
        // Each instance signed in to its own pool and fetched its own identity's credentials.
        let calls = emulator.calls(&pool.user_pool_id);
        for call in ["InitiateAuth:USER_SRP_AUTH", "GetCredentialsForIdentity"] {
            assert!(calls.get(call) >= Some(&1), "{name}: {calls:?}");
        }
        println!(
            "{name}: {} served key {} for identity {} (pool {}), emulator calls {calls:?}",
            unit, got["AccessKeyId"], kept["identity_id"], pool.user_pool_id
        );
        served.push((got, kept));
    }
    assert_ne!(uids[0], uids[1], "two instances, one user");
    // (The emulator hands every identity the same access key id: the identities tell apart.)
    assert_ne!(
        served[0].1["identity_id"], served[1].1["identity_id"],
        "two instances, one identity"
    );

    // Only the two unix sockets listen: enabling instances opens no TCP or HTTP port.
    let listening = b.exec_ok(&["systemctl", "list-sockets", "--no-legend", "--no-pager"]);
    let ours: Vec<_> = listening
        .lines()
        .filter(|l| l.contains("cognitod"))
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(
        ours,
        ["/run/cognitod/alice.sock", "/run/cognitod/bob.sock"],
        "{listening}"
    );

    // Each journal holds its own instance's events only.
    for (name, pool) in &pools {
        let journal = b.wait_for_journal(
            &format!("cognitod@{name}.service"),
            "credentials obtained",
            Duration::from_secs(10),
        );
        let verbose = b.exec_ok(&[
            "journalctl",
            "--no-pager",
            "-o",
            "verbose",
            "-u",
            &format!("cognitod@{name}"),
        ]);
        assert!(verbose.contains(&pool.username), "{verbose}");
        // Its lines say which instance wrote them (the daemon's journal identifier).
        assert!(
            verbose.contains(&format!("SYSLOG_IDENTIFIER=cognitod@{name}\n")),
            "{verbose}"
        );
        let (other, other_pool) = pools.iter().find(|(n, _)| n != name).unwrap();
        for foreign in [
            other_pool.username.as_str(),
            other_pool.user_pool_id.as_str(),
            &format!("cognitod@{other}"),
            &format!("/run/cognitod/{other}.sock"),
        ] {
            assert!(
                !verbose.contains(foreign),
                "{foreign} in journalctl -u cognitod@{name}:\n{journal}"
            );
        }
        assert!(
            !verbose.contains(&pool.password),
            "a password in the journal"
        );
        println!("journalctl -u cognitod@{name}:\n{journal}");
    }

    // An upgrade restarts every running instance; the sockets stay, and each instance keeps
    // its own sign-in in its own FD store (no second password sign-in).
    let pids: Vec<String> = ["alice", "bob"]
        .iter()
        .map(|n| show(&b, "MainPID", &format!("cognitod@{n}.service")))
        .collect();
    let before: Vec<u64> = pools
        .iter()
        .map(|(_, pool)| password_sign_ins(emulator, pool))
        .collect();
    for (name, _) in &pools {
        // The state is handed over after the renewal, which is logged just before it.
        b.wait_for_journal(
            &format!("cognitod@{name}.service"),
            "credentials obtained",
            Duration::from_secs(10),
        );
        assert_eq!(
            show(
                &b,
                "NFileDescriptorStore",
                &format!("cognitod@{name}.service")
            ),
            "1",
            "{name}"
        );
    }
    b.exec_ok(&["dpkg", "-i", "/root/cognitod-next.deb"]);
    for ((name, pool), (before_pid, before_sign_ins)) in pools.iter().zip(pids.iter().zip(&before))
    {
        let after = show(&b, "MainPID", &format!("cognitod@{name}.service"));
        assert!(
            after != *before_pid && after != "0",
            "{name}: {before_pid} -> {after}"
        );
        common::assert_process_credentials(&json(&b.exec_ok(&[
            "cognitod",
            "get",
            "--instance",
            name,
        ])));
        let sign_ins = password_sign_ins(emulator, pool);
        assert_eq!(sign_ins, *before_sign_ins, "{name} signed in again");
        println!(
            "{name}: upgraded, process {before_pid} -> {after}, password sign-ins {before_sign_ins} \
             before and {sign_ins} after"
        );
    }

    // Stopping alice leaves bob serving, from the same process.
    let bob_pid = show(&b, "MainPID", "cognitod@bob.service");
    b.exec_ok(&[
        "systemctl",
        "stop",
        "cognitod@alice.socket",
        "cognitod@alice.service",
    ]);
    let gone = b.exec(&["cognitod", "get", "--instance", "alice"]);
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(!gone.status.success(), "alice still answers");
    assert!(said.contains("/run/cognitod/alice.sock"), "{said}");
    common::assert_process_credentials(&json(&b.exec_ok(&[
        "cognitod",
        "get",
        "--instance",
        "bob",
    ])));
    assert_eq!(show(&b, "MainPID", "cognitod@bob.service"), bob_pid);
    assert_eq!(
        show(&b, "ActiveState", "cognitod@alice.service"),
        "inactive"
    );

    // Purge: the instances stop, their links, configurations and state go.
    b.exec_ok(&["dpkg", "--purge", "cognitod"]);
    b.sh_ok(
        "rm -r /etc/systemd/system/cognitod@.service.d /root/alice-password /root/bob-password \
         && systemctl daemon-reload",
    );
    assert_eq!(show(&b, "ActiveState", "cognitod@bob.service"), "inactive");
    let files_after = file_list(&b);
    let added: Vec<_> = files_after.difference(&files_before).collect();
    assert!(added.is_empty(), "left behind: {added:#?}");
}

/// The packages hold the stripped, size-optimised release binary (7.7 MB, Cargo.toml's
/// [profile.release]) and little else: each is compressed to less than what it installs, and
/// an unstripped or debug build, or a stray large asset, would break the bounds.
#[test]
fn package_sizes() {
    const MIB: u64 = 1 << 20;
    let p = packages();
    let installed_kib: u64 = output(
        "dpkg-deb",
        &["--field", p.deb.to_str().unwrap(), "Installed-Size"],
    )
    .trim()
    .parse()
    .expect("Installed-Size is a number of KiB");
    println!("deb Installed-Size: {installed_kib} KiB");
    let installed = installed_kib * 1024;
    assert!(
        (4 * MIB..16 * MIB).contains(&installed),
        "the .deb installs {installed} bytes, not the 4-16 MiB of a stripped release binary"
    );
    for path in [&p.deb, &p.rpm] {
        let size = std::fs::metadata(path).unwrap().len();
        println!("{}: {size} bytes", path.display());
        assert!(
            (MIB..8 * MIB).contains(&size) && size < installed,
            "{} is {size} bytes: not 1-8 MiB, or not smaller than the {installed} it installs",
            path.display()
        );
    }
}
