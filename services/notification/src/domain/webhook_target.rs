//! Where an automation's webhook may point. A webhook is called from inside the deployment, so a
//! target on the deployment's own networks — loopback (`127.0.0.1:6379`, Redis), link-local
//! (`169.254.169.254`, the cloud's metadata service), private ranges — would let whoever edits an
//! automation reach what the apps cannot (server-side request forgery). Such targets are refused
//! unless the operator names the host in `MAITRE_WEBHOOK_ALLOWED_HOSTS` (e.g. an in-cluster
//! receiver). Checked at save on the URL, and at call time on every address the host resolves to.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The deployment setting: hosts (names or addresses, comma separated) webhooks may reach even on
/// internal networks.
pub const ALLOWED_HOSTS_VARIABLE: &str = "MAITRE_WEBHOOK_ALLOWED_HOSTS";

/// Hosts the operator allows as internal webhook targets (lower case, exact match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(BTreeSet<String>);

impl AllowedHosts {
    /// The hosts of a comma-separated list (blanks ignored).
    pub fn parse(list: &str) -> Self {
        Self(
            list.split(',')
                .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    /// Whether `host` (a name or an address, as in the URL) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        self.0
            .contains(&host.trim_matches(['[', ']']).to_ascii_lowercase())
    }
}

/// Whether `ip` is on an internal network a webhook must not reach by default: unspecified,
/// loopback, link-local, private (RFC 1918, unique-local), shared (100.64/10), broadcast or
/// multicast — and IPv4 addresses mapped into IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_private()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
}

/// Why a webhook to `host` is refused, as written in the URL (before resolution): an internal
/// address, or a name that always means this machine. `None` when it may be saved.
pub fn refused_host(host: &url::Host<&str>, allowed: &AllowedHosts) -> Option<String> {
    let shown = host.to_string();
    if allowed.allows(&shown) {
        return None;
    }
    let internal = match host {
        url::Host::Ipv4(ip) => is_internal(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => is_internal(IpAddr::V6(*ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    internal.then(|| refusal(&shown))
}

/// Why a webhook to `host` is refused once it resolved to `ip`; `None` when it may be called.
pub fn refused_address(host: &str, ip: IpAddr, allowed: &AllowedHosts) -> Option<String> {
    (is_internal(ip) && !allowed.allows(host)).then(|| refusal(&format!("{host} ({ip})")))
}

fn refusal(target: &str) -> String {
    format!(
        "{target} is on an internal network (loopback, link-local or private); webhooks go to public hosts unless the operator allows the host in {ALLOWED_HOSTS_VARIABLE}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(url: &str) -> Option<String> {
        let parsed = url::Url::parse(url).expect("url");
        refused_host(&parsed.host().expect("host"), &AllowedHosts::default())
    }

    #[test]
    fn metadata_loopback_and_private_targets_are_refused() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:6379/",
            "http://10.0.0.5/hook",
            "http://172.16.3.1/hook",
            "http://192.168.1.10/hook",
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "http://[::1]/hook",
            "http://[fe80::1]/hook",
            "http://[fd00::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://localhost:8080/hook",
            "http://api.localhost/hook",
        ] {
            assert!(host_of(url).is_some(), "{url} must be refused");
        }
        for url in [
            "https://hooks.example.com/maitre",
            "http://8.8.8.8/hook",
            "http://[2001:db8::1]/hook",
        ] {
            assert_eq!(host_of(url), None, "{url} is public");
        }
    }

    #[test]
    fn the_operator_can_allow_a_named_internal_host() {
        let allowed = AllowedHosts::parse(" 127.0.0.1, Hooks.Internal ,,");
        let parsed = url::Url::parse("http://127.0.0.1:9000/sink").expect("url");
        assert_eq!(refused_host(&parsed.host().expect("host"), &allowed), None);
        assert_eq!(
            refused_address("hooks.internal", "10.1.2.3".parse().expect("ip"), &allowed),
            None
        );
        assert!(
            refused_address("evil.example", "10.1.2.3".parse().expect("ip"), &allowed).is_some(),
            "a public name resolving inside is refused"
        );
        assert_eq!(
            refused_address(
                "evil.example",
                "93.184.216.34".parse().expect("ip"),
                &allowed
            ),
            None
        );
    }
}
