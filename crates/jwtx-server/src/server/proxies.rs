//! The client address behind a load balancer: `trusted_proxies`, `X-Forwarded-For` and the
//! PROXY protocol (v1 and v2, <https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt>).
//!
//! The client address is what login throttling, a session's `ip` and audit lines use; handlers
//! read it as axum's `ConnectInfo<SocketAddr>`, which `connections.rs` sets per request.
//!
//! - **Connection.** The TCP peer, unless `proxy_protocol` is on and the peer is a trusted
//!   proxy: then the connection must begin with a PROXY header, and the header's source is the
//!   client (a `LOCAL`, `UNKNOWN`, `AF_UNSPEC` or `AF_UNIX` header keeps the proxy's address).
//!   A PROXY header from a peer that is not a trusted proxy is refused, and so is a trusted
//!   proxy's connection without one. The header is read within `header_read_timeout` of accept,
//!   its bounds checked before anything is trusted (v1: 107 bytes with its CRLF; v2: 16 bytes
//!   and its declared length); what the same reads brought after it is replayed to the TLS or
//!   HTTP layer ([`Replayed`]).
//! - **Request.** Only when the connection's address is a trusted proxy, `X-Forwarded-For`:
//!   its entries across every header line, in order; scanning from the right, the first entry
//!   that is not a trusted proxy is the client (with port 0). Every entry trusted: the leftmost
//!   is. An entry that cannot be parsed before a client is found, or more than
//!   [`MAX_FORWARDED_ENTRIES`] entries or [`MAX_FORWARDED_BYTES`] bytes looked at: the nearest
//!   trusted hop seen (or the connection's address), never an address further left, which the
//!   client may have written. From any other address the header is never parsed, and with no
//!   `trusted_proxies` no request is looked at. `Forwarded` (RFC 7239) is not read.
//!
//! CIDRs are parsed here (a few lines of `std::net`) rather than with a crate.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::config::Config;

/// `X-Forwarded-For` entries looked at, from the right, before giving up on finding a client.
pub(crate) const MAX_FORWARDED_ENTRIES: usize = 64;
/// `X-Forwarded-For` bytes looked at, from the right, across its header lines.
pub(crate) const MAX_FORWARDED_BYTES: usize = 4096;
/// The longest PROXY v1 header, `PROXY … \r\n` included (the specification's bound).
const MAX_V1: usize = 107;
/// The PROXY v1 header's first bytes.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The PROXY v2 header's first 12 bytes.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The PROXY v2 header's fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// The header with the client's address, as proxies append it.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One `trusted_proxies` entry: an address or a network (CIDR), IPv4 or IPv6. An IPv4-mapped
/// IPv6 entry (`::ffff:10.0.0.0/104`) is kept as its IPv4 form, as peers are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// Whether `ip` (IPv4-mapped IPv6 taken as IPv4) is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = u32::from(self.prefix);
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                (u32::from(net) ^ u32::from(ip))
                    .checked_shr(32 - bits)
                    .unwrap_or(0)
                    == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                (u128::from(net) ^ u128::from(ip))
                    .checked_shr(128 - bits)
                    .unwrap_or(0)
                    == 0
            }
            _ => false,
        }
    }

    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    /// `10.0.0.0/8`, `127.0.0.1`, `fd00::/8`, `::1`; a network with host bits set is refused
    /// (a typo more often than meant).
    fn from_str(s: &str) -> Result<ProxyNet, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "{s:?} is not an IP address or network; write it like 10.0.0.0/8, 127.0.0.1 or fd00::/8"
            )
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = ProxyNet::max_prefix(addr);
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: the prefix /{p} is longer than {max} bits"))?,
            Some(_) => return Err(bad()),
        };
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let host_bits = match addr {
            IpAddr::V4(a) => u128::from(u32::from(a).checked_shl(u32::from(prefix)).unwrap_or(0)),
            IpAddr::V6(a) => u128::from(a).checked_shl(u32::from(prefix)).unwrap_or(0),
        };
        if host_bits != 0 {
            let network = ProxyNet::network(addr, prefix);
            return Err(format!(
                "{s:?} has host bits set; the network is {network}/{prefix}"
            ));
        }
        Ok(ProxyNet { addr, prefix })
    }
}

