//! `gomon plugin package DIR`: lays out the Grafana data source plugin as Grafana loads it;
//! `gomon plugin package --zip FILE`: the same as the archive Grafana's CLI installs
//! (`grafana cli --pluginUrl FILE plugins install`), under one folder named after the plugin id.
//!
//! ```text
//! DIR/  (or gomon-host-datasource/ in the zip)
//!   plugin.json                     from the built frontend (assets/plugin/dist)
//!   module.js, module.js.map        the frontend (an AMD module)
//!   img/logo.svg
//!   README.md, LICENSE, CHANGELOG.md
//!   gpx_gomon_linux_amd64           this gomon binary, mode 0755: `<executable>_<os>_<arch>`,
//!                                   `executable` from plugin.json, arch as Go names it (arm64 on aarch64)
//! ```
//!
//! Grafana starts that executable in plugin mode; it is the same binary as the collector. In
//! the zip it is stripped of debug info (`strip --strip-unneeded`, as the Debian package does)
//! and carries the executable bit in its Unix mode (the entry's external attributes), which
//! Grafana's installer restores.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where the frontend build lands, relative to the repository root.
pub const DEFAULT_FRONTEND: &str = "assets/plugin/dist";

/// Files of the frontend build that a plugin must have.
const REQUIRED: [&str; 5] = ["plugin.json", "module.js", "README.md", "LICENSE", "CHANGELOG.md"];
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

/// Writes the zip archive `zip` from the built frontend and the running executable (stripped
/// when it carries debug info). Refuses an existing `zip` unless `force`; the archive is
/// written beside it and renamed into place.
pub fn package_zip(zip: &Path, frontend: &Path, force: bool) -> anyhow::Result<()> {
    check_frontend(frontend)?;
    let manifest = Manifest::read(&frontend.join("plugin.json"))?;
    check_plugin_id(&manifest.id)?;
    let executable_name = executable_file_name(&manifest.executable, std::env::consts::OS, std::env::consts::ARCH)?;
    if zip.exists() && !force {
        bail!("{} exists; pass --force to write over it", zip.display());
    }
    let exe = std::env::current_exe().context("cannot find the running gomon executable")?;
    let dir = match zip.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stripped = stripped_executable(&exe, &dir)?;
    let executable = stripped.as_ref().map_or(exe.as_path(), |t| t.path.as_path());

    let mut files: Vec<(String, PathBuf, u32)> = Vec::new();
    for name in REQUIRED.iter().chain(OPTIONAL.iter().filter(|name| frontend.join(name).is_file())) {
        files.push(((*name).to_owned(), frontend.join(name), 0o644));
    }
    for name in DIRECTORIES {
        list_tree(&frontend.join(name), name, &mut files)?;
    }
    files.push((executable_name.clone(), executable.to_path_buf(), 0o755));

    let mut temp = tempfile_in(&dir)?;
    let written = write_zip(&mut temp.file, &manifest.id, &files)
        .with_context(|| format!("cannot write the archive {}", temp.path.display()))?;
    fs::rename(&temp.path, zip).with_context(|| format!("cannot move {} to {}", temp.path.display(), zip.display()))?;
    temp.kept = true;

    println!("plugin {} {} in {}:", manifest.id, manifest.version, zip.display());
    for (name, bytes) in &written {
        println!("  {name:<48} {bytes:>12} bytes");
    }
    let size = fs::metadata(zip).map(|m| m.len()).unwrap_or(0);
    println!("archive {} is {size} bytes; the executable is {}", zip.display(), executable_name);
    println!("install it: grafana cli --pluginUrl {} plugins install {}", zip.display(), manifest.id);
    println!("allow it in Grafana: GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={}", manifest.id);
    Ok(())
}

/// A plugin id Grafana accepts is also a safe folder name: `[a-z0-9-]`, no leading `-`.
fn check_plugin_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!("plugin.json: `id` {id:?} is not a plugin id (lower-case letters, digits and `-`)");
    }
    Ok(())
}

