//! Configuration from `MAITRE_*` environment variables, with embedded defaults.
//!
//! Every knob has a default that runs on a laptop (SQLite under `./data`, in-process
//! coordination, a development signing key); production sets URLs and keys.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

/// Where this process runs: development accepts the built-in signing key, production refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// Local development and tests.
    Development,
    /// A real deployment.
    Production,
}

/// The four services and the gateway, with their default ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceName {
    /// The API gateway (HTTP/JSON, gRPC-Web, gRPC).
    Gateway,
    /// Customer profiles, identity, events, classes, follow-ups, menu.
    Profile,
    /// Ownership of customers by managers.
    Assignment,
    /// Tags, rules, segments, predictions.
    Tagging,
    /// Templates, automations, campaigns, delivery, inbox.
    Notification,
}

impl ServiceName {
    /// Every service, gateway first.
    pub const ALL: [ServiceName; 5] = [
        Self::Gateway,
        Self::Profile,
        Self::Assignment,
        Self::Tagging,
        Self::Notification,
    ];

    /// The name used in config, schemas, logs and `maitre serve <name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Profile => "profile",
            Self::Assignment => "assignment",
            Self::Tagging => "tagging",
            Self::Notification => "notification",
        }
    }

    /// Default listen port: the gateway on 8080, the services on the ports that follow.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Gateway => 8080,
            Self::Profile => 8081,
            Self::Assignment => 8082,
            Self::Tagging => 8083,
            Self::Notification => 8084,
        }
    }

    /// The environment variable naming this service's upstream URL.
    pub fn url_variable(self) -> String {
        format!("MAITRE_{}_URL", self.as_str().to_uppercase())
    }
}

impl std::str::FromStr for ServiceName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown service `{s}` (expected gateway, profile, assignment, tagging or notification)"))
    }
}

/// The upstream URL of a service that is not deployed (`MAITRE_<NAME>_URL=disabled`; the
/// chart sets it for a component with `enabled: false`): the gateway answers its routes 501
/// and stays ready, and no service follows its log.
pub const DISABLED_UPSTREAM: &str = "disabled";

/// Configuration of one service process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which service this is.
    pub service: ServiceName,
    /// Development or production (`MAITRE_ENV`).
    pub environment: Environment,
    /// Listen address (`MAITRE_LISTEN`).
    pub listen: SocketAddr,
    /// Database URL (`MAITRE_DATABASE_URL`): `postgres://…` or `sqlite://…`.
    pub database_url: String,
    /// PostgreSQL schema of this service (`MAITRE_DATABASE_SCHEMA`, default the service name).
    pub database_schema: String,
    /// Redis URL (`MAITRE_REDIS_URL`); none = in-process coordination.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (`MAITRE_REDIS_PREFIX`, default `maitre:`).
    pub redis_prefix: String,
    /// HS256 secret (`MAITRE_JWT_SECRET`); development default when unset.
    pub jwt_secret: Option<String>,
    /// RS256 public key PEM file (`MAITRE_JWT_PUBLIC_KEY_FILE`).
    pub jwt_public_key_file: Option<PathBuf>,
    /// RS256 private key PEM file (`MAITRE_JWT_PRIVATE_KEY_FILE`) to mint this service's own identity.
    pub jwt_private_key_file: Option<PathBuf>,
    /// The identity provider's key set (`MAITRE_JWT_JWKS_URL`); tokens with a `kid` are
    /// verified against it.
    pub jwt_jwks_url: Option<String>,
    /// Required `iss` of tokens verified by the key set (`MAITRE_JWT_ISSUER`).
    pub jwt_issuer: Option<String>,
    /// Required `aud` of tokens verified by the key set (`MAITRE_JWT_AUDIENCE`).
    pub jwt_audience: Option<String>,
    /// How often the key set is fetched again (`MAITRE_JWT_JWKS_REFRESH_SECS`, default 300).
    pub jwt_jwks_refresh: Duration,
    /// Upstream URLs of the other services (`MAITRE_<NAME>_URL`).
    pub upstreams: HashMap<ServiceName, String>,
    /// Prometheus metrics listen address (`MAITRE_METRICS_LISTEN`); none = no metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Directory for embedded SQLite files (`MAITRE_DATA_DIR`, default `./data`).
    pub data_dir: PathBuf,
    /// Connection pool size and wait (`MAITRE_DATABASE_POOL_SIZE`,
    /// `MAITRE_DATABASE_ACQUIRE_TIMEOUT_SECS`).
    pub database_pool: crate::db::PoolSettings,
    /// Whether a service applies pending PostgreSQL migrations itself at start
    /// (`MAITRE_MIGRATE_ON_START`; default true in development, false in production, where
    /// `maitre migrate` runs them with a more privileged user).
    pub migrate_on_start: bool,
    /// Partitions each consumer of another service's log is cut into
    /// (`MAITRE_EVENT_PARTITIONS`, default [`DEFAULT_POSTGRES_PARTITIONS`] on PostgreSQL),
    /// shared among the replicas under fenced leases. PostgreSQL only: the embedded backend
    /// is one process and one partition.
    pub event_partitions: u32,
    /// This replica's name in consumer leases (`MAITRE_REPLICA_ID`, else `HOSTNAME`).
    pub replica_id: String,
}

