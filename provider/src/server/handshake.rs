//! The go-plugin handshake: environment checks, protocol negotiation, the
//! handshake line, and the unix socket the plugin listens on.
//!
//! The client (Terraform, OpenTofu, Pulumi's bridge) starts the plugin with
//! `TF_PLUGIN_MAGIC_COOKIE`, `PLUGIN_PROTOCOL_VERSIONS`, and, with AutoMTLS,
//! `PLUGIN_CLIENT_CERT`. The plugin answers with a single line on stdout:
//! `CORE|APP|NETWORK|ADDR|PROTOCOL|SERVER-CERT`, e.g.
//! `1|6|unix|/tmp/plugin123|grpc|MIIB...` (certificate DER in base64 without
//! padding; empty for plaintext). Nothing may be printed on stdout before it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::Rng;

/// Environment variable holding the magic cookie.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Terraform's (and OpenTofu's) magic cookie value for provider plugins.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's core protocol version.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only application protocol served: tfplugin6.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// Problems found before serving.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The plugin was not started by a plugin client.
    #[error(
        "This binary is a plugin for Terraform and OpenTofu (and Pulumi's Terraform bridge). \
         It is not meant to be run directly.\n\
         Use it from a Terraform configuration (`terraform init` / `plan` / `apply`),\n\
         or start it with `--debug` to attach Terraform to it via TF_REATTACH_PROVIDERS."
    )]
    NotStartedByTerraform,
    /// `PLUGIN_CLIENT_CERT` is present but unusable.
    #[error("PLUGIN_CLIENT_CERT does not contain a PEM certificate: {0}")]
    BadClientCert(String),
    /// Creating or binding the socket failed.
    #[error("cannot listen on a unix socket in {dir}: {source}")]
    Listen {
        /// Directory the socket was to be created in.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What the plugin needs to know from its environment. Built once from the
/// process environment by [`PluginEnv::from_env`], or directly in tests.
#[derive(Debug, Clone, Default)]
pub struct PluginEnv {
    /// `TF_PLUGIN_MAGIC_COOKIE`.
    pub magic_cookie: Option<String>,
    /// `PLUGIN_PROTOCOL_VERSIONS`, e.g. `5,6`.
    pub protocol_versions: Option<String>,
    /// `PLUGIN_CLIENT_CERT` (PEM), present when the client uses AutoMTLS.
    pub client_cert_pem: Option<String>,
    /// `TF_DISABLE_PLUGIN_TLS` is set (to anything non-empty).
    pub disable_tls: bool,
    /// `PLUGIN_UNIX_SOCKET_DIR`, else `TMPDIR`.
    pub socket_dir: Option<PathBuf>,
    /// `PLUGIN_UNIX_SOCKET_GROUP`: group name or numeric id owning the socket.
    pub socket_group: Option<String>,
}

fn non_empty(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

impl PluginEnv {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        PluginEnv {
            magic_cookie: non_empty(MAGIC_COOKIE_KEY),
            protocol_versions: non_empty("PLUGIN_PROTOCOL_VERSIONS"),
            client_cert_pem: non_empty("PLUGIN_CLIENT_CERT"),
            disable_tls: non_empty("TF_DISABLE_PLUGIN_TLS").is_some(),
            socket_dir: non_empty("PLUGIN_UNIX_SOCKET_DIR")
                .or_else(|| non_empty("TMPDIR"))
                .map(PathBuf::from),
            socket_group: non_empty("PLUGIN_UNIX_SOCKET_GROUP"),
        }
    }

    /// Checks the magic cookie (a UX check, not security).
    pub fn check_magic_cookie(&self) -> Result<(), HandshakeError> {
        match &self.magic_cookie {
            Some(v) if v == MAGIC_COOKIE_VALUE => Ok(()),
            _ => Err(HandshakeError::NotStartedByTerraform),
        }
    }

    /// The client certificate to pin, unless TLS is disabled.
    pub fn tls_client_cert(&self) -> Option<&str> {
        if self.disable_tls {
            None
        } else {
            self.client_cert_pem.as_deref()
        }
    }
}

/// The protocol to announce given `PLUGIN_PROTOCOL_VERSIONS`.
///
/// We serve protocol 6 only. Like go-plugin's server, when the client does not
/// offer it we still announce our (only, hence lowest) version and let the
/// client report the mismatch; the returned flag says whether it was offered.
pub fn negotiate_protocol(offered: Option<&str>) -> (u32, bool) {
    let offered_6 = match offered {
        None => true,
        Some(list) => list
            .split(',')
            .any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION)),
    };
    (APP_PROTOCOL_VERSION, offered_6)
}

