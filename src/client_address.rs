//! Who the client is, as far as the network can tell: the TCP peer, or, behind a reverse
//! proxy the project trusts (`auth.rate_limit.trusted_proxies`), the address that proxy
//! forwarded for. A forwarded request is never "local": a proxy on this host (the usual
//! way to serve Dango over HTTPS) makes every client's TCP peer 127.0.0.1.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use poem::http::HeaderMap;

/// A trusted proxy: one address or a network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet {
    network: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.network), ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_bits(u32::from(net).into(), u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_bits(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn prefix_bits(network: u128, ip: u128, prefix: u8, width: u32) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = width - u32::from(prefix);
    (network >> shift) == (ip >> shift)
}

/// The trusted proxies of a configuration; entries that do not parse are ignored (and
/// reported once at start, see [`describe_setup`]).
pub fn trusted_proxies(entries: &[String]) -> Vec<ProxyNet> {
    entries.iter().filter_map(|e| ProxyNet::parse(e)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress {
    /// The TCP peer.
    pub peer: IpAddr,
    /// The client: the peer, or the address a trusted proxy forwarded for.
    pub ip: IpAddr,
    /// The request carries forwarding headers (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`).
    pub forwarded: bool,
    /// The peer is a trusted proxy.
    pub via_trusted_proxy: bool,
    /// Served over HTTPS: directly, or a trusted proxy says so.
    pub https: bool,
}

impl ClientAddress {
    pub fn of(peer: IpAddr, headers: &HeaderMap, direct_https: bool, trusted: &[ProxyNet]) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded_header = header("forwarded");
        let forwarded_for = header("x-forwarded-for");
        let forwarded = forwarded_header.is_some()
            || forwarded_for.is_some()
            || headers.contains_key("x-real-ip");
        let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
        let via_trusted_proxy = is_trusted(peer);
        if !via_trusted_proxy {
            return Self {
                peer,
                ip: peer,
                forwarded,
                via_trusted_proxy,
                https: direct_https,
            };
        }
        let (chain, proto) = match forwarded_header {
            Some(value) => parse_forwarded(value),
            None => (
                forwarded_for
                    .map(|v| v.split(',').map(|hop| parse_node(hop.trim())).collect())
                    .unwrap_or_default(),
                header("x-forwarded-proto").map(str::to_string),
            ),
        };
        // Right to left: the first hop that is not one of our proxies is the client. A hop
        // that is not an address (`unknown`, an obfuscated name) ends the walk at the last
        // proxy seen, which is then what is rate limited.
        let mut ip = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(hop) if is_trusted(*hop) => ip = *hop,
                Some(hop) => {
                    ip = *hop;
                    break;
                }
                None => break,
            }
        }
        Self {
            peer,
            ip,
            forwarded,
            via_trusted_proxy,
            https: direct_https || proto.is_some_and(|p| p.eq_ignore_ascii_case("https")),
        }
    }

    /// A client on this machine talking to us directly (a local script, the CLI).
    pub fn is_local(&self) -> bool {
        !self.forwarded && self.peer.is_loopback()
    }
}

/// The `for=` hops and the first `proto=` of an RFC 7239 `Forwarded` header.
fn parse_forwarded(value: &str) -> (Vec<Option<IpAddr>>, Option<String>) {
    let mut hops = Vec::new();
    let mut proto = None;
    for element in value.split(',') {
        for pair in element.split(';') {
            let Some((key, val)) = pair.trim().split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches('"');
            if key.trim().eq_ignore_ascii_case("for") {
                hops.push(parse_node(val));
            } else if key.trim().eq_ignore_ascii_case("proto") && proto.is_none() {
                proto = Some(val.to_string());
            }
        }
    }
    (hops, proto)
}