impl ProxyNet {
    /// `addr` with its host bits cleared.
    fn network(addr: IpAddr, prefix: u8) -> IpAddr {
        let p = u32::from(prefix);
        match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - p).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == ProxyNet::max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// `trusted_proxies` as configured: entries separated by commas (blank ones skipped).
pub fn parse_trusted_proxies(list: &str) -> Result<Vec<ProxyNet>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Which peers are trusted proxies (`trusted_proxies`) and whether they speak the PROXY
/// protocol (`proxy_protocol`): see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    trusted: Arc<[ProxyNet]>,
    protocol: bool,
}

impl Proxies {
    /// Trusts `trusted`; with `proxy_protocol`, their connections begin with a PROXY header.
    pub fn new(trusted: &[ProxyNet], proxy_protocol: bool) -> Self {
        Proxies {
            trusted: trusted.into(),
            protocol: proxy_protocol,
        }
    }

    /// The settings `config` makes.
    pub fn from_config(config: &Config) -> Self {
        Proxies::new(&config.trusted_proxies, config.proxy_protocol)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// Whether connections are read for a PROXY header.
    pub(crate) fn proxy_protocol(&self) -> bool {
        self.protocol
    }

    /// The trusted proxies to read `X-Forwarded-For` with, for a connection whose address is
    /// `client`: only when `client` is one of them (never when there are none).
    pub(crate) fn forwarding(&self, client: IpAddr) -> Option<Arc<[ProxyNet]>> {
        (!self.trusted.is_empty() && self.trusts(client)).then(|| self.trusted.clone())
    }

    /// The startup summary's line.
    pub(crate) fn summary(&self) -> String {
        if self.trusted.is_empty() {
            return "  client address: the TCP peer (no trusted_proxies; X-Forwarded-For ignored)"
                .to_owned();
        }
        let list: Vec<String> = self.trusted.iter().map(ToString::to_string).collect();
        format!(
            "  client address: X-Forwarded-For from the trusted proxies {}{}",
            list.join(", "),
            if self.protocol {
                "; their connections must begin with a PROXY header (proxy_protocol)"
            } else {
                ""
            }
        )
    }

    /// Whether a trusted network holds every address of its family (`0.0.0.0/0`, `::/0`):
    /// then any client chooses its own address.
    pub(crate) fn trusts_everyone(&self) -> bool {
        self.trusted.iter().any(|net| net.prefix == 0)
    }
}

/// The client of a request on a connection whose address is `peer`, a trusted proxy (see the
/// module documentation): the `X-Forwarded-For` client with port 0, or `peer` itself.
pub(crate) fn forwarded_client(
    trusted: &[ProxyNet],
    peer: SocketAddr,
    headers: &HeaderMap,
) -> SocketAddr {
    match forwarded_ip(trusted, headers) {
        Some(ip) => SocketAddr::new(ip, 0),
        None => peer,
    }
}

/// The `X-Forwarded-For` client; `None` for the connection's own address.
fn forwarded_ip(trusted: &[ProxyNet], headers: &HeaderMap) -> Option<IpAddr> {
    let trusts = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    // The nearest trusted hop seen so far (scanning from the right).
    let mut hop = None;
    let mut entries = 0;
    let mut budget = MAX_FORWARDED_BYTES;
    for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let bytes = line.as_bytes();
        let start = bytes.len().saturating_sub(budget);
        let window = &bytes[start..];
        budget -= window.len();
        let mut end = window.len();
        for entry in window.rsplit(|&b| b == b',') {
            let at = end - entry.len();
            entries += 1;
            // A cut entry (at the byte bound) or one past the entry bound: the hop.
            if (start > 0 && at == 0) || entries > MAX_FORWARDED_ENTRIES {
                return hop;
            }
            match parse_forwarded_entry(entry) {
                Some(ip) if trusts(ip) => hop = Some(ip),
                Some(ip) => return Some(ip),
                None => return hop,
            }
            end = at.saturating_sub(1);
        }
    }
    hop
}

