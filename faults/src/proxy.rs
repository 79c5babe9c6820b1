//! A TCP proxy between the components and a server, for the faults that
//! `tc netem` would inject where it is available: a pause (bytes are held,
//! connections stay open, as in a partition) and a cut (every connection is
//! reset and new ones are refused, as when the server's host goes away).

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards everything.
    Pass,
    /// Holds every byte in both directions; connections stay open.
    Pause,
    /// Closes every connection and refuses new ones.
    Cut,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy")?;
        let port = listener.local_addr()?.port();
        let (mode, rx) = watch::channel(Mode::Pass);
        let task = tokio::spawn(accept(listener, upstream, rx));
        Ok(Self { port, mode, task })
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: u16, mode: watch::Receiver<Mode>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *mode.borrow() == Mode::Cut {
            drop(client);
            continue;
        }
        let mode = mode.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::select! {
                () = pump(cr, sw, mode.clone()) => {}
                () = pump(sr, cw, mode) => {}
            }
        });
    }
}

/// Copies one direction until either side closes or the proxy cuts.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Wait out a pause before reading, so nothing moves while paused.
        if !passing(&mut mode).await {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        // A pause that began while reading holds these bytes too.
        if !passing(&mut mode).await {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits out a pause: true once traffic passes, false when cut.
async fn passing(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Pass => return true,
            Mode::Cut => return false,
            Mode::Pause => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}
