//! The wire protocol's words, shared by the daemon (`serve`) and its client (`cognitod get`), in
//! one file as bore keeps its protocol: the default socket, the header that carries the shared secret, and the error words both sides must agree on.

use hyper::header::HeaderName;

/// Where the unix socket is when nothing says otherwise, for the daemon and for `cognitod get`.
pub(crate) const DEFAULT_SOCKET_PATH: &str = "/run/cognitod.sock";

/// The HTTP header that carries the shared secret on `GET /`. A static, not a const, because a
/// custom name holds `Bytes`, which a const would copy at every use.
pub(crate) static SECRET_HEADER: HeaderName = HeaderName::from_static("cognito-api-key");

/// The `error` of a client that sent no secret or the wrong one.
pub(crate) const NOT_AUTHORIZED: &str = "not authorized";
/// The raw protocol's answer to such a client, and `GET /`'s body.
pub const NOT_AUTHORIZED_LINE: &[u8] = b"{\"error\":\"not authorized\"}\n";
/// How an `error` that refuses a client for a reason it can fix begins; the reason follows.
pub(crate) const REFUSED_PREFIX: &str = "not authorized: ";
/// How an `error` begins when the daemon has no credentials to give; the reason follows.
pub(crate) const UNAVAILABLE_PREFIX: &str = "credentials unavailable: ";

/// Why tcp and http refuse credentials when no shared secret is configured and the operator did
/// not opt in, with both fixes; the raw protocol's and `GET /`'s `error`, `/ecs`'s `Message`.
pub(crate) const NO_SECRET_REFUSAL: &str = "not authorized: this listener has no shared secret, and \
     without one any local process or forged request (SSRF) could take the credentials; set a \
     secret file (--auth-secret-file, global.auth_secret_file; cognitod configure --shared-secret \
     generate writes one), or accept the risk with --allow-no-secret (global.allow_no_secret: true)";

/// `{"error":"credentials unavailable: <reason>"}` and a newline.
pub(crate) fn unavailable_body(reason: &str) -> Vec<u8> {
    let mut body = serde_json::to_vec(&serde_json::json!({
        "error": format!("{UNAVAILABLE_PREFIX}{reason}")
    }))
    .expect("a JSON object of strings serializes");
    body.push(b'\n');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_line_is_the_not_authorized_error() {
        assert!(NO_SECRET_REFUSAL.starts_with(REFUSED_PREFIX));
        assert!(NOT_AUTHORIZED_LINE.starts_with(b"{\"error\":\"not authorized\""));
    }
}
