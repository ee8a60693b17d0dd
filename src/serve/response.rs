//! The HTTP responses both HTTP handlers build (`http` for `/` and `/ecs`, `imds` for the
//! instance metadata paths): JSON bodies, and bodies that point into the rendered documents.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::credentials::Issued;

/// The body type of every response.
pub(crate) type Body = Full<Bytes>;

/// Lets a response body point into the zero-on-drop answer instead of copying it.
struct IssuedBytes(Arc<Issued>, Format);

impl AsRef<[u8]> for IssuedBytes {
    fn as_ref(&self) -> &[u8] {
        let documents = &self.0.documents;
        let empty: &[u8] = &[];
        match self.1 {
            Format::Raw => &documents.raw,
            Format::Container => documents.ecs.as_deref().map_or(empty, |d| d.as_slice()),
            Format::Instance => documents.imds.as_deref().map_or(empty, |d| d.as_slice()),
        }
    }
}

/// A response with a JSON body.
pub(super) fn json_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"error": message}` and a newline, with `status`.
pub(super) fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let mut body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .expect("a JSON object of strings serializes");
    body.push(b'\n');
    json_response(status, Bytes::from(body))
}

/// Which rendered document to send.
#[derive(Clone, Copy)]
pub(super) enum Format {
    Raw,
    Container,
    Instance,
}

/// A response body pointing into the zero-on-drop document, without a copy.
pub(super) fn document(issued: Arc<Issued>, format: Format) -> Bytes {
    Bytes::from_owner(IssuedBytes(issued, format))
}
