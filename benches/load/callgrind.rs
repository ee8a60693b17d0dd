//! Reads callgrind's output format (valgrind's docs, "Callgrind Format Specification") into
//! instructions per function and per crate. callgrind_annotate 3.19 attributes the whole of a
//! dump taken with `callgrind_control --dump` to `clone` (the threads' root), so the file is read
//! here instead.

use std::collections::HashMap;
use std::path::Path;

/// Instructions of one dump.
#[derive(Debug, Default)]
pub struct Profile {
    /// Everything counted.
    pub total: u64,
    /// Per function: (own instructions, instructions including callees).
    pub functions: HashMap<String, (u64, u64)>,
}

impl Profile {
    /// Parses a callgrind output file (event `Ir` only, as callgrind writes it by default).
    pub fn read(path: &Path) -> Profile {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut profile = Profile::default();
        let mut names: HashMap<String, String> = HashMap::new();
        let mut current = String::new();
        let mut call_pending = false;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("fn=") {
                current = resolve(&mut names, rest);
                continue;
            }
            if let Some(rest) = line.strip_prefix("cfn=") {
                resolve(&mut names, rest);
                continue;
            }
            if line.starts_with("calls=") {
                call_pending = true;
                continue;
            }
            if let Some(rest) = line
                .strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
            {
                profile.total = rest.trim().parse().unwrap_or(profile.total);
                continue;
            }
            let first = line.as_bytes().first().copied().unwrap_or(b' ');
            if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'*') {
                continue;
            }
            // "position cost": one position column (line), one event (Ir).
            let cost: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let entry = profile.functions.entry(current.clone()).or_default();
            if call_pending {
                entry.1 += cost;
                call_pending = false;
            } else {
                entry.0 += cost;
                entry.1 += cost;
            }
        }
        profile
    }

    /// Own instructions summed per crate (the first path segment of the function's name).
    pub fn by_crate(&self) -> HashMap<String, u64> {
        let mut crates: HashMap<String, u64> = HashMap::new();
        for (name, (own, _)) in &self.functions {
            *crates.entry(crate_of(name)).or_default() += own;
        }
        crates
    }
}

/// `(id) name` defines a compressed name, `(id)` refers to one, a bare name is itself.
fn resolve(names: &mut HashMap<String, String>, field: &str) -> String {
    let field = field.trim();
    if let Some(rest) = field.strip_prefix('(') {
        if let Some((id, name)) = rest.split_once(')') {
            let name = name.trim();
            if name.is_empty() {
                return names.get(id).cloned().unwrap_or_else(|| id.to_owned());
            }
            names.insert(id.to_owned(), name.to_owned());
            return name.to_owned();
        }
    }
    field.to_owned()
}

/// The crate a (demangled) Rust function belongs to: `tokio` for
/// `<tokio::time::sleep::Sleep as core::future::Future>::poll`; C functions are `libc`, `[kernel
/// or unknown]` for addresses.
pub fn crate_of(name: &str) -> String {
    let name = name.trim_start_matches('<').trim_start_matches('&');
    let name = name.strip_prefix("mut ").unwrap_or(name);
    let name = name.strip_prefix("dyn ").unwrap_or(name);
    if name.starts_with("0x") {
        return "(no symbol)".into();
    }
    match name.split_once("::") {
        Some((krate, _)) if !krate.contains([' ', '(', '<', '>']) => krate.to_owned(),
        _ => "libc and other C".into(),
    }
}
