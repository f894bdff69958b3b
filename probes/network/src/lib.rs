//! The built-in `network` probe: interface counters (/proc/net/dev) and link
//! state (/sys/class/net), from the snapshot's `interfaces` part.
//!
//! Every family is labelled `{device}`; the counters are named without
//! `_total`:
//!
//! ```text
//! gomon_network_receive_{bytes,packets,errs,drop,fifo,frame,compressed,multicast}    counters
//! gomon_network_transmit_{bytes,packets,errs,drop,fifo,colls,carrier,compressed}     counters
//! gomon_network_up                   gauge, 1 when the operstate is "up"
//! gomon_network_mtu_bytes            gauge, interfaces whose MTU is known
//! gomon_network_speed_bytes          gauge, link speed in bytes per second, when known
//! gomon_network_info{device,operstate,address}   gauge, 1
//! ```

use gomon_probe::{
    Capability, Column, Family, MetricFamily, NetworkInterface, Probe, ProbeInfo, Snapshot, table,
    value,
};

/// The probe; stateless.
#[derive(Default)]
struct NetworkProbe;

impl Probe for NetworkProbe {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "network",
            env!("CARGO_PKG_VERSION"),
            "Traffic, errors and link state of network interfaces.",
            [Capability::Network],
        )
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        Ok(families(&now.interfaces))
    }
}

gomon_probe::export_probe!(NetworkProbe);

type Nic = NetworkInterface;

#[rustfmt::skip]
const COUNTERS: &[Column<Nic>] = &[
    Column::counter("gomon_network_receive_bytes", "Bytes received.", |n| n.receive_bytes as f64),
    Column::counter("gomon_network_receive_packets", "Packets received.", |n| n.receive_packets as f64),
    Column::counter("gomon_network_receive_errs", "Receive errors.", |n| n.receive_errors as f64),
    Column::counter("gomon_network_receive_drop", "Received packets dropped.", |n| n.receive_dropped as f64),
    Column::counter("gomon_network_receive_fifo", "Receive FIFO overruns.", |n| n.receive_fifo_errors as f64),
    Column::counter("gomon_network_receive_frame", "Receive framing errors.", |n| n.receive_frame_errors as f64),
    Column::counter("gomon_network_receive_compressed", "Compressed packets received.", |n| n.receive_compressed as f64),
    Column::counter("gomon_network_receive_multicast", "Multicast frames received.", |n| n.receive_multicast as f64),
    Column::counter("gomon_network_transmit_bytes", "Bytes sent.", |n| n.transmit_bytes as f64),
    Column::counter("gomon_network_transmit_packets", "Packets sent.", |n| n.transmit_packets as f64),
    Column::counter("gomon_network_transmit_errs", "Transmit errors.", |n| n.transmit_errors as f64),
    Column::counter("gomon_network_transmit_drop", "Outgoing packets dropped.", |n| n.transmit_dropped as f64),
    Column::counter("gomon_network_transmit_fifo", "Transmit FIFO errors.", |n| n.transmit_fifo_errors as f64),
    Column::counter("gomon_network_transmit_colls", "Collisions while sending.", |n| n.transmit_collisions as f64),
    Column::counter("gomon_network_transmit_carrier", "Carrier losses while sending.", |n| n.transmit_carrier_errors as f64),
    Column::counter("gomon_network_transmit_compressed", "Compressed packets sent.", |n| n.transmit_compressed as f64),
    Column::gauge("gomon_network_up", "1 when the operational state is up.", |n| value::flag(n.oper_state == "up")),
];

/// All of the probe's families for these interfaces.
fn families(nics: &[Nic]) -> Vec<MetricFamily> {
    let mut out = table(["device"], COUNTERS, nics.iter().map(|n| ([n.name.as_str()], n)));

    let mut mtu = Family::gauge("gomon_network_mtu_bytes", "Largest packet the link carries.")
        .labels(&["device"]);
    let mut speed = Family::gauge("gomon_network_speed_bytes", "Link speed in bytes per second.")
        .labels(&["device"]);
    let mut info =
        Family::gauge("gomon_network_info", "Interface facts as labels; the value is 1.")
            .labels(&["device", "operstate", "address"]);
    for n in nics {
        if let Some(bytes) = n.mtu {
            mtu.push(&[&n.name], bytes.into());
        }
        if let Some(bits) = n.speed_bits_per_second {
            speed.push(&[&n.name], bits as f64 / 8.0);
        }
        let address = n.mac_address.as_deref().unwrap_or_default();
        info.push(&[&n.name, &n.oper_state, address], 1.0);
    }
    out.extend([mtu, speed, info]);
    out
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    #[test]
    fn counters_state_and_facts() {
        let f = families(&testing::interfaces());
        testing::check(&f).unwrap();
        // testing::interfaces(): eth0 counts up from 1, lo from 101, in field order.
        assert_eq!(sample(&f, "gomon_network_receive_frame", &["eth0"]), 6.0);
        assert_eq!(sample(&f, "gomon_network_transmit_carrier", &["lo"]), 115.0);
        assert_eq!(sample(&f, "gomon_network_up", &["eth0"]), 1.0);
        assert_eq!(sample(&f, "gomon_network_up", &["lo"]), 0.0);
        assert_eq!(sample(&f, "gomon_network_mtu_bytes", &["lo"]), 65_536.0);
        assert_eq!(sample(&f, "gomon_network_speed_bytes", &["eth0"]), 125_000_000.0);
        // lo reports no speed, so it has no speed series.
        assert_eq!(testing::family(&f, "gomon_network_speed_bytes").series.len(), 1);
        assert_eq!(sample(&f, "gomon_network_info", &["eth0", "up", "52:54:00:12:34:56"]), 1.0);
        assert_eq!(sample(&f, "gomon_network_info", &["lo", "unknown", ""]), 1.0);
    }

    #[test]
    fn family_names() {
        let names = testing::names(&families(&[])).join(" ");
        let expected = "gomon_network_receive_bytes gomon_network_receive_packets \
            gomon_network_receive_errs gomon_network_receive_drop gomon_network_receive_fifo \
            gomon_network_receive_frame gomon_network_receive_compressed \
            gomon_network_receive_multicast gomon_network_transmit_bytes \
            gomon_network_transmit_packets gomon_network_transmit_errs \
            gomon_network_transmit_drop gomon_network_transmit_fifo gomon_network_transmit_colls \
            gomon_network_transmit_carrier gomon_network_transmit_compressed gomon_network_up \
            gomon_network_mtu_bytes gomon_network_speed_bytes gomon_network_info";
        assert_eq!(names, expected);
    }
}
