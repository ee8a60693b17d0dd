//! A fleet of cognitod hosts against Cognito's quotas, simulated in virtual time.
//!
//! Every host runs the daemon's own renewal and back-off policy (`cognitod::policy`: the renewal
//! and serving margins, the retry delays, the attempt bookkeeping, the rule for reusing tokens),
//! and the call sequence of `CognitoUpstream::obtain` (sign-in or refresh when the tokens are not
//! good enough, GetId once, GetCredentialsForIdentity). Cognito is modelled as one token bucket
//! per quota category (user authentication 120/s, GetId 25/s, GetCredentialsForIdentity 200/s by
//! default), answering TooManyRequestsException when a bucket is empty, with a network round
//! trip per call. A discrete-event loop drives it all, so 100,000 hosts over 24 h take seconds.
//!
//!     cargo bench --bench fleet                 # every scenario at 1,000, 10,000 and 100,000 hosts
//!     cargo bench --bench fleet -- --quick      # every scenario, fewer hosts and hours (CI)
//!     cargo bench --bench fleet -- --json       # one JSON object per scenario
//!     cargo bench --bench fleet -- --hosts 5000 --scenario power-cut

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use cognitod::policy::{self, Attempts, Failure};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Lifetime of identity-pool credentials and of user-pool ID tokens (Cognito's default hour).
const LIFETIME_S: f64 = 3600.0;
/// One call's round trip to Cognito.
const RTT_S: f64 = 0.05;
/// The first sign-in's attempts before readiness is reported (the daemon's default `retries`).
const FIRST_ATTEMPTS: u32 = 3;

/// A quota category of Cognito's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    /// InitiateAuth, RespondToAuthChallenge, GetTokensFromRefreshToken.
    UserAuth = 0,
    /// GetId.
    GetId = 1,
    /// GetCredentialsForIdentity.
    GetCredentials = 2,
}

const CATEGORIES: [(&str, f64); 3] = [
    ("user_auth", 120.0),
    ("get_id", 25.0),
    ("get_credentials", 200.0),
];

/// One call of a renewal, in the order `CognitoUpstream::obtain` makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    InitiateAuth,
    RespondToAuthChallenge,
    RefreshTokens,
    GetId,
    GetCredentials,
}

impl Step {
    fn category(self) -> Category {
        match self {
            Step::InitiateAuth | Step::RespondToAuthChallenge | Step::RefreshTokens => {
                Category::UserAuth
            }
            Step::GetId => Category::GetId,
            Step::GetCredentials => Category::GetCredentials,
        }
    }
}

/// A token bucket holding one second of its rate.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: f64,
}

