//! A real systemd (Debian bookworm, systemd 252) booted in a container, for tests that need
//! `systemctl`, socket activation, `journalctl` or `dpkg -i` for real.
//!
//! ```ignore
//! #[path = "systemd_box/mod.rs"] mod systemd_box;
//! let b = systemd_box::SystemdBox::boot();
//! b.write_file("/etc/systemd/system/x.service", UNIT.as_bytes(), 0o644);
//! b.sh_ok("systemctl daemon-reload && systemctl start x");
//! ```
//!
//! How (see /work/shared/notes/systemd-container.md): `systemd-nspawn --boot --volatile=overlay`
//! of a cached debootstrap'd root (built by prepare-root.sh), sharing the host's network namespace:
//! the box reaches servers on the host's 127.0.0.1 and its sockets bind on the host's loopback, so
//! pick free ports. Commands run inside through `nsenter` (this host has no systemd bus, so no
//! machinectl). Every box gets a fresh tmpfs overlay over the read-only root: boxes share nothing,
//! any number can run at once, and nothing a test does survives it.
//!
//! Needs root. Each command inside is bounded by [`COMMAND_TIMEOUT`] (exit status 124 = timed out).

#![allow(dead_code)]

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// A clean halt takes well under a second; past this the box is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
const PATH: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
/// Prefix of machine names and of the cgroups the boxes run in; followed by `<test pid>-<n>`.
const PREFIX: &str = "cognitod-box-";

const NSPAWN_FLAGS: &[&str] = &[
    "--boot",
    // No machined/bus on this host: do not register, run in our own cgroup (--keep-unit).
    "--register=no",
    "--keep-unit",
    "--link-journal=no",
    // The host's network namespace is shared; DNS is not needed (tests talk to 127.0.0.1).
    "--resolv-conf=off",
    "--console=read-only",
    // A tmpfs overlay over the cached root: every boot starts fresh, boxes share nothing.
    "--volatile=overlay",
    "--setenv=SYSTEMD_COLORS=0", // a readable console log
];

pub struct SystemdBox {
    name: String,
    nspawn: Child,
    pid1: u32,
    /// The box's cgroup in every hierarchy it may appear in (nspawn mirrors the unified one into
    /// the name=systemd hierarchy on hybrid hosts); all removed on drop.
    cgroups: Vec<PathBuf>,
    dir: tempfile::TempDir,
    boot_time: Duration,
    stopped: bool,
}

impl SystemdBox {
    /// Boots a fresh box and waits until systemd says `running` (or `degraded`: the failed units
    /// are printed). Panics with the console log if it does not come up within [`BOOT_TIMEOUT`].
    pub fn boot() -> SystemdBox {
        prepare_root();
        let start = Instant::now();
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (base, mirror) = cgroup_hierarchies();
        reap_leftovers(&base, &mirror);
        // With --keep-unit nspawn creates its payload/supervisor cgroups below the cgroup it runs
        // in; without a cgroup of its own that would be the host's root, shared by all boxes.
        let cgroup = base.join(&name);
        fs::create_dir(&cgroup).unwrap_or_else(|e| panic!("creating cgroup {cgroup:?}: {e}"));
        let mut cgroups = vec![cgroup.clone()];
        if let Some(m) = mirror {
            cgroups.push(m.join(&name));
        }

        let dir = tempfile::Builder::new().prefix(&name).tempdir().unwrap();
        let console = File::create(dir.path().join("console.log")).unwrap();
        let mut cmd = Command::new("systemd-nspawn");
        cmd.env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1") // pure cgroup v2 inside, quiet boot
            .arg("--directory")
            .arg(root_dir())
            .arg(format!("--machine={name}"))
            .args(NSPAWN_FLAGS)
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console);
        let procs = CString::new(
            cgroup
                .join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        let nspawn = spawn_detached(cmd, procs)
            .unwrap_or_else(|e| panic!("starting systemd-nspawn (are we root?): {e}"));

        let mut b = SystemdBox {
            name,
            nspawn,
            pid1: 0,
            cgroups,
            dir,
            boot_time: Duration::ZERO,
            stopped: false,
        };
        b.wait_until_up(start);
        b.boot_time = start.elapsed();
        b
    }

