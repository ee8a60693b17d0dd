//! `cognitod get`: the client to put in `credential_process`, so nobody depends on which netcat a
//! system has. Synchronous on purpose: it runs once per AWS CLI call, and a process that starts no
//! runtime answers in a few milliseconds.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::GetArgs;
use crate::protocol::{
    DEFAULT_SOCKET_PATH, NOT_AUTHORIZED, REFUSED_PREFIX, SECRET_HEADER, UNAVAILABLE_PREFIX,
};
use crate::secret::Secret;

/// Connecting to the daemon: it is local, so anything slower means it is not there.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Waiting for the answer: above the daemon's 3 s wait for a first sign-in, well under the SDKs'
/// 5 s credential timeout.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(3500);
/// Largest answer accepted (credentials are a few KiB).
const MAX_ANSWER: u64 = 64 * 1024;

/// The variable that may hold the shared secret (an argument would show in `ps`).
pub(crate) const SECRET_VARIABLE: &str = "COGNITOD_SECRET";

/// Why no credentials were printed; each says the cause and the fix in one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GetError {
    /// The daemon could not be reached.
    #[error("cannot reach cognitod at {target}: {cause}; {fix}")]
    Unreachable {
        /// Socket path or address.
        target: String,
        /// The system's words.
        cause: String,
        /// What to do.
        fix: Cow<'static, str>,
    },
    /// The daemon did not answer in time.
    #[error(
        "cognitod at {target} did not answer within {timeout:?}; check `journalctl -u cognitod`"
    )]
    Timeout {
        /// Socket path or address.
        target: String,
        /// The limit.
        timeout: Duration,
    },
    /// The shared secret was refused.
    #[error("cognitod refused the shared secret; give the right one with --secret-file or {SECRET_VARIABLE}")]
    NotAuthorized,
    /// The daemon refuses this transport for a reason of its own, named with its fix (no shared
    /// secret configured on tcp/http).
    #[error("cognitod refused: {0}")]
    Refused(String),
    /// The daemon has no credentials to give.
    #[error("cognitod has no credentials: {0}")]
    Unavailable(String),
    /// The answer is not credential_process JSON.
    #[error("unexpected answer from cognitod ({0}); is it serving IAM credentials (credential_type iam)?")]
    Malformed(String),
    /// The secret could not be read.
    #[error("cannot read the shared secret from {path}: {cause}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: String,
    },
}

