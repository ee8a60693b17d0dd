//! Issue 14, point 9: `serve` and `check` without `-c` read the file `cognitod configure` wrote by
//! default, so the three agree on one path: for an ordinary user
//! `$XDG_CONFIG_HOME/cognitod/config.json`, else `~/.config/cognitod/config.json` (root:
//! /etc/cognitod/config.json, not exercised here: a test must not write to /etc). Run as the
//! unprivileged `nobody` (setpriv), with a home of its own.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// `cognitod ARGS` as nobody, with only `env` (and PATH).
fn as_nobody(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut setpriv = Command::new("setpriv");
    setpriv
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_cognitod"));
    run_in_clean_env(setpriv, args, env)
}

/// A directory nobody owns.
fn nobodys(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    nix::unistd::chown(path, Some(65534.into()), Some(65534.into())).unwrap();
}

#[test]
fn serve_and_check_read_what_configure_wrote_without_c() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home");
    nobodys(&home);
    let password = home.join("pw");
    std::fs::write(&password, &pool.password).unwrap();
    nix::unistd::chown(&password, Some(65534.into()), Some(65534.into())).unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let socket = home.join("c.sock");
    let url = emulator.url();
    let home_s = home.to_str().unwrap();

    for xdg in [None, Some(home.join("xdg"))] {
        let mut env = vec![("HOME", home_s), ("AWS_ENDPOINT_URL", url.as_str())];
        let xdg_s = xdg.as_ref().map(|x| x.to_str().unwrap().to_owned());
        if let Some(x) = &xdg_s {
            env.push(("XDG_CONFIG_HOME", x));
        }
        let expected = match &xdg {
            Some(x) => x.join("cognitod/config.json"),
            None => home.join(".config/cognitod/config.json"),
        };
        // configure without -o writes there.
        let out = as_nobody(
            &[
                "configure",
                "--non-interactive",
                "--force",
                "--username",
                &pool.username,
                "--password-file",
                password.to_str().unwrap(),
                "--app-id",
                &pool.client_id,
                "--user-pool-id",
                &pool.user_pool_id,
                "--identity-pool-id",
                &pool.identity_pool_id,
                "-S",
                socket.to_str().unwrap(),
            ],
            &env,
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            said.contains(&format!("wrote {}", expected.display())),
            "{said}"
        );
        assert!(expected.exists());

        // check without -c finds it (the username is in no other source).
        let out = as_nobody(&["check"], &env);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains(&format!("user: {}", pool.username)), "{said}");

        // serve without -c serves from it.
        let mut serve = Command::new("setpriv");
        serve
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_cognitod"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = serve.spawn().unwrap();
        let doc = wait_for_credentials(&socket, None, Duration::from_secs(20));
        assert_process_credentials(&doc);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        child.wait().unwrap();
    }
}
