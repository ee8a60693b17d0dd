//! sd_notify messages captured on a datagram socket of the test's own, as systemd would read them.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Captures every sd_notify datagram the daemon sends.
pub struct NotifySocket {
    /// Where the daemon sends (its NOTIFY_SOCKET).
    pub path: PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    /// Binds `notify.sock` in `dir` and collects what arrives.
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        NotifySocket { path, messages }
    }

    /// Every message so far.
    pub fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until a message satisfies `check`; returns its index.
    pub fn wait_for(&self, what: &str, from: usize, check: impl Fn(&str) -> bool) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.all().iter().skip(from).position(|m| check(m)) {
                return from + i;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} message; got {:?}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
