//! `gomon plugin package DIR`: lays out the Grafana data source plugin as Grafana loads it.
//!
//! ```text
//! DIR/
//!   plugin.json                     from the built frontend (assets/plugin/dist)
//!   module.js, module.js.map        the frontend (an AMD module)
//!   img/logo.svg
//!   README.md, LICENSE
//!   gpx_gomon_linux_amd64           this gomon binary, mode 0755: `<executable>_<os>_<arch>`,
//!                                   `executable` from plugin.json, arch as Go names it (arm64 on aarch64)
//! ```
//!
//! Grafana starts that executable in plugin mode; it is the same binary as the collector.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where the frontend build lands, relative to the repository root.
pub const DEFAULT_FRONTEND: &str = "assets/plugin/dist";

/// Files of the frontend build that a plugin must have.
const REQUIRED: [&str; 4] = ["plugin.json", "module.js", "README.md", "LICENSE"];
/// Files copied when present.
const OPTIONAL: [&str; 1] = ["module.js.map"];
/// Directories copied whole.
const DIRECTORIES: [&str; 1] = ["img"];

/// Lays out `dir` from the built frontend (`frontend`, by default [`DEFAULT_FRONTEND`]) and the
/// running executable. Refuses a non-empty `dir` unless `force`; prints each file written.
pub fn package(dir: &Path, frontend: &Path, force: bool) -> anyhow::Result<()> {
    check_frontend(frontend)?;
    let manifest = Manifest::read(&frontend.join("plugin.json"))?;
    let executable_name = executable_file_name(&manifest.executable, std::env::consts::OS, std::env::consts::ARCH)?;
    let exe = std::env::current_exe().context("cannot find the running gomon executable")?;

    prepare_dir(dir, force)?;
    let mut written = Vec::new();
    for name in REQUIRED.iter().chain(OPTIONAL.iter().filter(|name| frontend.join(name).is_file())) {
        written.push(copy_file(&frontend.join(name), &dir.join(name))?);
    }
    for name in DIRECTORIES {
        copy_tree(&frontend.join(name), &dir.join(name), &mut written)?;
    }
    written.push(install_executable(&exe, &dir.join(&executable_name))?);

    println!("plugin {} {} in {}:", manifest.id, manifest.version, dir.display());
    for (path, bytes) in &written {
        let shown = path.strip_prefix(dir).unwrap_or(path);
        println!("  {:<32} {bytes:>12} bytes", shown.display());
    }
    println!("executable {executable_name} is {} (mode 0755; never make it setuid)", exe.display());
    println!("allow it in Grafana: GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={}", manifest.id);
    if manifest.version != env!("CARGO_PKG_VERSION") {
        eprintln!(
            "gomon: warning: the frontend is version {} but this gomon is {}; rebuild the frontend",
            manifest.version,
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(())
}

/// What `package` needs from plugin.json.
struct Manifest {
    id: String,
    version: String,
    executable: String,
}

impl Manifest {
    fn read(path: &Path) -> anyhow::Result<Manifest> {
        let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
        let field = |name: &str| -> anyhow::Result<String> {
            json.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("{}: no string field `{name}`", path.display()))
        };
        let version = json.pointer("/info/version").and_then(serde_json::Value::as_str).unwrap_or("?").to_owned();
        Ok(Manifest { id: field("id")?, version, executable: field("executable")? })
    }
}

/// `<executable>_<os>_<arch>` with Go's names for the architecture, as Grafana looks it up.
fn executable_file_name(executable: &str, os: &str, arch: &str) -> anyhow::Result<String> {
    if executable.is_empty() || executable.contains('/') || executable.starts_with('.') {
        bail!("plugin.json: `executable` {executable:?} is not a file name");
    }
    let goarch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => bail!("Grafana has no executable name for the architecture {other}"),
    };
    Ok(format!("{executable}_{os}_{goarch}"))
}

/// Fails with the path and the build command when the frontend is not built.
fn check_frontend(frontend: &Path) -> anyhow::Result<()> {
    if !frontend.is_dir() {
        bail!(
            "the plugin frontend is not built: {} does not exist (build it with `npm ci && npm run build` in \
             assets/plugin, or pass --frontend DIR)",
            frontend.display()
        );
    }
    for name in REQUIRED {
        if !frontend.join(name).is_file() {
            bail!(
                "{} has no {name}: not a built plugin frontend (`npm run build` in assets/plugin makes it)",
                frontend.display()
            );
        }
    }
    Ok(())
}

