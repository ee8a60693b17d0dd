//! IMDSv2 on the http listener (opt-in), for clients that cannot use the container provider.
//!
//! Session tokens first (`PUT /latest/api/token`, a TTL of 1..21600 s, echoed back), then every
//! read carries one; IMDSv1 (no token) is refused, as is anything with X-Forwarded-For (a request
//! relayed by a proxy, the SSRF path IMDSv2 exists to close). Tokens are random, expire, and are
//! bounded in number so a client cannot grow the table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::response::{document, error_response, json_response, Body, Format};
use super::{Context, Outcome};
use crate::credentials::FIRST_ANSWER_WAIT;

/// Header of the TTL asked for and echoed back.
pub(crate) const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Header carrying the session token.
pub(crate) const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Longest token life EC2 allows.
pub(crate) const MAX_TTL: u64 = 21_600;
/// Tokens kept at once; the one expiring first makes room for a new one.
pub(crate) const MAX_TOKENS: usize = 1024;

/// The IMDS state: the role name and region it reports, and the live session tokens.
pub struct Imds {
    role: String,
    region: String,
    /// The live tokens by their SHA-256 digest: a token is handed to its client and never kept
    /// (a secret held once, in the client), and a lookup compares digests only.
    tokens: Mutex<HashMap<[u8; 32], Instant>>,
}

/// The key of a token in the table.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Imds {
    /// IMDS reporting `role` (the last part of the role ARN) and `region`.
    pub fn new(role_arn: Option<&str>, region: &str) -> Imds {
        let role = role_arn
            .and_then(|arn| arn.rsplit('/').next())
            .filter(|r| !r.is_empty())
            .unwrap_or("cognitod")
            .to_owned();
        Imds {
            role,
            region: region.to_owned(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A new random token valid for `ttl`.
    fn issue(&self, ttl: Duration) -> String {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(bytes.as_mut());
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
        let now = Instant::now();
        let mut tokens = self
            .tokens
            .lock()
            .expect("token table lock is never poisoned");
        tokens.retain(|_, expires| *expires > now);
        if tokens.len() >= MAX_TOKENS {
            if let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(t, _)| *t)
            {
                tokens.remove(&oldest);
            }
        }
        tokens.insert(digest(&token), now + ttl);
        token
    }

    /// Whether a token is live.
    fn valid(&self, token: &str) -> bool {
        let tokens = self
            .tokens
            .lock()
            .expect("token table lock is never poisoned");
        tokens
            .get(&digest(token))
            .is_some_and(|expires| *expires > Instant::now())
    }

    #[cfg(test)]
    fn live_tokens(&self) -> usize {
        self.tokens.lock().unwrap().len()
    }
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(http_body_util::Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Answers a request under `/latest/`.
pub(crate) async fn respond<B>(
    request: &Request<B>,
    ctx: &Context,
    imds: &Imds,
) -> (Response<Body>, Outcome) {
    let headers = request.headers();
    if headers.contains_key("x-forwarded-for") {
        return (
            error_response(
                StatusCode::FORBIDDEN,
                "requests relayed with X-Forwarded-For are refused",
            ),
            Outcome::Forbidden,
        );
    }
    let path = request.uri().path();
    if path == "/latest/api/token" {
        if request.method() != Method::PUT {
            return (
                error_response(StatusCode::METHOD_NOT_ALLOWED, "use PUT"),
                Outcome::Malformed,
            );
        }
        let ttl = headers
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ttl| (1..=MAX_TTL).contains(ttl));
        let Some(ttl) = ttl else {
            return (
                error_response(
                    StatusCode::BAD_REQUEST,
                    "X-aws-ec2-metadata-token-ttl-seconds must be 1..21600",
                ),
                Outcome::Malformed,
            );
        };
        let mut response = text(StatusCode::OK, imds.issue(Duration::from_secs(ttl)));
        response
            .headers_mut()
            .insert(TTL_HEADER, HeaderValue::from(ttl));
        return (response, Outcome::Health);
    }
    if request.method() != Method::GET {
        return (
            error_response(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
            Outcome::Malformed,
        );
    }
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    if !token.is_some_and(|t| imds.valid(t)) {
        // IMDSv1 (no token) and expired tokens alike: the SDK then asks for a new token.
        return (
            error_response(
                StatusCode::UNAUTHORIZED,
                "a live IMDSv2 session token is required",
            ),
            Outcome::MissingSecret,
        );
    }
    let role_path = path
        .strip_prefix("/latest/meta-data/iam/security-credentials/")
        .or_else(|| path.strip_prefix("/latest/meta-data/iam/security-credentials-extended/"));
    match (path, role_path) {
        (_, Some("")) => (text(StatusCode::OK, imds.role.clone()), Outcome::Health),
        (_, Some(role)) if role == imds.role => match ctx.store.answer(FIRST_ANSWER_WAIT).await {
            Ok(issued) if issued.documents.imds.is_some() => (
                json_response(StatusCode::OK, document(issued, Format::Instance)),
                Outcome::Served,
            ),
            Ok(_) => (
                error_response(
                    StatusCode::NOT_FOUND,
                    "cognitod hands out tokens, not IAM credentials",
                ),
                Outcome::NotFound,
            ),
            Err(reason) => (
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("{}{reason}", crate::protocol::UNAVAILABLE_PREFIX),
                ),
                Outcome::Unavailable,
            ),
        },
        ("/latest/meta-data/placement/region", _) => {
            (text(StatusCode::OK, imds.region.clone()), Outcome::Health)
        }
        ("/latest/dynamic/instance-identity/document", _) => {
            let body = serde_json::json!({ "region": imds.region }).to_string() + "\n";
            (
                json_response(StatusCode::OK, Bytes::from(body)),
                Outcome::Health,
            )
        }
        // Absent on purpose (README): no zone to report, a made-up one would mislead.
        ("/latest/meta-data/placement/availability-zone" | "/latest/meta-data/placement/availability-zone/", _) => (
            error_response(
                StatusCode::NOT_FOUND,
                "not found: cognitod has no availability zone; the region is at /latest/meta-data/placement/region",
            ),
            Outcome::NotFound,
        ),
        // Absent on purpose: there is no instance profile, and no SDK provider reads it.
        ("/latest/meta-data/iam/info" | "/latest/meta-data/iam/info/", _) => (
            error_response(
                StatusCode::NOT_FOUND,
                "not found: cognitod has no instance profile; the credentials are at /latest/meta-data/iam/security-credentials/",
            ),
            Outcome::NotFound,
        ),
        _ => (
            error_response(StatusCode::NOT_FOUND, "not found"),
            Outcome::NotFound,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_name_is_the_last_part_of_the_arn() {
        assert_eq!(
            Imds::new(Some("arn:aws:iam::1:role/path/Dev"), "r").role,
            "Dev"
        );
        assert_eq!(Imds::new(None, "r").role, "cognitod");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_expire_and_are_bounded_in_number() {
        let imds = Imds::new(None, "us-east-1");
        let short = imds.issue(Duration::from_secs(1));
        let long = imds.issue(Duration::from_secs(600));
        assert!(imds.valid(&short) && imds.valid(&long));
        assert!(!imds.valid("made-up"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!imds.valid(&short));
        assert!(imds.valid(&long));
        for _ in 0..(MAX_TOKENS * 2) {
            imds.issue(Duration::from_secs(60));
        }
        assert_eq!(imds.live_tokens(), MAX_TOKENS);
        assert_ne!(
            imds.issue(Duration::from_secs(1)),
            imds.issue(Duration::from_secs(1))
        );
    }
}
