//! Request-body capture for the `json` token location and the CSRF form field: a JSON or form
//! body is read once, up to the configured limit, and handed on to the handler unchanged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, header};
use http_body_util::{BodyExt, Full};

/// What [`JwtLayer`](crate::JwtLayer) learnt about the request body. Its presence in the
/// request's extensions is how token lookup knows the layer ran.
#[derive(Clone, Debug)]
pub(crate) struct CapturedBody {
    pub(crate) media: Media,
    pub(crate) content: Content,
}

/// The body's media type, as far as token lookup cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Media {
    Json,
    Form,
    Other,
}

/// The captured body.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// Neither JSON nor a form: not read.
    Skipped,
    /// The whole body.
    Read(Bytes),
    /// Longer than the limit: not kept (the handler still gets all of it).
    TooLarge,
    /// The body could not be read (the handler gets the same error).
    Failed,
}

impl CapturedBody {
    /// The whole body when it is of `media` and was read.
    pub(crate) fn bytes(&self, media: Media) -> Option<&Bytes> {
        match &self.content {
            Content::Read(b) if self.media == media => Some(b),
            _ => None,
        }
    }

    /// Whether a body of `media` was over the limit.
    pub(crate) fn too_large(&self, media: Media) -> bool {
        self.media == media && matches!(self.content, Content::TooLarge)
    }
}

impl Media {
    /// Classifies a `Content-Type` like Werkzeug (`application/json`, `application/*+json`).
    pub(crate) fn of(content_type: Option<&http::HeaderValue>) -> Media {
        let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
            return Media::Other;
        };
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime == "application/json"
            || (mime.starts_with("application/") && mime.ends_with("+json"))
        {
            Media::Json
        } else if mime == "application/x-www-form-urlencoded" {
            Media::Form
        } else {
            Media::Other
        }
    }
}

/// Reads a JSON or form body of at most `limit` bytes into the request's extensions (with or
/// without `Content-Length`) and puts it back. A longer body is read no further than the limit
/// and handed on whole; token lookup then answers 413 if it needs it.
pub(crate) async fn capture(req: Request<Body>, media: Media, limit: usize) -> Request<Body> {
    if media == Media::Other {
        return skip(req);
    }
    let (mut parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (content, body) = match media {
        Media::Other => (Content::Skipped, body),
        _ if declared.is_some_and(|n| n > limit as u64) => (Content::TooLarge, body),
        _ => read_at_most(body, limit).await,
    };
    parts.extensions.insert(CapturedBody { media, content });
    Request::from_parts(parts, body)
}

/// The request body's media type, as [`capture`] takes it: only a JSON or form body can hold
/// a token or a CSRF field, so only those are read.
pub(crate) fn media(req: &Request<Body>) -> Media {
    Media::of(req.headers().get(header::CONTENT_TYPE))
}

/// Marks a request whose body is neither JSON nor a form as seen by the layer, unread.
pub(crate) fn skip(mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut().insert(CapturedBody {
        media: Media::Other,
        content: Content::Skipped,
    });
    req
}

/// Reads `body` to its end if it holds at most `limit` bytes; otherwise stops just past the
/// limit. Either way returns a body that replays everything.
async fn read_at_most(mut body: Body, limit: usize) -> (Content, Body) {
    let mut buf = BytesMut::new();
    let mut trailers: Option<HeaderMap> = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buf.extend_from_slice(&data);
                    if buf.len() > limit {
                        let head = buf.freeze();
                        return (Content::TooLarge, Body::new(Replay::new(head, Ok(body))));
                    }
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers.get_or_insert_with(HeaderMap::new).extend(t);
                    }
                }
            },
            Some(Err(e)) => {
                return (
                    Content::Failed,
                    Body::new(Replay::new(buf.freeze(), Err(e))),
                );
            }
        }
    }
    let bytes = buf.freeze();
    let body = match trailers {
        None => Body::from(bytes.clone()),
        Some(t) => {
            Body::new(Full::new(bytes.clone()).with_trailers(std::future::ready(Some(Ok(t)))))
        }
    };
    (Content::Read(bytes), body)
}

/// The next frame of a body of `Bytes` (named through `http_body_util`, which re-exports no
/// `Frame` type).
type NextFrame = <http_body_util::combinators::Frame<'static, Body> as Future>::Output;

/// A body partly read: the bytes already taken, then the rest of the stream (or the error
/// that stopped the read).
struct Replay {
    head: Full<Bytes>,
    rest: Result<Body, Option<axum::Error>>,
}

impl Replay {
    fn new(head: Bytes, rest: Result<Body, axum::Error>) -> Self {
        Replay {
            head: Full::new(head),
            rest: rest.map_err(Some),
        }
    }
}

