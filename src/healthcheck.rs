//! `parley healthcheck`: asks `/readyz` of the local instance and turns the
//! answer into an exit code, so a container HEALTHCHECK needs no shell tools.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// The address to probe: an unspecified bind address means loopback.
pub fn probe_addr(bind_addr: &str) -> Option<SocketAddr> {
    let mut addr: SocketAddr = bind_addr.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(addr)
}

/// Status code of `GET /readyz`, or an error description.
pub fn readyz_status(addr: SocketAddr) -> Result<u16, String> {
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let line = std::str::from_utf8(&head[..n]).map_err(|e| e.to_string())?;
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "not an HTTP answer".to_string())
}

pub fn run(bind_addr: &str) -> ExitCode {
    let Some(addr) = probe_addr(bind_addr) else {
        eprintln!("parley healthcheck: BIND_ADDR {bind_addr:?} is not a socket address");
        return ExitCode::from(2);
    };
    match readyz_status(addr) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("parley healthcheck: /readyz answered {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("parley healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unspecified_means_loopback() {
        assert_eq!(
            super::probe_addr("0.0.0.0:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            super::probe_addr("[::]:80").unwrap().to_string(),
            "[::1]:80"
        );
        assert_eq!(
            super::probe_addr("10.1.2.3:1").unwrap().to_string(),
            "10.1.2.3:1"
        );
    }
}