/// Writes `files` (name in the archive, source, Unix mode) under `top/`, deflated, with
/// fixed timestamps (1980-01-01, so the same inputs give the same archive). Returns the
/// names and sizes written.
fn write_zip(out: &mut fs::File, top: &str, files: &[(String, PathBuf, u32)]) -> anyhow::Result<Vec<(String, u64)>> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.add_directory(format!("{top}/"), options.unix_permissions(0o755))?;
    let mut directories = std::collections::BTreeSet::new();
    let mut written = Vec::new();
    for (name, source, mode) in files {
        // Each directory once, before what it holds, outermost first.
        let ancestors: Vec<&Path> = Path::new(name).ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()).collect();
        for dir in ancestors.into_iter().rev() {
            let entry = format!("{top}/{}/", dir.display());
            if directories.insert(entry.clone()) {
                writer.add_directory(entry, options.unix_permissions(0o755))?;
            }
        }
        let entry = format!("{top}/{name}");
        writer.start_file(entry.as_str(), options.unix_permissions(*mode).large_file(false))?;
        let mut input = fs::File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
        let bytes =
            std::io::copy(&mut input, &mut writer).with_context(|| format!("cannot compress {}", source.display()))?;
        written.push((entry, bytes));
    }
    writer.finish()?.sync_all()?;
    Ok(written)
}

/// The regular files under `from` as `(prefix/relative name, path, 0644)`, sorted.
fn list_tree(from: &Path, prefix: &str, files: &mut Vec<(String, PathBuf, u32)>) -> anyhow::Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<_> = fs::read_dir(from)
        .with_context(|| format!("cannot read {}", from.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", from.display()))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let source = entry.path();
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        if source.is_dir() {
            list_tree(&source, &name, files)?;
        } else if source.is_file() {
            files.push((name, source, 0o644));
        }
    }
    Ok(())
}

/// Bytes of the debug info in the ELF file at `path`: its `.debug_*` sections that are not
/// loaded at run time (0 for a stripped one; Rust's 34-byte `.debug_gdb_scripts` is loaded
/// and stays).
fn debug_bytes(path: &Path) -> anyhow::Result<u64> {
    use object::{Object, ObjectSection};
    let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an executable gomon can read", path.display()))?;
    Ok(file
        .sections()
        .filter(|s| s.address() == 0 && s.name().is_ok_and(|n| n.starts_with(".debug_")))
        .map(|s| s.size())
        .sum())
}

/// A stripped copy of `exe` in `dir` when `exe` carries debug info (`None`: use it as it
/// is), made by binutils' `strip` with the options the Debian package uses.
fn stripped_executable(exe: &Path, dir: &Path) -> anyhow::Result<Option<TempFile>> {
    let debug = debug_bytes(exe)?;
    if debug == 0 {
        return Ok(None);
    }
    let temp = tempfile_in(dir)?;
    let status = std::process::Command::new("strip")
        .args(["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", "-o"])
        .arg(&temp.path)
        .arg(exe)
        .stdin(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => Ok(Some(temp)),
        Ok(status) => bail!("`strip` failed on {} ({status})", exe.display()),
        Err(e) => bail!(
            "{} carries {} MB of debug info and `strip` cannot run ({e}): install binutils, or package \
             from the Debian package's /usr/bin/gomon, which is stripped",
            exe.display(),
            debug / 1_000_000
        ),
    }
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
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".gomon-package-{}-{n}.tmp", std::process::id()));
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
    fn plugin_ids_are_safe_folder_names() {
        check_plugin_id("gomon-host-datasource").unwrap();
        for bad in ["", "../x", "a/b", "-x", "Gomon", "a b"] {
            assert!(check_plugin_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_zip_has_one_top_folder_modes_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "plugin").unwrap();
        fs::write(&b, "exe").unwrap();
        let files = vec![("img/x/logo.svg".to_owned(), a.clone(), 0o644), ("gpx".to_owned(), b, 0o755)];
        let path = dir.path().join("p.zip");
        let mut out = fs::File::create(&path).unwrap();
        write_zip(&mut out, "top-id", &files).unwrap();
        let mut archive = zip::ZipArchive::new(fs::File::open(&path).unwrap()).unwrap();
        let names: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert_eq!(names, ["top-id/", "top-id/img/", "top-id/img/x/", "top-id/img/x/logo.svg", "top-id/gpx"]);
        let exe = archive.by_name("top-id/gpx").unwrap();
        assert_eq!(exe.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(exe.compression(), zip::CompressionMethod::Deflated);
    }

    #[test]
    fn a_stripped_file_has_no_debug_bytes_and_a_non_elf_is_named() {
        let exe = std::env::current_exe().unwrap();
        // The test binary is built with the release profile's line tables.
        assert!(debug_bytes(&exe).unwrap() > 0);
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("not-elf");
        fs::write(&text, "#!/bin/sh\n").unwrap();
        let err = format!("{:#}", debug_bytes(&text).unwrap_err());
        assert!(err.contains("not-elf") && err.contains("not an executable"), "{err}");
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