/// `cognitod get`.
pub fn run(args: &GetArgs) -> ExitCode {
    match fetch(args) {
        Ok(document) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(document.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cognitod get: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The credential_process document from the daemon, checked.
pub fn fetch(args: &GetArgs) -> Result<String, GetError> {
    let secret = secret(args)?;
    let answer = if let Some(url) = &args.url {
        over_http(url, secret.as_ref())?
    } else if let Some(address) = &args.tcp {
        over_tcp(address, secret.as_ref())?
    } else {
        let path = match (&args.socket, &args.instance) {
            (Some(path), _) => path.clone(),
            (None, Some(instance)) => instance.socket_path(),
            (None, None) => PathBuf::from(DEFAULT_SOCKET_PATH),
        };
        over_unix(&path, secret.as_ref())?
    };
    check(answer)
}

fn secret(args: &GetArgs) -> Result<Option<Secret>, GetError> {
    if let Some(path) = &args.secret_file {
        let secret = crate::secret::read_file(path, crate::secret::Readers::OwnerAndGroup)
            .map_err(|e| GetError::Secret {
                path: path.clone(),
                cause: e.to_string(),
            })?;
        return Ok(Some(secret));
    }
    Ok(std::env::var(SECRET_VARIABLE)
        .ok()
        .filter(|s| !s.is_empty())
        .map(Secret::new))
}

fn unreachable(target: &str, err: &std::io::Error) -> GetError {
    use std::io::ErrorKind::*;
    let fix = match err.kind() {
        // An instance's socket: name its unit, which is what the administrator starts.
        NotFound => match instance_of(target) {
            Some(name) => Cow::Owned(format!(
                "is cognitod@{name} running? (systemctl enable --now cognitod@{name}.socket; \
                 cognitod configure --instance {name} writes its configuration)"
            )),
            None => "is cognitod running? (systemctl enable --now cognitod.socket, or give \
                     --socket)"
                .into(),
        },
        PermissionDenied => {
            "this user may not use the socket: join the socket's group (ls -l on it)".into()
        }
        ConnectionRefused => {
            "nothing listens there: start cognitod, or check --socket/--tcp".into()
        }
        _ => "check that cognitod runs and where it listens".into(),
    };
    GetError::Unreachable {
        target: target.to_owned(),
        cause: err.to_string(),
        fix,
    }
}

/// The instance whose socket `target` is (`/run/cognitod/NAME.sock`), if it is one.
fn instance_of(target: &str) -> Option<&str> {
    let name = target
        .strip_prefix(crate::instance::SOCKET_DIR)?
        .strip_prefix('/')?
        .strip_suffix(".sock")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn exchange(
    mut stream: impl Read + Write,
    target: &str,
    secret: Option<&Secret>,
) -> Result<String, GetError> {
    if let Some(secret) = secret {
        let mut line = zeroize::Zeroizing::new(secret.expose().as_bytes().to_vec());
        line.push(b'\n');
        stream
            .write_all(&line)
            .map_err(|e| unreachable(target, &e))?;
    }
    let mut answer = String::new();
    match stream.take(MAX_ANSWER).read_to_string(&mut answer) {
        Ok(_) => Ok(answer),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(GetError::Timeout {
                target: target.to_owned(),
                timeout: READ_TIMEOUT,
            })
        }
        Err(e) => Err(unreachable(target, &e)),
    }
}

fn over_unix(path: &Path, secret: Option<&Secret>) -> Result<String, GetError> {
    let target = path.display().to_string();
    // A unix connect does not block on a listening socket (it queues), so no connect timeout.
    let stream = UnixStream::connect(path).map_err(|e| unreachable(&target, &e))?;
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(|e| unreachable(&target, &e))?;
    exchange(stream, &target, secret)
}

fn over_tcp(address: &str, secret: Option<&Secret>) -> Result<String, GetError> {
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| unreachable(address, &e))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(READ_TIMEOUT))
                    .and_then(|_| stream.set_write_timeout(Some(READ_TIMEOUT)))
                    .map_err(|e| unreachable(address, &e))?;
                return exchange(stream, address, secret);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => unreachable(address, &e),
        None => GetError::Unreachable {
            target: address.to_owned(),
            cause: "the name has no address".into(),
            fix: "give --tcp HOST:PORT, e.g. 127.0.0.1:5500".into(),
        },
    })
}

fn over_http(url: &str, secret: Option<&Secret>) -> Result<String, GetError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // The daemon runs on this host: never through a proxy, whatever HTTP_PROXY, HTTPS_PROXY
        // or ALL_PROXY say (ureq follows them by default), or the secret and the credentials
        // would pass through it.
        .proxy(None)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(READ_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER.as_str(), secret.expose());
    }
    let mut response = request.call().map_err(|e| match e {
        ureq::Error::Timeout(_) => GetError::Timeout {
            target: url.to_owned(),
            timeout: READ_TIMEOUT,
        },
        ureq::Error::Io(io) => unreachable(url, &io),
        other => GetError::Unreachable {
            target: url.to_owned(),
            cause: other.to_string(),
            fix: "check the --url (http://127.0.0.1:8080/ by default)".into(),
        },
    })?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| GetError::Malformed(e.to_string()))
}

