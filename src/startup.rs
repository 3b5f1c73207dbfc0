//! `Application`: binds the listener, opens the store, wires the shared
//! state and runs the HTTP server until it is stopped.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_http::{HttpService, KeepAlive};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, map_config};
use actix_web::dev::{AppConfig, Server};
use actix_web::{App, http::header, web};
use tracing_actix_web::TracingLogger;

use crate::auth::JwtKeys;
use crate::broker::{Broker, DynBroker, Transport};
use crate::config::{AllowedOrigins, Config};
use crate::state::AppState;
use crate::store;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Redis(#[from] crate::broker::RedisUrlError),
    #[error(transparent)]
    Push(#[from] crate::push::PushStartError),
    #[error("cannot open the file storage (STORAGE_URL): {0}")]
    Storage(#[from] crate::files::storage::StorageError),
    #[error("WEBHOOK_ALLOWED_HOSTS: {0}")]
    WebhookAllowedHosts(String),
}

impl Application {
    /// Opens the database (running migrations), binds `config.bind_addr`
    /// (port 0 picks a free port) and builds the server.
    pub async fn build(mut config: Config) -> Result<Self, StartError> {
        crate::webhooks::egress(&config.webhook_allowed_hosts)
            .map_err(StartError::WebhookAllowedHosts)?;
        let store = store::connect_with(
            &config.database_url,
            config.database_max_connections,
            config.commit.workers as u32,
            &config.retention.partitions,
        )
        .await?;
        let listener = TcpListener::bind(config.bind_addr).map_err(|source| StartError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })?;
        let port = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })?;
        crate::auth::password::warm_up();
        crate::metrics::handle();

        // Without JWT_SECRET (SQLite), the key kept in the database.
        config.jwt_secret.bytes =
            crate::auth::secret::signing_key(store.as_ref(), &config.jwt_secret).await?;
        let jwt = JwtKeys::new(&config.jwt_secret.bytes, config.jwt_ttl.as_secs());
        crate::files::signing::install(&config.jwt_secret.bytes, config.files.url_ttl.as_secs());
        let storage = crate::files::storage::Storage::open(&config.files.location)?;
        let broker: DynBroker = match &config.redis_url {
            Some(url) => Broker::relayed(Transport::single(url)?, store.clone()),
            None if !config.redis_cluster_nodes.is_empty() => Broker::relayed(
                Transport::cluster(config.redis_cluster_nodes.clone()),
                store.clone(),
            ),
            None => Broker::local(store.clone()),
        };
        let push = crate::push::PushSetup::load(&config.push, &store).await?;
        let state = web::Data::new(AppState::new(
            config,
            store,
            broker,
            jwt.clone(),
            push,
            storage,
        ));
        // Tokens of logins ended shortly before this start stay refused.
        state.logins.reload().await?;
        let logins = web::Data::from(state.logins.clone());
        state.push.start_sending(state.shutdown_signal());
        crate::files::sweeper::start(state.files.clone(), state.shutdown_signal());
        crate::retention::start(
            state.store.clone(),
            state.config.retention,
            state.shutdown_signal(),
        );
        // Account deletions a restart interrupted (README, "Accounts").
        crate::accounts::resume_erasures(state.clone().into_inner());
        let jwt = web::Data::new(jwt);
        let server_state = state.clone();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        // actix counts connections per worker.
        let per_worker = state.config.limits.max_connections.div_ceil(workers).max(1);
        let app = move || {
            App::new()
                .wrap(cors(&server_state.config.allowed_origins))
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .app_data(server_state.clone())
                .app_data(jwt.clone())
                .app_data(logins.clone())
                .configure(crate::http::configure)
                .service(crate::gateway::websocket)
                .default_service(web::to(crate::http::not_found))
        };
        // What actix-web's `HttpServer` does, plus the WebSocket upgrade
        // service beside the App (see `gateway::upgrade`): the same
        // defaults (keep-alive, 5 s to send a request head, 1 s to close;
        // but half-closed connections, see below),
        // workers, connection limit and graceful shutdown.
        let builder = actix_web::dev::Server::build()
            .workers(workers)
            .max_concurrent_connections(per_worker)
            .shutdown_timeout(25)
            .disable_signals();
        let draining = builder.graceful_shutdown_signal();
        let server = builder
            .listen(format!("actix-web-service-{port}"), listener, move || {
                let draining = draining.clone();
                let config = AppConfig::__priv_test_new(false, port.to_string(), port);
                let app_config = config.clone();
                let http = app()
                    .into_factory()
                    .map_err(|e: actix_web::Error| e.error_response());
                HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let draining = draining.clone();
                        async move { draining.notified().await }
                    })
                    .keep_alive(KeepAlive::default())
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    // A client's EOF ends its connection at once: an event
                    // stream or a held long poll of a client that went away
                    // is dropped with its presence and connection slot
                    // (README, "Chat over plain HTTP"), instead of living
                    // until a write fails (two keep-alives, ~30 s). A client
                    // that half-closes after its request is taken as gone.
                    .h1_allow_half_closed(false)
                    .local_addr(port)
                    // Frames are small and latency matters: no Nagle delay.
                    .tcp_nodelay(true)
                    .upgrade(crate::gateway::upgrade::service(app.clone(), config))
                    .finish(map_config(http, move |_| app_config.clone()))
                    .tcp()
            })
            .map_err(|source| StartError::Bind {
                addr: port.to_string(),
                source,
            })?
            .run();
        Ok(Application {
            port: port.port(),
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM / SIGINT, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received");
            state.begin_shutdown();
            // Connections see the signal, finish in-flight SENDs and close
            // with 1012; the server waits for them (bounded by
            // shutdown_timeout) after it stops accepting.
            handle.stop(true).await;
        });
        self.server.await
    }

    /// Serves until the server is stopped some other way (tests).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn cors(origins: &AllowedOrigins) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .allowed_header("idempotency-key")
        .allowed_header("last-event-id")
        .max_age(3600);
    match origins {
        AllowedOrigins::Any => cors.allow_any_origin(),
        AllowedOrigins::List(list) => list.iter().fold(cors, |c, o| c.allowed_origin(o)),
    }
}