    fn wait_until_up(&mut self, start: Instant) {
        let mut state = String::from("(no systemd yet)");
        loop {
            if let Ok(Some(status)) = self.nspawn.try_wait() {
                self.stopped = true;
                panic!(
                    "box {} exited during boot ({status}); console:\n{}",
                    self.name,
                    self.console_log()
                );
            }
            if start.elapsed() > BOOT_TIMEOUT {
                panic!(
                    "box {} not up after {BOOT_TIMEOUT:?}: systemctl is-system-running said {state:?}; console:\n{}",
                    self.name,
                    self.console_log()
                );
            }
            if self.pid1 == 0 {
                self.pid1 = box_pid1(self.nspawn.id()).unwrap_or(0);
            }
            if self.pid1 != 0 {
                let out = self.exec(&["systemctl", "is-system-running"]);
                state = String::from_utf8_lossy(&out.stdout).trim().to_string();
                match state.as_str() {
                    "running" => return,
                    "degraded" => {
                        let failed = self.exec(&["systemctl", "--failed", "--no-legend"]);
                        eprintln!(
                            "box {} is degraded; failed units:\n{}",
                            self.name,
                            String::from_utf8_lossy(&failed.stdout)
                        );
                        return;
                    }
                    _ => {}
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The machine name, also the box's hostname.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host PID of the box's systemd.
    pub fn pid1(&self) -> u32 {
        self.pid1
    }

    /// From spawning nspawn to `running`/`degraded`.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// What nspawn and the box's systemd printed on the console so far.
    pub fn console_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// Runs `cmd` inside as root with a clean environment; stdin is /dev/null.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        self.exec_stdin(cmd, &[])
    }

    /// Runs `cmd` inside as root, feeding it `input` on stdin.
    pub fn exec_stdin(&self, cmd: &[&str], input: &[u8]) -> Output {
        self.exec_within(COMMAND_TIMEOUT, cmd, input)
    }

    fn exec_within(&self, timeout: Duration, cmd: &[&str], input: &[u8]) -> Output {
        let mut c = self.nsenter(timeout, cmd);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("running nsenter");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        // A separate writer, so a command that prints a lot before reading cannot deadlock us.
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("waiting for nsenter");
        let _ = writer.join();
        out
    }

    /// Runs a shell script inside as root (`sh -c`).
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["sh", "-c", script])
    }

    /// Runs `cmd` inside as `user` (`runuser -u`: the user's groups, HOME, USER, no login shell).
    pub fn exec_as(&self, user: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["runuser", "-u", user, "--"];
        args.extend_from_slice(cmd);
        self.exec(&args)
    }

    /// [`exec`](Self::exec), panicking unless it succeeds; returns stdout.
    #[track_caller]
    pub fn exec_ok(&self, cmd: &[&str]) -> String {
        success(&cmd.join(" "), self.exec(cmd))
    }

    /// [`sh`](Self::sh), panicking unless it succeeds; returns stdout.
    #[track_caller]
    pub fn sh_ok(&self, script: &str) -> String {
        success(script, self.sh(script))
    }

    /// Copies a host file (or directory tree) to `box_path` inside, owned by root, with `mode`
    /// (for a directory: the mode of its top). Parent directories are created.
    ///
    /// Through tar and nsenter, so paths resolve inside the box (an absolute symlink inside would
    /// point at the host through /proc/PID/root).
    #[track_caller]
    pub fn copy_in(&self, host_path: &Path, box_path: &str, mode: u32) {
        let (parent, file_name) = box_path
            .rsplit_once('/')
            .filter(|(_, f)| !f.is_empty())
            .unwrap_or_else(|| panic!("copy_in: {box_path:?} is not an absolute file path"));
        // Stage under the final name so the archive needs no renaming.
        let stage = tempfile::tempdir().unwrap();
        let staged = stage.path().join(file_name);
        let status = Command::new("cp")
            .arg("-a")
            .arg(host_path)
            .arg(&staged)
            .status()
            .unwrap();
        assert!(status.success(), "copy_in: cannot copy {host_path:?}");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&staged, fs::Permissions::from_mode(mode)).unwrap();

        let mut tar = Command::new("tar")
            .args([
                "--create",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--directory",
            ])
            .arg(stage.path())
            .arg(file_name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let parent = if parent.is_empty() { "/" } else { parent };
        let out = self
            .nsenter(
                COMMAND_TIMEOUT,
                &[
                    "sh",
                    "-c",
                    r#"mkdir -p "$1" && tar --extract --directory "$1""#,
                    "sh",
                    parent,
                ],
            )
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        // The inside first: when it fails, the host's tar only sees a broken pipe.
        success(&format!("copy_in {host_path:?} -> {box_path}"), out);
        assert!(
            tar.wait().unwrap().success(),
            "copy_in: tar failed on the host"
        );
    }

    /// Writes `contents` to `box_path` inside (root-owned, `mode`), creating parent directories.
    #[track_caller]
    pub fn write_file(&self, box_path: &str, contents: &[u8], mode: u32) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents).unwrap();
        self.copy_in(f.path(), box_path, mode);
    }

    /// Reads a file inside.
    #[track_caller]
    pub fn read_file(&self, box_path: &str) -> String {
        self.exec_ok(&["cat", "--", box_path])
    }

    /// The journal of `unit` (a name or a glob such as `echo@*`), messages only.
    #[track_caller]
    pub fn journal(&self, unit: &str) -> String {
        self.exec_ok(&["journalctl", "--no-pager", "-o", "cat", "-u", unit])
    }

    /// Waits until the journal of `unit` contains `needle` (journald reads service output
    /// asynchronously), returns that journal; panics after `timeout` with the journal so far.
    #[track_caller]
    pub fn wait_for_journal(&self, unit: &str, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let j = self.journal(unit);
            if j.contains(needle) {
                return j;
            }
            if start.elapsed() > timeout {
                panic!("{needle:?} not in the journal of {unit} after {timeout:?}:\n{j}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Halts the box (SIGTERM to nspawn, which asks systemd to halt) and returns how long the
    /// halt took. Dropping the box does the same.
    pub fn shutdown(mut self) -> Duration {
        self.stop()
    }

    fn stop(&mut self) -> Duration {
        let start = Instant::now();
        if !self.stopped {
            self.stopped = true;
            let pid = Pid::from_raw(self.nspawn.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let clean = wait_timeout(&mut self.nspawn, SHUTDOWN_TIMEOUT);
            if !clean {
                eprintln!(
                    "box {} did not halt within {SHUTDOWN_TIMEOUT:?}: killing it",
                    self.name
                );
                let _ = kill(pid, Signal::SIGKILL);
                // and whatever of the box is left (cgroup.kill: the whole subtree, kernel 5.14+)
                let _ = fs::write(self.cgroups[0].join("cgroup.kill"), "1");
                let _ = self.nspawn.wait();
            }
        }
        let took = start.elapsed();
        for cg in &self.cgroups {
            remove_cgroup(cg, true);
        }
        took
    }

    /// `nsenter` into all the box's namespaces and its root, with a clean environment, under
    /// coreutils `timeout` (which kills the whole process group, so a hung `nc` cannot hang us).
    fn nsenter(&self, timeout: Duration, cmd: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["--kill-after=5", &timeout.as_secs().to_string(), "nsenter"])
            .args([
                "--target",
                &self.pid1.to_string(),
                "--all",
                "--root",
                "--wd",
            ])
            .args(["env", "-i", PATH, "HOME=/root", "LANG=C.UTF-8"])
            .args(cmd);
        c
    }
}

impl Drop for SystemdBox {
    fn drop(&mut self) {
        // A failing test's own message rarely explains what happened inside: show the journal.
        if thread::panicking() && !self.stopped && self.pid1 != 0 {
            let j = self.exec_within(
                Duration::from_secs(10),
                &["journalctl", "--no-pager", "-b", "-n", "60"],
                &[],
            );
            eprintln!(
                "--- last journal lines of box {} ---\n{}",
                self.name,
                String::from_utf8_lossy(&j.stdout)
            );
        }
        self.stop();
    }
}

#[track_caller]
fn success(what: &str, out: Output) -> String {
    if !out.status.success() {
        panic!(
            "in the box: `{what}` failed ({}{}).\nstdout:\n{}\nstderr:\n{}",
            out.status,
            if out.status.code() == Some(124) {
                ", timed out"
            } else {
                ""
            },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("stdout is not UTF-8")
}

pub fn root_dir() -> PathBuf {
    std::env::var_os("COGNITOD_BOX_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/cognitod-test/bookworm-root"))
}

/// Runs prepare-root.sh once per process (it is quick when all is in place; it takes a lock, so
/// parallel test binaries do not build twice).
fn prepare_root() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/systemd_box/prepare-root.sh"
        );
        let out = Command::new("sh")
            .arg(script)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{script} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Spawns `cmd` in a session of its own (so a Ctrl-C meant for the tests does not reach the
/// box), inside the cgroup whose `cgroup.procs` is given, and with SIGTERM as its parent-death
/// signal so a test binary that dies without dropping its boxes still halts them.
///
/// The parent-death signal fires when the *thread* that forked exits, not the process: forking
/// from one long-lived thread lets boxes outlive the test thread that booted them (a box in a
/// static works). When the process dies the signal may come once per exiting thread, and a
/// second SIGTERM makes nspawn kill the box instead of halting it: fine for a dead test.
fn spawn_detached(cmd: Command, cgroup_procs: CString) -> std::io::Result<Child> {
    type Job = (Command, CString, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("systemd-box-spawner".into())
            .spawn(move || {
                for (mut cmd, procs, reply) in rx {
                    let _ = reply.send(spawn_in_cgroup(&mut cmd, procs));
                }
            })
            .unwrap();
        tx
    });
    let (tx, rx) = mpsc::channel();
    spawner.send((cmd, cgroup_procs, tx)).unwrap();
    rx.recv().unwrap()
}

fn spawn_in_cgroup(cmd: &mut Command, procs: CString) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe system calls, no allocation.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            // Writing "0" to cgroup.procs moves the writing process itself.
            let fd = nix::libc::open(procs.as_ptr(), nix::libc::O_WRONLY | nix::libc::O_CLOEXEC);
            if fd < 0 || nix::libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            nix::libc::close(fd);
            Ok(())
        });
    }
    cmd.spawn()
}

