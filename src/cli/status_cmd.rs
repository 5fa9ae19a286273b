//! `sn27 status`: the essentials of the running service at a glance, read from its status
//! endpoint (`[metrics] listen`), and whether systemd runs it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use super::load_config;
use crate::config::ConfigSource;

pub fn run(source: &ConfigSource, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(source)?;
    let Some(listen) = config.metrics.listen else {
        bail!(
            "the status endpoint is off: set [metrics] listen (e.g. \"127.0.0.1:9127\") in {} and \
             reload the service (`systemctl reload sn27`); meanwhile `systemctl status sn27` and \
             `journalctl -u sn27` show what it does",
            source.path.display()
        );
    };
    let body = fetch(listen).with_context(|| {
        format!("no answer from the service's status endpoint at {listen}: is `sn27 run` running?")
    })?;
    let status: serde_json::Value =
        serde_json::from_str(&body).context("the status endpoint answered something else")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(map) = status.as_object() {
        for (key, value) in map {
            match value {
                serde_json::Value::Array(items) => {
                    println!("{key}: {}", items.len());
                    for item in items {
                        println!("  {item}");
                    }
                }
                serde_json::Value::String(text) => println!("{key}: {text}"),
                serde_json::Value::Null => println!("{key}: -"),
                other => println!("{key}: {other}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /status` over plain HTTP/1.0, bounded in time and size.
fn fetch(listen: std::net::SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&listen, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /status HTTP/1.0\r\nHost: sn27\r\n\r\n")?;
    let mut response = Vec::new();
    stream.take(1 << 20).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
        return Err(std::io::Error::other(
            head.lines().next().unwrap_or_default().to_string(),
        ));
    }
    Ok(body.to_string())
}
