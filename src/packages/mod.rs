//! RPM packages: names and versions compared as rpm does, dependencies, the installed inventory,
//! signature checks of downloads, and generated packages for the demo and tests.

mod dep;
mod evr;
mod header_check;
mod helper;
mod index;
mod install;
mod inventory;
pub mod synth;
mod tool;
mod verify;

pub use dep::{Dep, Op, Relations};
pub use evr::{Evr, EvrError, Nevra};
pub use helper::{HELPER_USAGE, HelperError, HelperPackage, HelperRequest, HelperVerb, run_helper};
pub use index::{INDEX_FORMAT, IndexError, IndexedPackage, PackageIndex};
pub use install::{
    InstallError, InstallReport, check_all, install, rpm_lock_held, rpm_lock_path, transaction,
    wait_for_rpm_lock,
};
pub(crate) use inventory::installed_from_header;
pub use inventory::{DB_PATH, Installed, Inventory, InventoryError, InventorySource};
pub use verify::{PackageError, PackageKeys};
