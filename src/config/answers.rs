//! Single values typed into `cognitod configure` (or given as its flags), checked by the same
//! rules the configuration loader applies, so a value accepted there is accepted at start-up.

use super::error::ConfigError;
use super::error::Origin;
use super::validate::{lookup, Kind};
use super::values;

/// A question of `cognitod configure`, named by the flag that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Question {
    /// `--user-pool-id`.
    UserPoolId,
    /// `--identity-pool-id`.
    IdentityPoolId,
    /// `--region`.
    Region,
    /// `--role-arn`.
    RoleArn,
    /// `--permissions`.
    Permissions,
    /// `-u/--user`: a user of this system, by name or uid.
    SocketUser,
    /// `-g/--group`: a group of this system, by name or gid.
    SocketGroup,
    /// `--app-id` or `--username`: anything but empty.
    Required(&'static str),
}

impl Question {
    /// The flag that answers it.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Question::UserPoolId => "--user-pool-id",
            Question::IdentityPoolId => "--identity-pool-id",
            Question::Region => "--region",
            Question::RoleArn => "--role-arn",
            Question::Permissions => "--permissions",
            Question::SocketUser => "-u/--user",
            Question::SocketGroup => "-g/--group",
            Question::Required(flag) => flag,
        }
    }
}

/// Checks one answer; the error says what is wrong and how to write it.
pub(crate) fn check_answer(question: Question, text: &str) -> Result<(), ConfigError> {
    let at = Origin::Flag {
        name: question.flag(),
    };
    match question {
        Question::UserPoolId => values::user_pool_id(text, &at).map(drop),
        Question::IdentityPoolId => values::identity_pool_id(text, &at).map(drop),
        Question::Region => values::region(text, &at).map(drop),
        Question::RoleArn => values::role_arn(text, &at).map(drop),
        Question::Permissions => values::permissions(text, &at).map(drop),
        // Looked up now, as serve would: a group that does not exist is refused as it is typed,
        // not when the whole configuration is checked at the end.
        Question::SocketUser | Question::SocketGroup => {
            let kind = match question {
                Question::SocketUser => Kind::User,
                _ => Kind::Group,
            };
            let value = values::principal(text, &at)?;
            lookup(&value, &at, kind).map(drop)
        }
        Question::Required(_) => values::non_empty(text, &at).map(drop),
    }
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
