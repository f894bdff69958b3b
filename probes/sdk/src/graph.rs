//! The [`GraphProbe`] trait, the adapter that exports it through the
//! contract's `graph` world, and constructors for the graph's records.

use std::marker::PhantomData;

use crate::bindings::exports::gomon::probe::probe;
use crate::graph_bindings::exports::gomon::probe::topology;
use crate::{Arc, Edge, Graph, GraphQuery, ProbeInfo, Settings, Snapshot, check_settings};

/// A graph probe: describes itself, takes the operator's settings, and draws
/// the connection graph of a snapshot on demand.
///
/// It is the `graph`-world twin of [`Probe`](crate::Probe) and has the same
/// life cycle: one instance, made with [`Default`] on the first call after
/// `describe`, lives as long as the component instance and may be thrown
/// away after a failed call. The host calls [`draw`](GraphProbe::draw) when
/// someone asks for the graph (the /gomon page, a Grafana query), never once
/// per sampling cycle.
pub trait GraphProbe: Default + 'static {
    /// What the probe is: name, version, description and the snapshot parts
    /// it needs (see [`ProbeInfo::new`]).
    fn info() -> ProbeInfo;

    /// Takes the operator's settings for this probe. Called once, before the
    /// first [`draw`](GraphProbe::draw); an `Err` refuses the load. The
    /// default accepts no settings: it refuses any key.
    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        check_settings(settings, &[])
    }

    /// Draws the graph of one snapshot for one query. An `Err` fails this
    /// request only; the host reports it to the caller.
    fn draw(&mut self, now: &Snapshot, query: &GraphQuery) -> Result<Graph, String>;
}

impl Arc {
    /// The whole ring in one colour: `Arc::whole("process")`.
    ///
    /// ```
    /// let arc = gomon_probe::Arc::whole("host");
    /// assert_eq!((arc.name.as_str(), arc.fraction), ("host", 1.0));
    /// ```
    pub fn whole(name: &str) -> Self {
        Self { name: name.to_owned(), fraction: 1.0 }
    }
}

impl Edge {
    /// An edge from `source` to `target` with the contract's id
    /// (`<source>-><target>`), no stats and no details.
    ///
    /// ```
    /// let edge = gomon_probe::Edge::new("host:192.0.2.7", "4410");
    /// assert_eq!(edge.id, "host:192.0.2.7->4410");
    /// ```
    pub fn new(source: &str, target: &str) -> Self {
        Self {
            id: format!("{source}->{target}"),
            source: source.to_owned(),
            target: target.to_owned(),
            main_stat: String::new(),
            secondary_stat: String::new(),
            details: Vec::new(),
        }
    }
}

/// Implements the `graph` world's exported interfaces for a [`GraphProbe`];
/// used by [`export_graph_probe!`](crate::export_graph_probe).
#[doc(hidden)]
pub struct GraphAdapter<P>(PhantomData<P>);

impl<P: GraphProbe> probe::Guest for GraphAdapter<P> {
    fn describe() -> ProbeInfo {
        P::info()
    }

    fn configure(settings: Settings) -> Result<(), String> {
        crate::instance::with::<P, _>(|p| GraphProbe::configure(p, &settings))
    }
}

impl<P: GraphProbe> topology::Guest for GraphAdapter<P> {
    fn draw(now: Snapshot, query: GraphQuery) -> Result<Graph, String> {
        crate::instance::with::<P, _>(|p| p.draw(&now, &query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capability, Node, NodeKind, setting};
    use probe::Guest as _;
    use topology::Guest as _;

    /// Draws one node per call, to show that state persists between calls.
    #[derive(Default)]
    struct Counting {
        calls: u32,
        prefix: String,
    }

    impl GraphProbe for Counting {
        fn info() -> ProbeInfo {
            ProbeInfo::new("counting-graph", "1.0.0", "Counts its calls.", [Capability::Processes])
        }
        fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
            check_settings(settings, &["prefix"])?;
            self.prefix = setting(settings, "prefix").unwrap_or("n").to_owned();
            Ok(())
        }
        fn draw(&mut self, _now: &Snapshot, query: &GraphQuery) -> Result<Graph, String> {
            self.calls += 1;
            let node = Node {
                id: format!("{}{}", self.prefix, self.calls),
                kind: NodeKind::Process,
                title: format!("{:?}", query.pid),
                subtitle: String::new(),
                main_stat: String::new(),
                secondary_stat: String::new(),
                arcs: vec![Arc::whole("process")],
                details: vec![],
                depth: 1,
            };
            Ok(Graph { nodes: vec![node], edges: vec![] })
        }
    }

    #[test]
    fn adapter_keeps_state_between_calls() {
        type A = GraphAdapter<Counting>;
        assert_eq!(A::describe().name, "counting-graph");
        assert!(A::configure(vec![("prefx".into(), "x".into())]).is_err());
        A::configure(vec![("prefix".into(), "p".into())]).unwrap();
        A::draw(crate::testing::empty_snapshot(), GraphQuery { pid: None }).unwrap();
        let second =
            A::draw(crate::testing::empty_snapshot(), GraphQuery { pid: Some(7) }).unwrap();
        assert_eq!(second.nodes[0].id, "p2");
        assert_eq!(second.nodes[0].title, "Some(7)");
    }

    #[test]
    fn default_configure_refuses_unknown_settings() {
        #[derive(Default)]
        struct Plain;
        impl GraphProbe for Plain {
            fn info() -> ProbeInfo {
                ProbeInfo::new("plain", "1", "", [])
            }
            fn draw(&mut self, _: &Snapshot, _: &GraphQuery) -> Result<Graph, String> {
                Ok(Graph { nodes: vec![], edges: vec![] })
            }
        }
        assert!(GraphProbe::configure(&mut Plain, &[]).is_ok());
        let err = GraphProbe::configure(&mut Plain, &[("depth".into(), "1".into())]).unwrap_err();
        assert!(err.contains("depth"), "{err}");
    }
}
