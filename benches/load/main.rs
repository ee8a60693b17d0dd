//! cognitod's benchmark suite: throughput and latency per transport beside a minimal server on the
//! same machine (the limit), resident memory, start-up under socket activation, upstream calls
//! caused by a crowd at a cold start, `cognitod get` as credential_process, the binary's size, the
//! time a wrong shared secret takes beside the right one, and instruction counts per request
//! under callgrind.
//!
//! ```sh
//! cargo bench --bench load                      # every figure (a few minutes)
//! cargo bench --bench load -- --quick           # every figure, briefly (CI: it reports, never asserts)
//! cargo bench --bench load -- --only load       # one figure: load, startup, upstream, get, size,
//!                                               # secret-timing, callgrind
//! ```
//!
//! BENCHMARKS.md says what the figures mean and holds the last ones taken; benches/run.sh takes
//! them all. Under `cargo test --all-targets` (no `--bench` argument) this binary does nothing.

mod callgrind;
mod generator;
mod limit;
mod process;
mod timing;

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use generator::{percentiles, Outcome, Percentiles, Run, Target};
use process::{Launch, Memory, Notify, Process, Sockets};

/// The daemon under test unless `--cognitod PATH` says otherwise: the binary cargo built beside
/// this bench. Under `cargo bench` that is the release settings, but with the features the
/// dev-dependencies add (tokio's test-util among them), so benches/run.sh passes the packaged
/// binary (`cargo build --release`) instead.
const BUILT_COGNITOD: &str = env!("CARGO_BIN_EXE_cognitod");
/// The shared secret every client presents.
const SECRET: &str = "bench-shared-secret-0123456789";
/// Longest wait for a daemon's READY=1 (valgrind makes the sign-in slow).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The figures, each selectable with `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    Load,
    Startup,
    Upstream,
    Get,
    Size,
    SecretTiming,
    Callgrind,
}

impl Figure {
    fn parse(name: &str) -> Option<Figure> {
        Some(match name {
            "load" | "throughput" | "latency" | "memory" => Figure::Load,
            "startup" => Figure::Startup,
            "upstream" => Figure::Upstream,
            "get" => Figure::Get,
            "size" => Figure::Size,
            "secret-timing" => Figure::SecretTiming,
            "callgrind" => Figure::Callgrind,
            _ => return None,
        })
    }
}

/// What to measure, and how long.
#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    figures: Vec<Figure>,
    clients: Vec<usize>,
    transports: Vec<String>,
    warmup: Duration,
    duration: Duration,
    rounds: usize,
    client_threads: usize,
    startup_runs: usize,
    get_runs: usize,
    cold_clients: usize,
    timing_rounds: usize,
    callgrind_requests: usize,
    cognitod: PathBuf,
    out: Option<PathBuf>,
}

