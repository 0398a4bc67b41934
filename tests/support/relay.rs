//! A TCP relay that a test can cut and restore, standing in for a network link that drops:
//! while cut, every connection through it is closed and new ones are refused (accepted and
//! closed at once), or, cut silently, accepted and never answered, as by a link that
//! swallows packets. Before a cut it can also lose what the target sends, as a link does
//! whose packets stop arriving before it is found dead.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Default)]
struct State {
    cut: AtomicBool,
    /// While cut, connections are held unanswered instead of closed.
    silent: AtomicBool,
    /// Connections accepted while cut silently; they stay unanswered.
    unanswered: Mutex<Vec<TcpStream>>,
    /// What the target sends is dropped, not relayed.
    losing: Arc<AtomicBool>,
    stopping: AtomicBool,
    /// Both ends of every connection relayed, so that a cut can close them.
    open: Mutex<Vec<TcpStream>>,
    /// Connections accepted and relayed, over the relay's life.
    connections: AtomicU64,
}

#[derive(Debug)]
pub struct CuttableRelay {
    pub port: u16,
    state: Arc<State>,
}

impl CuttableRelay {
    /// Relays connections to `127.0.0.1:target`.
    pub fn start(target: u16) -> CuttableRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay listens");
        let port = listener.local_addr().expect("relay address").port();
        let state = Arc::new(State::default());
        let accepting = state.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if accepting.cut.load(Ordering::SeqCst) {
                    if accepting.silent.load(Ordering::SeqCst) {
                        let mut unanswered = accepting
                            .unanswered
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        unanswered.push(client);
                    } else {
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let mut open = accepting.open.lock().unwrap_or_else(|p| p.into_inner());
                for stream in [&client, &server] {
                    if let Ok(clone) = stream.try_clone() {
                        open.push(clone);
                    }
                }
                drop(open);
                pump(&client, &server, None);
                pump(&server, &client, Some(accepting.losing.clone()));
            }
        });
        CuttableRelay { port, state }
    }

    /// Drops every connection and refuses new ones until [`CuttableRelay::restore`].
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        let mut open = self.state.open.lock().unwrap_or_else(|p| p.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Drops every connection; until [`CuttableRelay::restore`], new ones are accepted and
    /// never answered (nor closed).
    pub fn cut_silently(&self) {
        self.state.silent.store(true, Ordering::SeqCst);
        self.cut();
    }

    /// Relays new connections again; those held unanswered stay so.
    pub fn restore(&self) {
        self.state.losing.store(false, Ordering::SeqCst);
        self.state.silent.store(false, Ordering::SeqCst);
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// How many connections were accepted and left unanswered so far.
    pub fn unanswered(&self) -> usize {
        let unanswered = self.state.unanswered.lock();
        unanswered.unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Drops what the target sends on every connection from now until
    /// [`CuttableRelay::restore`]; the other way still works.
    pub fn lose_what_the_target_sends(&self) {
        self.state.losing.store(true, Ordering::SeqCst);
    }

    /// How many connections went through so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

impl Drop for CuttableRelay {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accepting thread so that it sees it must stop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies from `from` to `to` on a thread of its own until either side closes; while
/// `losing` is set, what it reads is dropped.
fn pump(from: &TcpStream, to: &TcpStream, losing: Option<Arc<AtomicBool>>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) if losing.as_ref().is_some_and(|l| l.load(Ordering::SeqCst)) => {}
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
