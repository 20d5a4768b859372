//! `maitre`: the one binary. `run` starts everything embedded in one process; `serve`
//! runs one service (as Kubernetes does); `migrate` prepares databases; `token` mints a
//! development token.

use std::{collections::HashMap, net::SocketAddr};

mod demo;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures::future::BoxFuture;
use maitre_kit::{
    auth::{Minter, Role},
    config::{Config, ServiceName},
    server::shutdown_signal,
};
use tokio::{net::TcpListener, sync::watch};

/// mimalloc rather than glibc's malloc: under load glibc's allocator took about 13% of the
/// profile service's CPU (perf, RecordEvent at 32 clients), and with mimalloc the same
/// benchmark recorded about a third more events per second (`bench/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "maitre",
    version,
    about = "Maitre: the customer backend of restaurant chains"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway and all four services in one process with embedded defaults
    /// (SQLite under ./data, in-process coordination, the development signing key).
    Run {
        /// Gateway port; the services take the four ports after it.
        #[arg(long, env = "MAITRE_PORT", default_value_t = 8080)]
        port: u16,
        /// Address to bind.
        #[arg(long, env = "MAITRE_HOST", default_value = "127.0.0.1")]
        host: String,
    },
    /// Run one service (configuration from MAITRE_* environment variables).
    Serve {
        /// gateway, profile, assignment, tagging or notification.
        service: ServiceName,
    },
    /// Create or upgrade the database schemas of the given services (default: all four).
    Migrate {
        /// Services to migrate.
        services: Vec<ServiceName>,
    },
    /// Load a sample chain (3 stores, 12 managers, 5,000 guests, a year of visits) through
    /// the gateway's REST API (with `maitre run` serving).
    Demo {
        /// The gateway.
        #[arg(
            long,
            env = "MAITRE_GATEWAY_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        gateway: String,
        /// Random seed (the same seed loads the same chain).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Mint a token (development key unless keys are configured).
    Token {
        /// The chain (tenant).
        #[arg(long, default_value = "demo")]
        chain: String,
        /// hq_admin, store_manager, customer_manager, front_desk or service.
        #[arg(long, default_value = "hq_admin")]
        role: Role,
        /// Staff id (for managers, their manager id).
        #[arg(long, default_value = "admin")]
        staff: String,
        /// Stores in scope, comma separated.
        #[arg(long, value_delimiter = ',')]
        stores: Vec<String>,
        /// Validity in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { port, host } => run_all(&host, port).await,
        Command::Serve { service } => {
            let _telemetry = maitre_kit::telemetry::init(service.as_str());
            let config = Config::from_env(service)?;
            if let Some(addr) = config.metrics_listen {
                maitre_kit::metrics::install(addr)
                    .map_err(|e| anyhow::anyhow!("metrics on {addr}: {e}"))?;
            }
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            tracing::info!(service = service.as_str(), listen = %config.listen, "serving");
            serve(config, listener, Box::pin(shutdown_signal())).await
        }
        Command::Migrate { services } => {
            let _telemetry = maitre_kit::telemetry::init("migrate");
            let services = if services.is_empty() {
                ServiceName::ALL.to_vec()
            } else {
                services
            };
            for service in services.into_iter().filter(|s| *s != ServiceName::Gateway) {
                let mut config = Config::from_env(service)?;
                // One database for several services: each keeps its own schema.
                config.database_schema = service.as_str().into();
                migrate(&config)
                    .await
                    .with_context(|| format!("migrating {}", service.as_str()))?;
                tracing::info!(service = service.as_str(), "migrated");
            }
            Ok(())
        }
        Command::Demo { gateway, seed } => {
            let config = Config::from_env(ServiceName::Gateway)?;
            let token = Minter::from_config(&config)?.mint(
                "demo-loader",
                "demo",
                Role::HqAdmin,
                &[],
                3600,
            )?;
            demo::run(&gateway, &token, seed).await
        }
        Command::Token {
            chain,
            role,
            staff,
            stores,
            ttl,
        } => {
            let config = Config::from_env(ServiceName::Gateway)?;
            let token = Minter::from_config(&config)?.mint(&staff, &chain, role, &stores, ttl)?;
            println!("{token}");
            Ok(())
        }
    }
}

