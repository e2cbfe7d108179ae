//! The plugin server: the go-plugin handshake, AutoMTLS, and the gRPC services
//! over a unix socket.
//!
//! Entry points:
//! - [`serve_plugin`]: the normal mode, when Terraform (or OpenTofu, or Pulumi's
//!   bridge) starts the binary;
//! - [`serve_debug`]: `--debug`, prints a `TF_REATTACH_PROVIDERS` line and
//!   serves until Ctrl-C;
//! - [`start`]: the library entry point used by both and by tests (in-process
//!   server on a unix socket, optionally with mTLS).

pub mod handshake;
pub mod tls;
mod wire;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::framework::{Engine, Provider};
pub use handshake::{HandshakeError, PluginEnv};
pub use wire::MAX_MESSAGE_SIZE;

/// How long a graceful stop may take before the server is abandoned.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the plugin server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Handshake or socket problem.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// TLS setup problem.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Writing the handshake line failed.
    #[error("writing the handshake to stdout: {0}")]
    Stdout(std::io::Error),
    /// Installing the signal handlers failed.
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    /// The server task panicked or was aborted.
    #[error("server task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Options of [`start`].
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// PEM of the only client certificate to accept; `None` serves plaintext h2c.
    pub client_cert_pem: Option<String>,
    /// Directory for the socket (default: the system temp directory).
    pub socket_dir: Option<PathBuf>,
    /// Group owning the socket (name or numeric id).
    pub socket_group: Option<String>,
}

/// A server running on a unix socket.
#[derive(Debug)]
pub struct RunningServer {
    handshake_line: String,
    server_cert_der: Option<Vec<u8>>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServerError>>,
    socket: handshake::SocketPath,
    engine: Arc<Engine>,
}

impl RunningServer {
    /// The go-plugin handshake line (with newline).
    pub fn handshake_line(&self) -> &str {
        &self.handshake_line
    }

    /// The socket path.
    pub fn socket_path(&self) -> &Path {
        self.socket.path()
    }

    /// The server certificate (DER) when serving TLS.
    pub fn server_cert_der(&self) -> Option<&[u8]> {
        self.server_cert_der.as_deref()
    }

    /// The engine serving requests.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// A token that stops the server when cancelled (as GRPCController.Shutdown does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The `TF_REATTACH_PROVIDERS` value that attaches Terraform to this server
    /// as provider `provider_address` (e.g. `registry.terraform.io/acme/xenapi`).
    /// `Test: true` tells Terraform not to stop the server when it is done.
    pub fn reattach_json(&self, provider_address: &str) -> String {
        serde_json::json!({
            provider_address: {
                "Protocol": "grpc",
                "ProtocolVersion": handshake::APP_PROTOCOL_VERSION,
                "Pid": std::process::id(),
                "Test": true,
                "Addr": { "Network": "unix", "String": self.socket.path().to_string_lossy() },
            }
        })
        .to_string()
    }

    /// Waits until the server stops (Shutdown RPC or the token), then removes
    /// the socket. A server that does not drain its connections within a second
    /// of the stop request is abandoned.
    pub async fn wait(self) -> Result<(), ServerError> {
        let RunningServer {
            shutdown,
            mut task,
            socket,
            ..
        } = self;
        let result = tokio::select! {
            r = &mut task => r.map_err(ServerError::from).and_then(|r| r),
            () = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
                task.abort();
                Ok(())
            }
        };
        drop(socket);
        result
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// A served connection: plaintext or TLS over a unix socket.
enum Conn {
    Plain(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Accepts connections, completing TLS handshakes concurrently; failed
/// handshakes (e.g. a client with the wrong certificate) are logged and dropped.
fn accept_loop(
    listener: tokio::net::UnixListener,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) -> ReceiverStream<std::io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let tx = tx.clone();
            match &acceptor {
                None => {
                    if tx.send(Ok(Conn::Plain(stream))).await.is_err() {
                        break;
                    }
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls)) => {
                                let _ = tx.send(Ok(Conn::Tls(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "TLS handshake with a client failed")
                            }
                            Err(_) => tracing::warn!("TLS handshake with a client timed out"),
                        }
                    });
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Starts serving `provider` on a fresh unix socket. The returned server runs
/// until GRPCController.Shutdown, [`RunningServer::shutdown`] or its token.
pub async fn start(
    provider: Arc<dyn Provider>,
    opts: ServeOptions,
) -> Result<RunningServer, ServerError> {
    let engine = Arc::new(Engine::new(provider));
    let (listener, socket) =
        handshake::bind_unix_socket(opts.socket_dir.as_deref(), opts.socket_group.as_deref())?;
    let (acceptor, cert) = match &opts.client_cert_pem {
        Some(pem) => {
            let identity = tls::ServerIdentity::generate()?;
            let config = tls::server_config(&identity, pem)?;
            (
                Some(TlsAcceptor::from(config)),
                Some(identity.cert_der.to_vec()),
            )
        }
        None => (None, None),
    };
    let handshake_line =
        handshake::handshake_line("unix", &socket.path().to_string_lossy(), cert.as_deref());
    let shutdown = CancellationToken::new();
    let incoming = accept_loop(listener, acceptor, shutdown.clone());
    let router = wire::router(engine.clone(), shutdown.clone()).await;
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
            .map_err(ServerError::from)
    });
    Ok(RunningServer {
        handshake_line,
        server_cert_der: cert,
        shutdown,
        task,
        socket,
        engine,
    })
}