/// One `X-Forwarded-For` entry: `ip`, `ip:port` (IPv4), `[ipv6]` or `[ipv6]:port`, with
/// spaces or tabs around it; IPv4-mapped IPv6 as IPv4. Anything else (`unknown`, obfuscated
/// names, zones) is `None`.
fn parse_forwarded_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?.trim_matches([' ', '\t']);
    if s.len() > 64 {
        return None;
    }
    let port = |p: &str| p.parse::<u16>().ok();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = host.parse().ok()?;
        if !after.is_empty() {
            port(after.strip_prefix(':')?)?;
        }
        return Some(IpAddr::V6(ip).to_canonical());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, p) = s.split_once(':')?;
    let ip: Ipv4Addr = host.parse().ok()?;
    port(p)?;
    Some(IpAddr::V4(ip))
}

/// Why a connection was closed before HTTP (or TLS) began.
#[derive(Debug)]
pub(crate) enum Refused {
    /// `proxy_protocol` is on and a trusted proxy's connection began otherwise.
    Missing,
    /// A PROXY header from a peer that is not a trusted proxy.
    Untrusted,
    /// A malformed PROXY header from a trusted proxy.
    Invalid(&'static str),
    /// The connection closed or failed first.
    Io(io::Error),
}

impl Refused {
    /// Whether a deployment should hear of it (a configuration mismatch, not a client gone).
    pub(crate) fn is_warning(&self) -> bool {
        !matches!(self, Refused::Io(_))
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Missing => f.write_str(
                "a trusted proxy's connection did not begin with a PROXY header \
                 (proxy_protocol is on); connection closed",
            ),
            Refused::Untrusted => f.write_str(
                "PROXY header from a peer not in trusted_proxies refused; connection closed",
            ),
            Refused::Invalid(why) => write!(f, "invalid PROXY header ({why}); connection closed"),
            Refused::Io(e) => write!(f, "connection ended before its PROXY header: {e}"),
        }
    }
}

/// What the first bytes of a connection say so far.
#[derive(Debug, PartialEq, Eq)]
enum Examined {
    /// More bytes are needed.
    More,
    /// No PROXY header, from a peer that needs none: HTTP (or TLS) starts at byte 0.
    Direct,
    /// A complete PROXY header of `len` bytes; its source, if it names one.
    Header {
        len: usize,
        source: Option<SocketAddr>,
    },
    Refused(RefusedKind),
}

/// [`Refused`] without the I/O case (comparable, for the pure parser).
#[derive(Debug, PartialEq, Eq)]
enum RefusedKind {
    Missing,
    Untrusted,
    Invalid(&'static str),
}

/// Looks at the first bytes of a connection from a `trusted` peer or not.
fn examine(buf: &[u8], trusted: bool) -> Examined {
    let starts = |sig: &[u8]| {
        let n = buf.len().min(sig.len());
        buf[..n] == sig[..n]
    };
    let v1 = starts(V1_PREFIX);
    let v2 = starts(V2_SIGNATURE);
    if (v1 && buf.len() < V1_PREFIX.len()) || (v2 && buf.len() < V2_SIGNATURE.len()) {
        return Examined::More;
    }
    match (v1 || v2, trusted) {
        (false, false) => Examined::Direct,
        (false, true) => Examined::Refused(RefusedKind::Missing),
        (true, false) => Examined::Refused(RefusedKind::Untrusted),
        (true, true) if v1 => parse_v1(buf),
        (true, true) => parse_v2(buf),
    }
}

/// A v1 header: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN …\r\n`.
fn parse_v1(buf: &[u8]) -> Examined {
    let invalid = |why| Examined::Refused(RefusedKind::Invalid(why));
    let head = &buf[..buf.len().min(MAX_V1)];
    let Some(cr) = head.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= MAX_V1 {
            invalid("v1 line longer than 107 bytes")
        } else {
            Examined::More
        };
    };
    let Ok(line) = std::str::from_utf8(&head[..cr]) else {
        return invalid("v1 line is not text");
    };
    let len = cr + 2;
    let fields: Vec<&str> = line.split(' ').collect();
    let source = match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => None,
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, _dst, sport, dport] => {
            let ip = match *proto {
                "TCP4" => src.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
                _ => src.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
            };
            let (Some(ip), Some(port), Some(_)) = (ip, v1_port(sport), v1_port(dport)) else {
                return invalid("v1 address or port");
            };
            Some(SocketAddr::new(ip.to_canonical(), port))
        }
        _ => return invalid("v1 fields"),
    };
    Examined::Header { len, source }
}

/// A v1 port: 0 to 65535 in decimal, no leading zero.
fn v1_port(s: &str) -> Option<u16> {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits && (s == "0" || !s.starts_with('0')))
        .then(|| s.parse().ok())
        .flatten()
}