/// Creates `dir`, or accepts an empty one; a non-empty one only with `force`.
fn prepare_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                bail!("{} is not empty; pass --force to write over it", dir.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot use {} as the plugin directory", dir.display())),
    }
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<(PathBuf, u64)> {
    let bytes = fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok((to.to_path_buf(), bytes))
}

/// Copies the regular files and directories under `from` (symbolic links are followed).
fn copy_tree(from: &Path, to: &Path, written: &mut Vec<(PathBuf, u64)>) -> anyhow::Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut entries: Vec<_> = fs::read_dir(from)
        .with_context(|| format!("cannot read {}", from.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", from.display()))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let source = entry.path();
        let target = to.join(entry.file_name());
        if source.is_dir() {
            copy_tree(&source, &target, written)?;
        } else if source.is_file() {
            written.push(copy_file(&source, &target)?);
        }
    }
    Ok(())
}

/// Copies the executable through a temporary file and a rename, so that a Grafana running the old
/// one neither sees a half-written file nor blocks the copy (ETXTBSY); mode 0755.
fn install_executable(exe: &Path, target: &Path) -> anyhow::Result<(PathBuf, u64)> {
    let dir = target.parent().context("the executable's path has no directory")?;
    let mut temp = tempfile_in(dir)?;
    let mut source = fs::File::open(exe).with_context(|| format!("cannot read {}", exe.display()))?;
    let bytes =
        std::io::copy(&mut source, &mut temp.file).with_context(|| format!("cannot write {}", temp.path.display()))?;
    temp.file.flush().with_context(|| format!("cannot write {}", temp.path.display()))?;
    temp.file
        .set_permissions(fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", temp.path.display()))?;
    fs::rename(&temp.path, target)
        .with_context(|| format!("cannot move {} to {}", temp.path.display(), target.display()))?;
    temp.kept = true;
    Ok((target.to_path_buf(), bytes))
}

/// A new file in `dir`, removed on drop unless `kept`.
struct TempFile {
    path: PathBuf,
    file: fs::File,
    kept: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn tempfile_in(dir: &Path) -> anyhow::Result<TempFile> {
    let path = dir.join(format!(".gomon-package-{}.tmp", std::process::id()));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(TempFile { path, file, kept: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_names_follow_go_architecture_names() {
        assert_eq!(executable_file_name("gpx_gomon", "linux", "x86_64").unwrap(), "gpx_gomon_linux_amd64");
        assert_eq!(executable_file_name("gpx_gomon", "linux", "aarch64").unwrap(), "gpx_gomon_linux_arm64");
        let err = executable_file_name("gpx_gomon", "linux", "mips").unwrap_err().to_string();
        assert!(err.contains("mips"), "{err}");
        let err = executable_file_name("../gpx", "linux", "x86_64").unwrap_err().to_string();
        assert!(err.contains("\"../gpx\" is not a file name"), "{err}");
    }

    #[test]
    fn refuses_a_non_empty_directory_without_force() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep"), "x").unwrap();
        let err = prepare_dir(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("is not empty; pass --force"), "{err}");
        prepare_dir(dir.path(), true).unwrap();
        let new = dir.path().join("a/b");
        prepare_dir(&new, false).unwrap();
        assert!(new.is_dir());
    }

    #[test]
    fn names_a_missing_frontend_and_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("dist");
        let err = check_frontend(&missing).unwrap_err().to_string();
        assert!(err.contains(&missing.display().to_string()) && err.contains("npm run build"), "{err}");
        fs::create_dir(&missing).unwrap();
        fs::write(missing.join("plugin.json"), "{}").unwrap();
        let err = check_frontend(&missing).unwrap_err().to_string();
        assert!(err.contains("has no module.js"), "{err}");
    }

    #[test]
    fn reads_id_version_and_executable_from_plugin_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugin.json");
        fs::write(&path, r#"{"id":"a-b-datasource","executable":"gpx_b","info":{"version":"1.2.3"}}"#).unwrap();
        let m = Manifest::read(&path).unwrap();
        assert_eq!((m.id.as_str(), m.version.as_str(), m.executable.as_str()), ("a-b-datasource", "1.2.3", "gpx_b"));
        fs::write(&path, r#"{"id":"a-b-datasource"}"#).unwrap();
        let err = format!("{:#}", Manifest::read(&path).err().unwrap());
        assert!(err.contains("no string field `executable`"), "{err}");
    }
}
