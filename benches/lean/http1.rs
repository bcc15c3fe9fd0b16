//! A lean HTTP/1.1 keep-alive client for load generation over plain TCP.
//!
//! The load generator shares the machine's cores with the server it measures, so every
//! microsecond it spends is taken from the server. A general client (connection pool,
//! header maps, redirects, body streams) costs several times what the server spends on a
//! small request; this one writes a request prepared once as bytes and parses only what
//! a check needs: the status, the head as text and a `Content-Length` or chunked body.
//! It is for loopback benchmarks only: no TLS, no proxy, no `Expect`, no upgrades.

#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One answer: its status, its head (status line and headers, as sent) and body.
pub struct Answer<'a> {
    pub status: u16,
    head: &'a [u8],
    pub body: &'a [u8],
}

impl Answer<'_> {
    /// The first value of header `name` (ASCII, any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = std::str::from_utf8(self.head).ok()?;
        head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed, then the current answer.
    buf: Vec<u8>,
    /// Where the current answer's head and body lie in `buf`.
    head: std::ops::Range<usize>,
    body: Vec<u8>,
    /// Bytes of `buf` that belong to the next answer (a server may not send them early,
    /// but a parser must not lose them).
    taken: usize,
}

impl Conn {
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .context("connecting timed out")??;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buf: Vec::with_capacity(16 * 1024), head: 0..0, body: Vec::new(), taken: 0 })
    }

    /// Sends `request` (a whole HTTP/1.1 request with `Host` and, for a body,
    /// `Content-Length`) and reads its answer.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<Answer<'_>> {
        self.stream.write_all(request).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> anyhow::Result<Answer<'_>> {
        self.buf.drain(..self.taken);
        self.taken = 0;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        self.head = 0..head_end;
        let head = std::str::from_utf8(&self.buf[..head_end]).context("the head is not text")?;
        let status: u16 = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse().ok())
            .context("no HTTP/1.1 status line")?;
        let mut length = None;
        let mut chunked = false;
        for line in head.split("\r\n").skip(1) {
            let Some((n, v)) = line.split_once(':') else { continue };
            if n.eq_ignore_ascii_case("content-length") {
                length = Some(v.trim().parse::<usize>().context("bad Content-Length")?);
            } else if n.eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
        self.body.clear();
        let mut at = head_end;
        if chunked {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf[at..], b"\r\n") {
                        break at + i;
                    }
                    self.fill().await?;
                };
                let size_text = std::str::from_utf8(&self.buf[at..line_end])?;
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .context("bad chunk size")?;
                at = line_end + 2;
                while self.buf.len() < at + size + 2 {
                    self.fill().await?;
                }
                self.body.extend_from_slice(&self.buf[at..at + size]);
                at += size + 2;
                if size == 0 {
                    break;
                }
            }
        } else {
            let n =
                if (100..200).contains(&status) || status == 204 || status == 304 { 0 } else { length.unwrap_or(0) };
            while self.buf.len() < at + n {
                self.fill().await?;
            }
            self.body.extend_from_slice(&self.buf[at..at + n]);
            at += n;
        }
        self.taken = at;
        Ok(Answer { status, head: &self.buf[self.head.clone()], body: &self.body })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let len = self.buf.len();
        if self.buf.capacity() - len < 4096 {
            self.buf.reserve(16 * 1024);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        ensure!(self.buf.len() < 16 * 1024 * 1024, "an answer over 16 MiB");
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request as bytes: `method` `path` with these headers and body; `Host` is added.
pub fn request(method: &str, host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        r.push_str(n);
        r.push_str(": ");
        r.push_str(v);
        r.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
