//! The HTTP listener, through hyper: routes, the `Cognito-Api-Key` secret, JSON bodies for every
//! answer, size caps and timeouts.
//!
//! Routes: `GET /` answers what the raw protocol answers; `GET /healthz` says how the daemon is
//! doing without any secret in it. Unknown paths are 404, other methods 405, a wrong or missing
//! secret 401, no credentials 503; every body is JSON.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::response::{document, error_response, json_response, Body, Format};
use super::{Context, Outcome};
use crate::credentials::{Phase, FIRST_ANSWER_WAIT};
use crate::protocol::{NOT_AUTHORIZED_LINE, NO_SECRET_REFUSAL, SECRET_HEADER, UNAVAILABLE_PREFIX};

/// Time a client has to send a complete request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head accepted (hyper answers 431 beyond it).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Longest a connection may stay open, keep-alive included, so idle clients cannot hold slots.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Time a connection told to close (its lifetime is nearly over, or a stop was asked for) has to
/// finish the answer in flight before it is cut: a client that reads gets it in milliseconds,
/// one that never reads would otherwise hold it open for ever.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The health document: nothing secret, enough to tell what is wrong.
#[derive(Serialize)]
struct Health<'a> {
    state: &'a str,
    expires_in_s: Option<u64>,
    last_error: Option<&'a str>,
}

fn health(ctx: &Context) -> Response<Body> {
    let snapshot = ctx.store.snapshot();
    let servable = snapshot.issued.as_ref().filter(|i| i.is_servable());
    let state = match (&snapshot.phase, servable) {
        (_, Some(_)) if snapshot.last_error.is_none() => "serving",
        (_, Some(_)) => "renewal-failing",
        (Phase::Starting, None) => "starting",
        (_, None) => "unavailable",
    };
    let doc = Health {
        state,
        expires_in_s: servable.map(|i| i.expiry.remaining().as_secs()),
        last_error: snapshot.last_error.as_deref(),
    };
    let mut body = serde_json::to_vec(&doc).expect("health serializes");
    body.push(b'\n');
    let status = if servable.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, Bytes::from(body))
}

/// Whether the request carries a body (no route accepts one): any Transfer-Encoding, or a
/// Content-Length other than 0.
fn has_body<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    match headers.get(CONTENT_LENGTH) {
        None => false,
        Some(value) => value.to_str().ok().and_then(|v| v.parse::<u64>().ok()) != Some(0),
    }
}

fn refused(status: StatusCode, message: &str, outcome: Outcome) -> (Response<Body>, Outcome) {
    (error_response(status, message), outcome)
}

fn method_not_allowed(allow: &'static str) -> (Response<Body>, Outcome) {
    let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    (response, Outcome::Malformed)
}

/// What a request needs once its head has been looked at.
///
/// Everything but waiting for the credentials is decided at once, in [`route`], which consumes
/// the request: its head points into hyper's read buffer, and hyper reads again (to notice a
/// close) before it polls the answer; a head still alive then makes it allocate a new buffer, on
/// every request of a keep-alive connection.
enum Route<B> {
    /// The answer is known: a refusal, the health document, a 404.
    Done((Response<Body>, Outcome)),
    /// `GET /` with the right secret: the credentials, once there are some.
    Credentials,
    /// `GET /ecs` with the right secret: the credentials in the container provider's shape.
    Container,
    /// Under `/latest/` with IMDS on; rare enough to keep the request whole.
    Imds(Request<B>),
}

/// Decides a request without waiting for anything; see [`Route`].
fn route<B>(request: Request<B>, ctx: &Context) -> Route<B> {
    if has_body(&request) {
        let mut response = error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted",
        );
        // The unread body would otherwise be drained to keep the connection: close it instead.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Route::Done((response, Outcome::Malformed));
    }
    // RFC 9112, 3.2: a server must answer 400 to an HTTP/1.1 request without Host.
    if request.version() == hyper::Version::HTTP_11 && !request.headers().contains_key(HOST) {
        return Route::Done(refused(
            StatusCode::BAD_REQUEST,
            "an HTTP/1.1 request needs a Host header",
            Outcome::Malformed,
        ));
    }
    // DNS rebinding: a page that makes evil.example resolve to 127.0.0.1 still says
    // Host: evil.example. A browser's cross-site request says so in Origin.
    let checked = ctx.http.check_target(request.uri());
    if let Err(why) = checked.and_then(|()| ctx.http.check_host_and_origin(request.headers())) {
        return Route::Done(refused(StatusCode::FORBIDDEN, &why, Outcome::Forbidden));
    }
    let path = request.uri().path();
    if path.starts_with("/latest/") {
        return match &ctx.http.imds {
            Some(_) => Route::Imds(request),
            None => Route::Done(imds_off()),
        };
    }
    match (path, request.method()) {
        ("/", &Method::GET) => match api_key_refusal(request.headers(), ctx) {
            None => Route::Credentials,
            Some(refusal) => Route::Done(refusal),
        },
        ("/ecs", &Method::GET) => match authorization_refusal(request.headers(), ctx) {
            None => Route::Container,
            Some(refusal) => Route::Done(refusal),
        },
        ("/healthz", &Method::GET) => Route::Done((health(ctx), Outcome::Health)),
        ("/" | "/healthz" | "/ecs", _) => Route::Done(method_not_allowed("GET")),
        _ => Route::Done(refused(
            StatusCode::NOT_FOUND,
            "not found",
            Outcome::NotFound,
        )),
    }
}

