//! Checks a component against the probe contract before it is compiled or
//! linked: that it is a component (not a core module), which contract
//! version it targets, which world it implements and what it imports.

use std::fmt;

use wasmparser::{Parser, Payload};

use super::bindings::{CONTRACT_PACKAGE, CONTRACT_VERSION};

/// What a component says about itself in its import and export names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentShape {
    /// Top-level import names, e.g. `gomon:probe/host@0.2.0`, `wasi:io/streams@0.2.6`.
    pub imports: Vec<String>,
    /// Top-level export names, e.g. `gomon:probe/metrics@0.2.0`.
    pub exports: Vec<String>,
}

/// The world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `gomon:probe/measure`: snapshots in, metric families out.
    Measure,
    /// `gomon:probe/graph`: a snapshot and a query in, the connection graph out.
    Graph,
    /// `gomon:probe/observe`: a batch of observations in, the batch to deliver out.
    Observe,
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            World::Measure => write!(f, "{CONTRACT_PACKAGE}/measure@{CONTRACT_VERSION}"),
            World::Graph => write!(f, "{CONTRACT_PACKAGE}/graph@{CONTRACT_VERSION}"),
            World::Observe => write!(f, "{CONTRACT_PACKAGE}/observe@{CONTRACT_VERSION}"),
        }
    }
}

/// Why a file is not a usable probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (bad magic number or truncated)")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "is a core WebAssembly module, not a component: build it for wasm32-wasip2, or turn the module into a component with wit-component"
    )]
    CoreModule,
    /// Malformed binary.
    #[error("malformed component: {0}")]
    Malformed(String),
    /// Targets another version of the contract.
    #[error("targets contract {CONTRACT_PACKAGE}@{found}, but this gomon implements {CONTRACT_PACKAGE}@{supported}")]
    Version {
        /// The version the component names.
        found: String,
        /// The version this host implements.
        supported: &'static str,
    },
    /// Exports none of the worlds' interfaces.
    #[error(
        "exports no gomon probe world: expected the exports {CONTRACT_PACKAGE}/probe@{CONTRACT_VERSION} and {CONTRACT_PACKAGE}/metrics@{CONTRACT_VERSION} (world measure); it exports [{0}]"
    )]
    NoWorld(String),
    /// Imports something the host does not provide.
    #[error("imports `{0}`, which gomon does not provide to probes (only {CONTRACT_PACKAGE}/host and WASI)")]
    UnknownImport(String),
}