const USAGE: &str = "usage: cargo bench --bench load -- [--quick] [--only FIGURE,...] \
[--clients 1,16,64] [--transports unix,tcp,http] [--duration SECS] [--warmup SECS] [--rounds N] \
[--client-threads N] [--timing-rounds N] [--cognitod PATH] [--out FILE]
figures: load (throughput, latency, memory), startup, upstream, get, size, secret-timing, callgrind \
(callgrind is not in the default set: it needs valgrind and takes minutes)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = Options {
        quick,
        figures: vec![
            Figure::Size,
            Figure::Load,
            Figure::Startup,
            Figure::Upstream,
            Figure::Get,
            Figure::SecretTiming,
        ],
        clients: vec![1, 16, 64],
        transports: vec!["unix".into(), "tcp".into(), "http".into()],
        warmup: Duration::from_millis(if quick { 200 } else { 1000 }),
        duration: Duration::from_millis(if quick { 1000 } else { 4000 }),
        rounds: if quick { 1 } else { 3 },
        client_threads: 2,
        startup_runs: if quick { 5 } else { 20 },
        get_runs: if quick { 20 } else { 100 },
        cold_clients: 1000,
        timing_rounds: if quick { 200 } else { 5000 },
        callgrind_requests: if quick { 200 } else { 2000 },
        cognitod: PathBuf::from(BUILT_COGNITOD),
        out: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().ok_or(format!("{arg} needs a value"));
        let secs = |v: String| {
            v.parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|e| format!("{v}: {e}"))
        };
        match arg.as_str() {
            "--quick" | "--bench" => {}
            "--only" => {
                o.figures = value()?
                    .split(',')
                    .map(|f| Figure::parse(f).ok_or(format!("unknown figure {f:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--clients" => {
                o.clients = value()?
                    .split(',')
                    .map(|c| c.parse().map_err(|e| format!("{c}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--transports" => o.transports = value()?.split(',').map(str::to_owned).collect(),
            "--duration" => o.duration = secs(value()?)?,
            "--warmup" => o.warmup = secs(value()?)?,
            "--rounds" => o.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--timing-rounds" => {
                o.timing_rounds = value()?
                    .parse()
                    .map_err(|e| format!("--timing-rounds: {e}"))?
            }
            "--client-threads" => {
                o.client_threads = value()?
                    .parse()
                    .map_err(|e| format!("--client-threads: {e}"))?
            }
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--cognitod" => o.cognitod = PathBuf::from(value()?),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--limit-server") && args.len() == 3 {
        return limit::serve(Path::new(&args[1]), Path::new(&args[2]));
    }
    // cargo bench passes --bench; cargo test (which builds every target) does not.
    if !args.iter().any(|a| a == "--bench") {
        println!("load: a benchmark; run it with `cargo bench --bench load -- [--quick]`");
        return ExitCode::SUCCESS;
    }
    let options = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut bench = Bench::new(options);
    bench.run();
    ExitCode::SUCCESS
}

/// The whole run: options, the shared emulator, the report being written.
struct Bench {
    options: Options,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    secret_file: PathBuf,
    emulator: Option<common::Emulator>,
    report: String,
}

/// Prints a line and keeps it for the report.
macro_rules! say {
    ($bench:expr, $($arg:tt)*) => {{
        let line = format!($($arg)*);
        println!("{line}");
        $bench.report.push_str(&line);
        $bench.report.push('\n');
    }};
}

impl Bench {
    fn new(options: Options) -> Bench {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.client_threads)
            .enable_all()
            .build()
            .expect("the generator's runtime");
        let dir = tempfile::Builder::new()
            .prefix("cognitod-bench-")
            .tempdir()
            .unwrap();
        let secret_file = dir.path().join("secret");
        common::write_file(&secret_file, &format!("{SECRET}\n"), 0o600);
        Bench {
            options,
            runtime,
            dir,
            secret_file,
            emulator: None,
            report: String::new(),
        }
    }

    fn run(&mut self) {
        self.header();
        for figure in self.options.figures.clone() {
            match figure {
                Figure::Load => self.load(),
                Figure::Startup => self.startup(),
                Figure::Upstream => self.upstream(),
                Figure::Get => self.get(),
                Figure::Size => self.size(),
                Figure::SecretTiming => self.secret_timing(),
                Figure::Callgrind => self.callgrind(),
            }
        }
        say!(self, "\nload average at the end: {}", load_average());
        if let Some(out) = &self.options.out {
            if let Some(parent) = out.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            std::fs::write(out, &self.report).expect("writing the report");
            println!("report written to {}", out.display());
        }
    }

    fn header(&mut self) {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "?".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let now = time::OffsetDateTime::now_utc();
        let date = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mode = if self.options.quick { " --quick" } else { "" };
        say!(self, "# cognitod benchmarks{mode}\n");
        say!(self, "- date: {date}");
        say!(self, "- machine: {cores} cores ({cpu}), Linux {kernel}");
        say!(self, "- load average at the start: {}", load_average());
        let cognitod = self.options.cognitod.display().to_string();
        say!(
            self,
            "- cognitod: `{cognitod}`{}",
            if cognitod == BUILT_COGNITOD {
                " (built by cargo for this bench)"
            } else {
                ""
            }
        );
        if cfg!(debug_assertions) {
            say!(self, "- **this bench was built without optimisation: the figures are not representative**");
        }
    }

    fn emulator(&mut self) -> &common::Emulator {
        if self.emulator.is_none() {
            self.emulator = Some(common::Emulator::start());
        }
        self.emulator.as_ref().unwrap()
    }

    /// A fresh pool whose credentials last an hour (no renewal during the run).
    fn pool(&mut self) -> common::Pool {
        let emulator = self.emulator();
        let pool = common::Pool::seed(emulator, common::SeedOptions::default());
        emulator.set_identity_ttl(&pool.identity_pool_id, 3600);
        pool
    }

    /// `cognitod serve` with the shared secret, socket-activated on `sockets`.
    fn daemon_launch(&mut self, pool: &common::Pool, sockets: &Sockets, notify: &Notify) -> Launch {
        let endpoint = self.emulator().url();
        let mut env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), "/nonexistent".into()),
            ("AWS_ENDPOINT_URL".into(), endpoint),
            (
                "NOTIFY_SOCKET".into(),
                notify.path.to_string_lossy().into_owned(),
            ),
        ];
        env.extend(pool.env());
        Launch {
            program: self.options.cognitod.clone(),
            args: vec![
                "serve".into(),
                "-e".into(),
                "--auth-secret-file".into(),
                self.secret_file.to_string_lossy().into_owned(),
            ],
            env,
            sockets: sockets.named(),
        }
    }

    /// The limit server on `sockets`, answering `document`.
    fn limit_launch(&self, document: &Path, sockets: &Sockets) -> Launch {
        Launch {
            program: std::env::current_exe().expect("this bench's path"),
            args: vec![
                "--limit-server".into(),
                document.to_string_lossy().into_owned(),
                self.secret_file.to_string_lossy().into_owned(),
            ],
            env: vec![],
            sockets: sockets.named(),
        }
    }

    /// Starts cognitod and waits for READY=1 (its first sign-in settled).
    fn start_daemon(&mut self, name: &str) -> (Process, Sockets, common::Pool) {
        let pool = self.pool();
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let sockets = Sockets::bind(&dir, "cognitod");
        let notify = Notify::bind(&dir);
        let daemon = Process::spawn(self.daemon_launch(&pool, &sockets, &notify));
        let (_, message) = notify
            .ready(READY_TIMEOUT)
            .unwrap_or_else(|| panic!("cognitod sent no READY=1:\n{}", daemon.log()));
        assert!(
            message.contains("STATUS=serving"),
            "cognitod is not serving: {message}\n{}",
            daemon.log()
        );
        (daemon, sockets, pool)
    }

    /// One answer over the unix socket, checked.
    fn fetch(&self, sockets: &Sockets) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&sockets.unix_path).unwrap();
        s.write_all(format!("{SECRET}\n").as_bytes()).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        generator::check_document(&answer).unwrap_or_else(|e| panic!("{e}"));
        answer
    }

    fn drive(&self, target: &Target, clients: usize) -> Outcome {
        let run = Run {
            clients,
            warmup: self.options.warmup,
            duration: self.options.duration,
            secret: Arc::from(SECRET),
        };
        self.runtime.block_on(generator::drive(target, &run))
    }

    /// Throughput and latency per transport and concurrency, cognitod beside the limit server,
    /// and cognitod's resident memory idle and after the 64-client runs.
    fn load(&mut self) {
        say!(self, "\n## Throughput and latency (`--only load`)\n");
        let (daemon, sockets, _pool) = self.start_daemon("load");
        let document = self.fetch(&sockets);
        std::thread::sleep(Duration::from_millis(500));
        let idle = daemon.memory();
        let document_file = self.dir.path().join("document.json");
        std::fs::write(&document_file, &document).unwrap();
        let limit_sockets = Sockets::bind(self.dir.path(), "limit");
        let limit = Process::spawn(self.limit_launch(&document_file, &limit_sockets));
        // The limit server has no READY: it is ready when it answers.
        std::thread::sleep(Duration::from_millis(100));
        self.fetch(&limit_sockets);
        let o = &self.options;
        say!(
            self,
            "Each cell: {:.1} s counted after {:.1} s of warm-up, {} round(s) alternating limit \
             and cognitod; req/s is the median of the rounds, latencies are pooled; answer: {} \
             bytes; the generator runs {} worker threads in the bench process.\n",
            o.duration.as_secs_f64(),
            o.warmup.as_secs_f64(),
            o.rounds,
            document.len(),
            o.client_threads
        );
        say!(self, "| transport | clients | limit req/s | cognitod req/s | ratio | limit p50 / p99 / p99.9 | cognitod p50 / p99 / p99.9 | p99 ratio | cognitod errors / timeouts |");
        say!(self, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut loaded: Vec<(String, Memory)> = Vec::new();
        let mut limit_loaded = Memory::default();
        let transports = self.options.transports.clone();
        let clients = self.options.clients.clone();
        for (ours, theirs) in sockets.targets().iter().zip(limit_sockets.targets()) {
            if !transports.iter().any(|t| t == ours.name()) {
                continue;
            }
            for &n in &clients {
                let mut rates = [Vec::new(), Vec::new()];
                let mut pooled = [Outcome::default(), Outcome::default()];
                for round in 0..self.options.rounds {
                    // Alternate which goes first, so drift on a shared machine hits both alike.
                    let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                    for which in order {
                        let target = if which == 0 { &theirs } else { ours };
                        let outcome = self.drive(target, n);
                        rates[which].push(outcome.per_second());
                        pooled[which].absorb(outcome);
                    }
                }
                if n == *clients.iter().max().unwrap() {
                    loaded.push((ours.name().to_owned(), daemon.memory()));
                    limit_loaded = limit.memory();
                }
                let [limit_rate, ours_rate] = rates.map(|mut r| median(&mut r));
                let [mut l, mut c] = pooled;
                let lp = percentiles(&mut l.latencies_ns);
                let cp = percentiles(&mut c.latencies_ns);
                say!(
                    self,
                    "| {} | {n} | {:.0} | {:.0} | **{:.2}** | {} | {} | **{:.2}** | {} / {} |",
                    ours.name(),
                    limit_rate,
                    ours_rate,
                    ours_rate / limit_rate.max(1e-9),
                    triple(&lp),
                    triple(&cp),
                    cp.p99.as_secs_f64() / lp.p99.as_secs_f64().max(1e-12),
                    c.errors,
                    c.timeouts
                );
                for (who, outcome) in [("limit", &l), ("cognitod", &c)] {
                    if let Some(e) = &outcome.first_error {
                        say!(
                            self,
                            "|  | {who}: {} errors, {} timeouts, first: {e} |||||||",
                            outcome.errors,
                            outcome.timeouts
                        );
                    }
                }
            }
        }
        say!(self, "\n### Resident memory (`--only load`)\n");
        say!(
            self,
            "| process | when | VmRSS | VmHWM | RssAnon | RssFile | threads |"
        );
        say!(self, "|---|---|---:|---:|---:|---:|---:|");
        let max = clients.iter().max().copied().unwrap_or(0);
        let rows = std::iter::once(("cognitod", "idle after the first sign-in".to_owned(), idle))
            .chain(loaded.iter().map(|(transport, m)| {
                (
                    "cognitod",
                    format!("end of the {max}-client {transport} run"),
                    *m,
                )
            }))
            .chain(std::iter::once((
                "limit server",
                "end of the last run".to_owned(),
                limit_loaded,
            )));
        for (who, when, m) in rows {
            say!(
                self,
                "| {who} | {when} | {} | {} | {} | {} | {} |",
                mib(m.rss_kib),
                mib(m.hwm_kib),
                mib(m.anon_kib),
                mib(m.file_kib),
                m.threads
            );
        }
        limit.stop();
        daemon.stop();
    }

    /// Exec to READY=1 under socket activation, with the sign-in's own time apart.
    fn startup(&mut self) {
        let runs = self.options.startup_runs;
        say!(
            self,
            "\n## Start-up under socket activation (`--only startup`)\n"
        );
        // Pre-warm: the emulator's first sign-in is slower than the next ones.
        let (warm, _, _) = self.start_daemon("startup-warm");
        warm.stop();
        let pool = self.pool();
        let mut ready = Vec::new();
        let mut sign_in = Vec::new();
        let mut without = Vec::new();
        let mut listening = Vec::new();
        for i in 0..runs {
            let dir = self.dir.path().join(format!("startup-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let sockets = Sockets::bind(&dir, "cognitod");
            let notify = Notify::bind(&dir);
            let daemon = Process::spawn(self.daemon_launch(&pool, &sockets, &notify));
            let (at, _) = notify
                .ready(READY_TIMEOUT)
                .unwrap_or_else(|| panic!("no READY=1:\n{}", daemon.log()));
            let to_ready = at - daemon.started;
            let took = daemon
                .log_line("credentials obtained", Duration::from_secs(2))
                .and_then(|(_, line)| field(&line, "took_ms="))
                .map(Duration::from_millis);
            if let Some((at, _)) = daemon.log_line("listening", Duration::from_secs(2)) {
                listening.push(at - daemon.started);
            }
            ready.push(to_ready);
            if let Some(took) = took {
                sign_in.push(took);
                without.push(to_ready.saturating_sub(took));
            }
            daemon.stop();
        }
        say!(self, "{runs} runs, each a fresh process on sockets passed as systemd does (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID), READY=1 read from our NOTIFY_SOCKET; the emulator is warm.\n");
        say!(self, "| from exec to | p50 | min | max |");
        say!(self, "|---|---:|---:|---:|");
        for (what, samples) in [
            ("READY=1 (sign-in included)", &mut ready),
            (
                "the sign-in's own time (`took_ms` in the log)",
                &mut sign_in,
            ),
            (
                "**READY=1 minus the sign-in** (target < 20 ms)",
                &mut without,
            ),
            (
                "the `listening` log line (accept loops running)",
                &mut listening,
            ),
        ] {
            let (p50, min, max) = summary(samples);
            say!(self, "| {what} | {} | {} | {} |", ms(p50), ms(min), ms(max));
        }
    }

    /// A crowd at a cold daemon: all connected (and their requests sent) before it starts.
    fn upstream(&mut self) {
        let n = self.options.cold_clients;
        say!(
            self,
            "\n## Upstream calls from {n} clients at a cold start (`--only upstream`)\n"
        );
        let pool = self.pool();
        self.emulator().reset_calls(&pool.user_pool_id);
        let dir = self.dir.path().join("upstream");
        std::fs::create_dir_all(&dir).unwrap();
        let sockets = Sockets::bind(&dir, "cognitod");
        let notify = Notify::bind(&dir);
        let targets = sockets.targets();
        // Connected, and their requests written, before the daemon exists: they arrive together.
        let waiting = self.runtime.block_on(async {
            let mut waiting = Vec::with_capacity(n);
            for i in 0..n {
                let target = targets[i % 3].clone();
                waiting.push(generator::Pending::open(target, SECRET).await);
            }
            waiting
        });
        let launch = self.daemon_launch(&pool, &sockets, &notify);
        let daemon = Process::spawn(launch);
        let started = daemon.started;
        let results = self.runtime.block_on(async {
            let tasks: Vec<_> = waiting
                .into_iter()
                .map(|p| tokio::spawn(p.finish()))
                .collect();
            let mut results = Vec::with_capacity(n);
            for t in tasks {
                results.push(t.await.unwrap());
            }
            results
        });
        let last = Instant::now() - started;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let first_error = results.iter().find_map(|r| r.as_ref().err().cloned());
        // Give any straggling upstream call time to be counted.
        std::thread::sleep(Duration::from_millis(500));
        let calls = self.emulator().calls(&pool.user_pool_id);
        daemon.stop();
        let count = |k: &str| calls.get(k).copied().unwrap_or(0);
        let one_sign_in = count("InitiateAuth") == 1 && count("RespondToAuthChallenge") == 1;
        let one_credentials = count("GetCredentialsForIdentity") == 1;
        say!(self, "{n} clients (a third each on unix, tcp and http) connected and sent their request before cognitod was started on those sockets.\n");
        say!(
            self,
            "- correct answers: {ok} of {n}; the last {} after exec{}",
            ms(last),
            first_error
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        );
        say!(
            self,
            "- upstream calls counted by the emulator for this pool: {}",
            calls
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        say!(
            self,
            "- **one sign-in: {}; one credentials call: {}**",
            yes(one_sign_in),
            yes(one_credentials)
        );
    }

    /// `cognitod get` as credential_process, beside netcat.
    fn get(&mut self) {
        let runs = self.options.get_runs;
        say!(self, "\n## `cognitod get` end to end (`--only get`)\n");
        let (daemon, sockets, _) = self.start_daemon("get");
        let socket = sockets.unix_path.to_string_lossy().into_owned();
        let secret_file = self.secret_file.to_string_lossy().into_owned();
        let path = std::env::var("PATH").unwrap_or_default();
        let cognitod = self.options.cognitod.clone();
        let get = || {
            let mut c = Command::new(&cognitod);
            c.args(["get", "--socket", &socket])
                .env_clear()
                .env("PATH", &path)
                .env("COGNITOD_SECRET", SECRET);
            c
        };
        let nc = || {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("nc -U {socket} < {secret_file}")])
                .env_clear()
                .env("PATH", &path);
            c
        };
        let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
        for _ in 0..runs {
            for (name, mut command) in [("cognitod get", get()), ("sh -c \"nc -U …\"", nc())] {
                let started = Instant::now();
                let out = command
                    .stderr(Stdio::null())
                    .output()
                    .expect("running a client");
                let took = started.elapsed();
                if out.status.success() && generator::check_document(&out.stdout).is_ok() {
                    times.entry(name).or_default().push(took);
                } else {
                    *failures.entry(name).or_default() += 1;
                }
            }
        }
        daemon.stop();
        say!(self, "{runs} runs of each, alternating, over the unix socket with the shared secret; wall time from spawn to exit, output checked.\n");
        say!(self, "| client | p50 | p90 | min | failures |");
        say!(self, "|---|---:|---:|---:|---:|");
        for (name, samples) in &mut times {
            samples.sort();
            let p90 = samples[(samples.len() * 9 / 10).min(samples.len() - 1)];
            say!(
                self,
                "| `{name}` | {} | {} | {} | {} |",
                ms(samples[samples.len() / 2]),
                ms(p90),
                ms(samples[0]),
                failures.get(name).copied().unwrap_or(0)
            );
        }
    }

    fn size(&mut self) {
        say!(self, "\n## Binary size (`--only size`)\n");
        let path = self.options.cognitod.clone();
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        say!(
            self,
            "- `{}`: {bytes} bytes ({:.2} MiB)",
            path.display(),
            bytes as f64 / (1024.0 * 1024.0)
        );
    }

    /// A wrong shared secret beside the right one: median times and their ratios, per transport,
    /// for cognitod and for the limit server (which compares with `==`, stopping at the first
    /// differing byte: what the measurement can and cannot tell apart).
    fn secret_timing(&mut self) {
        let rounds = self.options.timing_rounds;
        let warmup = (rounds / 10).max(20);
        say!(
            self,
            "\n## A wrong shared secret beside the right one (`--only secret-timing`)\n"
        );
        let (daemon, sockets, _pool) = self.start_daemon("secret-timing");
        let document = self.fetch(&sockets);
        let document_file = self.dir.path().join("secret-timing.json");
        std::fs::write(&document_file, &document).unwrap();
        let limit_sockets = Sockets::bind(&self.dir.path().join("secret-timing"), "limit");
        let limit = Process::spawn(self.limit_launch(&document_file, &limit_sockets));
        std::thread::sleep(Duration::from_millis(100));
        self.fetch(&limit_sockets);
        say!(
            self,
            "{rounds} rounds after {warmup} uncounted, each sending the right secret ({} bytes) \
             and three wrong ones of its length once, in a shuffled order, one request at a time \
             from a blocking client; raw: a connection per try, timed from connect to the end of \
             the answer; http: one keep-alive connection. Only tries that follow a wrong one are \
             counted (cognitod is still logging that refusal; see benches/load/timing.rs). \
             Median per candidate, and its ratio to \
             the right secret's median. A/A: the right secret's median over odd rounds divided by \
             that over even rounds, the noise to read the ratios by. first/last: a comparison \
             that stops at the first differing byte would make this ratio < 1.\n",
            SECRET.len()
        );
        say!(
            self,
            "| server | transport | tries each | right | wrong, every byte | wrong, first byte | wrong, last byte | first / last | right A/A | errors |"
        );
        say!(self, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let transports = self.options.transports.clone();
        for (ours, theirs) in sockets.targets().iter().zip(limit_sockets.targets()) {
            if !transports.iter().any(|t| t == ours.name()) {
                continue;
            }
            for (server, target) in [("cognitod", ours), ("limit", &theirs)] {
                let t = timing::measure(target, SECRET, warmup, rounds);
                let right = t.medians[0];
                let cell =
                    |d: Duration| format!("{} (**{:.3}**)", us_precise(d), timing::ratio(d, right));
                say!(
                    self,
                    "| {server} | {} | {} | {} | {} | {} | {} | **{:.3}** | {:.3} | {} |",
                    target.name(),
                    t.tries,
                    us_precise(right),
                    cell(t.medians[1]),
                    cell(t.medians[2]),
                    cell(t.medians[3]),
                    timing::ratio(t.medians[2], t.medians[3]),
                    t.right_a_a,
                    t.errors
                );
                if let Some(e) = &t.first_error {
                    say!(self, "|  | {server}: first error: {e} |||||||||");
                }
            }
        }
        limit.stop();
        daemon.stop();
    }

    /// Instructions per request under callgrind, cognitod beside the limit server, per transport.
    fn callgrind(&mut self) {
        let n = self.options.callgrind_requests;
        say!(
            self,
            "\n## Instructions per request under callgrind (`--only callgrind`)\n"
        );
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("callgrind");
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).unwrap();
        let valgrind = |name: &str, launch: Launch| Launch {
            program: PathBuf::from("/usr/bin/valgrind"),
            args: [
                "--tool=callgrind".to_owned(),
                format!(
                    "--callgrind-out-file={}/{name}.%p",
                    out_dir.to_string_lossy()
                ),
                launch.program.to_string_lossy().into_owned(),
            ]
            .into_iter()
            .chain(launch.args)
            .collect(),
            ..launch
        };
        // cognitod under callgrind.
        let pool = self.pool();
        let dir = self.dir.path().join("callgrind");
        std::fs::create_dir_all(&dir).unwrap();
        let sockets = Sockets::bind(&dir, "cognitod");
        let notify = Notify::bind(&dir);
        let launch = valgrind("cognitod", self.daemon_launch(&pool, &sockets, &notify));
        let daemon = Process::spawn(launch);
        notify
            .ready(Duration::from_secs(300))
            .unwrap_or_else(|| panic!("no READY=1 under valgrind:\n{}", daemon.log()));
        let document = self.fetch(&sockets);
        let document_file = dir.join("document.json");
        std::fs::write(&document_file, &document).unwrap();
        let limit_sockets = Sockets::bind(&dir, "limit");
        let limit = Process::spawn(valgrind(
            "limit",
            self.limit_launch(&document_file, &limit_sockets),
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::os::unix::net::UnixStream::connect(&limit_sockets.unix_path).is_err()
            || self.count(&limit_sockets.targets()[0], 1) != 1
        {
            assert!(Instant::now() < deadline, "the limit server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        say!(self, "{n} sequential requests per transport from one client, counted between `callgrind_control --zero` and `--dump` (all threads), read by benches/load/callgrind.rs; the dumps are in {}.\n", out_dir.display());
        say!(
            self,
            "| transport | limit Ir/request | cognitod Ir/request | ratio |"
        );
        say!(self, "|---|---:|---:|---:|");
        let mut profiles = Vec::new();
        for (ours, theirs) in sockets.targets().iter().zip(limit_sockets.targets()) {
            let mut pair = Vec::new();
            for (name, process, target) in [("limit", &limit, &theirs), ("cognitod", &daemon, ours)]
            {
                self.count(target, n / 10 + 1);
                callgrind_control(process.pid(), "--zero");
                let answered = self.count(target, n).max(1) as f64;
                let dump = callgrind_control(process.pid(), "--dump")
                    .unwrap_or_else(|| panic!("no callgrind dump for {name}"));
                let kept = out_dir.join(format!("{name}-{}.callgrind", ours.name()));
                std::fs::rename(&dump, &kept).unwrap();
                pair.push((callgrind::Profile::read(&kept), answered));
            }
            let (l, c) = (&pair[0], &pair[1]);
            say!(
                self,
                "| {} | {:.0} | {:.0} | **{:.2}** |",
                ours.name(),
                l.0.total as f64 / l.1,
                c.0.total as f64 / c.1,
                (c.0.total as f64 / c.1) / (l.0.total as f64 / l.1).max(1.0)
            );
            profiles.push((ours.name(), pair));
        }
        for (transport, pair) in &profiles {
            let (l, c) = (&pair[0], &pair[1]);
            say!(
                self,
                "\n### {transport}: own instructions per request, by crate\n"
            );
            say!(self, "| crate | limit | cognitod | difference |");
            say!(self, "|---|---:|---:|---:|");
            let (lc, cc) = (l.0.by_crate(), c.0.by_crate());
            let mut crates: Vec<&String> = lc.keys().chain(cc.keys()).collect();
            crates.sort();
            crates.dedup();
            let per = |m: &HashMap<String, u64>, k: &String, n: f64| {
                m.get(k).copied().unwrap_or(0) as f64 / n
            };
            crates.sort_by(|a, b| {
                let d = |k| per(&cc, k, c.1) - per(&lc, k, l.1);
                d(b).total_cmp(&d(a))
            });
            for k in crates.iter().take(14) {
                let (x, y) = (per(&lc, k, l.1), per(&cc, k, c.1));
                say!(self, "| {k} | {x:.0} | {y:.0} | {:+.0} |", y - x);
            }
            say!(self, "\ncognitod's functions with the most own instructions per request ({transport}):\n");
            say!(self, "| own | with callees | function |");
            say!(self, "|---:|---:|---|");
            let mut functions: Vec<_> = c.0.functions.iter().collect();
            functions.sort_by_key(|f| std::cmp::Reverse(f.1 .0));
            for (name, (own, all)) in functions.into_iter().take(25) {
                let name: String = name.chars().take(160).collect();
                say!(
                    self,
                    "| {:.0} | {:.0} | `{}` |",
                    *own as f64 / c.1,
                    *all as f64 / c.1,
                    name.replace('|', "\\|")
                );
            }
        }
        limit.stop();
        daemon.stop();
    }

    /// `n` sequential requests from one client; the number answered correctly.
    fn count(&self, target: &Target, n: usize) -> usize {
        self.runtime.block_on(generator::repeat(target, SECRET, n))
    }
}

/// Runs `callgrind_control OPTION PID`; after `--dump`, returns the newest dump file.
fn callgrind_control(pid: u32, option: &str) -> Option<PathBuf> {
    let status = Command::new("callgrind_control")
        .args([option, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("running callgrind_control");
    assert!(status.success(), "callgrind_control {option} {pid} failed");
    if option != "--dump" {
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("callgrind");
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.contains(&format!(".{pid}.")) && !name.ends_with(".txt")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return Default::default();
    }
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

/// `key=123` in a log line.
fn field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// Microseconds with one decimal: the timing figure's differences are small.
fn us_precise(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn triple(p: &Percentiles) -> String {
    format!("{} / {} / {}", us(p.p50), us(p.p99), us(p.p999))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}
