//! The client's stdio side: a child process, one JSON message per line each way. The child is
//! killed when the client is dropped.

use super::{ClientError, Inner};
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError, Weak};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub(crate) struct StdioWire {
    command: String,
    args: Vec<String>,
    inner: Weak<Inner>,
    stdin: tokio::sync::Mutex<Option<tokio::process::ChildStdin>>,
    child: Mutex<Option<tokio::process::Child>>,
    reader: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for StdioWire {
    fn drop(&mut self) {
        if let Some(task) = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl StdioWire {
    pub(crate) fn new(command: String, args: Vec<String>, inner: Weak<Inner>) -> Self {
        Self {
            command,
            args,
            inner,
            stdin: tokio::sync::Mutex::new(None),
            child: Mutex::new(None),
            reader: Mutex::new(None),
        }
    }

    /// Starts the command and the task that reads what it writes.
    pub(crate) async fn start(&self) -> Result<(), ClientError> {
        let mut child = tokio::process::Command::new(&self.command)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                ClientError::Transport(format!("`{}` could not start: {e}", self.command))
            })?;
        let stdout = child.stdout.take().ok_or(ClientError::Closed)?;
        *self.stdin.lock().await = child.stdin.take();
        *self.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        let weak = self.inner.clone();
        let max = weak.upgrade().map_or(16 << 20, |i| i.max_message());
        let task = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match (&mut lines)
                    .take(max as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.len() > max {
                    tracing::warn!("a message of the stdio server passed {max} bytes; closing");
                    break;
                }
                let Some(inner) = weak.upgrade() else { return };
                match serde_json::from_slice::<Value>(&line) {
                    Ok(message) => inner.incoming(message, None),
                    Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the stdio server wrote a line that is not JSON")
                    }
                }
            }
            // The server is gone (or broke the protocol): every request waiting for it fails,
            // and the next ones at once.
            if let Some(inner) = weak.upgrade() {
                inner.lock_pending().clear();
                if let super::Wire::Stdio(wire) = &inner.wire {
                    wire.close().await;
                }
            }
        });
        *self.reader.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        Ok(())
    }

    /// Closes the child's input and stops it.
    async fn close(&self) {
        self.stdin.lock().await.take();
        let child = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            let _ = child.start_kill();
        }
    }

    /// Writes one message.
    pub(crate) async fn send(&self, message: &Value) -> Result<(), ClientError> {
        let mut line = serde_json::to_vec(message).expect("messages serialize");
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        let pipe = stdin.as_mut().ok_or(ClientError::Closed)?;
        pipe.write_all(&line)
            .await
            .map_err(|_| ClientError::Closed)?;
        pipe.flush().await.map_err(|_| ClientError::Closed)
    }
}
