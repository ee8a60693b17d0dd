//! cognitod: signs a Cognito user in, keeps AWS credentials fresh in memory, and hands them to the
//! programs of one machine over a unix socket, TCP and HTTP.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod activation;
pub mod check;
pub mod cli;
pub mod client;
pub(crate) mod clock;
pub mod cognito;
pub mod config;
pub mod configure;
pub mod credentials;
pub mod daemon;
pub(crate) mod documents;
pub mod expiry;
pub(crate) mod fd_state;
pub mod install;
pub mod instance;
pub(crate) mod listeners;
pub(crate) mod logging;
pub(crate) mod notify;
pub mod policy;
pub mod protocol;
pub mod secret;
pub mod serve;
pub mod transport;