/// The handshake line (with its trailing newline).
pub fn handshake_line(network: &str, address: &str, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc|{cert}\n")
}

/// A unix socket path that removes its file when dropped.
#[derive(Debug)]
pub struct SocketPath {
    path: PathBuf,
}

impl SocketPath {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds a fresh unix socket `plugin<random>` in `dir` (or the system temp
/// directory), applying `group` ownership (mode 0660) when given.
pub fn bind_unix_socket(
    dir: Option<&Path>,
    group: Option<&str>,
) -> Result<(tokio::net::UnixListener, SocketPath), HandshakeError> {
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let err = |source| HandshakeError::Listen {
        dir: dir.clone(),
        source,
    };
    let mut rng = rand::rng();
    let mut last_err = None;
    for _ in 0..16 {
        let path = dir.join(format!(
            "plugin{}",
            rng.random_range(100_000_000u64..10_000_000_000)
        ));
        match tokio::net::UnixListener::bind(&path) {
            Ok(listener) => {
                let guard = SocketPath { path };
                if let Some(group) = group {
                    set_socket_group(guard.path(), group).map_err(err)?;
                }
                return Ok((listener, guard));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(err(e)),
        }
    }
    Err(err(last_err.unwrap_or_else(|| {
        std::io::Error::other("no free socket name")
    })))
}

fn set_socket_group(path: &Path, group: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let gid = match group.parse::<u32>() {
        Ok(gid) => gid,
        Err(_) => lookup_group(group)?,
    };
    std::os::unix::fs::chown(path, None, Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
}

fn lookup_group(name: &str) -> std::io::Result<u32> {
    let groups = std::fs::read_to_string("/etc/group")?;
    groups
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let n = parts.next()?;
            let gid = parts.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("PLUGIN_UNIX_SOCKET_GROUP: no group named {name:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_must_match_exactly() {
        let mut env = PluginEnv::default();
        assert!(env.check_magic_cookie().is_err());
        env.magic_cookie = Some("wrong".into());
        assert!(env.check_magic_cookie().is_err());
        env.magic_cookie = Some(MAGIC_COOKIE_VALUE.into());
        assert!(env.check_magic_cookie().is_ok());
        let msg = HandshakeError::NotStartedByTerraform.to_string();
        assert!(msg.contains("not meant to be run directly"), "{msg}");
    }

    #[test]
    fn protocol_six_is_picked_from_any_order() {
        assert_eq!(negotiate_protocol(Some("5,6")), (6, true));
        assert_eq!(negotiate_protocol(Some("6,5")), (6, true));
        assert_eq!(negotiate_protocol(Some(" 6 ")), (6, true));
        assert_eq!(negotiate_protocol(None), (6, true));
        assert_eq!(negotiate_protocol(Some("5")), (6, false));
        assert_eq!(negotiate_protocol(Some("4,16")), (6, false));
    }

    #[test]
    fn handshake_line_format() {
        assert_eq!(
            handshake_line("unix", "/tmp/plugin1", None),
            "1|6|unix|/tmp/plugin1|grpc|\n"
        );
        // base64 standard alphabet without padding
        assert_eq!(
            handshake_line("unix", "/s", Some(&[0xfb, 0xff])),
            "1|6|unix|/s|grpc|+/8\n"
        );
    }

    #[test]
    fn tls_is_disabled_by_tf_disable_plugin_tls() {
        let mut env = PluginEnv {
            client_cert_pem: Some("PEM".into()),
            ..Default::default()
        };
        assert_eq!(env.tls_client_cert(), Some("PEM"));
        env.disable_tls = true;
        assert_eq!(env.tls_client_cert(), None);
    }

    #[tokio::test]
    async fn socket_file_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, guard) = bind_unix_socket(Some(dir.path()), None).unwrap();
        let path = guard.path().to_path_buf();
        assert!(path.starts_with(dir.path()));
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("plugin")
        );
        assert!(path.exists());
        drop(listener);
        drop(guard);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn socket_group_by_numeric_id_sets_mode_0660() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let gid = std::fs::metadata(dir.path()).unwrap().gid();
        let (_l, guard) = bind_unix_socket(Some(dir.path()), Some(&gid.to_string())).unwrap();
        let meta = std::fs::metadata(guard.path()).unwrap();
        assert_eq!(meta.gid(), gid);
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert!(bind_unix_socket(Some(dir.path()), Some("no-such-group-xyz")).is_err());
    }
}
