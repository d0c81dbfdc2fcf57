//! The commands behind the binary, kept in the library so tests can drive
//! them: `run` (signals, reload, systemd notify), `check` and `demo`.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::server::Gateway;

/// Exit code for bad usage or an invalid config.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for a runtime failure.
pub const EXIT_RUNTIME: u8 = 1;

/// `check`: validate and print `ok`, or print every problem and exit 2.
pub fn check(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            for warning in config.warnings() {
                eprintln!("warning: {warning}");
            }
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            None
        }
    }
}

/// `run`: serve until SIGTERM or SIGINT, then drain and exit 0.
pub fn run(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(rt) = runtime() else {
        return ExitCode::from(EXIT_RUNTIME);
    };
    rt.block_on(async move {
        let gateway = match Gateway::bind(&config).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        tracing::info!(
            listen = %gateway.local_addr().map_or("-".into(), |a| a.to_string()),
            admin = %gateway.admin_addr().map_or("-".into(), |a| a.to_string()),
            tls = config.server.tls.is_some(),
            routes = config.routes.len(),
            "dpop-gateway listening"
        );
        warn_about_config(&config);
        if let Some(reload) = gateway.config_reload() {
            tokio::spawn(reload_on_sighup(reload));
        }
        crate::systemd::notify("READY=1");
        gateway.serve(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Valid but risky settings, said once at start.
fn warn_about_config(config: &Config) {
    use crate::config::ReplayBackend;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if config.replay.backend == ReplayBackend::Memory {
        tracing::info!(
            "replay store is in memory: with several replicas, use backend = \"redis\" or \"redis_cluster\""
        );
    }
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
    crate::systemd::notify("STOPPING=1");
}

/// SIGHUP: re-read the config; an invalid one is logged and the running one
/// stays (the reload logs its outcome).
async fn reload_on_sighup(reload: crate::server::ConfigReload) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload with POST /reload");
        return;
    };
    while hup.recv().await.is_some() {
        let _ = reload.reload(crate::server::Trigger::Signal).await;
    }
}

/// `demo`: see [`crate::demo`].
pub fn demo(serve: bool) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::from(EXIT_RUNTIME);
    };
    match rt.block_on(crate::demo::run(serve)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_RUNTIME),
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
