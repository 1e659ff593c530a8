//! `POST /api/orders` over a pool of kept-alive HTTP/1.1 connections.
//!
//! The pool is the generator's own (hyper's connection API, not a ready-made
//! client), so a request that had to open a connection reports that setup
//! apart: like k6, `duration` is send + wait + receive only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::summary::Answer;

type Connection = SendRequest<Full<Bytes>>;

/// An idle connection is reused only this soon after its last answer: the
/// services close a connection idle for 5 s (actix's keep-alive), and a
/// request sent on one just as it closes fails for no fault of theirs.
const REUSE_WITHIN: Duration = Duration::from_secs(2);

/// Where the orders go, and the idle connections to get there.
pub struct Client {
    /// `host:port` to connect to, and the `Host` header.
    authority: String,
    /// `<base path>/api/orders`.
    path: String,
    timeout: Duration,
    /// Kept-alive connections and when each last answered.
    idle: Mutex<Vec<(Connection, Instant)>>,
}

impl Client {
    /// `url` is the order-service base URL (`http://host[:port][/prefix]`).
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Arc<Self>> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid --url {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--url must be a plain http:// URL, got {url:?}");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("--url {url:?} has no host"))?;
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Arc::new(Self {
            authority,
            path: format!("{}/api/orders", uri.path().trim_end_matches('/')),
            timeout,
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// Sends one order and classifies the answer; never fails: a transport
    /// error or a timeout is an answer with status 0.
    pub async fn place_order(&self, body: String) -> Answer {
        let started = Instant::now();
        let answer = tokio::time::timeout(self.timeout, self.exchange(body)).await;
        match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => Answer {
                status: 0,
                order_id: None,
                overloaded: false,
                duration: started.elapsed(),
                connecting: None,
            },
        }
    }

    async fn exchange(&self, body: String) -> anyhow::Result<Answer> {
        let (mut connection, connecting) = self.connection().await?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        let response = connection.send_request(request).await?;
        let (head, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        let duration = started.elapsed();
        // The answer was read to the end: the connection can serve the next one.
        if !connection.is_closed() {
            self.idle
                .lock()
                .expect("pool lock")
                .push((connection, Instant::now()));
        }
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .filter(|v| !v.is_null())
        };
        Ok(Answer {
            status: head.status.as_u16(),
            order_id: field("orderId")
                .and_then(Value::as_str)
                .filter(|_| head.status == StatusCode::ACCEPTED)
                .map(str::to_owned),
            overloaded: head.status == StatusCode::SERVICE_UNAVAILABLE
                && head.headers.contains_key(RETRY_AFTER)
                && field("error").and_then(Value::as_str) == Some("overloaded"),
            duration,
            connecting,
        })
    }

    /// An idle connection that is still usable, or a fresh one together with
    /// the time its setup took.
    async fn connection(&self) -> anyhow::Result<(Connection, Option<Duration>)> {
        loop {
            let idle = self.idle.lock().expect("pool lock").pop();
            match idle {
                Some((mut connection, answered_at)) => {
                    if answered_at.elapsed() < REUSE_WITHIN && connection.ready().await.is_ok() {
                        return Ok((connection, None));
                    }
                }
                None => break,
            }
        }
        let started = Instant::now();
        let stream = TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (connection, driver) = http1::handshake(TokioIo::new(stream)).await?;
        // Drives the connection until both ends are done with it.
        tokio::spawn(driver);
        Ok((connection, Some(started.elapsed())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gives_the_address_and_the_orders_path() {
        let client = Client::new("http://127.0.0.1:18080/", Duration::from_secs(1)).unwrap();
        assert_eq!(client.authority, "127.0.0.1:18080");
        assert_eq!(client.path, "/api/orders");
        let client = Client::new("http://orders.local/shop", Duration::from_secs(1)).unwrap();
        assert_eq!(client.authority, "orders.local:80");
        assert_eq!(client.path, "/shop/api/orders");
        assert!(Client::new("https://127.0.0.1:8080", Duration::from_secs(1)).is_err());
    }
}