/// A v2 header: signature, version 2 and command, family and transport, length, addresses
/// (then TLVs, skipped).
fn parse_v2(buf: &[u8]) -> Examined {
    let invalid = |why| Examined::Refused(RefusedKind::Invalid(why));
    if buf.len() < V2_FIXED {
        return Examined::More;
    }
    // Checked before waiting for the rest: a bad header never holds the connection.
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    let (family, transport) = (buf[13] >> 4, buf[13] & 0x0f);
    if version != 2 {
        return invalid("v2 version");
    }
    if command > 1 {
        return invalid("v2 command");
    }
    if family > 3 || transport > 2 {
        return invalid("v2 address family or transport");
    }
    let len = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if buf.len() < len {
        return Examined::More;
    }
    let addresses = &buf[V2_FIXED..len];
    let source = match (command, family) {
        // LOCAL (the proxy's own connection, e.g. a health check), AF_UNSPEC, AF_UNIX: no
        // client IP address; the proxy's stands.
        (0, _) | (_, 0 | 3) => None,
        (_, 1) => {
            let Some(a) = addresses.get(..12) else {
                return invalid("v2 IPv4 addresses too short");
            };
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([a[8], a[9]]),
            ))
        }
        _ => {
            let Some(a) = addresses.get(..36) else {
                return invalid("v2 IPv6 addresses too short");
            };
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let ip = IpAddr::V6(Ipv6Addr::from(octets)).to_canonical();
            Some(SocketAddr::new(ip, u16::from_be_bytes([a[32], a[33]])))
        }
    };
    Examined::Header { len, source }
}

