//! What Cognito (or whoever answers in its place) sends back: the daemon's real upstream,
//! `cognitod::credentials::CognitoUpstream::obtain`, over the AWS SDK clients it uses, with the
//! SDK's HTTP client replaced by one that answers each call with the next fuzzed response. This
//! reaches, as the daemon runs them: InitiateAuth (USER_PASSWORD_AUTH and USER_SRP_AUTH), the
//! PASSWORD_VERIFIER challenge and the SRP arithmetic on its SALT/SRP_B/SECRET_BLOCK,
//! RespondToAuthChallenge, REFRESH_TOKEN_AUTH, the ID token's claims (`exp`,
//! `cognito:username`), GetId, GetCredentialsForIdentity, GetOpenIdToken, STS
//! AssumeRoleWithWebIdentity, the error classification, and the rendering of what was obtained
//! into the documents clients receive.
//!
//! Input (UTF-8): a first line of words choosing the flow, then the responses, separated by lines
//! `--`. Flow words: `srp` (else USER_PASSWORD_AUTH); `enhanced` or `classic` (IAM credentials
//! through the identity pool, else tokens mode); `again` (obtain twice: the second time refreshes
//! or re-uses the tokens). A response is a first line with the HTTP status (200 if it is not a
//! number) and the body. Inside a body, `JWT(...)JWT` is replaced by a JWT whose payload is the
//! base64url of the text between, so that the claims can be fuzzed as plain JSON. When the
//! responses run out, the client's connection fails, as when Cognito is unreachable.
//!
//! Checked: no panic; an error never shows the password or the client secret; what was obtained
//! renders into valid JSON documents.
//!
//! A USER_SRP_AUTH sign-in costs about 0.2 s here (the daemon draws a fresh 1024-bit private value
//! each time, and the 3072-bit exponentiations are instrumented), a password one under 1 ms, so
//! fuzz/run.sh weights inputs by speed for this target; the SRP arithmetic itself gets its own
//! target, srp_challenge.

#![no_main]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cognitod::cognito::auth::UserPool;
use cognitod::cognito::{Sdk, ServerClock};
use cognitod::cognito::identity::IdentityPool;
use cognitod::config::{AuthType, CognitoConfig, IdentityFlow};
use cognitod::credentials::{CognitoUpstream, Issued, Material, Upstream};
use cognitod::secret::Secret;
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "fuzz-Passw0rd-9Kd";
const CLIENT_SECRET: &str = "fuzz-client-secret-4Hq";
const REGION: &str = "eu-west-1";

/// The responses still to be given, shared by the canned client and the target.
type Script = Arc<Mutex<VecDeque<(u16, Vec<u8>)>>>;

/// Answers each call with the next scripted response; fails to connect when there is none.
#[derive(Debug, Clone)]
struct Canned(Script);

impl HttpConnector for Canned {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let next = self.0.lock().expect("script lock").pop_front();
        HttpConnectorFuture::ready(match next {
            Some((status, body)) => Ok(Response::new(
                StatusCode::try_from(status).expect("status is 100..=999"),
                SdkBody::from(body),
            )),
            None => Err(ConnectorError::io(
                "connection refused (no more responses)".into(),
            )),
        })
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    sdk: Sdk,
    script: Script,
}

/// The runtime and the SDK configuration, made once: as `cognito::sdk_config` makes it (no
/// credentials, no SDK retries), with the canned client in place of the HTTPS one.
fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let script = Script::default();
        let canned = Canned(script.clone());
        let sdk = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .no_credentials()
                .retry_config(RetryConfig::disabled())
                .http_client(http_client_fn(move |_, _| {
                    SharedHttpConnector::new(canned.clone())
                }))
                .load(),
        );
        Harness {
            runtime,
            sdk: Sdk {
                config: sdk,
                server_clock: ServerClock::default(),
            },
            script,
        }
    })
}

fn settings(auth_type: AuthType, auth_flow: IdentityFlow) -> Arc<CognitoConfig> {
    Arc::new(CognitoConfig {
        username: "fuzz-user@example.com".into(),
        password: Secret::new(PASSWORD.into()),
        app_id: "4fuzzappclient0000000000".into(),
        client_secret: Some(Secret::new(CLIENT_SECRET.into())),
        totp_secret: None,
        user_pool_id: "eu-west-1_FuzzPool1".into(),
        identity_pool_id: Some("eu-west-1:11111111-2222-3333-4444-555555555555".into()),
        region: REGION.into(),
        role_arn: Some("arn:aws:iam::123456789012:role/Fuzz".into()),
        auth_type,
        metadata: BTreeMap::from([("team".into(), "fuzz".into())]),
        auth_flow,
        role_session_name: "cognitod".into(),
        role_expiry_time: Duration::from_secs(3600),
    })
}

/// `JWT(claims)JWT` -> `header.base64url(claims).signature`.
fn expand_jwts(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("JWT(") {
        let Some(len) = rest[start + 4..].find(")JWT") else {
            break;
        };
        out.push_str(&rest[..start]);
        let claims = &rest[start + 4..start + 4 + len];
        out.push_str("eyJraWQiOiJmdXp6IiwiYWxnIjoiUlMyNTYifQ.");
        out.push_str(&URL_SAFE_NO_PAD.encode(claims));
        out.push_str(".ZnV6ei1zaWduYXR1cmU");
        rest = &rest[start + 4 + len + 4..];
    }
    out.push_str(rest);
    out
}

fn response(text: &str) -> (u16, Vec<u8>) {
    let (status, body) = text.split_once('\n').unwrap_or((text, ""));
    let status = status
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .unwrap_or(200);
    (status, expand_jwts(body).into_bytes())
}

fn check_material(material: &Material) {
    let issued = Issued::render(material, true);
    let documents = &issued.documents;
    for document in [
        Some(&documents.raw),
        documents.ecs.as_ref(),
        documents.imds.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        serde_json::from_slice::<serde_json::Value>(document).expect("a rendered document is JSON");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (flow, responses) = text.split_once('\n').unwrap_or((text, ""));
    let auth_type = if flow.contains("srp") {
        AuthType::UserSrp
    } else {
        AuthType::UserPassword
    };
    let identity_flow = if flow.contains("classic") {
        Some(IdentityFlow::Classic)
    } else if flow.contains("enhanced") {
        Some(IdentityFlow::Enhanced)
    } else {
        None
    };
    let attempts = if flow.contains("again") { 2 } else { 1 };

    let harness = harness();
    {
        let mut script = harness.script.lock().expect("script lock");
        script.clear();
        script.extend(responses.split("\n--\n").map(response));
    }
    let settings = settings(auth_type, identity_flow.unwrap_or(IdentityFlow::Enhanced));
    let pool = UserPool::new(&harness.sdk, settings.clone());
    let identity = identity_flow.map(|_| IdentityPool::new(&harness.sdk, settings));
    let mut upstream = CognitoUpstream::new(pool, identity);
    harness.runtime.block_on(async {
        for _ in 0..attempts {
            match upstream.obtain().await {
                Ok(material) => {
                    if cognitod_fuzz::debug() {
                        eprintln!("obtained {material:?}");
                    }
                    check_material(&material);
                }
                Err(err) => {
                    if cognitod_fuzz::debug() {
                        eprintln!("failed: {err}");
                    }
                    let message = err.to_string();
                    for secret in [PASSWORD, CLIENT_SECRET] {
                        assert!(!message.contains(secret), "a secret in an error: {message}");
                    }
                }
            }
        }
    });
});
