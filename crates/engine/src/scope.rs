//! "Local network only" sharing: which addresses count as the local network (private, loopback,
//! link-local), and the same rule as an allowlist file for librqbit's session, which then
//! neither accepts nor dials any other address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The local network's IPv4 ranges, first and last address.
const V4: &[(Ipv4Addr, Ipv4Addr)] = &[
    (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 255, 255, 255)),
    (
        Ipv4Addr::new(172, 16, 0, 0),
        Ipv4Addr::new(172, 31, 255, 255),
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        Ipv4Addr::new(192, 168, 255, 255),
    ),
    (
        Ipv4Addr::new(127, 0, 0, 0),
        Ipv4Addr::new(127, 255, 255, 255),
    ),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        Ipv4Addr::new(169, 254, 255, 255),
    ),
];

/// The local network's IPv6 ranges: loopback, unique local (fc00::/7), link-local (fe80::/10).
const V6: &[(Ipv6Addr, Ipv6Addr)] = &[
    (Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        Ipv6Addr::new(
            0xfdff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        ),
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        Ipv6Addr::new(
            0xfebf, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        ),
    ),
];

/// Whether `ip` is on the local network: private, loopback or link-local (an IPv4 address
/// mapped into IPv6 counts as itself).
pub fn is_local_network(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => V4.iter().any(|(lo, hi)| (*lo..=*hi).contains(&a)),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_local_network(IpAddr::V4(v4)),
            None => V6.iter().any(|(lo, hi)| (*lo..=*hi).contains(&a)),
        },
    }
}

/// The ranges in the allowlist format librqbit reads (`name:first-last` per line), IPv4-mapped
/// IPv6 forms included, since a dual-stack socket reports IPv4 peers that way.
fn allowlist_text() -> String {
    let mut out = String::from("# Swarmdate: local network only (private, loopback, link-local)\n");
    for (lo, hi) in V4 {
        out.push_str(&format!("local:{lo}-{hi}\n"));
        out.push_str(&format!(
            "mapped:{}-{}\n",
            lo.to_ipv6_mapped(),
            hi.to_ipv6_mapped()
        ));
    }
    for (lo, hi) in V6 {
        out.push_str(&format!("local6:{lo}-{hi}\n"));
    }
    out
}

/// Writes the allowlist into the engine's folder; returns its path.
pub fn write_allowlist(state_dir: &Path) -> std::io::Result<PathBuf> {
    let path = state_dir.join("local-network.allowlist");
    swarmdate_core::fsutil::write_atomic(&path, allowlist_text().as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_are_local_and_nothing_else_is() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.10",
            "127.0.0.2",
            "169.254.3.4",
            "::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(is_local_network(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "192.169.0.1",
            "100.64.0.1",
            "198.51.100.7",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
            "0.0.0.0",
        ] {
            assert!(!is_local_network(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_allowlist_names_every_range_once_per_form() {
        let text = allowlist_text();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 2 * V4.len() + V6.len());
        assert!(lines.contains(&"local:10.0.0.0-10.255.255.255"));
        assert!(lines.contains(&"mapped:::ffff:192.168.0.0-::ffff:192.168.255.255"));
        assert!(lines.contains(&"local6:fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    }
}