/// Partitions of each consumer on PostgreSQL unless `MAITRE_EVENT_PARTITIONS` says otherwise.
/// One for now: with assignment's contact consumer cut into 4, the killed-replica-and-flush
/// ownership journey split walk-ins 9/10/11 (outside ±1), so partitioning stays opt-in until
/// that is understood. One partition is one lease: a single replica applies, the others
/// stand by and take over. A consumer's count is fixed when it first runs partitioned (see
/// `eventlog::partition::ensure_layout`).
pub const DEFAULT_POSTGRES_PARTITIONS: u32 = 1;

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Config {
    /// Reads the configuration of `service` from the process environment.
    pub fn from_env(service: ServiceName) -> Result<Self, ConfigError> {
        Self::from_lookup(service, |key| {
            std::env::var(key).ok().filter(|v| !v.is_empty())
        })
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(
        service: ServiceName,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let environment = match lookup("MAITRE_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "MAITRE_ENV",
                    format!("`{other}` is not development or production"),
                ));
            }
        };
        let listen = match lookup("MAITRE_LISTEN") {
            Some(v) => v
                .parse()
                .map_err(|e| invalid("MAITRE_LISTEN", format!("`{v}`: {e}")))?,
            None => SocketAddr::from(([127, 0, 0, 1], service.default_port())),
        };
        let data_dir = PathBuf::from(lookup("MAITRE_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = lookup("MAITRE_DATABASE_URL").unwrap_or_else(|| {
            format!(
                "sqlite://{}/{}.db?mode=rwc",
                data_dir.display(),
                service.as_str()
            )
        });
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "MAITRE_DATABASE_URL",
                "must start with postgres:// or sqlite:".into(),
            ));
        }
        let metrics_listen = match lookup("MAITRE_METRICS_LISTEN") {
            Some(v) => Some(
                v.parse()
                    .map_err(|e| invalid("MAITRE_METRICS_LISTEN", format!("`{v}`: {e}")))?,
            ),
            None => None,
        };
        let positive = |variable: &str| -> Result<Option<u32>, ConfigError> {
            match lookup(variable) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(invalid(
                        variable,
                        format!("`{v}` is not a positive integer"),
                    )),
                },
            }
        };
        let mut database_pool = crate::db::PoolSettings {
            max_connections: positive("MAITRE_DATABASE_POOL_SIZE")?,
            ..crate::db::PoolSettings::default()
        };
        if let Some(secs) = positive("MAITRE_DATABASE_ACQUIRE_TIMEOUT_SECS")? {
            database_pool.acquire_timeout = std::time::Duration::from_secs(secs.into());
        }
        let jwt_jwks_refresh =
            Duration::from_secs(positive("MAITRE_JWT_JWKS_REFRESH_SECS")?.map_or(300, u64::from));
        let migrate_on_start = match lookup("MAITRE_MIGRATE_ON_START").as_deref() {
            None => environment == Environment::Development,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(invalid(
                    "MAITRE_MIGRATE_ON_START",
                    format!("`{other}` is not true or false"),
                ));
            }
        };
        let mut upstreams = HashMap::new();
        for name in ServiceName::ALL {
            let url = lookup(&name.url_variable())
                .unwrap_or_else(|| format!("http://127.0.0.1:{}", name.default_port()));
            upstreams.insert(name, url);
        }
        let event_partitions = positive("MAITRE_EVENT_PARTITIONS")?.unwrap_or(
            if database_url.starts_with("sqlite:") {
                1
            } else {
                DEFAULT_POSTGRES_PARTITIONS
            },
        );
        if event_partitions > 256 {
            return Err(invalid(
                "MAITRE_EVENT_PARTITIONS",
                format!("`{event_partitions}` is more than 256"),
            ));
        }
        let replica_id = lookup("MAITRE_REPLICA_ID")
            .or_else(|| lookup("HOSTNAME"))
            .unwrap_or_default();
        let config = Self {
            service,
            environment,
            listen,
            database_schema: lookup("MAITRE_DATABASE_SCHEMA")
                .unwrap_or_else(|| service.as_str().into()),
            database_url,
            redis_url: lookup("MAITRE_REDIS_URL"),
            redis_prefix: lookup("MAITRE_REDIS_PREFIX").unwrap_or_else(|| "maitre:".into()),
            jwt_secret: lookup("MAITRE_JWT_SECRET"),
            jwt_public_key_file: lookup("MAITRE_JWT_PUBLIC_KEY_FILE").map(PathBuf::from),
            jwt_private_key_file: lookup("MAITRE_JWT_PRIVATE_KEY_FILE").map(PathBuf::from),
            jwt_jwks_url: lookup("MAITRE_JWT_JWKS_URL"),
            jwt_issuer: lookup("MAITRE_JWT_ISSUER"),
            jwt_audience: lookup("MAITRE_JWT_AUDIENCE"),
            jwt_jwks_refresh,
            upstreams,
            metrics_listen,
            data_dir,
            database_pool,
            migrate_on_start,
            event_partitions,
            replica_id,
        };
        Ok(config)
    }

    /// The URL of another service.
    pub fn upstream(&self, service: ServiceName) -> &str {
        self.upstreams
            .get(&service)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

fn invalid(variable: &str, reason: String) -> ConfigError {
    ConfigError {
        variable: variable.into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(ServiceName::Assignment, |k| map.get(k).cloned())
    }

    #[test]
    fn embedded_defaults_need_nothing() {
        let c = config(&[]).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.listen.port(), 8082);
        assert_eq!(c.database_url, "sqlite://data/assignment.db?mode=rwc");
        assert_eq!(c.database_schema, "assignment");
        assert!(c.redis_url.is_none());
        assert_eq!(c.upstream(ServiceName::Profile), "http://127.0.0.1:8081");
        assert_eq!(c.event_partitions, 1);
    }

    #[test]
    fn environment_overrides_defaults() {
        let c = config(&[
            ("MAITRE_ENV", "production"),
            ("MAITRE_LISTEN", "0.0.0.0:50051"),
            ("MAITRE_DATABASE_URL", "postgres://db/maitre"),
            ("MAITRE_REDIS_URL", "redis://cache:6379"),
            ("MAITRE_PROFILE_URL", "http://profile:50051"),
        ])
        .unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.listen.port(), 50051);
        assert_eq!(c.redis_url.as_deref(), Some("redis://cache:6379"));
        assert_eq!(c.upstream(ServiceName::Profile), "http://profile:50051");
        assert_eq!(c.event_partitions, DEFAULT_POSTGRES_PARTITIONS);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[("MAITRE_LISTEN", "nowhere")]).unwrap_err();
        assert_eq!(e.variable, "MAITRE_LISTEN");
        let e = config(&[("MAITRE_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.variable, "MAITRE_DATABASE_URL");
        let e = config(&[("MAITRE_ENV", "staging")]).unwrap_err();
        assert_eq!(e.variable, "MAITRE_ENV");
        let e = config(&[("MAITRE_DATABASE_POOL_SIZE", "0")]).unwrap_err();
        assert_eq!(e.variable, "MAITRE_DATABASE_POOL_SIZE");
        let e = config(&[("MAITRE_MIGRATE_ON_START", "yes")]).unwrap_err();
        assert_eq!(e.variable, "MAITRE_MIGRATE_ON_START");
        for bad in ["0", "many", "257"] {
            let e = config(&[("MAITRE_EVENT_PARTITIONS", bad)]).unwrap_err();
            assert_eq!(e.variable, "MAITRE_EVENT_PARTITIONS");
        }
        assert_eq!(
            config(&[("MAITRE_EVENT_PARTITIONS", "8")])
                .unwrap()
                .event_partitions,
            8
        );
    }

    #[test]
    fn production_leaves_migrations_to_maitre_migrate() {
        assert!(config(&[]).unwrap().migrate_on_start);
        assert!(
            !config(&[("MAITRE_ENV", "production")])
                .unwrap()
                .migrate_on_start
        );
        let c = config(&[
            ("MAITRE_ENV", "production"),
            ("MAITRE_MIGRATE_ON_START", "true"),
            ("MAITRE_DATABASE_POOL_SIZE", "40"),
            ("MAITRE_DATABASE_ACQUIRE_TIMEOUT_SECS", "5"),
        ])
        .unwrap();
        assert!(c.migrate_on_start);
        assert_eq!(c.database_pool.max_connections, Some(40));
        assert_eq!(c.database_pool.acquire_timeout.as_secs(), 5);
    }
}