impl HttpBody for Replay {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<NextFrame> {
        let this = &mut *self;
        if let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut this.head).poll_frame(cx) {
            return Poll::Ready(Some(Ok(frame)));
        }
        match &mut this.rest {
            Ok(body) => Pin::new(body).poll_frame(cx),
            Err(e) => Poll::Ready(e.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_end_stream()
            && match &self.rest {
                Ok(body) => body.is_end_stream(),
                Err(e) => e.is_none(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: &str, length: Option<usize>, body: Body) -> Request<Body> {
        let mut b = Request::builder()
            .method("POST")
            .header("content-type", content_type);
        if let Some(n) = length {
            b = b.header("content-length", n);
        }
        b.body(body).unwrap()
    }

    /// [`capture`] with the media type the layer reads from the request.
    async fn captured(req: Request<Body>, limit: usize) -> Request<Body> {
        let m = media(&req);
        capture(req, m, limit).await
    }

    async fn run(req: Request<Body>, limit: usize) -> (CapturedBody, Bytes) {
        let req = captured(req, limit).await;
        let captured = req.extensions().get::<CapturedBody>().unwrap().clone();
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        (captured, bytes)
    }

    #[tokio::test]
    async fn small_bodies_are_kept_with_or_without_length() {
        for length in [Some(7), None] {
            let (c, b) = run(
                request("application/json", length, Body::from("{\"a\":1}")),
                16,
            )
            .await;
            assert_eq!(
                c.bytes(Media::Json).map(|b| &b[..]),
                Some(&b"{\"a\":1}"[..])
            );
            assert_eq!(c.bytes(Media::Form), None);
            assert_eq!(&b[..], b"{\"a\":1}");
        }
    }

    #[tokio::test]
    async fn long_bodies_are_marked_and_handed_on_whole() {
        let long = "x".repeat(100);
        for length in [Some(100), None] {
            let (c, b) = run(
                request("application/json", length, Body::from(long.clone())),
                16,
            )
            .await;
            assert!(c.too_large(Media::Json));
            assert!(!c.too_large(Media::Form));
            assert_eq!(b, long.as_bytes());
        }
    }

    #[tokio::test]
    async fn other_media_are_not_read() {
        let (c, b) = run(request("text/plain", None, Body::from("hello")), 16).await;
        assert!(matches!(c.content, Content::Skipped));
        assert_eq!(&b[..], b"hello");
    }

    /// A body in several frames, optionally ending in an error.
    struct Frames(std::collections::VecDeque<Result<Full<Bytes>, &'static str>>);

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = axum::Error;
        fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<NextFrame> {
            match self.0.front_mut() {
                None => Poll::Ready(None),
                Some(Ok(full)) => {
                    let frame = Pin::new(full).poll_frame(cx);
                    self.0.pop_front();
                    match frame {
                        Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                        _ => Poll::Ready(None),
                    }
                }
                Some(Err(e)) => {
                    let e = axum::Error::new(std::io::Error::other(*e));
                    self.0.pop_front();
                    Poll::Ready(Some(Err(e)))
                }
            }
        }
    }

    fn frames(parts: &[&'static str], error: bool) -> Body {
        let mut q: std::collections::VecDeque<_> = parts
            .iter()
            .map(|p| Ok(Full::new(Bytes::from_static(p.as_bytes()))))
            .collect();
        if error {
            q.push_back(Err("connection reset"));
        }
        Body::new(Frames(q))
    }

    #[tokio::test]
    async fn streams_are_read_up_to_the_limit_and_replayed() {
        let parts = ["aaaa", "bbbb", "cccc", "dddd"];
        let req = captured(request("application/json", None, frames(&parts, false)), 16).await;
        let c = req.extensions().get::<CapturedBody>().unwrap().clone();
        assert_eq!(
            c.bytes(Media::Json).map(|b| &b[..]),
            Some(&b"aaaabbbbccccdddd"[..])
        );

        let req = captured(request("application/json", None, frames(&parts, false)), 10).await;
        assert!(
            req.extensions()
                .get::<CapturedBody>()
                .unwrap()
                .too_large(Media::Json)
        );
        let all = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &all[..],
            b"aaaabbbbccccdddd",
            "the handler gets every byte, once"
        );

        let req = captured(
            request("application/json", None, frames(&parts[..2], true)),
            16,
        )
        .await;
        let c = req.extensions().get::<CapturedBody>().unwrap().clone();
        assert!(matches!(c.content, Content::Failed));
        assert!(
            req.into_body().collect().await.is_err(),
            "the handler sees the error"
        );
    }

    #[test]
    fn media_types() {
        let of = |s: &'static str| Media::of(Some(&http::HeaderValue::from_static(s)));
        assert_eq!(of("application/json"), Media::Json);
        assert_eq!(of("Application/JSON; charset=utf-8"), Media::Json);
        assert_eq!(of("application/vnd.api+json"), Media::Json);
        assert_eq!(of("application/x-www-form-urlencoded"), Media::Form);
        assert_eq!(of("text/plain"), Media::Other);
        assert_eq!(Media::of(None), Media::Other);
    }
}
