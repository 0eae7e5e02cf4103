//! The app: the `swarmdate` command line and, behind the `gui` feature, the desktop window. Both
//! faces call the use cases (`swarmdate-usecases`); neither builds engine jobs itself.

pub mod cli;
#[cfg(feature = "gui")]
pub mod ui;
