//! Issue 14, point 4: `bash tests/demo.sh` leads somewhere. It prints a block to paste into
//! another terminal; pasted as it is, the block gets credentials with `cognitod get` and with
//! `nc`, and a signed `aws sts get-caller-identity` goes through against the emulator.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Stops the demo's whole process group (the script, the emulator and the daemon) when dropped,
/// and reaps the script.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_prints_a_block_that_works_when_pasted() {
    let dir = temp_dir();
    let socket = dir.path().join("demo.sock");
    let venv = python().parent().unwrap().parent().unwrap().to_owned();
    let mut demo = Command::new("bash")
        .arg(repo().join("tests/demo.sh"))
        .env("COGNITOD_DEMO_BIN", env!("CARGO_BIN_EXE_cognitod"))
        .env("COGNITOD_DEMO_SOCKET", &socket)
        .env("COGNITOD_VENV", &venv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let _group = Group(demo);
    let mut block = String::new();
    let mut in_block = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("----- cognitod demo") {
            in_block = true;
        } else if line.starts_with("----- end of block") {
            break;
        } else if in_block {
            block.push_str(&line);
            block.push('\n');
        }
    }
    assert!(block.contains("cognitod get --socket"), "{block}");
    assert!(block.contains("apt install netcat-openbsd"), "{block}");
    wait_for_credentials(&socket, None, Duration::from_secs(60));

    // Pasted into a shell that has nothing of the demo's environment.
    let pasted = Command::new("bash")
        .args(["-e", "-c", &block])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&pasted.stdout);
    assert!(
        pasted.status.success(),
        "{block}\n{out}\n{}",
        String::from_utf8_lossy(&pasted.stderr)
    );
    // cognitod get and nc: two credential documents; then the AWS CLI's identity.
    assert_eq!(out.matches("\"AccessKeyId\"").count(), 2, "{out}");
    assert!(out.contains("\"Arn\": \"arn:aws:"), "{out}");
}
