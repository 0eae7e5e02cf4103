//! Undoing a transaction of the root's history: an exact plan, not a solved one. The builds the
//! transaction replaced or removed come back (each found in the catalogue by NEVRA: the feed's
//! snapshots, the root's plain repositories, or the builds the store still holds from an earlier
//! transaction), the builds it added go. dnf's own check judges the result at install time.

use super::{Catalogue, ChangeKind, Plan, PlanError};
use crate::hash::Sha256;
use crate::packages::{Inventory, Nevra, Undo};

/// The plan that carries out `undo` on `inv`.
pub(super) fn plan_undo(
    inv: &Inventory,
    cat: &Catalogue,
    undo: &Undo,
    held: &dyn Fn(&Sha256) -> bool,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let mut missing = Vec::new();
    for (nevra, _) in &undo.restore {
        let Some(b) = cat.builds.iter().position(|(n, _)| n == nevra) else {
            missing.push(nevra.to_string());
            continue;
        };
        // What it replaces: the installed builds of its name and arch, else of its name.
        let same = |arch: bool| {
            inv.packages
                .iter()
                .filter(|p| p.nevra.name == nevra.name && (!arch || p.nevra.arch == nevra.arch))
                .map(|p| p.nevra.clone())
                .collect::<Vec<Nevra>>()
        };
        let mut replaces = same(true);
        if replaces.is_empty() {
            replaces = same(false);
        }
        let kind = match replaces.iter().max_by(|a, b| a.evr.rpm_cmp(&b.evr)) {
            None => ChangeKind::Install,
            Some(top) if nevra.evr.rpm_cmp(&top.evr).is_gt() => ChangeKind::Upgrade,
            Some(_) => ChangeKind::Downgrade,
        };
        plan.add(cat, b, kind, replaces, held);
    }
    if !missing.is_empty() {
        return Err(PlanError::UndoUnavailable(missing.join(", ")));
    }
    plan.removals = undo.remove.clone();
    Ok(plan)
}
