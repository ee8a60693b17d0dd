//! The transports the daemon serves on, under one name each. A module of its own, with no
//! dependency but clap, because build.rs compiles the command line (src/cli.rs) a second time to
//! write the man pages and completions.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;

/// A transport the daemon serves on. Its name is the same everywhere: flags, the config file,
/// unit names, systemd's FileDescriptorName= and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub enum Transport {
    /// A unix domain socket speaking the raw protocol.
    Unix,
    /// A TCP socket speaking the raw protocol.
    Tcp,
    /// A TCP socket speaking HTTP.
    Http,
}

impl Transport {
    /// Every transport, in the order they are listed to people.
    pub(crate) const ALL: [Transport; 3] = [Transport::Unix, Transport::Tcp, Transport::Http];

    /// The transport's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
            Transport::Http => "http",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no transport's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTransport;

/// The exact name (`unix`, `tcp`, `http`); the config file also takes other cases, through clap's
/// [`ValueEnum`].
impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or(UnknownTransport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_reads_back_from_its_name() {
        for t in Transport::ALL {
            assert_eq!(t.as_str().parse(), Ok(t));
            assert_eq!(<Transport as ValueEnum>::from_str(t.as_str(), true), Ok(t));
        }
        assert_eq!("ftp".parse::<Transport>(), Err(UnknownTransport));
    }
}
