//! Free TCP ports on the loopback interface.

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The kernel picks it (by binding port 0), and the socket is closed before returning, so
/// another process may take the port before the caller binds it: callers that start a server
/// on it must retry with a new port when the bind fails, as [`crate::PgCluster`] does.
///
/// # Panics
/// If no port can be bound on 127.0.0.1 at all (no loopback interface).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a TCP port on 127.0.0.1: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the address of a bound socket: {e}"))
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        // Nothing holds it now, so we can bind it ourselves (barring a rare race).
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("port should be free");
    }
}