impl ComponentShape {
    /// Reads the top-level import and export names of a component.
    pub fn parse(bytes: &[u8]) -> Result<ComponentShape, ContractError> {
        if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
            return Err(ContractError::NotWasm);
        }
        if Parser::is_core_wasm(bytes) {
            return Err(ContractError::CoreModule);
        }
        if !Parser::is_component(bytes) {
            return Err(ContractError::NotWasm);
        }
        let mut shape = ComponentShape { imports: Vec::new(), exports: Vec::new() };
        // Nested modules and components have their own import and export
        // sections; only depth 0 names the component's interface.
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| ContractError::Malformed(e.to_string()))?;
            match payload {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 0 => {
                    for import in reader {
                        let import = import.map_err(|e| ContractError::Malformed(e.to_string()))?;
                        shape.imports.push(import.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 0 => {
                    for export in reader {
                        let export = export.map_err(|e| ContractError::Malformed(e.to_string()))?;
                        shape.exports.push(export.name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    /// The top-level import and export names of a compiled component (for
    /// a component whose bytes were not parsed: a precompiled built-in).
    pub fn of_component(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> ComponentShape {
        let ty = component.component_type();
        ComponentShape {
            imports: ty.imports(engine).map(|(name, _)| name.to_owned()).collect(),
            exports: ty.exports(engine).map(|(name, _)| name.to_owned()).collect(),
        }
    }

    /// The contract versions named in imports and exports (normally one).
    pub fn contract_versions(&self) -> Vec<&str> {
        let mut versions: Vec<&str> = self
            .imports
            .iter()
            .chain(&self.exports)
            .filter_map(|name| contract_name(name).map(|(_, version)| version))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        versions
    }

    /// Checks the version, the world and the imports.
    pub fn check(&self) -> Result<World, ContractError> {
        if let Some(found) = self.contract_versions().into_iter().find(|v| *v != CONTRACT_VERSION) {
            return Err(ContractError::Version { found: found.to_owned(), supported: CONTRACT_VERSION });
        }
        let exports_iface =
            |iface: &str| self.exports.iter().any(|e| contract_name(e) == Some((iface, CONTRACT_VERSION)));
        let world = match (
            exports_iface("probe"),
            exports_iface("metrics"),
            exports_iface("topology"),
            exports_iface("observations"),
        ) {
            (true, true, _, _) => World::Measure,
            (true, false, true, _) => World::Graph,
            (true, false, false, true) => World::Observe,
            _ => return Err(ContractError::NoWorld(self.exports.join(", "))),
        };
        for import in &self.imports {
            let ours = matches!(contract_name(import), Some(("host" | "types", _)));
            if !ours && !import.starts_with("wasi:") {
                return Err(ContractError::UnknownImport(import.clone()));
            }
        }
        Ok(world)
    }

    /// WASI interfaces the component imports (all denied or empty in gomon).
    pub fn wasi_imports(&self) -> impl Iterator<Item = &str> {
        self.imports.iter().map(String::as_str).filter(|i| i.starts_with("wasi:"))
    }
}

/// Splits `gomon:probe/<iface>@<version>` into interface and version.
fn contract_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
    rest.split_once('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(imports: &[&str], exports: &[&str]) -> ComponentShape {
        ComponentShape {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_the_measure_world() {
        let s = shape(
            &["gomon:probe/types@0.2.0", "gomon:probe/host@0.2.0", "wasi:io/streams@0.2.6"],
            &["gomon:probe/probe@0.2.0", "gomon:probe/metrics@0.2.0"],
        );
        assert_eq!(s.check(), Ok(World::Measure));
        assert_eq!(s.wasi_imports().collect::<Vec<_>>(), ["wasi:io/streams@0.2.6"]);
    }

    #[test]
    fn accepts_the_graph_world() {
        let s = shape(&["gomon:probe/types@0.2.0"], &["gomon:probe/probe@0.2.0", "gomon:probe/topology@0.2.0"]);
        assert_eq!(s.check(), Ok(World::Graph));
    }

    #[test]
    fn accepts_the_observe_world() {
        let s = shape(&["gomon:probe/types@0.2.0"], &["gomon:probe/probe@0.2.0", "gomon:probe/observations@0.2.0"]);
        assert_eq!(s.check(), Ok(World::Observe));
    }

    #[test]
    fn refuses_another_version_naming_both() {
        let s = shape(&["gomon:probe/host@0.3.0"], &["gomon:probe/probe@0.3.0", "gomon:probe/metrics@0.3.0"]);
        let err = s.check().unwrap_err().to_string();
        assert!(err.contains("0.3.0") && err.contains("0.2.0"), "{err}");
    }

    #[test]
    fn refuses_a_component_without_the_world() {
        let s = shape(&[], &["wasi:cli/run@0.2.0"]);
        assert!(matches!(s.check(), Err(ContractError::NoWorld(_))));
    }

    #[test]
    fn refuses_unknown_imports() {
        let s = shape(&["acme:secret/keys"], &["gomon:probe/probe@0.2.0", "gomon:probe/metrics@0.2.0"]);
        assert_eq!(s.check(), Err(ContractError::UnknownImport("acme:secret/keys".into())));
    }

    #[test]
    fn tells_garbage_and_core_modules_apart() {
        assert_eq!(ComponentShape::parse(b"hello world, not wasm"), Err(ContractError::NotWasm));
        assert_eq!(ComponentShape::parse(b"\0asm\x01\0\0\0"), Err(ContractError::CoreModule));
        // Component header (version 0x0d, layer 1) cut short after a bogus section.
        assert!(matches!(ComponentShape::parse(b"\0asm\x0d\0\x01\0\x07\xff"), Err(ContractError::Malformed(_))));
    }
}
