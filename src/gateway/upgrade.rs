//! The WebSocket upgrade, taken out of actix-web's HTTP/1 dispatcher.
//!
//! Served as an actix-web route, a WebSocket would keep the dispatcher's
//! read and write buffers (8 KiB each) for its whole life, the response
//! being a body that never ends. actix-http hands a request that asks for
//! `Upgrade: websocket` (or is a `CONNECT`) to an upgrade service instead,
//! with the connection's framed stream, and lets go of its own buffers.
//! This is that service: it runs the request through the same actix-web
//! [`App`](actix_web::App) (middleware, `GET /ws` with its `Origin` check,
//! every other route) and writes the answer; when `GET /ws` accepted the
//! upgrade, the connection then runs on the bare TCP stream
//! ([`super::socket`]) in this same task, so the server still counts it
//! and waits for it at shutdown. Any other answer is written and the
//! connection closed, as actix-web does after such a request.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::{BoxBody, MessageBody};
use actix_http::h1::{self, SendResponse};
use actix_http::{HttpMessage, Request, Response, StatusCode};
use actix_service::{IntoServiceFactory, Service, ServiceFactory, fn_factory, fn_service};
use actix_web::dev::AppConfig;
use futures_util::future::LocalBoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{connection, socket};
use crate::state::AppState;

/// How long a connection closed by the server reads what the client still
/// sends before it is dropped (actix-web's client disconnect timeout).
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// In a request's extensions: this request came through the upgrade
/// service, which can hand its socket to a WebSocket connection.
#[derive(Clone, Copy)]
pub(super) struct CanUpgrade;

/// In the extensions of `GET /ws`'s 101 answer: what the connection runs
/// with.
pub(super) struct Accepted {
    pub state: Arc<AppState>,
    /// Largest WebSocket message (and frame) read from the client.
    pub max_message: usize,
}

type Upgraded = Framed<TcpStream, h1::Codec>;

/// The upgrade service of one worker: `app` builds the worker's App (the
/// same factory the HTTP service uses), `config` is the App's config.
pub fn service<F, I, S, B>(
    app: F,
    config: AppConfig,
) -> impl ServiceFactory<
    (Request, Upgraded),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
>
where
    F: Fn() -> I + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Service: 'static,
    S::Error: Into<actix_web::Error>,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let factory = app().into_factory();
        let config = config.clone();
        async move {
            let app = factory.new_service(config).await.map_err(|e| {
                tracing::error!(error = ?e, "cannot build the app for the upgrade service");
            })?;
            let app = Rc::new(app);
            Ok(fn_service(move |(req, framed): (Request, Upgraded)| {
                let app = Rc::clone(&app);
                // Boxed: the dispatcher keeps this future in its own state,
                // which every HTTP connection allocates.
                let serving: LocalBoxFuture<'static, Result<(), actix_web::Error>> =
                    Box::pin(serve(app, req, framed));
                serving
            }))
        }
    })
}

async fn serve<S, B>(app: Rc<S>, req: Request, framed: Upgraded) -> Result<(), actix_web::Error>
where
    S: Service<Request>,
    S::Error: Into<actix_web::Error>,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    req.extensions_mut().insert(CanUpgrade);
    let mut response: Response<BoxBody> = match app.call(req).await {
        Ok(response) => response.into().map_into_boxed_body(),
        Err(e) => e.into().error_response().into(),
    };
    let accepted = if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        response.extensions_mut().remove::<Accepted>()
    } else {
        None
    };
    let Some(accepted) = accepted else {
        // Not a WebSocket: the answer, then the connection closes.
        let (head, body) = response.into_parts();
        let body = actix_http::body::to_bytes(body).await.unwrap_or_default();
        if let Ok(framed) = SendResponse::new(framed, head.set_body(body)).await {
            close(framed.into_parts().io).await;
        }
        return Ok(());
    };
    let Ok(framed) = SendResponse::new(framed, response.drop_body()).await else {
        return Ok(()); // the client left during the handshake
    };
    let parts = framed.into_parts();
    // What the client sent after the upgrade request is the WebSocket's.
    let (reader, writer) = socket::split(parts.io, &parts.read_buf, accepted.max_message);
    drop(parts.read_buf);
    drop(parts.write_buf);
    connection::run(accepted.state, reader, writer).await;
    Ok(())
}

/// Closes a connection after an answer: no more writes, then what the
/// client still sends is read for [`CLOSE_LINGER`] at most.
async fn close(mut io: TcpStream) {
    let _ = io.shutdown().await;
    socket::linger(&mut io, CLOSE_LINGER).await;
}
