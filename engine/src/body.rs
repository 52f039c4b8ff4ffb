//! Reading a whole HTTP body under a size limit: the one place for upstream answers (plain
//! pool and reqwest) and the server's request bodies.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// Why a body was not read whole.
#[derive(Debug)]
pub enum BodyError<E> {
    /// More than the limit arrived (or was declared); reading stopped there.
    TooLarge,
    /// The body's own error (a connection reset, a malformed chunk, ...).
    Read(E),
}

/// Reads `body` whole, refusing more than `limit` bytes. Frames are taken one by one rather
/// than through `Limited` and `Collect`: a body is usually one frame, kept as it is without a
/// copy, and those layers were a measured share of a small request. Trailers are ignored.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyError<B::Error>>
where
    B: Body<Data = Bytes>,
{
    // A declared length over the limit is refused before anything is read.
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut whole = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            continue;
        };
        let read = joined.as_ref().map_or(whole.len(), BytesMut::len);
        if read + data.len() > limit {
            return Err(BodyError::TooLarge);
        }
        if let Some(joined) = &mut joined {
            joined.extend_from_slice(&data);
        } else if whole.is_empty() {
            whole = data;
        } else {
            let mut both = BytesMut::with_capacity(whole.len() + data.len());
            both.extend_from_slice(&whole);
            both.extend_from_slice(&data);
            joined = Some(both);
        }
    }
    Ok(joined.map_or(whole, BytesMut::freeze))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, String>>> {
        let frames: Vec<Result<Frame<Bytes>, String>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_of_several_frames_is_joined_and_counted_once_against_the_limit() {
        // The first frame is over half the limit: counting it twice would refuse the body.
        let first: &'static [u8] = &[b'a'; 600];
        let body = read_limited(chunks(&[first, b"bc", b"d"]), 604)
            .await
            .unwrap();
        assert_eq!(body.len(), 603);
        assert!(body.ends_with(b"abcd"));
        assert!(matches!(
            read_limited(chunks(&[first, b"bc", b"d"]), 602).await,
            Err(BodyError::TooLarge)
        ));
    }

    #[tokio::test]
    async fn one_frame_is_kept_without_a_copy() {
        let only: &'static [u8] = b"{\"query\":\"{a}\"}";
        let body = read_limited(chunks(&[only]), 1024).await.unwrap();
        assert_eq!(body.as_ptr(), only.as_ptr());
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_and_a_read_error_are_refused() {
        let declared = http_body_util::Full::new(Bytes::from_static(&[0; 100]));
        assert!(matches!(
            read_limited(declared, 99).await,
            Err(BodyError::TooLarge)
        ));
        let broken = StreamBody::new(stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"a"))),
            Err("reset".to_string()),
        ]));
        assert!(matches!(
            read_limited(broken, 10).await,
            Err(BodyError::Read(e)) if e == "reset"
        ));
    }
}
