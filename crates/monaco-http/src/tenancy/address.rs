//! The client's address, for the per-address rate limit: the peer of the
//! connection, unless the peer is a proxy the operator trusts, in which
//! case the rightmost `X-Forwarded-For` hop that is not itself trusted.
//!
//! Proxies append the address they received the request from, so only the
//! hops added by trusted proxies can be believed: everything left of the
//! first untrusted hop (reading from the right) may be made up by the
//! client.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses `MONACO_TRUSTED_PROXIES`: CIDRs (or single addresses) separated
/// by commas.
pub fn parse_proxies(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or a CIDR (such as 10.0.0.0/8)"))
        })
        .collect()
}

/// The address a request comes from: `peer` if it is not a trusted proxy;
/// else the rightmost hop of the `X-Forwarded-For` values (in the order
/// the headers came) that is not trusted; else the leftmost hop. A hop
/// that cannot be read stops the walk at the last address that could.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// One hop: an address, an IPv6 address in brackets, either with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(normal(ip));
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(normal(sock.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(normal)
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
pub fn normal(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn proxies_parse_as_cidrs_or_addresses() {
        let nets = parse_proxies(" 10.0.0.0/8, 127.0.0.1 ,::1,").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[0].contains(&ip("10.1.2.3")));
        assert!(nets[1].contains(&ip("127.0.0.1")));
        assert!(!nets[1].contains(&ip("127.0.0.2")));
        assert!(nets[2].contains(&ip("::1")));
        assert!(parse_proxies("").unwrap().is_empty());
        assert!(parse_proxies("10.0.0.0/33").is_err());
        assert!(parse_proxies("proxy.example").is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = parse_proxies("10.0.0.0/8").unwrap();
        assert_eq!(
            client_address(ip("203.0.113.9"), ["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), [], &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = parse_proxies("10.0.0.0/8").unwrap();
        // The client made up 1.1.1.1; the first proxy saw 198.51.100.7.
        let xff = ["1.1.1.1, 198.51.100.7", "10.0.0.2"];
        assert_eq!(
            client_address(ip("10.0.0.1"), xff, &trusted),
            ip("198.51.100.7")
        );
        // Nothing forwarded: the proxy itself.
        assert_eq!(client_address(ip("10.0.0.1"), [], &trusted), ip("10.0.0.1"));
        // Every hop trusted: the leftmost.
        assert_eq!(
            client_address(ip("10.0.0.1"), ["10.9.9.9, 10.0.0.2"], &trusted),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn unreadable_hops_stop_the_walk_and_ports_are_dropped() {
        let trusted = parse_proxies("10.0.0.0/8").unwrap();
        assert_eq!(
            client_address(
                ip("10.0.0.1"),
                ["198.51.100.7, garbage, 10.0.0.3"],
                &trusted
            ),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), ["198.51.100.7:4000"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), ["[2001:db8::1]:80"], &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), ["[2001:db8::2]"], &trusted),
            ip("2001:db8::2")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), ["::ffff:198.51.100.8"], &trusted),
            ip("198.51.100.8")
        );
    }
}
