//! `/proc/net/tcp{,6}` parsing, for the benches that compare it with sock_diag
//! (`sockets`, `cycle`); gomon itself never reads these files.

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a /proc/net/tcp row gives that discovery needs.
#[allow(dead_code)]
pub struct ProcRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub uid: u32,
    pub inode: u64,
}

pub fn read_proc_net(file: &str, buf: &mut Vec<u8>, rows: &mut Vec<ProcRow>) {
    buf.clear();
    File::open(file).and_then(|mut f| f.read_to_end(buf)).expect("read /proc/net/tcp");
    let text = std::str::from_utf8(buf).expect("ASCII");
    // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    for line in text.lines().skip(1) {
        let mut fields = line.split_ascii_whitespace();
        let _sl = fields.next();
        let (Some(local), Some(remote), Some(state)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let mut rest = fields.skip(3); // tx:rx, tr:when, retrnsmt
        let (Some(uid), _timeout, Some(inode)) = (rest.next(), rest.next(), rest.next()) else { continue };
        let (Some(local), Some(remote)) = (hex_endpoint(local), hex_endpoint(remote)) else { continue };
        rows.push(ProcRow {
            local,
            remote,
            state: u8::from_str_radix(state, 16).unwrap_or(0),
            uid: uid.parse().unwrap_or(0),
            inode: inode.parse().unwrap_or(0),
        });
    }
}

/// `0100007F:1F90` (IPv4, host-order words) or 32 hex digits then `:port`.
fn hex_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16).ok();
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?.to_ne_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}
