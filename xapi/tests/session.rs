//! Sessions: login, wrong password, logout, HOST_IS_SLAVE redirect, expiry and re-login,
//! master move.
//! (That no secret leaks into logs is checked in `log_capture.rs`, its own binary.)

mod common;

use common::*;
use xapi::{Client, Config, ErrorCode};

#[tokio::test]
async fn login_lazily_and_logout() {
    let lab = Lab::start().await;
    let c = lab.client();
    assert!(!c.is_logged_in());
    let pools = c.pool().get_all().await.unwrap();
    assert_eq!(pools.len(), 1);
    assert!(c.is_logged_in());
    assert_eq!(c.call_counts()["session.login_with_password"], 1);
    c.logout().await.unwrap();
    assert!(!c.is_logged_in());
    assert_eq!(c.call_counts()["session.logout"], 1);
    // A later call logs in again.
    c.pool().get_all().await.unwrap();
    assert_eq!(c.call_counts()["session.login_with_password"], 2);
    // Logging out twice is fine.
    c.logout().await.unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_reported() {
    let lab = Lab::start().await;
    let c = Client::new(Config::new(&lab.url, USER, "wrong").unwrap()).unwrap();
    let e = c.login().await.unwrap_err();
    assert!(e.is(&ErrorCode::SessionAuthenticationFailed), "{e}");
    assert_eq!(e.api().unwrap().param(0), Some(USER));
    assert!(!e.to_string().contains("wrong"));
}

#[tokio::test]
async fn host_is_slave_redirects_to_the_master() {
    let lab = Lab::start().await;
    let member = lab.member_url();
    let c = Client::new(Config::new(&member, USER, PASSWORD).unwrap()).unwrap();
    let (_, pool) = c.pool().the_pool().await.unwrap();
    assert!(!pool.master.is_null());
    // The client now talks to the master's address.
    assert_eq!(
        c.endpoint().as_str().trim_end_matches('/'),
        lab.url.trim_end_matches('/')
    );
    // Two logins: the refused one on the member, then the master.
    assert_eq!(c.call_counts()["session.login_with_password"], 2);
}

#[tokio::test]
async fn expired_session_is_renewed_transparently() {
    let lab = Lab::start().await;
    let c = lab.client();
    let before = c.vm().get_all().await.unwrap();
    lab.expire_sessions().await;
    // The next call sees SESSION_INVALID, logs in again and succeeds.
    let after = c.vm().get_all().await.unwrap();
    assert_eq!(before.len(), after.len());
    let counts = c.call_counts();
    assert_eq!(counts["session.login_with_password"], 2);
    assert_eq!(counts["VM.get_all"], 2 + 1);
    // Also for a mutating call (SESSION_INVALID is raised before the call runs).
    lab.expire_sessions().await;
    let vm = new_vm(&c, "after-expiry").await;
    c.vm().set_name_description(&vm, "ok").await.unwrap();
    assert_eq!(c.vm().get_record(&vm).await.unwrap().name_description, "ok");
}

#[tokio::test]
async fn concurrent_callers_share_one_relogin() {
    let lab = Lab::start().await;
    let c = lab.client();
    c.login().await.unwrap();
    lab.expire_sessions().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.host().get_all().await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().len(), 3);
    }
    assert_eq!(c.call_counts()["session.login_with_password"], 2);
}

#[tokio::test]
async fn master_move_is_followed() {
    let lab = Lab::start().await;
    let c = lab.client();
    c.pool().get_all().await.unwrap();
    lab.move_master("lab-host-2").await;
    // The old master answers HOST_IS_SLAVE; the client follows it to host 1.
    let (_, pool) = c.pool().the_pool().await.unwrap();
    let hosts = c.host().get_all_records().await.unwrap();
    assert_eq!(hosts[&pool.master].name_label, "lab-host-2");
    assert_eq!(
        c.endpoint().as_str().trim_end_matches('/'),
        lab.host_url("lab-host-2").await.trim_end_matches('/')
    );
    assert_eq!(c.call_counts()["session.login_with_password"], 2);
}
