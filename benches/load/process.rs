//! Processes under test: listening sockets handed over as systemd does (socket activation:
//! descriptors from 3 on, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID), the service manager's
//! notification socket (READY=1), the log with the time each line arrived, and /proc figures.

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::generator::Target;

/// The listen backlog, systemd's default (SOMAXCONN): a burst of clients queues in the kernel
/// instead of being refused.
const BACKLOG: i32 = 4096;

/// The three listening sockets of one server: unix, tcp (raw protocol) and http.
pub struct Sockets {
    /// The unix socket's path.
    pub unix_path: PathBuf,
    unix: OwnedFd,
    tcp: OwnedFd,
    tcp_address: SocketAddr,
    http: OwnedFd,
    http_address: SocketAddr,
}

impl Sockets {
    /// Binds a unix socket `DIR/NAME.sock` and two TCP sockets on free loopback ports.
    pub fn bind(dir: &Path, name: &str) -> Sockets {
        let unix_path = dir.join(format!("{name}.sock"));
        let _ = std::fs::remove_file(&unix_path);
        let unix = OwnedFd::from(UnixListener::bind(&unix_path).expect("binding the unix socket"));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a tcp port");
        let http = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a tcp port");
        let tcp_address = tcp.local_addr().unwrap();
        let http_address = http.local_addr().unwrap();
        let (tcp, http) = (OwnedFd::from(tcp), OwnedFd::from(http));
        for fd in [&unix, &tcp, &http] {
            // listen() again only raises the backlog. (nix's Backlog caps it below the kernel's
            // own limit, hence libc.)
            // SAFETY: a plain system call on a descriptor we own.
            #[allow(unsafe_code)]
            let done = unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) };
            assert_eq!(done, 0, "listen: {}", std::io::Error::last_os_error());
        }
        Sockets {
            unix_path,
            unix,
            tcp,
            tcp_address,
            http,
            http_address,
        }
    }

    /// Where clients of each transport go.
    pub fn targets(&self) -> [Target; 3] {
        [
            Target::Unix(self.unix_path.clone()),
            Target::Tcp(self.tcp_address),
            Target::Http(self.http_address),
        ]
    }

    /// The descriptors with the FileDescriptorName= cognitod expects, in the order passed.
    pub fn named(&self) -> Vec<(RawFd, &'static str)> {
        vec![
            (self.unix.as_raw_fd(), "unix"),
            (self.tcp.as_raw_fd(), "tcp"),
            (self.http.as_raw_fd(), "http"),
        ]
    }
}