/// Runs one service (or the gateway) until `shutdown`.
async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: BoxFuture<'static, ()>,
) -> anyhow::Result<()> {
    match config.service {
        ServiceName::Gateway => maitre_gateway::serve(config, listener, shutdown).await?,
        ServiceName::Profile => maitre_profile::serve(config, listener, shutdown).await?,
        ServiceName::Assignment => maitre_assignment::serve(config, listener, shutdown).await?,
        ServiceName::Tagging => maitre_tagging::serve(config, listener, shutdown).await?,
        ServiceName::Notification => maitre_notification::serve(config, listener, shutdown).await?,
    }
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    match config.service {
        ServiceName::Gateway => {}
        ServiceName::Profile => maitre_profile::migrate(config).await?,
        ServiceName::Assignment => maitre_assignment::migrate(config).await?,
        ServiceName::Tagging => maitre_tagging::migrate(config).await?,
        ServiceName::Notification => maitre_notification::migrate(config).await?,
    }
    Ok(())
}

/// Everything in one process: each service on its own port, talking gRPC over loopback.
async fn run_all(host: &str, port: u16) -> anyhow::Result<()> {
    let _telemetry = maitre_kit::telemetry::init("maitre");
    if let Some(addr) = Config::from_env(ServiceName::Gateway)?.metrics_listen {
        maitre_kit::metrics::install(addr)
            .map_err(|e| anyhow::anyhow!("metrics on {addr}: {e}"))?;
    }
    let addresses: HashMap<ServiceName, SocketAddr> = ServiceName::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| Ok((*s, format!("{host}:{}", port + i as u16).parse()?)))
        .collect::<Result<_, std::net::AddrParseError>>()?;
    let (stop, stopped) = watch::channel(false);
    let (exited, mut first_exit) = tokio::sync::mpsc::channel::<(&'static str, String)>(8);
    let mut tasks = Vec::new();
    // Services first, the gateway last, so the door opens onto a ready house.
    for service in ServiceName::ALL.iter().rev() {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        vars.insert("MAITRE_LISTEN".into(), addresses[service].to_string());
        for (other, addr) in &addresses {
            vars.entry(other.url_variable())
                .or_insert_with(|| format!("http://{addr}"));
        }
        vars.remove("MAITRE_DATABASE_SCHEMA");
        let config =
            Config::from_lookup(*service, |k| vars.get(k).cloned().filter(|v| !v.is_empty()))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let mut stopped = stopped.clone();
        let shutdown: BoxFuture<'static, ()> = Box::pin(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        let name = service.as_str();
        let exited = exited.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = match serve(config, listener, shutdown).await {
                Ok(()) => "stopped".to_owned(),
                Err(e) => format!("{e:#}"),
            };
            let _ = exited.send((name, outcome)).await;
        }));
    }
    let gateway = addresses[&ServiceName::Gateway];
    let minter = Minter::from_config(&Config::from_env(ServiceName::Gateway)?)?;
    let token = minter.mint("admin", "demo", Role::HqAdmin, &[], 7 * 86_400)?;
    println!(
        "Maitre is running: gateway http://{gateway} (REST /v1/..., OpenAPI /openapi.json, gRPC and gRPC-Web)"
    );
    for service in &ServiceName::ALL[1..] {
        println!("  {:<13} grpc://{}", service.as_str(), addresses[service]);
    }
    println!("Development token (chain `demo`, hq_admin, 7 days):\n{token}");
    tokio::select! {
        _ = shutdown_signal() => {}
        Some((name, outcome)) = first_exit.recv() => {
            tracing::error!(service = name, outcome = %outcome, "a service stopped; stopping the rest");
        }
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}
