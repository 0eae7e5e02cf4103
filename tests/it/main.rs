//! Integration tests, in one binary so GTK and librqbit link once (PLATFORM.md §7).

mod demo;
mod desktop_data;
mod durability;
mod engine_jobs;
mod feed_trust;
mod filesystems;
mod full_disk;
mod get_interop;
mod helper;
mod holdings;
mod hostile;
mod http_loader;
mod in_place;
mod install;
mod interop;
mod iso_chain;
mod iso_content;
mod iso_packages;
mod iso_rebuild;
mod job_specs;
mod ledger;
mod mirror;
mod packages;
mod plan;
mod publish_master;
mod seed_only;
mod service;
mod store;
mod subset;
mod super_seed;

mod support;
mod torrent;
mod update;
mod window_e2e;
