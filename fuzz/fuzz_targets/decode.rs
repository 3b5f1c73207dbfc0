//! Feeds arbitrary bytes to the STOMP decoder, whole and in chunks, and checks
//! that it never panics, that chunking changes nothing (frames and error
//! alike), that decoded frames respect the limits, and that escaped frames
//! survive a re-encode.
//!
//! Input layout: 4 setup bytes (version, limits, chunking), then the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use parley::stomp::{ClientCommand, ClientFrame, Decoder, FrameError, FrameLimits, Version};

type Outcome = (Vec<ClientFrame>, Option<FrameError>);

fn decode(limits: FrameLimits, version: Version, chunks: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    let mut frames = Vec::new();
    for chunk in chunks {
        if let Err(error) = decoder.push(chunk) {
            return (frames, Some(error));
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

/// Default limits, or small ones drawn from the setup bytes so that streams
/// reach them.
fn limits(setup: &[u8]) -> FrameLimits {
    if setup[1] & 1 == 0 {
        return FrameLimits::default();
    }
    FrameLimits {
        max_frame_bytes: usize::from(setup[1]) * 4,
        max_headers: usize::from(setup[2] % 8),
        max_header_line_bytes: usize::from(setup[2] / 4),
        max_send_body_bytes: usize::from(setup[3]),
    }
}

/// Whether re-encoding can give back the same headers: unescaped frames
/// cannot carry CR (it becomes a space), and in 1.1 a value ending in CR
/// loses it to the lenient CRLF rule.
fn representable(frame: &ClientFrame, version: Version) -> bool {
    let raw = version == Version::V1_0 || frame.command.opens_session();
    frame.headers.iter().all(|(name, value)| {
        if raw {
            !name.contains('\r') && !value.contains('\r')
        } else {
            version == Version::V1_2 || !value.ends_with('\r')
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (setup, stream) = data.split_at(4);
    let version = [Version::V1_0, Version::V1_1, Version::V1_2][usize::from(setup[0] % 3)];
    let limits = limits(setup);

    let whole = decode(limits, version, &[stream]);

    // A data-derived first cut, then chunks of a data-derived size.
    let first = usize::from(setup[0] / 3) * 7 % (stream.len() + 1);
    let size = usize::from(setup[3] % 16) + 1;
    let mut chunks = vec![&stream[..first]];
    chunks.extend(stream[first..].chunks(size));
    assert_eq!(
        decode(limits, version, &chunks),
        whole,
        "chunking changed the result"
    );

    for frame in &whole.0 {
        assert!(frame.headers.len() <= limits.max_headers);
        assert!(frame.body.len() < limits.max_frame_bytes);
        if frame.command == ClientCommand::Send {
            assert!(frame.body.len() <= limits.max_send_body_bytes);
        }
        if representable(frame, version) {
            let roomy = FrameLimits {
                max_frame_bytes: 1 << 20,
                max_headers: 1 << 10,
                max_header_line_bytes: 1 << 20,
                max_send_body_bytes: 1 << 20,
            };
            let reencoded = decode(roomy, version, &[&frame.encode(version)]);
            let mut headers: Vec<_> = frame
                .headers
                .iter()
                .filter(|(name, _)| name != "content-length")
                .cloned()
                .collect();
            if !frame.body.is_empty() {
                headers.push(("content-length".into(), frame.body.len().to_string()));
            }
            let expected = ClientFrame {
                headers,
                ..frame.clone()
            };
            assert_eq!(
                reencoded,
                (vec![expected], None),
                "re-encoding changed the frame"
            );
        }
    }
});
