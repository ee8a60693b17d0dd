//! Single values typed into `cognitod configure` (or given as its flags), checked by the same
//! rules the configuration loader applies, so a value accepted there is accepted at start-up.

use super::error::{ConfigError, Origin};
use super::validate::{lookup, Kind};
use super::values::{self, Checked};

/// A question of `cognitod configure`, named by the flag that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Question {
    UserPoolId,
    IdentityPoolId,
    Region,
    RoleArn,
    Permissions,
    /// A user of this system, by name or uid.
    SocketUser,
    /// A group of this system, by name or gid.
    SocketGroup,
    /// Anything but empty (`--app-id`, `--username`).
    Required(&'static str),
}

/// Checks one answer; the error names the flag that answers the question and how to write it.
pub(crate) fn check_answer(question: Question, text: &str) -> Result<(), ConfigError> {
    type Check = fn(&str, &Origin) -> Checked<()>;
    // Users and groups are looked up now, as serve would: one that does not exist is refused as it
    // is typed, not when the whole configuration is checked at the end.
    let (name, check): (_, Check) = match question {
        Question::UserPoolId => ("--user-pool-id", |t, at| {
            values::user_pool_id(t, at).map(drop)
        }),
        Question::IdentityPoolId => ("--identity-pool-id", |t, at| {
            values::identity_pool_id(t, at).map(drop)
        }),
        Question::Region => ("--region", |t, at| values::region(t, at).map(drop)),
        Question::RoleArn => ("--role-arn", |t, at| values::role_arn(t, at).map(drop)),
        Question::Permissions => ("--permissions", |t, at| {
            values::permissions(t, at).map(drop)
        }),
        Question::SocketUser => ("-u/--user", |t, at| {
            lookup(&values::principal(t, at)?, at, Kind::User).map(drop)
        }),
        Question::SocketGroup => ("-g/--group", |t, at| {
            lookup(&values::principal(t, at)?, at, Kind::Group).map(drop)
        }),
        Question::Required(flag) => (flag, |t, at| values::non_empty(t, at).map(drop)),
    };
    check(text, &Origin::Flag { name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_like_configuration_values() {
        assert!(check_answer(Question::UserPoolId, "us-east-1_AbC123").is_ok());
        let err = check_answer(Question::UserPoolId, "AbC123")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--user-pool-id"), "{err}");
        assert!(check_answer(Question::Permissions, "0660").is_ok());
        assert!(check_answer(Question::Permissions, "9").is_err());
        assert!(check_answer(Question::RoleArn, "role").is_err());
        assert!(check_answer(Question::Required("--username"), "").is_err());
        assert!(check_answer(Question::SocketGroup, "root").is_ok());
        assert!(check_answer(Question::SocketUser, "0").is_ok());
        let err = check_answer(Question::SocketGroup, "no-such-group-x9")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no group named") && err.contains("-g/--group"),
            "{err}"
        );
    }
}