/// Serves as a plugin started by Terraform: checks the magic cookie, negotiates
/// protocol 6, starts the server (mTLS unless disabled), prints the handshake as
/// the first stdout line, ignores SIGINT, stops on Shutdown or SIGTERM.
///
/// Returns [`HandshakeError::NotStartedByTerraform`] when run by hand; the
/// caller prints it to stderr and exits 1.
pub async fn serve_plugin(provider: Arc<dyn Provider>) -> Result<(), ServerError> {
    let env = PluginEnv::from_env();
    env.check_magic_cookie()?;
    let (version, offered) = handshake::negotiate_protocol(env.protocol_versions.as_deref());
    if !offered {
        tracing::warn!(
            offered = env.protocol_versions.as_deref().unwrap_or(""),
            served = version,
            "the client does not offer plugin protocol 6, the only one this provider speaks"
        );
    }
    let opts = ServeOptions {
        client_cert_pem: env.tls_client_cert().map(str::to_owned),
        socket_dir: env.socket_dir.clone(),
        socket_group: env.socket_group.clone(),
    };
    let server = start(provider, opts).await?;
    install_signal_handlers(server.shutdown_token(), false)?;
    {
        let mut out = std::io::stdout().lock();
        out.write_all(server.handshake_line().as_bytes())
            .and_then(|()| out.flush())
            .map_err(ServerError::Stdout)?;
    }
    tracing::debug!(socket = %server.socket_path().display(), tls = server.server_cert_der().is_some(), "plugin server started");
    server.wait().await
}

/// `--debug`: serves plaintext on a unix socket without the cookie check and
/// prints how to attach Terraform (`TF_REATTACH_PROVIDERS`). Ctrl-C stops it.
pub async fn serve_debug(
    provider: Arc<dyn Provider>,
    provider_address: &str,
) -> Result<(), ServerError> {
    let env = PluginEnv::from_env();
    let opts = ServeOptions {
        client_cert_pem: None,
        socket_dir: env.socket_dir.clone(),
        socket_group: env.socket_group.clone(),
    };
    let server = start(provider, opts).await?;
    let reattach = server.reattach_json(provider_address);
    install_signal_handlers(server.shutdown_token(), true)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Provider started in debug mode. To attach Terraform, run in another shell:\n\n\
             \tTF_REATTACH_PROVIDERS='{reattach}'\n\n\
             (export it, then run terraform as usual). Press Ctrl-C to stop."
        )
        .and_then(|()| out.flush())
        .map_err(ServerError::Stdout)?;
    }
    server.wait().await
}

/// SIGINT: ignored in plugin mode (Ctrl-C reaches the whole process group, and
/// Terraform stops us itself with StopProvider and Shutdown); stops the server
/// in debug mode. SIGTERM always stops the server (removing the socket).
///
/// The handlers are registered before this returns, so call it before printing
/// the handshake: a signal right after the handshake must not kill us.
fn install_signal_handlers(
    shutdown: CancellationToken,
    sigint_stops: bool,
) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signals)?;
    let token = shutdown.clone();
    tokio::spawn(async move {
        while int.recv().await.is_some() {
            if sigint_stops {
                tracing::info!("interrupt: stopping");
                token.cancel();
                return;
            }
            tracing::debug!("ignoring SIGINT; Terraform stops the provider itself");
        }
    });
    tokio::spawn(async move {
        if term.recv().await.is_some() {
            tracing::info!("SIGTERM: stopping");
            shutdown.cancel();
        }
    });
    Ok(())
}
