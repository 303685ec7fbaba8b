//! Who is at the other end of a request: the connection's peer address or,
//! when that peer is a reverse proxy the operator trusts, the address the
//! proxy says it forwarded for (`X-Forwarded-For`). Sign-in back-off and the
//! logs are keyed by it; without trusted proxies, everyone behind a proxy
//! would share the proxy's address (and its back-off).
//!
//! The header is read from the right: each trusted hop appends the address it
//! received from, so the first untrusted address from the right is the one no
//! client can forge. An entry that is not an address stops the walk at the
//! trusted hop that passed it on.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The `X-Forwarded-For` header.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The reverse proxies whose `X-Forwarded-For` is believed (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses or networks: `10.0.0.5`, `172.16.0.0/12`, `fd00::/8`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(AsRef::as_ref)
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "trusted proxy {entry:?} is not an IP address or network \
                             (write it like 10.0.0.5 or 172.16.0.0/12)"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub(crate) fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut current = peer?.to_canonical();
        if !self.trusts(current) {
            return Some(current);
        }
        // Sent several times, the values are one list in order.
        let hops: Vec<&str> = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(address) = parse_hop(hop) else {
                return Some(current);
            };
            current = address;
            if !self.trusts(current) {
                break;
            }
        }
        Some(current)
    }
}

/// `203.0.113.7`, `2001:db8::1`, or with a port: `203.0.113.7:4711`, `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let client =
            TrustedProxies::default().client(Some(ip("10.0.0.5")), &forwarded(&["203.0.113.7"]));
        assert_eq!(client, Some(ip("10.0.0.5")));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies(&["10.0.0.5"]);
        let client = trusted.client(Some(ip("10.0.0.5")), &forwarded(&["203.0.113.7"]));
        assert_eq!(client, Some(ip("203.0.113.7")));
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_an_address() {
        let trusted = proxies(&["10.0.0.5"]);
        let client = trusted.client(Some(ip("198.51.100.9")), &forwarded(&["203.0.113.7"]));
        assert_eq!(client, Some(ip("198.51.100.9")));
    }

    #[test]
    fn a_forged_left_entry_is_not_believed() {
        // The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real one.
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["1.2.3.4, 203.0.113.7"]);
        assert_eq!(
            trusted.client(Some(ip("10.0.0.5")), &headers),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_from_the_right() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let headers = forwarded(&["1.2.3.4, 203.0.113.7", "10.1.1.1:4711, [fd00::2]:80"]);
        assert_eq!(
            trusted.client(Some(ip("10.0.0.5")), &headers),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["203.0.113.7, unknown, 10.2.2.2"]);
        assert_eq!(
            trusted.client(Some(ip("10.0.0.5")), &headers),
            Some(ip("10.2.2.2"))
        );
        let empty = trusted.client(Some(ip("10.0.0.5")), &HeaderMap::new());
        assert_eq!(empty, Some(ip("10.0.0.5")));
    }

    #[test]
    fn ipv4_mapped_addresses_are_plain_ipv4() {
        let trusted = proxies(&["127.0.0.1"]);
        let client = trusted.client(
            Some(ip("::ffff:127.0.0.1")),
            &forwarded(&["::ffff:203.0.113.7"]),
        );
        assert_eq!(client, Some(ip("203.0.113.7")));
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        let error = TrustedProxies::parse(&["10.0.0.5", "proxy.local"]).unwrap_err();
        assert!(error.contains("proxy.local"), "{error}");
        assert_eq!(
            TrustedProxies::parse(&["", " "]).unwrap(),
            TrustedProxies::default()
        );
        assert_eq!(
            TrustedProxies::parse(&[" 10.0.0.0/8 "]).unwrap(),
            proxies(&["10.0.0.0/8"])
        );
    }
}
