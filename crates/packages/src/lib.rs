//! RPM packages as rpm and dnf see them: names and versions compared as rpm does, dependencies, the
//! installed inventory, signature checks against a root's keys, and transactions through rpm and
//! dnf. The privileged helper links only this crate.

pub mod durable;
pub mod hash;
pub mod openpgp;

mod dep;
mod dnf_history;
mod evr;
mod header_check;
mod helper;
mod history;
mod install;
mod inventory;
mod offline;
mod tool;
mod verify;

pub use dep::{Dep, Op, Relations};
pub use dnf_history::{
    DNF4_HISTORY, DNF5_HISTORY, DnfAction, DnfHistoryError, DnfItem, DnfTransaction, DnfVersion,
    HISTORY_MAX_ITEMS, HISTORY_MAX_TRANSACTIONS, read_dnf_history,
};
pub use evr::{Evr, EvrError, Nevra};
pub use helper::{
    HELPER_USAGE, HelperCommand, HelperError, HelperPackage, HelperRequest, HelperVerb,
    check_request, run_helper, undo_from_history,
};
pub use history::{
    COMMAND_LIMIT, FileOrigin, HISTORY_PATH, History, HistoryEntry, HistoryError, HistoryItem,
    HistoryResult, ItemAction, TransactionNote, Undo, UndoError, diff, undo_of,
};
pub use install::{
    Candidate, DNF_COMMENT, InstallError, InstallReport, LocalPackage, check_all, install,
    rpm_lock_held, rpm_lock_path, transaction, wait_for_rpm_lock,
};
pub use inventory::installed_from_header;
pub use inventory::{DB_PATH, Installed, Inventory, InventoryError, InventorySource};
pub use offline::{
    OFFLINE_DIR, OFFLINE_UNIT, OfflineError, OfflineOutcome, OfflineResult, OfflineState, Prepared,
    SYSTEM_UPDATE, apply_offline, cancel_offline, offline_state, prepare_offline,
};
pub use verify::{PackageError, PackageKeys};
