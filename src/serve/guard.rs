//! Who may talk to a listener at all: the Host and Origin checks that stop DNS rebinding and
//! cross-site requests from a browser on this machine, before any route is looked at, and the
//! allow-lists of unix-socket peers.

use std::net::Ipv4Addr;

use hyper::header::{HeaderMap, HOST, ORIGIN};

use super::imds::Imds;

/// Names every SDK uses for local credential endpoints, beside the loopback addresses.
const BUILT_IN_HOSTS: &[&str] = &["localhost", "[::1]", "169.254.169.254", "169.254.170.2"];

/// The http listener's policy.
pub struct HttpPolicy {
    /// Host header values accepted besides the built-in ones (lowercase, without port).
    pub allowed_hosts: Vec<String>,
    /// IMDSv2, when enabled.
    pub imds: Option<Imds>,
}

impl HttpPolicy {
    /// Refuses a request whose Host is not a local name (DNS rebinding: a web page made a name
    /// resolve to 127.0.0.1, but the browser still sends that name), or that carries an Origin
    /// from elsewhere (a browser's cross-site request). Returns why, for the 403.
    pub(crate) fn check_host_and_origin(&self, headers: &HeaderMap) -> Result<(), String> {
        let mut hosts = headers.get_all(HOST).iter();
        if let Some(host) = hosts.next() {
            // RFC 9112 3.2: refuse more than one, or a proxy and we could read different ones.
            if hosts.next().is_some() {
                return Err("more than one Host header".into());
            }
            let host = host.to_str().unwrap_or("");
            if !self.allows(host) {
                return Err(format!(
                    "Host {:?} is not a local name; use 127.0.0.1 or localhost (or add it with --allowed-host)",
                    host.chars().take(100).collect::<String>()
                ));
            }
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let host = origin
                .split_once("://")
                .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
                .unwrap_or("");
            if host.is_empty() || !self.allows(host) {
                return Err("cross-site requests are refused".into());
            }
        }
        Ok(())
    }

    /// Refuses an absolute-form request target (`GET http://name/ HTTP/1.1`) that names a host
    /// [`Self::check_host_and_origin`] would refuse: its authority replaces Host (RFC 9112 3.2.2).
    pub(crate) fn check_target(&self, uri: &hyper::Uri) -> Result<(), String> {
        match uri.authority() {
            Some(authority) if !self.allows(authority.as_str()) => Err(format!(
                "request target host {:?} is not a local name",
                authority.as_str().chars().take(100).collect::<String>()
            )),
            _ => Ok(()),
        }
    }

    /// Whether a Host value (with or without port) names this machine for our purposes.
    /// Names compare without regard to ASCII case, as DNS does, and without a lower-cased copy:
    /// this runs on every HTTP request.
    fn allows(&self, host: &str) -> bool {
        let name = strip_port(host);
        if name.is_empty() {
            return false;
        }
        if name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        BUILT_IN_HOSTS
            .iter()
            .copied()
            .chain(self.allowed_hosts.iter().map(String::as_str))
            .any(|known| known.eq_ignore_ascii_case(name))
    }
}

/// `name:port` -> `name`, `[::1]:80` -> `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Allow-lists for unix-socket peers, checked with SO_PEERCRED on every connection: a peer is let
/// in when its uid is listed or its primary gid is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Allowed uids.
    pub uids: Vec<u32>,
    /// Allowed primary gids.
    pub gids: Vec<u32>,
    /// The kernel's overflow uid and gid when the daemon runs in a user namespace that does not
    /// map every id (systemd's `PrivateUsers=`): SO_PEERCRED then reports every peer from
    /// outside it as these ids, which therefore name nobody in particular and are never allowed,
    /// even when listed (`nobody` would otherwise let every local user in).
    pub unmapped: Option<(u32, u32)>,
}

impl PeerPolicy {
    /// Whether a peer with these ids may connect.
    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        if self
            .unmapped
            .is_some_and(|(overflow_uid, overflow_gid)| uid == overflow_uid || gid == overflow_gid)
        {
            return false;
        }
        self.uids.contains(&uid) || self.gids.contains(&gid)
    }

    /// `unmapped` for the user namespace this process runs in: `None` when it maps every uid and
    /// gid (the host's namespace), else the overflow ids (`/proc/sys/kernel/overflow{u,g}id`).
    pub fn unmapped_ids_of_this_namespace() -> Option<(u32, u32)> {
        let maps_everyone = |map: &str| {
            std::fs::read_to_string(map).is_ok_and(|text| {
                text.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
            })
        };
        if maps_everyone("/proc/self/uid_map") && maps_everyone("/proc/self/gid_map") {
            return None;
        }
        let overflow = |file: &str| {
            std::fs::read_to_string(file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(65534)
        };
        Some((
            overflow("/proc/sys/kernel/overflowuid"),
            overflow("/proc/sys/kernel/overflowgid"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn policy() -> HttpPolicy {
        HttpPolicy {
            allowed_hosts: vec!["creds.internal".into()],
            imds: None,
        }
    }

    fn check(host: Option<&str>, origin: Option<&str>) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(HOST, HeaderValue::from_str(h).unwrap());
        }
        if let Some(o) = origin {
            headers.insert(ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        policy().check_host_and_origin(&headers)
    }

    #[test]
    fn local_names_pass_and_others_do_not() {
        for ok in [
            "127.0.0.1:8080",
            "127.1.2.3",
            "localhost",
            "LOCALHOST:80",
            "[::1]:8080",
            "169.254.169.254",
            "169.254.170.2:80",
            "creds.internal:8080",
            "Creds.Internal",
        ] {
            assert!(check(Some(ok), None).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1",
            "localhost.evil.example",
            "[::2]:80",
            "",
        ] {
            assert!(check(Some(bad), None).is_err(), "{bad}");
        }
        assert!(check(None, None).is_ok(), "HTTP/1.0 without Host");
    }

    #[test]
    fn cross_site_origins_are_refused() {
        assert!(check(Some("127.0.0.1"), Some("http://127.0.0.1:8080")).is_ok());
        for bad in [
            "http://evil.example",
            "null",
            "https://evil.example:443",
            "garbage",
        ] {
            assert!(check(Some("127.0.0.1"), Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn overflow_ids_are_never_allowed_in_a_partial_user_namespace() {
        let mut policy = PeerPolicy {
            uids: vec![1000, 65534],
            gids: vec![100],
            unmapped: None,
        };
        assert!(policy.allows(1000, 1000) && policy.allows(7, 100) && policy.allows(65534, 1));
        assert!(!policy.allows(7, 7));
        policy.unmapped = Some((65534, 65534));
        assert!(policy.allows(1000, 1000) && policy.allows(7, 100));
        assert!(
            !policy.allows(65534, 1),
            "a listed nobody would let everyone in"
        );
        assert!(!policy.allows(1000, 65534));
    }
}