/// Completes a routed request, waiting for the credentials if it asked for them.
async fn answer<B>(route: Route<B>, ctx: &Context) -> (Response<Body>, Outcome) {
    match route {
        Route::Done(answer) => answer,
        Route::Credentials => credentials(ctx).await,
        Route::Container => container_credentials(ctx).await,
        Route::Imds(request) => match &ctx.http.imds {
            Some(imds) => super::imds::respond(&request, ctx, imds).await,
            None => imds_off(),
        },
    }
}

fn imds_off() -> (Response<Body>, Outcome) {
    refused(
        StatusCode::NOT_FOUND,
        "not found (IMDS is off; enable it with --imds)",
        Outcome::NotFound,
    )
}

/// `GET /`: the shared secret is the `Cognito-Api-Key` value. The refusal, if it is missing or
/// wrong.
fn api_key_refusal(headers: &HeaderMap, ctx: &Context) -> Option<(Response<Body>, Outcome)> {
    if ctx.refuses_without_secret() {
        return Some(refused(
            StatusCode::UNAUTHORIZED,
            NO_SECRET_REFUSAL,
            Outcome::NoSecretConfigured,
        ));
    }
    let secret = ctx.secret.as_ref()?;
    // The raw protocol's refusal, the same bytes `error_response` would build, from memory: a
    // wrong secret then costs about what the right one does (BENCHMARKS.md, secret timing).
    let not_authorized = || {
        json_response(
            StatusCode::UNAUTHORIZED,
            Bytes::from_static(NOT_AUTHORIZED_LINE),
        )
    };
    match headers.get(&SECRET_HEADER) {
        None => Some((not_authorized(), Outcome::MissingSecret)),
        Some(offered) if !secret.matches(offered.as_bytes()) => {
            Some((not_authorized(), Outcome::WrongSecret))
        }
        Some(_) => None,
    }
}

async fn credentials(ctx: &Context) -> (Response<Body>, Outcome) {
    match ctx.store.answer(FIRST_ANSWER_WAIT).await {
        Ok(issued) => (
            json_response(StatusCode::OK, document(issued, Format::Raw)),
            Outcome::Served,
        ),
        Err(reason) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{UNAVAILABLE_PREFIX}{reason}"),
            Outcome::Unavailable,
        ),
    }
}

/// An error in the container provider's shape, `{"Code","Message"}` and a newline: the JS SDK
/// copies `Code` and `Message` into its error (lower-case keys come out undefined there).
fn container_error(
    status: StatusCode,
    code: &str,
    message: &str,
    outcome: Outcome,
) -> (Response<Body>, Outcome) {
    let mut body = serde_json::to_vec(&serde_json::json!({ "Code": code, "Message": message }))
        .expect("a JSON object of strings serializes");
    body.push(b'\n');
    (json_response(status, Bytes::from(body)), outcome)
}

/// `GET /ecs`: the container credential provider. The shared secret is the whole `Authorization`
/// value, as SDKs send AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE). The refusal, if it is missing or
/// wrong.
fn authorization_refusal(headers: &HeaderMap, ctx: &Context) -> Option<(Response<Body>, Outcome)> {
    if ctx.refuses_without_secret() {
        return Some(container_error(
            StatusCode::UNAUTHORIZED,
            "AccessDenied",
            NO_SECRET_REFUSAL,
            Outcome::NoSecretConfigured,
        ));
    }
    let secret = ctx.secret.as_ref()?;
    let offered = headers.get(hyper::header::AUTHORIZATION);
    if offered.is_some_and(|v| secret.matches(v.as_bytes())) {
        return None;
    }
    let outcome = if offered.is_some() {
        Outcome::WrongSecret
    } else {
        Outcome::MissingSecret
    };
    Some(container_error(
        StatusCode::UNAUTHORIZED,
        "AccessDenied",
        "the Authorization header does not hold cognitod's shared secret (set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)",
        outcome,
    ))
}