impl Bucket {
    fn take(&mut self, now: f64) -> bool {
        self.tokens = (self.tokens + (now - self.at) * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What Cognito answered.
enum Answer {
    Ok,
    Throttled,
    Unreachable,
}

/// Cognito: quotas, an optional outage, and what it saw.
struct Cognito {
    buckets: Vec<Bucket>,
    outage: Option<(f64, f64)>,
    calls: [u64; 3],
    throttled: [u64; 3],
    /// Throttled calls after the first two hours (a ramp's hour is over by then).
    throttled_late: u64,
    /// Calls per second of simulated time, by category, for the peak rate.
    per_second: Vec<[u32; 3]>,
}

impl Cognito {
    fn new(outage: Option<(f64, f64)>, horizon_s: f64) -> Cognito {
        Cognito {
            buckets: CATEGORIES
                .iter()
                .map(|(_, rate)| Bucket {
                    rate: *rate,
                    tokens: *rate,
                    at: 0.0,
                })
                .collect(),
            outage,
            calls: [0; 3],
            throttled: [0; 3],
            throttled_late: 0,
            per_second: vec![[0; 3]; horizon_s as usize + 2],
        }
    }

    fn call(&mut self, step: Step, now: f64) -> Answer {
        let c = step.category() as usize;
        if self
            .outage
            .is_some_and(|(from, to)| now >= from && now < to)
        {
            return Answer::Unreachable;
        }
        self.calls[c] += 1;
        if let Some(second) = self.per_second.get_mut(now as usize) {
            second[c] += 1;
        }
        if self.buckets[c].take(now) {
            Answer::Ok
        } else {
            self.throttled[c] += 1;
            if now >= 7200.0 {
                self.throttled_late += 1;
            }
            Answer::Throttled
        }
    }
}

/// One host's daemon.
#[derive(Default)]
struct Host {
    attempts: Attempts,
    /// When the user-pool tokens expire (none before the first sign-in or after a power cut).
    tokens_expire: Option<f64>,
    /// Whether GetId has been answered (or the identity id was kept).
    identity_known: bool,
    /// Until when the host may hand out its credentials (the serving cut-off).
    serve_until: f64,
    /// When the current credentials expire.
    creds_expire: f64,
    /// When it first served in this scenario.
    first_served: Option<f64>,
    /// Whether it ever had no servable credentials after it first served.
    gap: bool,
    /// When it last lost service (for the outage's recovery time).
    gap_since: Option<f64>,
    recovered_after: f64,
    /// Whether it ever handed out credentials past their expiry.
    served_expired: bool,
}

impl Host {
    /// The next call of a renewal, as `CognitoUpstream::obtain` decides it.
    fn first_step(&self, now: f64) -> Step {
        match self.tokens_expire {
            None => Step::InitiateAuth,
            Some(expire) => {
                let remaining = Duration::from_secs_f64((expire - now).max(0.0));
                let lifetime = Duration::from_secs_f64(LIFETIME_S);
                if !policy::tokens_still_usable(remaining, lifetime) {
                    Step::RefreshTokens
                } else if !self.identity_known {
                    Step::GetId
                } else {
                    Step::GetCredentials
                }
            }
        }
    }
}

/// An event: a host's call arrives at Cognito, or a host starts a renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Attempt,
    Call(Step),
}

/// Virtual time in microseconds, so events order exactly.
fn micros(s: f64) -> u64 {
    (s * 1e6) as u64
}

struct Simulation {
    hosts: Vec<Host>,
    cognito: Cognito,
    queue: BinaryHeap<Reverse<(u64, u32, Event)>>,
    rng: StdRng,
    horizon_s: f64,
    /// Hosts that have served at least once.
    served: usize,
    /// Whether the scenario ends once every host serves (a restart: its calls are the cost).
    until_all_served: bool,
}

impl Simulation {
    fn schedule(&mut self, at_s: f64, host: usize, event: Event) {
        if at_s <= self.horizon_s {
            self.queue
                .push(Reverse((micros(at_s.max(0.0)), host as u32, event)));
        }
    }

    fn run(&mut self) {
        while let Some(Reverse((at, host, event))) = self.queue.pop() {
            if self.until_all_served && self.served == self.hosts.len() {
                return;
            }
            let now = at as f64 / 1e6;
            let host = host as usize;
            match event {
                Event::Attempt => {
                    self.watch_service(host, now);
                    let step = self.hosts[host].first_step(now);
                    self.schedule(now + RTT_S / 2.0, host, Event::Call(step));
                }
                Event::Call(step) => self.answer(host, step, now),
            }
        }
    }

    /// Notes a lapse in service (no servable credentials) once the host has served.
    fn watch_service(&mut self, host: usize, now: f64) {
        let h = &mut self.hosts[host];
        if h.first_served.is_some() && now >= h.serve_until && h.gap_since.is_none() {
            h.gap = true;
            h.gap_since = Some(h.serve_until);
        }
    }

    fn answer(&mut self, host: usize, step: Step, now: f64) {
        let answer = self.cognito.call(step, now);
        let failure = match answer {
            Answer::Ok => None,
            Answer::Throttled => Some(Failure::Throttled),
            Answer::Unreachable => Some(Failure::Transient),
        };
        let next_call = now + RTT_S;
        if let Some(failure) = failure {
            let retry = self.hosts[host]
                .attempts
                .failed(failure, FIRST_ATTEMPTS, &mut self.rng);
            self.watch_service(host, now);
            let delay = retry.delay.as_secs_f64();
            self.schedule(now + RTT_S / 2.0 + delay, host, Event::Attempt);
            return;
        }
        let h = &mut self.hosts[host];
        let next = match step {
            Step::InitiateAuth => Some(Step::RespondToAuthChallenge),
            Step::RespondToAuthChallenge | Step::RefreshTokens => {
                h.tokens_expire = Some(now + LIFETIME_S);
                Some(if h.identity_known {
                    Step::GetCredentials
                } else {
                    Step::GetId
                })
            }
            Step::GetId => {
                h.identity_known = true;
                Some(Step::GetCredentials)
            }
            Step::GetCredentials => None,
        };
        if let Some(next) = next {
            self.schedule(next_call, host, Event::Call(next));
            return;
        }
        // Credentials received half a round trip later.
        let received = now + RTT_S / 2.0;
        self.credentials_arrived(host, received, LIFETIME_S);
    }

    /// The refresher's success path: serve until the serving margin, renew at the renewal margin.
    fn credentials_arrived(&mut self, host: usize, now: f64, lifetime_s: f64) {
        let life = Duration::from_secs_f64(lifetime_s);
        let serve_margin = policy::serve_margin(life).as_secs_f64();
        let renewal_margin = policy::renewal_margin(life, &mut self.rng).as_secs_f64();
        let h = &mut self.hosts[host];
        // Service lapsed if the old credentials were withdrawn before these arrived.
        if h.first_served.is_some() && now > h.serve_until {
            h.gap = true;
            let since = h.gap_since.take().unwrap_or(h.serve_until);
            h.recovered_after = h.recovered_after.max(now - since);
        }
        h.gap_since = None;
        if h.serve_until > h.creds_expire {
            h.served_expired = true;
        }
        h.attempts.succeeded();
        h.creds_expire = now + lifetime_s;
        h.serve_until = h.creds_expire - serve_margin;
        if h.first_served.is_none() {
            h.first_served = Some(now);
            self.served += 1;
        }
        let renew_at =
            (h.creds_expire - renewal_margin).max(now + policy::BACKOFF_BASE.as_secs_f64());
        self.schedule(renew_at, host, Event::Attempt);
    }
}

/// What a scenario reports.
struct Report {
    scenario: &'static str,
    hosts: usize,
    time_to_all_served_s: f64,
    lower_bound_s: f64,
    calls: [u64; 3],
    throttled: [u64; 3],
    throttled_late: u64,
    served_expired: usize,
    gave_up: usize,
    hosts_with_gap: usize,
    peak_rps: [u32; 3],
    wall_s: f64,
}

impl Report {
    fn throttled_share(&self) -> f64 {
        let calls: u64 = self.calls.iter().sum();
        if calls == 0 {
            0.0
        } else {
            self.throttled.iter().sum::<u64>() as f64 / calls as f64
        }
    }

    fn json(&self) -> String {
        let per = |v: &[u64; 3]| {
            format!(
                "{{\"user_auth\": {}, \"get_id\": {}, \"get_credentials\": {}}}",
                v[0], v[1], v[2]
            )
        };
        format!(
            "{{\"scenario\": \"{}\", \"hosts\": {}, \"time_to_all_served_s\": {:.1}, \"lower_bound_s\": {:.1}, \
             \"calls\": {}, \"throttled\": {}, \"throttled_share\": {:.3}, \"throttled_after_2h\": {}, \"served_expired\": {}, \
             \"gave_up\": {}, \"hosts_with_gap\": {}, \"peak_rps\": {}, \"simulation_wall_s\": {:.2}}}",
            self.scenario,
            self.hosts,
            self.time_to_all_served_s,
            self.lower_bound_s,
            per(&self.calls),
            per(&self.throttled),
            self.throttled_share(),
            self.throttled_late,
            self.served_expired,
            self.gave_up,
            self.hosts_with_gap,
            per(&self.peak_rps.map(u64::from)),
            self.wall_s,
        )
    }

    fn row(&self) -> String {
        let ratio = if self.lower_bound_s > 0.0 {
            format!("{:.2}", self.time_to_all_served_s / self.lower_bound_s)
        } else {
            "-".to_owned()
        };
        format!(
            "| {} | {} | {:.0} | {:.0} | {} | {} | {} ({:.1} %) | {} | {} | {} | {} | {} / {} / {} | {:.1} |",
            self.scenario,
            self.hosts,
            self.time_to_all_served_s,
            self.lower_bound_s,
            ratio,
            self.calls.iter().sum::<u64>(),
            self.throttled.iter().sum::<u64>(),
            self.throttled_share() * 100.0,
            self.throttled_late,
            self.served_expired,
            self.gave_up,
            self.hosts_with_gap,
            self.peak_rps[0],
            self.peak_rps[1],
            self.peak_rps[2],
            self.wall_s,
        )
    }
}

/// A scenario: its name, how the hosts start, how long it runs, and an outage (from, to).
type Scenario = (&'static str, Start, f64, Option<(f64, f64)>);

/// How the hosts stand when the scenario begins.
#[derive(Clone, Copy)]
enum Start {
    /// Started one by one over this many seconds, from nothing (a new fleet).
    Ramp(f64),
    /// All at once at 0, from nothing: a power cut that lost every host's state.
    ColdAll { identity_kept: bool },
    /// All restart at 0 with the state of a running fleet (the FD store across an upgrade).
    Restored,
}

fn simulate(
    scenario: &'static str,
    n: usize,
    start: Start,
    horizon_s: f64,
    outage: Option<(f64, f64)>,
    seed: u64,
) -> Report {
    let wall = Instant::now();
    let mut sim = Simulation {
        hosts: (0..n).map(|_| Host::default()).collect(),
        cognito: Cognito::new(outage, horizon_s),
        queue: BinaryHeap::with_capacity(n * 2),
        rng: StdRng::seed_from_u64(seed),
        horizon_s,
        served: 0,
        until_all_served: matches!(start, Start::ColdAll { .. }),
    };
    for host in 0..n {
        match start {
            Start::Ramp(over) => {
                let at = sim.rng.gen_range(0.0..over);
                sim.schedule(at, host, Event::Attempt);
            }
            Start::ColdAll { identity_kept } => {
                sim.hosts[host].identity_known = identity_kept;
                sim.schedule(0.0, host, Event::Attempt);
            }
            Start::Restored => {
                // A running fleet: credentials of every age short of their renewal (which comes
                // at most 24 minutes before expiry for one-hour credentials).
                let age = sim.rng.gen_range(0.0..LIFETIME_S - 24.0 * 60.0);
                let h = &mut sim.hosts[host];
                h.identity_known = true;
                h.tokens_expire = Some(LIFETIME_S - age - sim.rng.gen_range(0.0..LIFETIME_S / 3.0));
                sim.credentials_arrived(host, -age, LIFETIME_S);
                // Restored at 0: it serves at once.
                sim.hosts[host].first_served = Some(0.0);
            }
        }
    }
    sim.run();
    let gave_up = sim
        .hosts
        .iter()
        .filter(|h| h.first_served.is_none())
        .count();
    let time_to_all_served_s = match (start, outage) {
        // The outage's cost: the longest a host was without servable credentials.
        (_, Some(_)) => sim
            .hosts
            .iter()
            .map(|h| h.recovered_after)
            .fold(0.0, f64::max),
        _ => sim
            .hosts
            .iter()
            .filter_map(|h| h.first_served)
            .fold(0.0, f64::max),
    };
    let needed = |per_host: [f64; 3]| {
        per_host
            .iter()
            .zip(CATEGORIES.iter())
            .map(|(calls, (_, rate))| calls * n as f64 / rate)
            .fold(0.0, f64::max)
    };
    let lower_bound_s = match start {
        // The ramp itself, or the quotas if they are slower.
        Start::Ramp(over) if outage.is_none() => needed([2.0, 1.0, 1.0]).max(over),
        Start::Ramp(_) => 0.0,
        Start::ColdAll {
            identity_kept: false,
        } => needed([2.0, 1.0, 1.0]),
        Start::ColdAll {
            identity_kept: true,
        } => needed([2.0, 0.0, 1.0]),
        Start::Restored => 0.0,
    };
    let mut peak_rps = [0u32; 3];
    for second in &sim.cognito.per_second {
        for c in 0..3 {
            peak_rps[c] = peak_rps[c].max(second[c]);
        }
    }
    Report {
        scenario,
        hosts: n,
        time_to_all_served_s,
        lower_bound_s,
        calls: sim.cognito.calls,
        throttled: sim.cognito.throttled,
        throttled_late: sim.cognito.throttled_late,
        served_expired: sim.hosts.iter().filter(|h| h.served_expired).count(),
        gave_up,
        hosts_with_gap: sim.hosts.iter().filter(|h| h.gap).count(),
        peak_rps,
        wall_s: wall.elapsed().as_secs_f64(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // cargo bench passes --bench; cargo test (which builds and runs every target) does not.
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "fleet: a simulation; run it with `cargo bench --bench fleet -- [--quick] [--json]`"
        );
        return;
    }
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if flag("--help") || flag("-h") {
        println!("usage: cargo bench --bench fleet -- [--quick] [--json] [--hosts N,N] [--hours H] [--scenario NAME]");
        println!("scenarios: steady, power-cut, power-cut-id-kept, upgrade-fd-store, outage");
        return;
    }
    let quick = flag("--quick");
    let json = flag("--json");
    let hosts: Vec<usize> = value("--hosts")
        .map(|v| {
            v.split(',')
                .filter_map(|n| n.trim().replace('_', "").parse().ok())
                .collect()
        })
        .unwrap_or_else(|| {
            if quick {
                vec![1_000, 10_000]
            } else {
                vec![1_000, 10_000, 100_000]
            }
        });
    let hours: f64 = value("--hours")
        .and_then(|h| h.parse().ok())
        .unwrap_or(if quick { 6.0 } else { 24.0 });
    let only = value("--scenario");
    let day = hours * 3600.0;
    let restart_horizon = if quick { 4.0 * 3600.0 } else { 12.0 * 3600.0 };
    let mid = (day / 2.0).floor();
    let scenarios: [Scenario; 5] = [
        ("steady", Start::Ramp(3600.0), day, None),
        (
            "power-cut",
            Start::ColdAll {
                identity_kept: false,
            },
            restart_horizon,
            None,
        ),
        (
            "power-cut-id-kept",
            Start::ColdAll {
                identity_kept: true,
            },
            restart_horizon,
            None,
        ),
        ("upgrade-fd-store", Start::Restored, 2.0 * 3600.0, None),
        ("outage", Start::Ramp(3600.0), day, Some((mid, mid + 600.0))),
    ];
    if !json {
        println!("Fleet simulation: the daemon's renewal and back-off policy (cognitod::policy) on N hosts, Cognito quotas user_auth 120/s, get_id 25/s, get_credentials 200/s, one-hour credentials and tokens, {RTT_S} s round trip; steady and outage over {hours} h (outage of 10 min at {mid} s); power cuts counted until every host serves (at most {restart_horizon} s), the upgrade over 2 h.");
        println!();
        println!("| scenario | hosts | time to all served (s) | lower bound (s) | ratio | calls | throttled | throttled after 2 h | served expired | gave up | hosts with a gap | peak rps user_auth / get_id / get_credentials | simulation (s) |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    }
    for (name, start, horizon, outage) in &scenarios {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        for (i, &n) in hosts.iter().enumerate() {
            let report = simulate(name, n, *start, *horizon, *outage, 7 + i as u64);
            if json {
                println!("{}", report.json());
            } else {
                println!("{}", report.row());
            }
        }
    }
}
