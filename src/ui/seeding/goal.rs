//! The seeding goals the Seeding page offers, and how each reads.

use swarmdate_core::config::SeedGoal;
use swarmdate_core::i18n::{tr, trf, trn};

/// The goals offered, in the order the combo row lists them.
const OFFERED: [SeedGoal; 5] = [
    SeedGoal::Forever,
    SeedGoal::Ratio(1.0),
    SeedGoal::Ratio(2.0),
    SeedGoal::Hours(24),
    SeedGoal::Hours(24 * 7),
];

/// The choices to list: the offered goals, and `current` after them when the settings file holds
/// another one.
pub fn choices(current: SeedGoal) -> Vec<SeedGoal> {
    let mut all = OFFERED.to_vec();
    if !all.contains(&current) {
        all.push(current);
    }
    all
}

/// How a goal reads in the list.
pub fn label(goal: SeedGoal) -> String {
    match goal {
        SeedGoal::Forever => tr("As long as the app runs"),
        SeedGoal::Ratio(1.0) => tr("Until uploaded once"),
        SeedGoal::Ratio(2.0) => tr("Until uploaded twice"),
        SeedGoal::Ratio(r) => trf("Until ratio {ratio}", &[("ratio", &format!("{r:.2}"))]),
        SeedGoal::Hours(h) if h % 24 == 0 => trn(
            "For {n} day",
            "For {n} days",
            u64::from(h / 24),
            &[("n", &(h / 24))],
        ),
        SeedGoal::Hours(h) => trn("For {n} hour", "For {n} hours", u64::from(h), &[("n", &h)]),
    }
}