/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:443` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

/// Peers that sent forwarding headers without being trusted: their clients all look
/// like the proxy (one rate limit for everyone, audit entries with its address).
#[derive(Default)]
pub struct UntrustedForwarders {
    seen: Mutex<BTreeMap<IpAddr, ForwarderSighting>>,
}

#[derive(Clone, Copy, Debug)]
pub struct ForwarderSighting {
    pub requests: u64,
    pub last_seen: DateTime<Utc>,
}

/// Enough to name every proxy of a real setup; a flood of spoofed peers cannot grow it.
const MAX_FORWARDERS: usize = 32;

impl UntrustedForwarders {
    pub fn record(&self, client: &ClientAddress) {
        if !client.forwarded || client.via_trusted_proxy {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sighting) = seen.get_mut(&client.peer) {
            sighting.requests += 1;
            sighting.last_seen = Utc::now();
            return;
        }
        if seen.len() >= MAX_FORWARDERS {
            return;
        }
        tracing::warn!(
            "requests forwarded by {} (X-Forwarded-For/Forwarded), which is not in \
             auth.rate_limit.trusted_proxies: its clients are treated as one client at {} and \
             are rate limited together; add the proxy to trusted_proxies",
            client.peer,
            client.peer
        );
        seen.insert(
            client.peer,
            ForwarderSighting {
                requests: 1,
                last_seen: Utc::now(),
            },
        );
    }

    pub fn sightings(&self) -> Vec<(IpAddr, ForwarderSighting)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().map(|(ip, s)| (*ip, *s)).collect()
    }

    /// What `/api/health/platform` says about them.
    pub fn warnings(&self) -> Vec<String> {
        self.sightings()
            .into_iter()
            .map(|(ip, sighting)| {
                format!(
                    "{} request(s) were forwarded by {ip}, which is not a trusted proxy: its \
                     clients share one rate limit and are audited as {ip}. Add it to \
                     auth.rate_limit.trusted_proxies.",
                    sighting.requests
                )
            })
            .collect()
    }
}

/// One line for the start-up log: how client addresses and rate limits are decided.
pub fn describe_setup(config: &crate::config::project::RateLimitConfig) -> String {
    let proxies = trusted_proxies(&config.trusted_proxies);
    let invalid: Vec<&String> = config
        .trusted_proxies
        .iter()
        .filter(|e| ProxyNet::parse(e).is_none())
        .collect();
    let mut line = if proxies.is_empty() {
        "no trusted proxies: forwarding headers are ignored and every TCP peer is one client"
            .to_string()
    } else {
        format!(
            "trusted proxies {}: the client is read from their Forwarded/X-Forwarded-For",
            config.trusted_proxies.join(", ")
        )
    };
    if config.exempt_loopback {
        line.push_str("; direct loopback clients are not rate limited (forwarded requests are)");
    }
    if !invalid.is_empty() {
        line.push_str(&format!(
            "; ignoring trusted_proxies entries that are not addresses or networks: {}",
            invalid
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_match_addresses() {
        let net = ProxyNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.20.30.40")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(
            ProxyNet::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!(
            !ProxyNet::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.2"))
        );
        assert!(ProxyNet::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(
            ProxyNet::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert_eq!(ProxyNet::parse("10.0.0.0/33"), None);
        assert_eq!(ProxyNet::parse("proxy.local"), None);
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy = ip("127.0.0.1");
        let trusted = trusted_proxies(&["127.0.0.1".into()]);
        let xff = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.5")]);
        // untrusted: the peer is the client, and the request is not local
        let untrusted = ClientAddress::of(proxy, &xff, false, &[]);
        assert_eq!(untrusted.ip, proxy);
        assert!(untrusted.forwarded && !untrusted.is_local());
        // trusted: the rightmost address that is not a proxy
        let client = ClientAddress::of(proxy, &xff, false, &trusted);
        assert_eq!(client.ip, ip("203.0.113.5"));
        assert!(!client.is_local());
        // a direct local client
        let direct = ClientAddress::of(proxy, &HeaderMap::new(), false, &trusted);
        assert!(direct.is_local());
        assert_eq!(direct.ip, proxy);
    }

    #[test]
    fn rfc7239_forwarded_with_ports_ipv6_and_proto() {
        let trusted = trusted_proxies(&["10.0.0.0/8".into()]);
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.2",
        )]);
        let client = ClientAddress::of(ip("10.0.0.1"), &h, false, &trusted);
        assert_eq!(client.ip, ip("2001:db8:cafe::17"));
        assert!(client.https);
        let hidden = headers(&[("forwarded", "for=_hidden, for=10.0.0.3")]);
        assert_eq!(
            ClientAddress::of(ip("10.0.0.1"), &hidden, false, &trusted).ip,
            ip("10.0.0.3")
        );
        let proto = headers(&[
            ("x-forwarded-for", "1.2.3.4:5678"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = ClientAddress::of(ip("10.9.9.9"), &proto, false, &trusted);
        assert_eq!(client.ip, ip("1.2.3.4"));
        assert!(client.https);
        // an untrusted peer cannot claim HTTPS
        assert!(!ClientAddress::of(ip("192.0.2.1"), &proto, false, &trusted).https);
    }

    #[test]
    fn untrusted_forwarders_are_remembered_once_each() {
        let seen = UntrustedForwarders::default();
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        for _ in 0..3 {
            seen.record(&ClientAddress::of(ip("127.0.0.1"), &h, false, &[]));
        }
        seen.record(&ClientAddress::of(
            ip("127.0.0.1"),
            &HeaderMap::new(),
            false,
            &[],
        ));
        let sightings = seen.sightings();
        assert_eq!(sightings.len(), 1);
        assert_eq!(sightings[0].1.requests, 3);
        assert!(seen.warnings()[0].contains("127.0.0.1"));
    }
}
