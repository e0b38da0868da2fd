//! `--file NAME=PATH`: a data file baked into the image as `/NAME`, beside the repo's
//! `files/`. The image gets it as fw_cfg `opt/kiln/file/NAME` (board/src/lib.rs).

use std::path::{Path, PathBuf};

/// The fw_cfg prefix the image reads files from.
pub const FW_CFG_PREFIX: &str = "opt/kiln/file/";
/// QEMU's fw_cfg names hold 55 bytes.
const FW_CFG_NAME_MAX: usize = 55;
/// The largest file the image takes (it is read into the guest's memory).
pub const MAX_BYTES: u64 = 64 << 20;

/// A file to bake: its name in the image and the host file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakedFile {
    pub name: String,
    pub path: PathBuf,
}

impl BakedFile {
    /// The `-fw_cfg` argument that passes it.
    pub fn fw_cfg(&self) -> String {
        format!(
            "name={FW_CFG_PREFIX}{},file={}",
            self.name,
            self.path.display()
        )
    }
}

/// The names of the files every image holds (the repo's `files/`).
pub fn repo_file_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("files");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Parses and checks `NAME=PATH`; `earlier` are the files already given.
pub fn parse(spec: &str, earlier: &[BakedFile]) -> Result<BakedFile, String> {
    let Some((name, path)) = spec.split_once('=') else {
        return Err(format!("kiln: --file '{spec}': use NAME=PATH"));
    };
    let valid = crate::programs::name_characters_ok(name) && name != "." && name != "..";
    if !valid {
        return Err(format!(
            "kiln: --file '{spec}': '{name}' is not a file name (letters, digits, '-', '_', '.')"
        ));
    }
    if FW_CFG_PREFIX.len() + name.len() > FW_CFG_NAME_MAX {
        return Err(format!(
            "kiln: --file '{spec}': the name is too long (at most {} characters)",
            FW_CFG_NAME_MAX - FW_CFG_PREFIX.len()
        ));
    }
    if repo_file_names().iter().any(|n| n == name) {
        return Err(format!(
            "kiln: --file '{spec}': '/{name}' is already a baked file (files/{name}); choose another name"
        ));
    }
    if earlier.iter().any(|f| f.name == name) {
        return Err(format!("kiln: --file '{spec}': '{name}' is given twice"));
    }
    let path = Path::new(path);
    let size = std::fs::metadata(path)
        .and_then(|m| {
            if m.is_file() {
                Ok(m.len())
            } else {
                Err(std::io::Error::other("not a regular file"))
            }
        })
        .map_err(|e| {
            format!(
                "kiln: --file '{spec}': cannot read '{}': {e}",
                path.display()
            )
        })?;
    if size > MAX_BYTES {
        return Err(format!(
            "kiln: --file '{spec}': '{}' has {size} bytes; the image takes files of at most {MAX_BYTES}",
            path.display()
        ));
    }
    Ok(BakedFile {
        name: name.to_string(),
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_specs_are_refused_with_what_is_wrong() {
        let cases = [
            ("data", "use NAME=PATH"),
            ("=x", "is not a file name"),
            ("a/b=x", "is not a file name"),
            ("..=x", "is not a file name"),
            ("default.rules=/etc/hostname", "already a baked file"),
            ("x=/no/such/file", "cannot read '/no/such/file'"),
            ("x=/tmp", "not a regular file"),
        ];
        for (spec, want) in cases {
            let error = parse(spec, &[]).unwrap_err();
            assert!(error.contains(want), "{spec}: {error}");
            assert!(error.starts_with("kiln: --file"), "{error}");
        }
        let long = format!("{}=x", "n".repeat(42));
        assert!(parse(&long, &[]).unwrap_err().contains("too long"));
        let earlier = [parse("x=/etc/hostname", &[]).unwrap()];
        assert!(
            parse("x=/etc/hostname", &earlier)
                .unwrap_err()
                .contains("given twice")
        );
    }
}
