//! The connection graph: the graph probe's answer converted once into the renderers'
//! model ([`convert`]), and the one SVG renderer every viewer shares ([`Renderer`]).
//!
//! Rendering runs `dot`, a process that can take hundreds of milliseconds on a large
//! graph. One worker thread renders; requests for the same picture (the same DOT text:
//! the same sample, focus and theme) wait for the one rendering in flight or take the
//! cached SVG, so N viewers of one graph cost one `dot`:
//!
//! ```text
//! viewer ─┐                 ┌─ cached? ──────────────────────────► SVG
//! viewer ─┼─► Renderer::svg ┼─ in flight? wait for it ───────────► SVG
//! viewer ─┘   (DOT digest)  └─ queue (bounded) ─► worker: dot -Tsvg (deadline) ─► SVG, cached
//!                               full? ─► the built-in layout, in the caller's thread
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use gomon_sink_graphviz as graphviz;
use sha2::{Digest, Sha256};

use crate::runtime::bindings::topology;

/// How long `dot` may take before the built-in layout is used.
const DOT_TIMEOUT: Duration = Duration::from_secs(5);
/// Rendered pictures kept.
const CACHE_ENTRIES: usize = 32;
/// Distinct pictures waiting for the worker; more are drawn with the built-in layout.
const MAX_QUEUED: usize = 8;

/// The graph probe's answer as the renderers' model ([`gomon_graph::Graph`], which
/// the Grafana frames take too): a move, field for field.
pub fn convert(graph: topology::Graph) -> gomon_graph::Graph {
    let nodes = graph
        .nodes
        .into_iter()
        .map(|n| gomon_graph::Node {
            id: n.id,
            kind: match n.kind {
                topology::NodeKind::Process => gomon_graph::NodeKind::Process,
                topology::NodeKind::Host => gomon_graph::NodeKind::Host,
                topology::NodeKind::Data => gomon_graph::NodeKind::Data,
            },
            title: n.title,
            subtitle: n.subtitle,
            main_stat: n.main_stat,
            secondary_stat: n.secondary_stat,
            arcs: n.arcs.into_iter().map(|a| gomon_graph::Arc { name: a.name, fraction: a.fraction }).collect(),
            details: n.details,
            depth: n.depth,
        })
        .collect();
    let edges = graph
        .edges
        .into_iter()
        .map(|e| gomon_graph::Edge {
            id: e.id,
            source: e.source,
            target: e.target,
            main_stat: e.main_stat,
            secondary_stat: e.secondary_stat,
            details: e.details,
        })
        .collect();
    gomon_graph::Graph { nodes, edges }
}

/// An SVG and, when `dot` could not draw it, why the built-in layout did.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The SVG document.
    pub svg: Arc<str>,
    /// `Some(reason)` when the built-in layout drew it.
    pub fallback: Option<String>,
}

type Key = [u8; 32];

/// What the worker draws with: DOT text, the graph and its options in, an SVG out.
type RenderFn = dyn Fn(&str, &gomon_graph::Graph, &graphviz::DotOptions) -> Rendered + Send + Sync;

/// A rendering job's state, shared by everyone who asked for the same picture.
#[derive(Default)]
struct Slot {
    done: Mutex<Option<Rendered>>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    cache: HashMap<Key, Rendered>,
    /// Keys in the order they were cached (oldest first).
    order: VecDeque<Key>,
    /// Pictures being rendered or waiting for the worker.
    pending: HashMap<Key, Arc<Slot>>,
    queue: VecDeque<(Key, String, gomon_graph::Graph, graphviz::DotOptions)>,
    stopped: bool,
}

/// Counters of the renderer (for tests and self-metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RenderStats {
    /// Times the worker ran the renderer (`dot`, or the built-in layout after it failed).
    pub renders: u64,
    /// Answers served from the cache or from a rendering already in flight.
    pub shared: u64,
    /// Answers drawn with the built-in layout because the queue was full.
    pub overflow: u64,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    stats: Mutex<RenderStats>,
    render: Box<RenderFn>,
}

/// The one SVG renderer: a worker thread, a queue of distinct pictures, a cache.
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::with(render_with_dot)
    }
}

/// `dot -Tsvg` with a deadline; the built-in layout when `dot` fails or is missing.
fn render_with_dot(dot: &str, graph: &gomon_graph::Graph, options: &graphviz::DotOptions) -> Rendered {
    match graphviz::render_svg(dot, DOT_TIMEOUT) {
        Ok(svg) => Rendered { svg: svg.into(), fallback: None },
        Err(e) => {
            tracing::debug!("Graphviz unavailable, using the built-in layout: {e}");
            Rendered { svg: graphviz::layout_svg_with(graph, options).into(), fallback: Some(e.to_string()) }
        }
    }
}

impl Renderer {
    /// A renderer whose worker draws with `render` (tests count its calls).
    pub fn with(
        render: impl Fn(&str, &gomon_graph::Graph, &graphviz::DotOptions) -> Rendered + Send + Sync + 'static,
    ) -> Self {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            stats: Mutex::new(RenderStats::default()),
            render: Box::new(render),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("gomon-render".into())
            .spawn(move || worker(weak))
            .expect("cannot start the graph render thread");
        Renderer { inner }
    }