/// A program to start.
pub struct Launch {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments (without argv[0]).
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: Vec<(String, String)>,
    /// Listening sockets to pass as 3, 4, ..., with their names.
    pub sockets: Vec<(RawFd, &'static str)>,
}

/// A started process and its log.
pub struct Process {
    /// The child.
    pub child: Child,
    /// Just before the fork: "exec" for the start-up figures.
    pub started: Instant,
    /// Each stderr line with the time it arrived.
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Process {
    /// Starts `launch` the way systemd starts a socket-activated service: the sockets as
    /// descriptors 3.., LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID set to the child's own pid,
    /// which only the child knows; so the child sets it after the fork and calls execve itself,
    /// writing into memory prepared before the fork (nothing is allocated between fork and exec).
    pub fn spawn(launch: Launch) -> Process {
        let mut env: Vec<CString> = launch
            .env
            .iter()
            .map(|(k, v)| CString::new(format!("{k}={v}")).expect("no NUL in the environment"))
            .collect();
        // High duplicates, closed on exec, so the dup2 onto 3.. cannot clobber one another.
        let high: Vec<OwnedFd> = launch
            .sockets
            .iter()
            .map(|(fd, _)| {
                let copy = nix::fcntl::fcntl(*fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(100))
                    .expect("duplicating a socket");
                // SAFETY: fcntl just returned this new descriptor, owned by nobody else.
                #[allow(unsafe_code)]
                unsafe {
                    OwnedFd::from_raw_fd(copy)
                }
            })
            .collect();
        let mut pid_slot: Vec<u8> = Vec::new();
        if !launch.sockets.is_empty() {
            env.push(CString::new(format!("LISTEN_FDS={}", launch.sockets.len())).unwrap());
            let names: Vec<&str> = launch.sockets.iter().map(|(_, n)| *n).collect();
            env.push(CString::new(format!("LISTEN_FDNAMES={}", names.join(":"))).unwrap());
            pid_slot = b"LISTEN_PID=".to_vec();
            pid_slot.resize(pid_slot.len() + 24, 0);
        }
        let program = CString::new(launch.program.as_os_str().as_bytes()).unwrap();
        let argv: Vec<CString> = std::iter::once(program.clone())
            .chain(
                launch
                    .args
                    .iter()
                    .map(|a| CString::new(a.as_str()).unwrap()),
            )
            .collect();
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        if !pid_slot.is_empty() {
            env_ptrs.push(pid_slot.as_ptr().cast());
        }
        env_ptrs.push(std::ptr::null());

        // Addresses, not pointers, so the closure is Send + Sync; they stay valid in the child
        // (its memory is a copy of ours) and in the parent until spawn() returns.
        let program_at = program.as_ptr() as usize;
        let argv_at = argv_ptrs.as_ptr() as usize;
        let env_at = env_ptrs.as_ptr() as usize;
        let slot_at = pid_slot.as_mut_ptr() as usize;
        let has_slot = !pid_slot.is_empty();
        let high_fds: Vec<RawFd> = high.iter().map(|fd| fd.as_raw_fd()).collect();

        let mut command = Command::new(&launch.program);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec the closure only calls async-signal-safe functions
        // (dup2, getpid, execve) and writes into memory allocated before the fork.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                for (i, fd) in high_fds.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if has_slot {
                    let slot = slot_at as *mut u8;
                    let mut pid = libc::getpid() as u32;
                    let mut digits = [0u8; 10];
                    let mut len = 0;
                    loop {
                        digits[len] = b'0' + (pid % 10) as u8;
                        pid /= 10;
                        len += 1;
                        if pid == 0 {
                            break;
                        }
                    }
                    let prefix = b"LISTEN_PID=".len();
                    for i in 0..len {
                        *slot.add(prefix + i) = digits[len - 1 - i];
                    }
                    *slot.add(prefix + len) = 0;
                }
                libc::execve(
                    program_at as *const libc::c_char,
                    argv_at as *const *const libc::c_char,
                    env_at as *const *const libc::c_char,
                );
                Err(std::io::Error::last_os_error())
            });
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("starting the process");
        drop(high);
        drop((argv, env, pid_slot, argv_ptrs, env_ptrs));

        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match lines.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let at = Instant::now();
                        let text = crate::common::strip_ansi(&String::from_utf8_lossy(&line));
                        sink.lock().unwrap().push((at, text));
                    }
                }
            }
        });
        Process {
            child,
            started,
            log,
        }
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first log line containing `needle`, with the time it arrived; waits up to `timeout`.
    pub fn log_line(&self, needle: &str, timeout: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|(_, line)| line.contains(needle))
            {
                return Some(found.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        let lines = self.log.lock().unwrap();
        lines.iter().map(|(_, l)| l.as_str()).collect()
    }

    /// VmRSS and VmHWM, in KiB.
    pub fn memory(&self) -> Memory {
        memory(self.pid())
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, from /proc/PID/status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS: resident now, KiB.
    pub rss_kib: u64,
    /// VmHWM: the most ever resident, KiB.
    pub hwm_kib: u64,
    /// RssAnon: the process's own memory (heap, stacks), KiB.
    pub anon_kib: u64,
    /// RssFile: resident pages of mapped files (the binary's code, shared libraries), KiB.
    pub file_kib: u64,
    /// Threads.
    pub threads: u64,
}

/// VmRSS and VmHWM of `pid`.
pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
        threads: field("Threads:"),
    }
}

/// The service manager's side of sd_notify: a datagram socket whose path goes in NOTIFY_SOCKET.
pub struct Notify {
    /// Its path.
    pub path: PathBuf,
    socket: UnixDatagram,
}

impl Notify {
    /// Binds `DIR/notify.sock`.
    pub fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
        Notify { path, socket }
    }

    /// Waits for a message with READY=1; returns when it arrived and the message.
    pub fn ready(&self, timeout: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let at = Instant::now();
                    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if message.lines().any(|l| l == "READY=1") {
                        return Some((at, message));
                    }
                }
                Err(_) => return None,
            }
        }
    }
}
