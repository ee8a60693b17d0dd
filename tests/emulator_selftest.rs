//! The emulator's own self-test (tests/emulator/selftest.py), with boto3 and pycognito as
//! independent clients: the strict model that every other test relies on is checked on every run.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_strict_emulator_passes_its_self_test() {
    let out = Command::new(python())
        .arg(repo().join("tests/emulator/selftest.py"))
        .output()
        .expect("running tests/emulator/selftest.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && summary.ends_with(" passed, 0 failed"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