/// Reads the start of a connection from `peer` (`proxy_protocol` on): a PROXY header if `peer`
/// is a trusted proxy, none otherwise. Returns the connection's client address and the bytes
/// read past the header, which belong to TLS or HTTP. Reads at most what the header's bounds
/// allow plus one read's worth; the caller bounds the time.
pub(crate) async fn read_proxy_header<S: AsyncRead + Unpin>(
    io: &mut S,
    peer: SocketAddr,
    proxies: &Proxies,
) -> Result<(SocketAddr, Vec<u8>), Refused> {
    let trusted = proxies.trusts(peer.ip());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match examine(&buf, trusted) {
            Examined::More => {}
            Examined::Direct => return Ok((peer, buf)),
            Examined::Header { len, source } => {
                buf.drain(..len);
                return Ok((source.unwrap_or(peer), buf));
            }
            Examined::Refused(kind) => {
                return Err(match kind {
                    RefusedKind::Missing => Refused::Missing,
                    RefusedKind::Untrusted => Refused::Untrusted,
                    RefusedKind::Invalid(why) => Refused::Invalid(why),
                });
            }
        }
        let n = io.read(&mut chunk).await.map_err(Refused::Io)?;
        if n == 0 {
            return Err(Refused::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A stream whose first bytes, already read (after a PROXY header), are read again first.
#[derive(Debug)]
pub(crate) struct Replayed<S> {
    first: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Replayed<S> {
    /// `inner`, with `first` read before it.
    pub(crate) fn new(first: Vec<u8>, inner: S) -> Self {
        Replayed {
            first,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.first.len() {
            let n = buf.remaining().min(this.first.len() - this.at);
            buf.put_slice(&this.first[this.at..this.at + n]);
            this.at += n;
            if this.at == this.first.len() {
                this.first = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

// Writes go straight through.
super::forward_async_write!(Replayed);

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &str) -> Vec<ProxyNet> {
        parse_trusted_proxies(list).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The client `X-Forwarded-For` lines `lines` name behind `trusted`; `None`: the
    /// connection's own address.
    fn client(trusted: &str, lines: &[&str]) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, line.parse().unwrap());
        }
        forwarded_ip(&nets(trusted), &headers)
    }

    #[test]
    fn networks_parse_match_and_refuse_what_they_should() {
        let n: ProxyNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.255.0.1")) && !n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped peers match");
        assert!(!n.contains(ip("::1")));
        let one: ProxyNet = " 127.0.0.1 ".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert_eq!(one.to_string(), "127.0.0.1");
        let v6: ProxyNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let mapped: ProxyNet = "::ffff:192.0.2.0/120".parse().unwrap();
        assert_eq!(mapped.to_string(), "192.0.2.0/24");
        assert!(mapped.contains(ip("192.0.2.9")));
        let all: ProxyNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("::2")));
        let every6: ProxyNet = "::/0".parse().unwrap();
        assert!(every6.contains(ip("2001:db8::1")));
        let host128: ProxyNet = "2001:db8::1/128".parse().unwrap();
        assert_eq!(host128.to_string(), "2001:db8::1");
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/a",
            "10.0.0.0/-1",
            "10.0.0/8",
            "010.0.0.1",
            "lb.internal",
            "",
            "10.0.0.1/8",
            "fd00::1/8",
        ] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            "192.168.1.1/16".parse::<ProxyNet>().unwrap_err(),
            "\"192.168.1.1/16\" has host bits set; the network is 192.168.0.0/16"
        );
        assert_eq!(nets(" , 10.0.0.0/8,, ::1 ").len(), 2);
        assert!(parse_trusted_proxies("10.0.0.0/8,nope").is_err());
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let t = "127.0.0.1, 10.0.0.0/8";
        assert_eq!(client(t, &[]), None, "no header: the connection's address");
        assert_eq!(client(t, &["spoof, 203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(
            client(t, &["198.51.100.1, 203.0.113.7, 10.0.0.5"]),
            Some(ip("203.0.113.7")),
            "trusted hops on the right are skipped"
        );
        // Header lines in order, each comma-separated.
        assert_eq!(
            client(t, &["198.51.100.1", "203.0.113.8, 10.1.1.1"]),
            Some(ip("203.0.113.8"))
        );
        assert_eq!(
            client(t, &["203.0.113.8", "198.51.100.1"]),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            client(t, &["198.51.100.1", "10.0.0.9", "10.0.0.8"]),
            Some(ip("198.51.100.1"))
        );
        // Every entry trusted: the leftmost.
        assert_eq!(client(t, &["10.1.1.1, 10.2.2.2"]), Some(ip("10.1.1.1")));
        assert_eq!(client(t, &["10.1.1.1", "127.0.0.1"]), Some(ip("10.1.1.1")));
        // Ports, brackets, spaces and tabs.
        assert_eq!(client(t, &["203.0.113.7:4711"]), Some(ip("203.0.113.7")));
        assert_eq!(client(t, &["[2001:db8::7]:4711"]), Some(ip("2001:db8::7")));
        assert_eq!(client(t, &["[2001:db8::7]"]), Some(ip("2001:db8::7")));
        assert_eq!(client(t, &["\t2001:db8::7 "]), Some(ip("2001:db8::7")));
        assert_eq!(
            client(t, &["::ffff:203.0.113.7"]),
            Some(ip("203.0.113.7")),
            "IPv4-mapped: the IPv4 form"
        );
        assert_eq!(
            client(t, &["203.0.113.7, ::ffff:10.0.0.1"]),
            Some(ip("203.0.113.7")),
            "a mapped trusted proxy is trusted"
        );
    }

    #[test]
    fn an_unparseable_entry_fails_towards_the_nearest_proxy() {
        let t = "127.0.0.1, 10.0.0.0/8";
        // Unparseable rightmost: the connection's own address.
        for bad in [
            "203.0.113.7, unknown",
            "203.0.113.7, ",
            "203.0.113.7,",
            "203.0.113.7, _hidden",
            "203.0.113.7, 2001:db8:::1",
            "203.0.113.7, [2001:db8::1",
            "203.0.113.7, 203.0.113.8:99999",
            "203.0.113.7, fe80::1%eth0",
            "203.0.113.7, 1.2.3.4.5",
            "",
        ] {
            assert_eq!(client(t, &[bad]), None, "{bad:?}");
        }
        // Past a trusted hop: that hop, never the client-written value further left.
        assert_eq!(
            client(t, &["203.0.113.7, garbage, 10.0.0.3"]),
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            client(t, &["203.0.113.7", "", "10.0.0.3"]),
            Some(ip("10.0.0.3"))
        );
        let long = format!("{}, 10.0.0.3", "9".repeat(100));
        assert_eq!(client(t, &[&long]), Some(ip("10.0.0.3")));
    }

    #[test]
    fn a_huge_header_is_looked_at_within_bounds() {
        let t = "10.0.0.0/8";
        // 64 trusted entries, then the client: past the entry bound, the last trusted hop.
        let hops: Vec<String> = (0..MAX_FORWARDED_ENTRIES)
            .map(|i| format!("10.0.0.{i}"))
            .collect();
        let line = format!("203.0.113.7, {}", hops.join(", "));
        assert_eq!(client(t, &[&line]), Some(ip("10.0.0.0")));
        let line = format!("203.0.113.7, {}", hops[1..].join(", "));
        assert_eq!(
            client(t, &[&line]),
            Some(ip("203.0.113.7")),
            "63 hops: found"
        );
        // The same over many header lines.
        let mut lines = vec!["203.0.113.7"];
        lines.extend(hops.iter().map(String::as_str));
        assert_eq!(client(t, &lines), Some(ip("10.0.0.0")));
        // A megabyte of client-written entries left of the client costs nothing.
        let line = format!("{}203.0.113.7, 10.0.0.1", "1.1.1.1, ".repeat(100_000));
        assert_eq!(client(t, &[&line]), Some(ip("203.0.113.7")));
        // The byte bound: an entry cut at it is not taken, whatever its remains look like.
        let filler = format!("10.{}", "0".repeat(MAX_FORWARDED_BYTES));
        let line = format!("203.0.113.7, {filler}, 10.0.0.1");
        assert_eq!(client(t, &[&line]), Some(ip("10.0.0.1")));
        let line = format!("1{}, 10.0.0.1", " ".repeat(MAX_FORWARDED_BYTES - 20));
        assert_eq!(client(t, &[&line]), Some(ip("10.0.0.1")));
        // Spread over lines: the budget is shared.
        let pad = " ".repeat(MAX_FORWARDED_BYTES / 2);
        let a = format!("203.0.113.9{pad}");
        let b = format!("10.0.0.2{pad}");
        assert_eq!(
            client(t, &["203.0.113.5", &a, &b]),
            Some(ip("10.0.0.2")),
            "the bound is reached inside the second line"
        );
        let small = format!("203.0.113.9{}", " ".repeat(10));
        assert_eq!(client(t, &[&small, &b]), Some(ip("203.0.113.9")));
    }

    #[test]
    fn forwarded_client_has_port_0_or_is_the_peer() {
        let peer = SocketAddr::from(([10, 0, 0, 1], 5555));
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded_client(&nets("10.0.0.0/8"), peer, &headers), peer);
        headers.append(X_FORWARDED_FOR, "203.0.113.7:80".parse().unwrap());
        assert_eq!(
            forwarded_client(&nets("10.0.0.0/8"), peer, &headers),
            SocketAddr::from(([203, 0, 113, 7], 0))
        );
    }

    #[test]
    fn proxies_read_forwarded_headers_only_from_trusted_addresses() {
        let none = Proxies::default();
        assert!(none.forwarding(ip("127.0.0.1")).is_none());
        assert!(none.summary().contains("the TCP peer"));
        let p = Proxies::new(&nets("127.0.0.1,10.0.0.0/8"), true);
        assert!(p.forwarding(ip("10.9.9.9")).is_some());
        assert!(p.forwarding(ip("::ffff:127.0.0.1")).is_some());
        assert!(p.forwarding(ip("192.0.2.1")).is_none());
        assert!(p.summary().contains("127.0.0.1, 10.0.0.0/8"));
        assert!(p.summary().contains("PROXY header"));
        assert!(!p.trusts_everyone());
        assert!(Proxies::new(&nets("::/0"), false).trusts_everyone());
    }

    /// A v2 header: `command` (0 LOCAL, 1 PROXY), `family` and the address block.
    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family << 4 | 1);
        h.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        h.extend_from_slice(addresses);
        h
    }

    fn v2_inet(src: [u8; 4], port: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut a = src.to_vec();
        a.extend_from_slice(&[127, 0, 0, 1]);
        a.extend_from_slice(&port.to_be_bytes());
        a.extend_from_slice(&443u16.to_be_bytes());
        a.extend_from_slice(tlvs);
        v2(1, 1, &a)
    }

    fn header(len: usize, source: Option<&str>) -> Examined {
        Examined::Header {
            len,
            source: source.map(|s| s.parse().unwrap()),
        }
    }

    fn invalid(why: &'static str) -> Examined {
        Examined::Refused(RefusedKind::Invalid(why))
    }

    #[test]
    fn the_first_bytes_decide_and_untrusted_peers_never_get_parsed() {
        for (trusted, bytes, want) in [
            (false, &b""[..], Examined::More),
            (false, b"P", Examined::More),
            (false, b"PROXY", Examined::More),
            (false, b"POST / HTTP/1.1\r\n", Examined::Direct),
            (false, b"\x16\x03\x01", Examined::Direct),
            (false, b"\r\n\r\n\0", Examined::More),
            (false, b"\r\nGET", Examined::Direct),
            (false, b"PROXY ", Examined::Refused(RefusedKind::Untrusted)),
            (
                false,
                V2_SIGNATURE,
                Examined::Refused(RefusedKind::Untrusted),
            ),
            (
                true,
                b"GET / HTTP/1.1\r\n",
                Examined::Refused(RefusedKind::Missing),
            ),
            (
                true,
                b"\x16\x03\x01",
                Examined::Refused(RefusedKind::Missing),
            ),
            (true, b"PROXY TCP4 1.2.3.4", Examined::More),
            (true, V2_SIGNATURE, Examined::More),
        ] {
            assert_eq!(examine(bytes, trusted), want, "{bytes:?}");
        }
    }

    #[test]
    fn v1_headers() {
        let line = b"PROXY TCP4 203.0.113.7 127.0.0.1 56324 443\r\nGET /";
        assert_eq!(examine(line, true), header(44, Some("203.0.113.7:56324")));
        let line = b"PROXY TCP6 2001:db8::7 ::1 1 65535\r\n";
        assert_eq!(examine(line, true), header(36, Some("[2001:db8::7]:1")));
        let line = b"PROXY TCP6 ::ffff:203.0.113.7 ::1 1 2\r\n";
        assert_eq!(examine(line, true), header(39, Some("203.0.113.7:1")));
        assert_eq!(examine(b"PROXY UNKNOWN\r\n", true), header(15, None));
        assert_eq!(
            examine(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", true),
            header(35, None)
        );
        // The longest line the specification allows is 107 bytes.
        let v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let longest = format!("PROXY UNKNOWN {v6} {v6} 65535 65535\r\n");
        assert_eq!(longest.len(), MAX_V1);
        assert_eq!(examine(longest.as_bytes(), true), header(107, None));
        let tcp6 = format!("PROXY TCP6 {v6} {v6} 65535 65535\r\n");
        assert_eq!(
            examine(tcp6.as_bytes(), true),
            header(104, Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"))
        );
        let too_long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(92));
        assert_eq!(too_long.len(), 108);
        assert_eq!(
            examine(too_long.as_bytes(), true),
            invalid("v1 line longer than 107 bytes")
        );
        assert_eq!(examine(&too_long.as_bytes()[..106], true), Examined::More);
        for bad in [
            &b"PROXY TCP4 203.0.113.7 127.0.0.1 56324\r\n"[..],
            b"PROXY TCP4 203.0.113.7  127.0.0.1 1 2\r\n",
            b"PROXY TCP5 203.0.113.7 127.0.0.1 1 2\r\n",
            b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",
            b"PROXY TCP6 203.0.113.7 ::1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 127.0.0.1 01 2\r\n",
            b"PROXY TCP4 203.0.113.7 127.0.0.1 65536 2\r\n",
            b"PROXY TCP4 203.0.113.07 127.0.0.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 127.0.0.1 1 2 \r\n",
            b"PROXY tcp4 203.0.113.7 127.0.0.1 1 2\r\n",
            b"PROXY \xff\r\n",
        ] {
            assert!(
                matches!(
                    examine(bad, true),
                    Examined::Refused(RefusedKind::Invalid(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn v2_headers() {
        let h = v2_inet([203, 0, 113, 7], 56324, &[]);
        assert_eq!(h.len(), 28);
        assert_eq!(examine(&h, true), header(28, Some("203.0.113.7:56324")));
        // TLVs are skipped, bytes after the header left alone.
        let mut h = v2_inet([198, 51, 100, 1], 1, &[4, 0, 3, 0, 0, 0]);
        assert_eq!(examine(&h[..h.len() - 1], true), Examined::More);
        h.extend_from_slice(b"GET /");
        assert_eq!(examine(&h, true), header(34, Some("198.51.100.1:1")));
        let mut a = [0u8; 36];
        a[..16].copy_from_slice(&ip6("2001:db8::7"));
        a[32..34].copy_from_slice(&8080u16.to_be_bytes());
        assert_eq!(
            examine(&v2(1, 2, &a), true),
            header(52, Some("[2001:db8::7]:8080"))
        );
        a[..16].copy_from_slice(&ip6("::ffff:203.0.113.9"));
        assert_eq!(
            examine(&v2(1, 2, &a), true),
            header(52, Some("203.0.113.9:8080"))
        );
        // LOCAL, AF_UNSPEC and AF_UNIX: no client address.
        assert_eq!(examine(&v2(0, 0, &[]), true), header(16, None));
        assert_eq!(examine(&v2(0, 1, &[0; 12]), true), header(28, None));
        assert_eq!(examine(&v2(1, 0, &[]), true), header(16, None));
        assert_eq!(examine(&v2(1, 3, &[0; 216]), true), header(232, None));
        // Bad fields are refused at 16 bytes, before the declared length arrives.
        let mut h = v2(1, 1, &[0; 12]);
        h[12] = 0x11;
        assert_eq!(examine(&h[..16], true), invalid("v2 version"));
        h[12] = 0x22;
        assert_eq!(examine(&h[..16], true), invalid("v2 command"));
        h[12] = 0x21;
        h[13] = 0x41;
        assert_eq!(
            examine(&h[..16], true),
            invalid("v2 address family or transport")
        );
        h[13] = 0x13;
        assert_eq!(
            examine(&h[..16], true),
            invalid("v2 address family or transport")
        );
        assert_eq!(
            examine(&v2(1, 1, &[0; 11]), true),
            invalid("v2 IPv4 addresses too short")
        );
        assert_eq!(
            examine(&v2(1, 2, &[0; 35]), true),
            invalid("v2 IPv6 addresses too short")
        );
        // A declared length is waited for, never read past.
        let mut h = v2(1, 1, &[0; 12]);
        h[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(examine(&h, true), Examined::More);
    }

    fn ip6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[tokio::test]
    async fn reading_a_header_keeps_what_follows_for_http() {
        let peer = SocketAddr::from(([127, 0, 0, 2], 4000));
        let trusting = Proxies::new(&nets("127.0.0.2"), true);
        let other = Proxies::new(&nets("10.0.0.0/8"), true);
        let mut wire =
            b"PROXY TCP4 203.0.113.7 127.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n".as_slice();
        let (client, rest) = read_proxy_header(&mut wire, peer, &trusting).await.unwrap();
        assert_eq!(client, "203.0.113.7:56324".parse().unwrap());
        // What one read brought past the header, then the rest of the stream.
        let mut replayed = Replayed::new(rest, wire);
        let mut text = String::new();
        replayed.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "GET / HTTP/1.1\r\n");
        // LOCAL keeps the proxy's address.
        let h = v2(0, 0, &[]);
        let (client, rest) = read_proxy_header(&mut h.as_slice(), peer, &trusting)
            .await
            .unwrap();
        assert_eq!((client, rest.len()), (peer, 0));
        // An untrusted peer without a header: everything replayed.
        let mut wire = b"GET / HTTP/1.1\r\n".as_slice();
        let (client, rest) = read_proxy_header(&mut wire, peer, &other).await.unwrap();
        assert_eq!(
            (client, rest.as_slice()),
            (peer, &b"GET / HTTP/1.1\r\n"[..])
        );
        let mut wire = b"PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n".as_slice();
        let e = read_proxy_header(&mut wire, peer, &other)
            .await
            .unwrap_err();
        assert!(matches!(e, Refused::Untrusted) && e.is_warning(), "{e}");
        let mut wire = b"GET / HTTP/1.1\r\n".as_slice();
        let e = read_proxy_header(&mut wire, peer, &trusting)
            .await
            .unwrap_err();
        assert!(matches!(e, Refused::Missing), "{e}");
        let mut wire = b"PROXY TCP4 203.0".as_slice();
        let e = read_proxy_header(&mut wire, peer, &trusting)
            .await
            .unwrap_err();
        assert!(matches!(e, Refused::Io(_)) && !e.is_warning(), "{e}");
    }
}
