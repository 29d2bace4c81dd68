//! A minimal receiver for refinevad webhooks: verifies the signature, rejects stale
//! timestamps, de-duplicates by `Idempotency-Key`, prints each alert. Plain std
//! networking plus `sha2` (HMAC is written out below), so it is easy to copy.
//!
//! ```text
//! export REFINEVAD_WEBHOOK_SECRET=change-me
//! cargo run --release --example verify_webhook -- --port 8080 --secret-env REFINEVAD_WEBHOOK_SECRET
//! ```
//! Options: `--port P` (8080), `--secret-env VAR` (REFINEVAD_WEBHOOK_SECRET; unset or
//! empty = accept unsigned requests), `--tolerance-s S` (300), `--max-requests N` (stop
//! after N requests; default: run until killed).
//!
//! The check, as any receiver should do it:
//! 1. read `X-Refinevad-Timestamp` (Unix seconds) and `X-Refinevad-Signature` (`v1=<hex>`);
//! 2. reject when |now - timestamp| > tolerance (replays);
//! 3. compute HMAC-SHA256(secret, "{timestamp}.{raw body}") and compare in constant time;
//! 4. de-duplicate on `Idempotency-Key` (`{event_id}-{seq}`): delivery is at-least-once;
//! 5. answer 2xx quickly (the sender retries anything else but 4xx).
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new().chain_update(k.map(|b| b ^ 0x36)).chain_update(msg).finalize();
    Sha256::new().chain_update(k.map(|b| b ^ 0x5c)).chain_update(inner).finalize().into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit (no timing leak of how many bytes matched).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Ok(())` when the request is authentic and fresh; `Err((status, why))` otherwise.
fn verify(
    secret: &[u8],
    ts: Option<&str>,
    sig: Option<&str>,
    body: &[u8],
    tolerance_s: u64,
) -> Result<(), (u16, String)> {
    let (Some(ts), Some(sig)) = (ts, sig) else { return Err((400, "missing signature headers".into())) };
    let t: u64 = ts.trim().parse().map_err(|_| (400, "bad timestamp".to_string()))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    if now.abs_diff(t) > tolerance_s {
        return Err((400, format!("timestamp {t} is {} s away from now", now.abs_diff(t))));
    }
    let mut msg = ts.trim().as_bytes().to_vec();
    msg.push(b'.');
    msg.extend_from_slice(body);
    let want = format!("v1={}", hex(&hmac_sha256(secret, &msg)));
    if constant_time_eq(want.as_bytes(), sig.trim().as_bytes()) {
        Ok(())
    } else {
        Err((401, "bad signature".into()))
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_request(r: &mut BufReader<&TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut it = line.split_whitespace();
    let (method, path) = (it.next().unwrap_or("").to_owned(), it.next().unwrap_or("").to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if len > 1 << 20 {
        return Err(std::io::Error::other("body too large"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some(Request { method, path, headers, body }))
}

fn respond(mut s: &TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Error",
    };
    write!(s, "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}", text.len())
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = arg(&args, "--port").unwrap_or_else(|| "8080".into());
    let var = arg(&args, "--secret-env").unwrap_or_else(|| "REFINEVAD_WEBHOOK_SECRET".into());
    let tolerance: u64 = arg(&args, "--tolerance-s").and_then(|v| v.parse().ok()).unwrap_or(300);
    let max: Option<usize> = arg(&args, "--max-requests").and_then(|v| v.parse().ok());
    let secret = std::env::var(&var).ok().filter(|s| !s.is_empty());
    if secret.is_none() {
        eprintln!("warning: ${var} is not set: accepting unsigned requests");
    }
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    eprintln!("listening on http://{}/ (secret from ${var})", listener.local_addr()?);
    let mut seen: HashSet<String> = HashSet::new();
    let mut n = 0usize;
    for conn in listener.incoming() {
        let Ok(s) = conn else { continue };
        let mut r = BufReader::new(&s);
        // Keep-alive: serve requests on this connection until it closes.
        while let Ok(Some(req)) = read_request(&mut r) {
            n += 1;
            let (status, text) = if req.method != "POST" {
                (400, "POST only".to_string())
            } else if let Err((code, why)) = secret.as_ref().map_or(Ok(()), |k| {
                verify(
                    k.as_bytes(),
                    req.header("X-Refinevad-Timestamp"),
                    req.header("X-Refinevad-Signature"),
                    &req.body,
                    tolerance,
                )
            }) {
                (code, why)
            } else {
                let key = req.header("Idempotency-Key").unwrap_or("").to_owned();
                if !key.is_empty() && !seen.insert(key.clone()) {
                    (200, format!("duplicate {key} ignored"))
                } else {
                    // Here a real receiver pages someone / opens a ticket.
                    (200, format!("accepted {key}"))
                }
            };
            println!("{} {} -> {status} {text} {}", req.method, req.path, String::from_utf8_lossy(&req.body));
            respond(&s, status, &text)?;
            if max.is_some_and(|m| n >= m) {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_like_the_sender_signs() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
        let body = br#"{"event_id":"x"}"#;
        let mut msg = now.as_bytes().to_vec();
        msg.push(b'.');
        msg.extend_from_slice(body);
        let sig = format!("v1={}", hex(&hmac_sha256(b"k", &msg)));
        assert!(verify(b"k", Some(&now), Some(&sig), body, 300).is_ok());
        assert_eq!(verify(b"k", Some(&now), Some(&sig), b"{}", 300).unwrap_err().0, 401);
        assert_eq!(verify(b"k", Some("1"), Some(&sig), body, 300).unwrap_err().0, 400);
    }
}
