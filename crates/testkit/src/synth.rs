//! Generated, really signed RPM packages for the demo and the tests: the `rpm` crate builds them
//! in-process with a payload of seeded random bytes, so no fixture lives on disk.

use std::path::{Path, PathBuf};

use rand::{RngCore, SeedableRng, rngs::StdRng};
use rpm::signature::pgp::Signer;

use swarmdate_core::feed::KeyPair;
use swarmdate_core::packages::Nevra;
use swarmdate_core::packages::Relations;

/// A package to generate.
#[derive(Clone, Debug)]
pub struct PackageSpec {
    /// What it is.
    pub nevra: Nevra,
    /// One line for people.
    pub summary: String,
    /// Extra relations; every package also provides its own name and version.
    pub relations: Relations,
    /// Bytes of its one file.
    pub payload_size: usize,
}

impl PackageSpec {
    /// A package of `payload_size` bytes without relations.
    pub fn new(nevra: Nevra, payload_size: usize) -> Self {
        PackageSpec {
            summary: format!("The {} package", nevra.name),
            nevra,
            relations: Relations::default(),
            payload_size,
        }
    }

    /// Where its one file goes: unique per build, so that installonly packages (kernels) sit
    /// side by side without a file conflict.
    pub fn file_path(&self) -> String {
        format!(
            "/usr/share/swarmdate-synth/{}/{}-{}.{}.bin",
            self.nevra.name, self.nevra.evr.version, self.nevra.evr.release, self.nevra.arch
        )
    }
}

/// Why a package could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the package {nevra}: {reason}")]
pub struct SynthError {
    nevra: String,
    reason: String,
}

/// Signs generated packages with one key.
pub struct PackageFactory {
    signer: Signer,
}

impl PackageFactory {
    /// A factory that signs with `key`.
    pub fn new(key: &KeyPair) -> Result<Self, SynthError> {
        let signer = Signer::from_asc(&key.secret_armored()).map_err(|e| SynthError {
            nevra: "(any)".into(),
            reason: format!("the signing key is unusable: {e}"),
        })?;
        Ok(PackageFactory { signer })
    }

    /// Builds `spec` into `dir/<file name>`; the payload's bytes come from `seed`.
    pub fn build(&self, spec: &PackageSpec, seed: u64, dir: &Path) -> Result<PathBuf, SynthError> {
        let err = |reason: String| SynthError {
            nevra: spec.nevra.to_string(),
            reason,
        };
        let mut data = vec![0u8; spec.payload_size];
        StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        let n = &spec.nevra;
        let config = rpm::BuildConfig::v4()
            .compression(rpm::CompressionType::None)
            .source_date(1_700_000_000u32);
        let mut b =
            rpm::PackageBuilder::new(&n.name, &n.evr.version, "MIT", &n.arch, &spec.summary);
        b.using_config(config).release(n.evr.release.as_str());
        if n.evr.epoch != 0 {
            b.epoch(n.evr.epoch);
        }
        // One changelog entry naming the build, as a packager writes it.
        b.add_changelog_entry(
            format!("Swarmdate test packager <packager@localhost> - {}", n.evr),
            format!("- Build {} {}", n.name, n.evr),
            1_700_000_000u32,
        );
        b.with_file_contents(data, rpm::FileOptions::new(spec.file_path()))
            .map_err(|e| err(e.to_string()))?;
        let r = &spec.relations;
        for d in &r.provides {
            b.provides(d.to_rpm());
        }
        for d in &r.requires {
            b.requires(d.to_rpm());
        }
        for d in &r.obsoletes {
            b.obsoletes(d.to_rpm());
        }
        for d in &r.conflicts {
            b.conflicts(d.to_rpm());
        }
        let pkg = b
            .build_and_sign(&self.signer)
            .map_err(|e| err(e.to_string()))?;
        let path = dir.join(n.file_name());
        let mut bytes = Vec::with_capacity(spec.payload_size + 4096);
        pkg.write(&mut bytes).map_err(|e| err(e.to_string()))?;
        swarmdate_core::fsutil::write_atomic(&path, &bytes).map_err(|e| err(e.to_string()))?;
        Ok(path)
    }
}
