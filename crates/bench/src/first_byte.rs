//! `bench first-byte`: how soon a switch and an update in a fresh swarm get their first bytes.
//! Each run builds the demo distribution afresh (a tracker, a seeder of its images started a few
//! seconds before, a peer holding half of the updates, a mirror), then a new client engine
//! switches its image from 1.00 to 1.02 and fetches the packages of an update, as
//! `swarmdate iso switch` and `swarmdate update` do. Times run from the job's start to the first
//! snapshot that shows bytes fetched (the engine publishes one every second or sooner) and to its
//! end.

use std::time::{Duration, Instant};

use serde::Serialize;

use swarmdate_core::plan::Goal;
use swarmdate_testkit::demo::DemoWorld;
use swarmdate_usecases::switching::{Ended, OtherSwitch, Step as SwitchStep, Switch};
use swarmdate_usecases::updates::{Step, Transaction};
use swarmdate_usecases::versions::Versions;
use swarmdate_usecases::{Overrides, User};

/// One run's times, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct FirstByteRun {
    /// Switch: its start to its first fetched byte.
    pub switch_first_byte: f64,
    /// Switch: its start to its end.
    pub switch_done: f64,
    /// Bytes the switch fetched.
    pub switch_bytes: u64,
    /// Update: its start to its first byte from anywhere.
    pub update_first_byte: f64,
    /// Update: its start to its first byte from a peer.
    pub update_first_peer_byte: Option<f64>,
    /// Update: its start to every package in the store.
    pub update_done: f64,
}

/// The runs, and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct FirstByteBench {
    /// Size of the demo's images, MB.
    pub image_mb: usize,
    /// Every run.
    pub runs: Vec<FirstByteRun>,
}

impl FirstByteBench {
    /// The median of one figure over the runs that have it.
    pub fn median(&self, figure: impl Fn(&FirstByteRun) -> Option<f64>) -> Option<f64> {
        let mut v: Vec<f64> = self.runs.iter().filter_map(figure).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    }
}

/// Runs `runs` fresh swarms in `dir` with `image_mb` MB images; `say` hears each run's times.
pub async fn run_first_byte_bench(
    dir: &std::path::Path,
    runs: usize,
    image_mb: usize,
    say: impl Fn(&str),
) -> anyhow::Result<FirstByteBench> {
    let mut out = FirstByteBench {
        image_mb,
        runs: Vec::new(),
    };
    for n in 0..runs {
        let root = dir.join(format!("run-{n}"));
        say(&format!(
            "run {}: building a fresh demo distribution",
            n + 1
        ));
        let world = DemoWorld::build(&root, image_mb, |_| {}).await?;
        let run = one_run(&world).await;
        world.seeder.shutdown().await;
        world.peer.shutdown().await;
        let run = run?;
        say(&format!(
            "run {}: switch first byte {:.2} s (done {:.1} s, {} B), update first byte {:.2} s, from a peer {}, done {:.1} s",
            n + 1,
            run.switch_first_byte,
            run.switch_done,
            run.switch_bytes,
            run.update_first_byte,
            run.update_first_peer_byte
                .map_or("never".to_owned(), |s| format!("{s:.2} s")),
            run.update_done
        ));
        out.runs.push(run);
        std::fs::remove_dir_all(&root)?;
    }
    Ok(out)
}

/// A switch and then an update by the demo's client, on an engine of its own.
async fn one_run(world: &DemoWorld) -> anyhow::Result<FirstByteRun> {
    let client = User::new(Overrides {
        home: Some(world.client_home.clone()),
        ..Default::default()
    })?;
    let engine = client.engine_with(client.engine_config()).await?;
    let result = async {
        let local = Versions::load(&client, None).await?;
        let to = local.find("1.02")?;
        let plan = local.plan(to, None).await?;
        let started = Instant::now();
        let switch = Switch::start(&engine, &local, to, &plan, false, OtherSwitch::Refuse).await?;
        let mut first = None;
        let mut fetched = 0;
        let ended = switch
            .follow(
                &engine,
                &mut |s: SwitchStep<'_>| {
                    fetched = s.job.bytes_fetched;
                    if fetched > 0 && first.is_none() {
                        first = Some(started.elapsed());
                    }
                },
                std::future::pending(),
            )
            .await?;
        let switch_done = started.elapsed();
        anyhow::ensure!(
            matches!(ended, Ended::Switched(_)),
            "the switch did not end: {ended:?}"
        );
        let first = first.ok_or_else(|| anyhow::anyhow!("the switch fetched nothing"))?;

        let tx = Transaction::prepare(&client, Goal::Update, &world.package_root).await?;
        anyhow::ensure!(
            !tx.plan().downloads.is_empty(),
            "the update fetches nothing"
        );
        let started = Instant::now();
        let (mut any, mut peer): (Option<Duration>, Option<Duration>) = (None, None);
        tx.fetch_all(
            &client,
            &engine,
            &mut |s: Step<'_>| {
                if let Step::Fetching { fetched, .. } = s {
                    if fetched.from_peers + fetched.from_mirrors > 0 && any.is_none() {
                        any = Some(started.elapsed());
                    }
                    if fetched.from_peers > 0 && peer.is_none() {
                        peer = Some(started.elapsed());
                    }
                }
            },
            std::pin::pin!(std::future::pending::<()>()),
        )
        .await?;
        let update_done = started.elapsed();
        Ok(FirstByteRun {
            switch_first_byte: first.as_secs_f64(),
            switch_done: switch_done.as_secs_f64(),
            switch_bytes: fetched,
            update_first_byte: any
                .ok_or_else(|| anyhow::anyhow!("the update fetched nothing"))?
                .as_secs_f64(),
            update_first_peer_byte: peer.map(|d| d.as_secs_f64()),
            update_done: update_done.as_secs_f64(),
        })
    }
    .await;
    engine.shutdown().await;
    result
}
