//! Which addresses a webhook may be sent to.
//!
//! A callback URL is chosen by the client, so without a guard it would let
//! anyone make the server send requests into its own network (the cloud
//! metadata service at 169.254.169.254, an admin port on loopback, a
//! database on a private range). Every address that is not plainly public
//! is refused unless the operator's allow list (`MONACO_WEBHOOK_ALLOW`)
//! contains it. IPv6 forms that carry an IPv4 address (mapped, compatible,
//! NAT64, 6to4) are judged by the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is refused, for messages.
pub(crate) fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// Whether a webhook may go to `ip`: a public address, or one the allow
/// list contains (in its own form or as the IPv4 address it carries).
pub(crate) fn permitted(ip: IpAddr, allow: &[IpNet]) -> bool {
    let allowed = |ip: IpAddr| allow.iter().any(|net| net.contains(&ip));
    if allowed(ip) || embedded_v4(ip).is_some_and(|v4| allowed(IpAddr::V4(v4))) {
        return true;
    }
    forbidden_reason(ip).is_none()
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified address (0.0.0.0/8)",
        (127, _, _) => "a loopback address",
        (10, _, _) => "a private address (10.0.0.0/8)",
        (172, 16..=31, _) => "a private address (172.16.0.0/12)",
        (192, 168, _) => "a private address (192.168.0.0/16)",
        (169, 254, _) => "a link-local address (169.254.0.0/16, cloud metadata)",
        (100, 64..=127, _) => "a shared address (CGNAT, 100.64.0.0/10)",
        (192, 0, 0) => "an IETF protocol address (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address (198.18.0.0/15)",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(IpAddr::V6(ip)) {
        return v4_reason(v4).map(|_| "an IPv6 form of a refused IPv4 address");
    }
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => "the unspecified address (::)",
        _ if ip.is_loopback() => "the loopback address (::1)",
        // ::/96 (compatible) and ::ffff:0:0/96 (mapped) carry IPv4: above.
        [0, 0, 0, 0, 0, _, _, _] => "a reserved address (::/80)",
        [0x100, 0, 0, 0, ..] => "a discard address (100::/64)",
        [x, ..] if x & 0xfe00 == 0xfc00 => "a unique-local address (fc00::/7)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "a link-local address (fe80::/10)",
        [x, ..] if x & 0xffc0 == 0xfec0 => "a site-local address (fec0::/10)",
        [x, ..] if x & 0xff00 == 0xff00 => "a multicast address (ff00::/8)",
        [0x2001, 0xdb8, ..] => "a documentation address (2001:db8::/32)",
        [0x2001, 0, ..] => "a Teredo address (2001::/32)",
        [0x2001, x, ..] if x & 0xfff0 == 0x0010 => "an ORCHID address (2001:10::/28)",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, not `::` or `::1`), NAT64 (`64:ff9b::/96`)
/// or 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    let s = v6.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail()),
        [0, 0, 0, 0, 0, 0, 0, lo] if lo > 1 => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        forbidden_reason(s.parse().unwrap()).is_some()
    }

    #[test]
    fn every_non_public_ipv4_range_is_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_refused_ranges_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "223.255.255.255",
            "198.17.255.255",
            "198.20.0.0",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_refused() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001::1",
            "2001:10::1",
            "100::1",
            "::2:3",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn ipv6_forms_of_refused_ipv4_are_refused() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::192.168.1.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_ipv6_and_ipv6_forms_of_public_ipv4_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn the_allow_list_lets_listed_addresses_through_in_every_form() {
        let allow: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ok = |s: &str| permitted(s.parse().unwrap(), &allow);
        assert!(ok("127.0.0.1"));
        assert!(ok("127.1.2.3"));
        assert!(ok("::1"));
        assert!(ok("::ffff:127.0.0.1"));
        assert!(ok("8.8.8.8"));
        assert!(!ok("10.0.0.1"));
        assert!(!ok("169.254.169.254"));
        assert!(!ok("fe80::1"));
        assert!(!permitted("127.0.0.1".parse().unwrap(), &[]));
        assert!(!permitted("::1".parse().unwrap(), &[]));
    }
}
