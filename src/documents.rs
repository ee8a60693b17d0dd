//! The wire documents, rendered once per renewal: the raw protocol's credential_process (or
//! tokens) JSON, the container provider's JSON and the IMDS JSON. Serving then writes bytes that
//! already exist; nothing is serialized per request.

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::cognito::auth::Tokens;
use crate::cognito::identity::AwsCredentials;
use crate::expiry::Expiry;

/// What the refresher obtains: IAM credentials or the user-pool tokens.
#[derive(Debug, Clone)]
pub enum Material {
    /// Identity-pool credentials.
    Iam(AwsCredentials),
    /// User-pool tokens.
    Tokens(Tokens),
}

impl Material {
    /// When it expires.
    pub(crate) fn expiry(&self) -> Expiry {
        match self {
            Material::Iam(c) => c.expiry,
            Material::Tokens(t) => t.expiry,
        }
    }
}

/// Every format of one renewal's material, in zero-on-drop buffers.
pub struct Documents {
    /// The raw protocol (and `GET /`): one JSON document and a newline.
    pub raw: Zeroizing<Vec<u8>>,
    /// `GET /ecs`, the container credential provider; IAM mode only. Like every JSON answer, it
    /// ends with a newline (JSON parsers skip it).
    pub ecs: Option<Zeroizing<Vec<u8>>>,
    /// IMDS `security-credentials/<role>`; IAM mode only.
    pub imds: Option<Zeroizing<Vec<u8>>>,
}

/// The credential_process document.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessCredentials<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

/// The tokens document of the original tool.
#[derive(Serialize)]
struct TokenDocument<'a> {
    id_token: &'a str,
    access_token: &'a str,
    token_expires: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// What ECS answers (and every SDK's container provider reads).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
}

/// What EC2's instance metadata service answers for a role.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceCredentials<'a> {
    code: &'a str,
    last_updated: &'a str,
    #[serde(rename = "Type")]
    kind: &'a str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

/// Serializes into a buffer large enough never to reallocate, so no unzeroed copy of a secret is
/// left behind in freed memory.
fn render_json(value: &impl Serialize, newline: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(16 * 1024));
    serde_json::to_writer(&mut *out, value).expect("serializing strings into memory cannot fail");
    if newline {
        out.push(b'\n');
    }
    out
}

impl Documents {
    /// Renders every format of the material.
    pub fn render(material: &Material, expose_refresh_token: bool) -> Documents {
        match material {
            Material::Iam(c) => {
                let expiration = c.expiry.rfc3339();
                let issued_at = crate::expiry::rfc3339(OffsetDateTime::now_utc());
                Documents {
                    raw: render_json(
                        &ProcessCredentials {
                            version: 1,
                            access_key_id: &c.access_key_id,
                            secret_access_key: c.secret_access_key.expose(),
                            session_token: c.session_token.expose(),
                            expiration: &expiration,
                            account_id: c.account_id.as_deref(),
                        },
                        true,
                    ),
                    ecs: Some(render_json(
                        &ContainerCredentials {
                            access_key_id: &c.access_key_id,
                            secret_access_key: c.secret_access_key.expose(),
                            token: c.session_token.expose(),
                            expiration: &expiration,
                            account_id: c.account_id.as_deref(),
                            role_arn: c.role_arn.as_deref(),
                        },
                        true,
                    )),
                    imds: Some(render_json(
                        &InstanceCredentials {
                            code: "Success",
                            last_updated: &issued_at,
                            kind: "AWS-HMAC",
                            access_key_id: &c.access_key_id,
                            secret_access_key: c.secret_access_key.expose(),
                            token: c.session_token.expose(),
                            expiration: &expiration,
                            account_id: c.account_id.as_deref(),
                        },
                        true,
                    )),
                }
            }
            Material::Tokens(t) => Documents {
                raw: render_json(
                    &TokenDocument {
                        id_token: t.id_token.expose(),
                        access_token: t.access_token.expose(),
                        token_expires: &t.expiry.rfc3339(),
                        refresh_token: t
                            .refresh_token
                            .as_ref()
                            .filter(|_| expose_refresh_token)
                            .map(|s| s.expose()),
                    },
                    true,
                ),
                ecs: None,
                imds: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cognito::identity::AwsCredentials;
    use crate::expiry::Expiry;
    use crate::secret::Secret;
    use std::time::Duration;

    #[tokio::test]
    async fn container_and_instance_documents_carry_the_same_credentials() {
        let material = Material::Iam(AwsCredentials {
            access_key_id: "AKIAX".into(),
            secret_access_key: Secret::new("sk".into()),
            session_token: Secret::new("st".into()),
            expiry: Expiry::after(Duration::from_secs(3600)),
            account_id: Some("123456789012".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/Dev".into()),
        });
        let docs = Documents::render(&material, false);
        let ecs: serde_json::Value = serde_json::from_slice(docs.ecs.as_ref().unwrap()).unwrap();
        assert_eq!(ecs["AccessKeyId"], "AKIAX");
        assert_eq!(ecs["SecretAccessKey"], "sk");
        assert_eq!(ecs["Token"], "st");
        assert_eq!(ecs["AccountId"], "123456789012");
        assert_eq!(ecs["RoleArn"], "arn:aws:iam::123456789012:role/Dev");
        // Every JSON answer ends with a newline, as the README says.
        for doc in [
            &docs.raw,
            docs.ecs.as_ref().unwrap(),
            docs.imds.as_ref().unwrap(),
        ] {
            assert_eq!(doc.last(), Some(&b'\n'));
        }
        assert!(ecs["Expiration"].as_str().unwrap().ends_with('Z'));
        let imds: serde_json::Value = serde_json::from_slice(docs.imds.as_ref().unwrap()).unwrap();
        assert_eq!(imds["Code"], "Success");
        assert_eq!(imds["Type"], "AWS-HMAC");
        assert_eq!(imds["Token"], "st");
        assert_eq!(imds["Expiration"], ecs["Expiration"]);
        assert!(imds["LastUpdated"].as_str().unwrap().ends_with('Z'));
    }
}