    /// The SVG of `graph` drawn with `options`. Blocking: call from a blocking thread.
    pub fn svg(&self, graph: gomon_graph::Graph, options: graphviz::DotOptions) -> Rendered {
        let dot = graphviz::to_dot(&graph, &options);
        let key: Key = Sha256::digest(dot.as_bytes()).into();
        let slot = {
            let mut state = lock(&self.inner.state);
            if let Some(hit) = state.cache.get(&key) {
                let hit = hit.clone();
                drop(state);
                lock(&self.inner.stats).shared += 1;
                return hit;
            }
            match state.pending.get(&key) {
                Some(slot) => {
                    lock(&self.inner.stats).shared += 1;
                    slot.clone()
                }
                None if state.queue.len() >= MAX_QUEUED || state.stopped => {
                    drop(state);
                    lock(&self.inner.stats).overflow += 1;
                    let svg = graphviz::layout_svg_with(&graph, &options);
                    return Rendered { svg: svg.into(), fallback: Some("the renderer is busy".into()) };
                }
                None => {
                    let slot = Arc::new(Slot::default());
                    state.pending.insert(key, slot.clone());
                    state.queue.push_back((key, dot, graph, options));
                    self.inner.work.notify_one();
                    slot
                }
            }
        };
        let mut done = lock(&slot.done);
        while done.is_none() {
            done = slot.ready.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        done.clone().expect("checked above")
    }

    /// The counters so far.
    pub fn stats(&self) -> RenderStats {
        *lock(&self.inner.stats)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.state).stopped = true;
        self.work.notify_all();
    }
}

fn worker(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let job = {
            let mut state = lock(&strong.state);
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break Some(job);
                }
                if state.stopped {
                    break None;
                }
                // Wake now and then to notice the renderer is gone.
                state = strong.work.wait_timeout(state, Duration::from_secs(5)).unwrap_or_else(|e| e.into_inner()).0;
                if Arc::strong_count(&strong) == 1 {
                    break None;
                }
            }
        };
        let Some((key, dot, graph, options)) = job else { return };
        let rendered = (strong.render)(&dot, &graph, &options);
        lock(&strong.stats).renders += 1;
        let slot = {
            let mut state = lock(&strong.state);
            state.cache.insert(key, rendered.clone());
            state.order.push_back(key);
            while state.order.len() > CACHE_ENTRIES {
                if let Some(old) = state.order.pop_front() {
                    state.cache.remove(&old);
                }
            }
            state.pending.remove(&key)
        };
        if let Some(slot) = slot {
            *lock(&slot.done) = Some(rendered);
            slot.ready.notify_all();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn graph(n: usize) -> gomon_graph::Graph {
        gomon_graph::Graph {
            nodes: (0..n)
                .map(|i| gomon_graph::Node { id: (i + 1).to_string(), title: format!("p{i}"), ..Default::default() })
                .collect(),
            edges: Vec::new(),
        }
    }

    #[test]
    fn concurrent_viewers_of_one_graph_cost_one_rendering() {
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (c, g) = (calls.clone(), gate.clone());
        let renderer = Renderer::with(move |dot, _, _| {
            c.fetch_add(1, Ordering::SeqCst);
            // Hold the rendering until every viewer has asked.
            let (open, cv) = &*g;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            Rendered { svg: format!("<svg>{}</svg>", dot.len()).into(), fallback: None }
        });
        let viewers: Vec<_> = (0..20)
            .map(|_| {
                let r = renderer.clone();
                std::thread::spawn(move || r.svg(graph(3), Default::default()))
            })
            .collect();
        // Hold the one rendering until the other 19 viewers wait on it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while renderer.stats().shared < 19 {
            assert!(std::time::Instant::now() < deadline, "viewers did not queue: {:?}", renderer.stats());
            std::thread::yield_now();
        }
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let answers: Vec<Rendered> = viewers.into_iter().map(|v| v.join().unwrap()).collect();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{:?}", renderer.stats());
        assert!(answers.iter().all(|a| a.svg == answers[0].svg));
        // A new graph (a new sample) is rendered again; the old one comes from the cache.
        renderer.svg(graph(4), Default::default());
        renderer.svg(graph(3), Default::default());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_full_queue_falls_back_to_the_built_in_layout() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = gate.clone();
        let renderer = Renderer::with(move |_, _, _| {
            let (open, cv) = &*g;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            Rendered { svg: "<svg/>".into(), fallback: None }
        });
        // One picture in the worker, MAX_QUEUED waiting: the next distinct one overflows.
        let waiting: Vec<_> = (0..=MAX_QUEUED)
            .map(|i| {
                let r = renderer.clone();
                std::thread::spawn(move || r.svg(graph(i + 1), Default::default()))
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let queued = lock(&renderer.inner.state).queue.len();
            if queued == MAX_QUEUED {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "queue stuck at {queued}");
            std::thread::yield_now();
        }
        let overflow = renderer.svg(graph(100), Default::default());
        assert_eq!(overflow.fallback.as_deref(), Some("the renderer is busy"));
        assert!(overflow.svg.contains("<svg"), "{}", overflow.svg);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        for w in waiting {
            assert_eq!(&*w.join().unwrap().svg, "<svg/>");
        }
        assert_eq!(renderer.stats().overflow, 1);
    }
}
