//! Opening a `bittorrent://` link or a `.torrent` file: the window shows what it is (name,
//! size, files, where it came from) and offers to download it; the download then shows in its
//! transfer view and is shared afterwards.

use std::path::PathBuf;
use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trn};
use swarmdate_core::text::escape_controls;
use swarmdate_engine::JobId;

use super::backend::{Backend, TorrentInfo};
use super::transfer::TransferView;

/// Where the dialog is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Fetching and checking the torrent.
    Loading,
    /// Shown, waiting for the user.
    Ready,
    /// The download started as this job.
    Started(JobId),
    /// Something failed; the message says what.
    Failed(String),
}

/// The dialog's model.
pub struct OpenTorrent {
    backend: Arc<Backend>,
    dir: PathBuf,
    info: Option<TorrentInfo>,
    phase: Phase,
    transfer: Option<Controller<TransferView>>,
}

/// What the dialog is told.
#[derive(Debug)]
pub enum Input {
    /// Download it.
    Download,
    /// Close.
    Cancel,
}

/// Results of the dialog's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The torrent, checked, or why not.
    Inspected(Box<Result<TorrentInfo, String>>),
    /// The download started, or why not.
    Started(Result<JobId, String>),
}

impl OpenTorrent {
    fn title(&self) -> String {
        match (&self.phase, &self.info) {
            (Phase::Failed(_), _) => tr("This torrent cannot be opened"),
            (_, Some(i)) => escape_controls(&i.torrent.name).into_owned(),
            _ => tr("Reading the torrent…"),
        }
    }

    /// The status page's description: its names and URLs come from the torrent and the link, and
    /// the page reads it as markup.
    fn description(&self) -> String {
        let text = match (&self.phase, &self.info) {
            (Phase::Failed(e), _) => e.clone(),
            (_, Some(i)) => trn(
                "{size} in {n} file, from {from}. It downloads to {dir} and is shared with other peers afterwards.",
                "{size} in {n} files, from {from}. It downloads to {dir} and is shared with other peers afterwards.",
                i.torrent.files.iter().filter(|f| !f.pad).count() as u64,
                &[
                    ("size", &glib::format_size(i.torrent.total_length())),
                    ("n", &i.torrent.files.iter().filter(|f| !f.pad).count()),
                    ("from", &i.from),
                    ("dir", &self.dir.display()),
                ],
            ),
            _ => String::new(),
        };
        glib::markup_escape_text(&escape_controls(&text)).to_string()
    }

    /// Where the dialog is.
    #[cfg(test)]
    pub fn phase(&self) -> &Phase {
        &self.phase
    }
}

#[relm4::component(pub)]
impl Component for OpenTorrent {
    type Init = (Arc<Backend>, String, PathBuf);
    type Input = Input;
    type Output = ();
    type CommandOutput = Cmd;

    view! {
        adw::Window {
            set_title: Some(&tr("Open Torrent")),
            set_default_size: (480, 360),
            set_modal: true,

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                adw::HeaderBar {
                    set_show_end_title_buttons: false,
                    pack_start = &gtk::Button {
                        set_label: &tr("Cancel"),
                        connect_clicked => Input::Cancel,
                    },
                    #[name = "download_button"]
                    pack_end = &gtk::Button {
                        set_label: &tr("Download"),
                        add_css_class: "suggested-action",
                        #[watch]
                        set_sensitive: model.phase == Phase::Ready,
                        connect_clicked => Input::Download,
                    },
                },
                #[name = "page"]
                adw::StatusPage {
                    set_vexpand: true,
                    set_icon_name: Some("folder-download-symbolic"),
                    #[watch]
                    set_title: &model.title(),
                    #[watch]
                    set_description: Some(&model.description()),
                },
            },
        }
    }

    fn init(
        (backend, reference, dir): Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let inspect = backend.inspect(reference);
        sender.oneshot_command(async move { Cmd::Inspected(Box::new(inspect.await)) });
        let model = OpenTorrent {
            backend,
            dir,
            info: None,
            phase: Phase::Loading,
            transfer: None,
        };
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            Input::Cancel => root.close(),
            Input::Download => {
                let Some(info) = &self.info else {
                    return;
                };
                let start = self
                    .backend
                    .download(info.torrent.clone(), self.dir.clone());
                sender.oneshot_command(async move { Cmd::Started(start.await) });
            }
        }
    }

    fn update_cmd(&mut self, cmd: Cmd, _: ComponentSender<Self>, root: &Self::Root) {
        match cmd {
            Cmd::Inspected(r) => match *r {
                Ok(info) => {
                    self.info = Some(info);
                    self.phase = Phase::Ready;
                }
                Err(e) => self.phase = Phase::Failed(e),
            },
            Cmd::Started(Ok(job)) => {
                self.phase = Phase::Started(job);
                // The download's pieces, peers and speeds, in place of this dialog.
                let view = TransferView::show(self.backend.clone(), job, root.transient_for());
                self.transfer = Some(view);
                root.set_visible(false);
            }
            Cmd::Started(Err(e)) => self.phase = Phase::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::test_support::{demo, pump_until, runtime, stop};

    #[gtk::test]
    fn a_link_shows_the_torrent_and_downloads_it_and_a_bad_one_is_refused() {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let (world, client) = demo(&rt, dir.path());
        let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
        let downloads = tempfile::tempdir().unwrap();

        // Refused: the link names a file that is not a torrent.
        let bad = format!("bittorrent://file://{}", world.versions[1].1.display());
        let dialog = OpenTorrent::builder()
            .launch((backend.clone(), bad, downloads.path().to_owned()))
            .detach();
        pump_until("the refusal", || {
            matches!(dialog.model().phase(), Phase::Failed(_))
        });
        assert!(!dialog.widgets().download_button.is_sensitive());
        let said = dialog.widgets().page.description().unwrap_or_default();
        assert!(!said.is_empty());

        // 1.01's torrent, as the distributor published it: shown, then fetched from the demo's
        // seeder into the downloads folder.
        let (_, image) = &world.versions[1];
        let link = format!("bittorrent://file://{}.torrent", image.display());
        let dialog = OpenTorrent::builder()
            .launch((backend.clone(), link, downloads.path().to_owned()))
            .detach();
        pump_until("the torrent", || *dialog.model().phase() == Phase::Ready);
        let name = image.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(dialog.widgets().page.title(), name);
        let said = dialog.widgets().page.description().unwrap_or_default();
        assert!(said.contains("in 1 file,"), "{said}");
        assert!(dialog.widgets().download_button.is_sensitive());
        dialog.emit(Input::Download);
        pump_until("the download to start", || {
            matches!(dialog.model().phase(), Phase::Started(_))
        });
        let arrived = downloads.path().join(&name);
        pump_until("the image to arrive", || arrived.is_file());
        assert_eq!(
            swarmdate_core::hash::Sha256::of_file(&arrived).unwrap(),
            swarmdate_core::hash::Sha256::of_file(image).unwrap()
        );
        backend.shutdown();
        stop(&rt, world);
    }
}
