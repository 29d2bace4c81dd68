//! A real RTSP server for tests, on 127.0.0.1: GStreamer's `gst-rtsp-server` serving
//! looping H.264 (x264enc tune=zerolatency) on configurable mount paths, with optional
//! basic authentication. It can be stopped (every client connection is closed, the port is
//! released) and restarted on the same port, to simulate a camera outage.
//!
//! ```ignore
//! let mut srv = RtspServer::start(vec![Mount::test_pattern("/cam1", 320, 240, 15)]);
//! let url = srv.url("/cam1");            // rtsp://127.0.0.1:<port>/cam1
//! srv.stop();                            // outage: clients see an error or EOS
//! srv.restart();                         // same port, same mounts
//! ```
#![allow(dead_code)]
use std::net::TcpListener;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer_rtsp_server as rtsp;
use rtsp::glib;
use rtsp::prelude::*;

/// A free TCP port on 127.0.0.1 (bound then released; the OS does not hand it out again
/// at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port()
}

/// One mount point and the GStreamer launch line of its media (must end in an RTP
/// payloader named `pay0`).
#[derive(Debug, Clone)]
pub struct Mount {
    pub path: String,
    pub launch: String,
    /// Called with the media's element (a bin holding the launch line's elements) each
    /// time the media is created, e.g. to add a pad probe on a named element.
    pub on_media: Option<MediaHook>,
}

/// A callback given each new media's element (see [`Mount::on_media`]).
#[derive(Clone)]
pub struct MediaHook(pub Arc<dyn Fn(&gstreamer::Element) + Send + Sync>);

impl std::fmt::Debug for MediaHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaHook")
    }
}

impl Mount {
    /// A moving-ball test pattern (live, loops forever).
    pub fn test_pattern(path: &str, width: u32, height: u32, fps: u32) -> Self {
        let launch = format!(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 ! {} )",
            h264_pay(fps)
        );
        Self { path: path.into(), launch, on_media: None }
    }

    /// A real clip decoded and re-encoded to H.264, paced at its frame rate. The media
    /// restarts from the beginning for each new client session; a session ends (EOS) at
    /// the clip's end.
    pub fn clip(path: &str, file: &Path, fps: u32) -> Self {
        assert!(file.is_file(), "{} missing: run scripts/setup.sh first", file.display());
        let launch = format!(
            "( filesrc location=\"{}\" ! decodebin ! videoconvert ! videorate ! video/x-raw,framerate={fps}/1 \
             ! identity sync=true ! {} )",
            file.display(),
            h264_pay(fps)
        );
        Self { path: path.into(), launch, on_media: None }
    }

    /// Any launch line, e.g. `( videotestsrc ! x264enc ! rtph264pay name=pay0 pt=96 )`.
    pub fn launch(path: &str, launch: &str) -> Self {
        Self { path: path.into(), launch: launch.into(), on_media: None }
    }

    /// Calls `f` with the media's element each time the media is created.
    pub fn on_media(mut self, f: impl Fn(&gstreamer::Element) + Send + Sync + 'static) -> Self {
        self.on_media = Some(MediaHook(Arc::new(f)));
        self
    }
}

/// Encoder + payloader: low latency, a key frame every second so a reconnecting client
/// decodes quickly.
fn h264_pay(fps: u32) -> String {
    format!(
        "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={} ! rtph264pay name=pay0 pt=96 \
         config-interval=1",
        fps.max(1)
    )
}

/// The server; stops when dropped.
pub struct RtspServer {
    port: u16,
    mounts: Vec<Mount>,
    credentials: Option<(String, String)>,
    running: Option<Running>,
}

struct Running {
    server: rtsp::RTSPServer,
    main_loop: glib::MainLoop,
    thread: JoinHandle<()>,
}

impl RtspServer {
    /// Serves `mounts` on a free port of 127.0.0.1.
    pub fn start(mounts: Vec<Mount>) -> Self {
        Self::start_with(free_port(), mounts, None)
    }

    /// Serves `mounts` on `port`, requiring basic authentication when `credentials`
    /// (user, password) is given.
    pub fn start_with(port: u16, mounts: Vec<Mount>, credentials: Option<(&str, &str)>) -> Self {
        let credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let mut s = Self { port, mounts, credentials, running: None };
        s.restart();
        s
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Closes every client connection and the listening socket.
    pub fn stop(&mut self) {
        let Some(r) = self.running.take() else { return };
        r.server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        r.main_loop.quit();
        r.thread.join().expect("RTSP server thread");
    }

    /// (Re)starts on the same port and mounts. The port can stay busy for a moment after
    /// `stop`; binding is retried for up to 10 s.
    pub fn restart(&mut self) {
        self.stop();
        gstreamer::init().expect("GStreamer init");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.try_start() {
                Ok(r) => {
                    self.running = Some(r);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("RTSP server on port {}: {e}; retrying", self.port);
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("RTSP server could not listen on 127.0.0.1:{}: {e}", self.port),
            }
        }
    }

    fn try_start(&self) -> Result<Running, String> {
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&self.port.to_string());
        let points = server.mount_points().expect("RTSP server has mount points");
        for m in &self.mounts {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(&m.launch);
            factory.set_shared(true);
            if let Some(hook) = &m.on_media {
                let hook = hook.0.clone();
                factory.connect_media_configure(move |_, media| hook(&media.element()));
            }
            if self.credentials.is_some() {
                factory.add_role_from_structure(
                    &gstreamer::Structure::builder("user")
                        .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS.as_str(), true)
                        .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT.as_str(), true)
                        .build(),
                );
            }
            points.add_factory(&m.path, factory);
        }
        if let Some((user, pass)) = &self.credentials {
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder().field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE.as_str(), "user").build();
            auth.add_basic(rtsp::RTSPAuth::make_basic(user, pass).as_str(), &token);
            server.set_auth(Some(&auth));
        }
        let (tx, rx) = mpsc::channel::<Result<glib::MainLoop, String>>();
        let srv = server.clone();
        let thread = std::thread::Builder::new()
            .name("rtsp-server".into())
            .spawn(move || {
                let ctx = glib::MainContext::new();
                let main_loop = glib::MainLoop::new(Some(&ctx), false);
                // The listening socket lives in this source: destroying it releases the port.
                match srv.create_source(None::<&rtsp::gio::Cancellable>) {
                    Ok(source) => {
                        source.attach(Some(&ctx));
                        let _ = tx.send(Ok(main_loop.clone()));
                        // Clients are served on the thread-default context.
                        let _ = ctx.with_thread_default(|| main_loop.run());
                        source.destroy();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(main_loop)) => Ok(Running { server, main_loop, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("server thread did not start within 10 s".into()),
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