/// Passes a credential_process document on; turns the daemon's errors into ours.
pub fn check(answer: String) -> Result<String, GetError> {
    // JSON whitespace only (str::trim also strips Unicode spaces JSON forbids), and the text
    // checked is the text passed on.
    let document = answer.trim_matches([' ', '\t', '\n', '\r']);
    let value: serde_json::Value = serde_json::from_str(document)
        .map_err(|_| GetError::Malformed(format!("{} bytes that are not JSON", answer.len())))?;
    if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
        return Err(if error == NOT_AUTHORIZED {
            GetError::NotAuthorized
        } else if let Some(reason) = error.strip_prefix(REFUSED_PREFIX) {
            GetError::Refused(reason.escape_default().to_string())
        } else {
            // The daemon's words go to a terminal: one line, no control characters.
            GetError::Unavailable(
                error
                    .strip_prefix(UNAVAILABLE_PREFIX)
                    .unwrap_or(error)
                    .escape_default()
                    .to_string(),
            )
        });
    }
    if value.get("Version").and_then(|v| v.as_u64()) != Some(1) {
        return Err(GetError::Malformed("no \"Version\": 1".into()));
    }
    for key in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        if !value.get(key).is_some_and(|v| v.is_string()) {
            return Err(GetError::Malformed(format!("no {key}")));
        }
    }
    let mut document = document.to_owned();
    document.push('\n');
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_args(flags: &[&str]) -> Result<GetArgs, String> {
        use clap::Parser;
        let mut argv = vec!["cognitod", "get"];
        argv.extend_from_slice(flags);
        match crate::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())? {
            crate::cli::Cli {
                command: crate::cli::Command::Get(args),
            } => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_instance_is_reached_on_its_socket_and_its_name_is_checked() {
        let args = get_args(&["--instance", "nosuch-x9"]).unwrap();
        let err = fetch(&args).unwrap_err();
        assert!(
            matches!(&err, GetError::Unreachable { target, .. } if target == "/run/cognitod/nosuch-x9.sock"),
            "{err}"
        );
        assert!(
            err.to_string().contains(
                "is cognitod@nosuch-x9 running? (systemctl enable --now cognitod@nosuch-x9.socket"
            ),
            "{err}"
        );
        for (flags, says) in [
            (&["--instance", "../alice"][..], "'/' or '..'"),
            (
                &["--instance", "alice", "--socket", "/x.sock"][..],
                "cannot be used with",
            ),
            (
                &["--instance", "alice", "--url", "http://127.0.0.1/"][..],
                "cannot be used with",
            ),
        ] {
            let err = get_args(flags).unwrap_err();
            assert!(err.contains(says), "{flags:?}: {err}");
        }
    }

    #[test]
    fn passes_credentials_and_names_each_failure() {
        let good = r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(check(good.into()).unwrap(), format!("{good}\n"));
        assert_eq!(
            check("{\"error\":\"not authorized\"}\n".into()),
            Err(GetError::NotAuthorized)
        );
        assert_eq!(
            check("{\"error\":\"credentials unavailable: sign-in failed\"}".into()),
            Err(GetError::Unavailable("sign-in failed".into()))
        );
        // tcp without a configured secret: the daemon's reason and fix, passed on in one line.
        let refused =
            check("{\"error\":\"not authorized: no secret;\\nset one\"}".into()).unwrap_err();
        assert_eq!(refused, GetError::Refused("no secret;\\nset one".into()));
        assert!(!refused.to_string().contains('\n'));
        assert!(matches!(
            check("garbage".into()),
            Err(GetError::Malformed(_))
        ));
        assert!(matches!(
            check(r#"{"id_token":"x"}"#.into()),
            Err(GetError::Malformed(_))
        ));
        let no_secret = r#"{"Version":1,"AccessKeyId":"A","SessionToken":"T","Expiration":"x"}"#;
        assert!(check(no_secret.into())
            .unwrap_err()
            .to_string()
            .contains("SecretAccessKey"));
    }
}
