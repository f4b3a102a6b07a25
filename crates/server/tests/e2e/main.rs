//! End-to-end tests: the real server on 127.0.0.1:0, spoken to over real WebSocket.

mod audio;
mod features;
mod flux;
mod handshake;
mod lifecycle;
mod live;
mod mock;
mod prerecorded;
mod support;
