//! Size limits every decoded frame must respect. Values only: the decoder
//! enforces them, the configuration layer fills them from settings.

/// Bounds on what a client may send in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Whole frame, command line to NUL included (heart-beat EOLs between
    /// frames are not counted). `MAX_FRAME_BYTES`.
    pub max_frame_bytes: usize,
    /// Header lines per frame.
    pub max_headers: usize,
    /// Bytes of one header line, EOL excluded (a CR before the LF counts).
    pub max_header_line_bytes: usize,
    /// Body of a SEND frame. `MAX_BODY_BYTES`.
    pub max_send_body_bytes: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_frame_bytes: 65_536,
            max_headers: 64,
            max_header_line_bytes: 8_192,
            max_send_body_bytes: 4_096,
        }
    }
}