async fn container_credentials(ctx: &Context) -> (Response<Body>, Outcome) {
    match ctx.store.answer(FIRST_ANSWER_WAIT).await {
        Ok(issued) if issued.documents.ecs.is_some() => (
            json_response(StatusCode::OK, document(issued, Format::Container)),
            Outcome::Served,
        ),
        Ok(_) => container_error(
            StatusCode::NOT_FOUND,
            "NotServingIamCredentials",
            "cognitod hands out Cognito tokens (credential_type tokens), not IAM credentials",
            Outcome::NotFound,
        ),
        Err(reason) => container_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CredentialsUnavailable",
            &format!("{UNAVAILABLE_PREFIX}{reason}"),
            Outcome::Unavailable,
        ),
    }
}

/// Serves one HTTP connection (keep-alive included) until it closes, its lifetime ends, or a stop
/// is asked for; returns the outcome of its last request.
pub async fn handle<S>(stream: S, ctx: Arc<Context>, mut stopping: watch::Receiver<bool>) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let last = Arc::new(std::sync::Mutex::new(Outcome::ClientGone));
    let seen = last.clone();
    // Signalled when a request head is in: a stop closes a connection only once it has one.
    let first_request = Arc::new(tokio::sync::Notify::new());
    let request_began = first_request.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        // `route` consumes the request: keep what the debug line names, and the time, only when
        // that line will be written (it is off at the default level, and this is paid per
        // request).
        let logged = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            let path: String = request.uri().path().chars().take(64).collect();
            (tokio::time::Instant::now(), request.method().clone(), path)
        });
        // Here, not in the future: the request's head is dropped before hyper reads again.
        let route = route(request, &ctx);
        let ctx = ctx.clone();
        let seen = seen.clone();
        request_began.notify_one();
        async move {
            let (response, outcome) = answer(route, &ctx).await;
            *seen.lock().expect("outcome lock is never poisoned") = outcome;
            if let Some((started, method, path)) = logged {
                tracing::debug!(
                    %method,
                    %path,
                    status = response.status().as_u16(),
                    outcome = ?outcome,
                    took_us = started.elapsed().as_micros() as u64,
                    "http request"
                );
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // The head's size cap (431 beyond it) is the buffer's. The number of headers is left at
        // hyper's default, 100 (431 beyond it too): with any other `max_headers` hyper builds
        // and fills its header arrays on every request instead of using uninitialised ones.
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        // A client may shut down its write side once its request is sent (`nc -N`, socat,
        // scripts): answer it, as the raw listeners do, instead of dropping the request.
        .half_close(true)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // Closing begins CLOSE_GRACE before the end of the lifetime, and the end is a hard one.
    let lifetime = tokio::time::sleep(CONNECTION_LIFETIME - CLOSE_GRACE);
    tokio::pin!(lifetime);
    let cut = tokio::time::sleep(CONNECTION_LIFETIME);
    tokio::pin!(cut);
    let mut draining = false;
    // A connection accepted before a stop is owed an answer to its first request, as the raw
    // protocol's are: closing it before that request is in would leave the client with nothing
    // (the next process cannot answer a connection this one accepted). Keep-alive connections
    // that have had an answer are closed when idle; hyper finishes a request in flight first.
    // The drain timeout (serve::DRAIN_TIMEOUT) and HEADER_READ_TIMEOUT bound the wait.
    let mut had_request = false;
    let mut stop_asked = false;
    loop {
        tokio::select! {
            _ = &mut connection => break,
            // Dropping the connection closes it, whatever it was waiting for.
            _ = &mut cut => break,
            _ = &mut lifetime, if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = stopping.wait_for(|s| *s), if !stop_asked => stop_asked = true,
            _ = first_request.notified(), if !had_request => had_request = true,
        }
        if stop_asked && had_request && !draining {
            connection.as_mut().graceful_shutdown();
            draining = true;
            let deadline = (tokio::time::Instant::now() + CLOSE_GRACE).min(cut.deadline());
            cut.as_mut().reset(deadline);
        }
    }
    let outcome = *last.lock().expect("outcome lock is never poisoned");
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    use crate::protocol::NOT_AUTHORIZED;

    #[tokio::test]
    async fn the_static_refusal_is_what_error_response_builds() {
        let built = error_response(StatusCode::UNAUTHORIZED, NOT_AUTHORIZED);
        let body = built.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, NOT_AUTHORIZED_LINE);
    }
}
