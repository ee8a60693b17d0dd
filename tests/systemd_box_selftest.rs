//! The systemd box harness checks itself: a real systemd boots, files go in, a socket-activated
//! service answers and logs to the journal, socket permissions hold, and boxes run side by side.
//! Run with `cargo test --test systemd_box_selftest -- --nocapture` to see the timings. Needs root.

mod systemd_box;

use std::time::{Duration, Instant};

use systemd_box::SystemdBox;

const ECHO_SOCKET: &str = "\
[Unit]
Description=selftest echo socket

[Socket]
ListenStream=/run/echo.sock
Accept=yes
SocketMode=0660

[Install]
WantedBy=sockets.target
";

// One instance per connection (Accept=yes). `$$` is a literal `$`: systemd expands `$name` itself.
const ECHO_SERVICE: &str = "\
[Unit]
Description=selftest echo connection

[Service]
ExecStart=/bin/sh -c 'read -r line; echo \"hello $$line\"; echo \"served $$line\" >&2'
StandardInput=socket
StandardError=journal
";

#[test]
fn boots_runs_a_socket_activated_service_and_halts() {
    let b = SystemdBox::boot();
    println!("box {} booted in {:?}", b.name(), b.boot_time());

    // The box's PID 1 is a real systemd, and it is up.
    assert_eq!(b.read_file("/proc/1/comm").trim(), "systemd");
    assert_eq!(b.exec_ok(&["systemd-detect-virt"]).trim(), "systemd-nspawn");
    let state = b.exec(&["systemctl", "is-system-running"]);
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(matches!(state.trim(), "running" | "degraded"), "{state}");

    // copy_in creates parents and sets owner and mode.
    let host = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host.path(), "from the host\n").unwrap();
    b.copy_in(host.path(), "/opt/selftest/deep/file.txt", 0o640);
    assert_eq!(
        b.read_file("/opt/selftest/deep/file.txt"),
        "from the host\n"
    );
    assert_eq!(
        b.exec_ok(&["stat", "-c", "%a %U:%G", "/opt/selftest/deep/file.txt"])
            .trim(),
        "640 root:root"
    );

    // A socket-activated service from unit text, enabled the way a package would.
    b.write_file(
        "/etc/systemd/system/echo.socket",
        ECHO_SOCKET.as_bytes(),
        0o644,
    );
    b.write_file(
        "/etc/systemd/system/echo@.service",
        ECHO_SERVICE.as_bytes(),
        0o644,
    );
    b.sh_ok("systemctl daemon-reload && systemctl enable --now echo.socket");
    assert_eq!(
        b.exec_ok(&["stat", "-c", "%a %U:%G", "/run/echo.sock"])
            .trim(),
        "660 root:root"
    );
    let out = b.exec_stdin(&["nc", "-U", "-N", "/run/echo.sock"], b"world\n");
    assert!(out.status.success(), "nc as root: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
    // The service's stderr went to the journal, under its per-connection instance.
    b.wait_for_journal("echo@*", "served world", Duration::from_secs(10));

    // An unprivileged user may not connect to a 0660 root:root socket.
    assert_eq!(
        b.exec_ok(&["runuser", "-u", "nobody", "--", "id", "-un"])
            .trim(),
        "nobody"
    );
    let out = b.exec_as("nobody", &["nc", "-U", "-N", "/run/echo.sock"]);
    assert!(!out.status.success(), "nobody connected: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );

    let halt = b.shutdown();
    println!("box halted in {halt:?}");
}

#[test]
fn boxes_run_side_by_side_and_share_nothing() {
    let start = Instant::now();
    let boxes: Vec<SystemdBox> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(SystemdBox::boot)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("two boxes booted in parallel in {:?}", start.elapsed());
    let (a, b) = (&boxes[0], &boxes[1]);

    assert_ne!(a.name(), b.name());
    assert_eq!(a.exec_ok(&["hostname"]).trim(), a.name());
    assert_ne!(
        a.read_file("/etc/machine-id"),
        b.read_file("/etc/machine-id")
    );

    // Writes land in each box's own overlay, never in the other box or the cached root.
    a.write_file("/etc/only-in-a", b"a\n", 0o644);
    assert!(!b.exec(&["test", "-e", "/etc/only-in-a"]).status.success());
    assert!(!systemd_box::root_dir().join("etc/only-in-a").exists());

    let start = Instant::now();
    drop(boxes);
    println!("two boxes halted in {:?}", start.elapsed());
}
