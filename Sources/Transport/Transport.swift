// Transport: Raft messages between Greenwave controllers over TCP (SwiftNIO).
//
// Terminology
// - A *frame* is one unit on the wire: a 4-byte big-endian length, a protocol version byte, a frame
//   type byte, a body and a CRC-32C of version, type and body (docs/protocol.md gives the layout byte by byte).
// - A *hello* frame opens every connection: it names the corridor (cluster id) and the sender's node id,
//   so that a receiver knows who is talking and refuses controllers of another corridor.
// - Connections are one-way. A node sends to peer P only over its own *outbound* connection to P, and
//   receives from P only over P's outbound connection, which is an *inbound* connection here. Two TCP
//   connections per pair keep each side simple: an outbound side only writes, an inbound side only reads.
//
// Layers (the pure ones do no I/O and are tested without sockets)
// - `WireCodec` (pure): `Frame` ⇄ bytes, with every length, count, enum and range (terms and indexes
//   ≤ 2^63 − 1) validated and a `CRC32C` over every frame; failures are a typed `FrameError`, never a trap.
// - `LogLimiter` (pure): at most one log line per remote host per reason per window, with a count.
// - `SendQueue`, `Backoff` and `InboundStateMachine` (pure): the bounded per-peer queue, reconnect delays
//   with jitter, and what an inbound connection accepts and when it must close.
// - `FrameDecoder` / `FrameEncoder` (NIO handlers) and `PeerTransport`, the shell that owns the sockets.
// - Mutual TLS (`TransportConfiguration.tls`, swift-nio-ssl): TLS 1.3 both ways, the corridor CA the only trust
//   root; `InboundStateMachine` then requires the certificate's identity (`PKI.PeerIdentity`) to name a member
//   and the hello to name that same member; an outbound connection writes nothing until the server's
//   certificate names the peer it dialled. Without TLS material the port is plaintext as before.
//
// Invariants
// - Every queue has a bound: a peer's send queue (messages and bytes), the receive stream's buffer, the
//   size of one frame. Raft tolerates message loss, so a full queue drops a message and counts it; it
//   never blocks the caller and never grows memory.
// - A bad frame (oversized, wrong version, wrong checksum, malformed) closes only the connection it came on,
//   with a rate-limited log line.
// - Inbound connections are bounded per kind: a small pending pool (no hello yet, oldest evicted first) and
//   a budget per member, so no number of idle or non-member sockets can keep a member out.