/// Where to put the boxes' cgroups: the cgroup v2 hierarchy (all of /sys/fs/cgroup on a unified
/// host, /sys/fs/cgroup/unified on a hybrid one such as this VM), plus on hybrid hosts the
/// name=systemd v1 hierarchy into which nspawn mirrors the same path.
fn cgroup_hierarchies() -> (PathBuf, Option<PathBuf>) {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        (root.to_path_buf(), None)
    } else if root.join("unified/cgroup.controllers").exists() {
        let mirror = root.join("systemd");
        (root.join("unified"), mirror.exists().then_some(mirror))
    } else {
        panic!("no cgroup v2 hierarchy under /sys/fs/cgroup: systemd-nspawn boxes need one");
    }
}

/// Removes what boxes of dead test processes left: a test binary killed (or a box kept in a
/// static, never dropped) halts its boxes through the parent-death signal, but their cgroups and
/// console logs stay. A cgroup still in use is left alone (rmdir fails).
fn reap_leftovers(base: &Path, mirror: &Option<PathBuf>) {
    let owner_is_dead = |name: &str| {
        name.strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .is_some_and(|pid| !Path::new("/proc").join(pid).exists())
    };
    for h in std::iter::once(base).chain(mirror.as_deref()) {
        for entry in fs::read_dir(h).into_iter().flatten().flatten() {
            if owner_is_dead(&entry.file_name().to_string_lossy()) {
                remove_cgroup(&entry.path(), false);
            }
        }
    }
    for entry in fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if owner_is_dead(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// rmdir, children first (a cgroup directory goes only once it has no child cgroups and no
/// processes; its control files do not count). When `patient`, retries for a second: the kernel
/// may still be reaping the box's last processes.
fn remove_cgroup(dir: &Path, patient: bool) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&entry.path(), patient);
        }
    }
    for _ in 0..50 {
        if fs::remove_dir(dir).is_ok() || !dir.exists() || !patient {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!("systemd_box: could not remove cgroup {dir:?}");
}

/// The box's PID 1 as seen from the host: the child of nspawn that runs systemd (before that,
/// nspawn's own helper children come and go).
fn box_pid1(nspawn: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{nspawn}/task/{nspawn}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .find(|p: &u32| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "systemd")
        })
}

/// Waits for `child` to exit; false if it is still running after `timeout`.
fn wait_timeout(child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}
