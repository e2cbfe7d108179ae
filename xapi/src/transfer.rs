//! Raw VDI transfer over XAPI's HTTP handlers: `PUT /import_raw_vdi` and
//! `GET /export_raw_vdi`.
//!
//! The upload creates a task with `task.create`, sends the whole image with a
//! `Content-Length` (XAPI refuses chunked transfer encoding), follows a `302` to the host
//! that can reach the VDI's SR, and takes the outcome from the task, as XAPI reports
//! success and failure there. The session id travels in the query string, so URLs are
//! never logged and are stripped from every error.

use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::refs::{TaskRef, VdiRef};

const MAX_HTTP_REDIRECTS: usize = 3;

impl Client {
    /// Uploads `data` as the raw content of `vdi` (`PUT /import_raw_vdi?format=raw`), then
    /// waits up to `timeout` for XAPI's task to report the outcome. The VDI must be at least
    /// `data.len()` bytes.
    pub async fn import_raw_vdi(&self, vdi: &VdiRef, data: Bytes, timeout: Duration) -> Result<()> {
        let _permit = self.mutation_permit().await?;
        let mut relogged = false;
        loop {
            let session = self.session_for_http().await?;
            let task: TaskRef = {
                let v = self
                    .call_unlimited(
                        "task.create",
                        vec![
                            json!("import_raw_vdi"),
                            json!(format!("raw upload of {} bytes", data.len())),
                        ],
                    )
                    .await?;
                match v.as_str() {
                    Some(s) => TaskRef::new(s),
                    None => {
                        return Err(Error::Protocol {
                            method: "task.create".into(),
                            detail: "task reference is not a string".into(),
                        });
                    }
                }
            };
            let query = [
                ("session_id", session.id.0.as_str()),
                ("vdi", vdi.as_str()),
                ("format", "raw"),
                ("task_id", task.as_str()),
            ];
            let outcome = self
                .http_transfer(
                    Method::PUT,
                    "import_raw_vdi",
                    &query,
                    Some(data.clone()),
                    timeout,
                )
                .await;
            match outcome {
                Ok(_) => {
                    let res = self.await_task(&task, timeout).await;
                    if let Err(e) = self.task_destroy_unlimited(&task).await {
                        tracing::debug!(error = %e, "task.destroy after upload failed");
                    }
                    return res.map(|_| ());
                }
                Err(Error::Http { status: 401, .. }) if !relogged => {
                    // The session was refused before anything was written: log in again.
                    relogged = true;
                    let _ = self.task_destroy_unlimited(&task).await;
                    self.relogin_after(session.generation).await?;
                }
                Err(e) => {
                    // If XAPI recorded a failure on the task, that is the better error.
                    let task_err = match self.get_record::<crate::refs::Task>(&task).await {
                        Ok(rec) if rec.status.is_finished() => {
                            crate::events::task_outcome(rec).err()
                        }
                        _ => None,
                    };
                    let _ = self.task_destroy_unlimited(&task).await;
                    return Err(task_err.unwrap_or(e));
                }
            }
        }
    }

    /// Downloads the raw content of `vdi` (`GET /export_raw_vdi?format=raw`).
    pub async fn export_raw_vdi(&self, vdi: &VdiRef, timeout: Duration) -> Result<Bytes> {
        let mut relogged = false;
        loop {
            let session = self.session_for_http().await?;
            let query = [
                ("session_id", session.id.0.as_str()),
                ("vdi", vdi.as_str()),
                ("format", "raw"),
            ];
            match self
                .http_transfer(Method::GET, "export_raw_vdi", &query, None, timeout)
                .await
            {
                Err(Error::Http { status: 401, .. }) if !relogged => {
                    relogged = true;
                    self.relogin_after(session.generation).await?;
                }
                other => return other,
            }
        }
    }

    /// One HTTP transfer with manual redirect handling (the body is resent to the
    /// `Location`). Returns the response body.
    async fn http_transfer(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes> {
        let action = format!("{} /{path}", method.as_str());
        let mut url: Url = self
            .endpoint()
            .join(path)
            .map_err(|e| Error::Config(e.to_string()))?;
        url.query_pairs_mut().extend_pairs(query.iter().copied());
        let mut redirects = 0;
        loop {
            self.count(&action);
            let mut req = self
                .http()
                .request(method.clone(), url.clone())
                .timeout(timeout);
            if let Some(b) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(b.clone());
            }
            let resp = req.send().await.map_err(|e| {
                let e = e.without_url();
                if e.is_connect() {
                    Error::Connect {
                        method: action.clone(),
                        host: url.host_str().unwrap_or_default().to_string(),
                        source: e,
                    }
                } else {
                    Error::OutcomeUnknown {
                        method: action.clone(),
                        source: e,
                    }
                }
            })?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let Some(location) = location else {
                    return Err(Error::Http {
                        method: action,
                        status: status.as_u16(),
                        detail: "redirect without Location".into(),
                    });
                };
                if redirects >= MAX_HTTP_REDIRECTS {
                    return Err(Error::Http {
                        method: action,
                        status: status.as_u16(),
                        detail: "too many redirects".into(),
                    });
                }
                redirects += 1;
                let next = url.join(&location).map_err(|e| Error::Protocol {
                    method: action.clone(),
                    detail: format!("unusable redirect location: {e}"),
                })?;
                // Never log the location: its query holds the session id.
                tracing::info!(
                    host = next.host_str().unwrap_or_default(),
                    "{action}: following redirect"
                );
                url = next;
                continue;
            }
            let bytes = resp.bytes().await.map_err(|e| Error::OutcomeUnknown {
                method: action.clone(),
                source: e.without_url(),
            })?;
            if status != StatusCode::OK {
                return Err(Error::Http {
                    method: action,
                    status: status.as_u16(),
                    detail: String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                });
            }
            return Ok(bytes);
        }
    }
}
