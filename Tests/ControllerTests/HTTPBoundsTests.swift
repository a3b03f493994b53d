import Controller
import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The HTTP API's connection bounds (issue 14, item 4): idle connections are closed, and one client
/// address cannot take every connection. Clients bind to 127.0.0.2 (still loopback) so that the test's
/// own status requests from 127.0.0.1 are a different address.
final class HTTPBoundsTests: XCTestCase {
    /// A TCP connection from a chosen loopback source address; nil when the connect fails.
    func connectFrom(_ source: String, port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var src = sockaddr_in()
        src.sin_family = sa_family_t(AF_INET)
        src.sin_addr.s_addr = inet_addr(source)
        var dst = sockaddr_in()
        dst.sin_family = sa_family_t(AF_INET)
        dst.sin_port = in_port_t(UInt16(port).bigEndian)
        dst.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &src) { s in
            withUnsafePointer(to: &dst) { d in
                s.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
                    && d.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                    }
            }
        }
        if !ok {
            close(fd)
            return nil
        }
        return fd
    }

    /// True when the server closed `fd` within `seconds` (recv returns 0 or an error other than a timeout).
    func closedByServer(_ fd: Int32, within seconds: Int) -> Bool {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var b = [UInt8](repeating: 0, count: 16)
        let n = recv(fd, &b, b.count, 0)
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    func testIdleConnectionsAreClosedAndOneAddressCannotTakeThemAll() async throws {
        let c = try LocalCluster()
        try c.start(
            1,
            extra: [
                "--http-idle-timeout-ms", "1000", "--max-http-connections", "64",
                "--max-http-connections-per-address", "8"
            ])
        let deadline = Date().addingTimeInterval(10)
        while await c.status(1) == nil && Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        let port = c.apiPorts[1]!
        // Twenty idle connections from one address: the ninth and later are closed at once.
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for _ in 0..<20 {
            guard let fd = connectFrom("127.0.0.2", port: port) else { throw XCTSkip("cannot bind 127.0.0.2") }
            fds.append(fd)
        }
        try? await Task.sleep(nanoseconds: 300_000_000)
        let closedAtOnce = fds.suffix(12).filter { closedByServer($0, within: 1) }.count
        XCTAssertEqual(closedAtOnce, 12, "connections beyond the per-address limit must be closed at once")
        // Another address is still served meanwhile.
        let st = await c.status(1)
        XCTAssertNotNil(st)
        // The eight kept ones are idle: closed after the idle timeout (1 s).
        let closedIdle = fds.prefix(8).filter { closedByServer($0, within: 4) }.count
        XCTAssertEqual(closedIdle, 8, "idle connections must be closed after the idle timeout")
        // And the address may connect again.
        guard let again = connectFrom("127.0.0.2", port: port) else { return XCTFail("cannot reconnect") }
        fds.append(again)
        let req = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { send(again, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(again, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(again, &buf, buf.count, 0)
        XCTAssertTrue(n > 0 && String(decoding: buf[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        XCTAssertTrue(c.processes[1]!.isRunning)
    }
}
