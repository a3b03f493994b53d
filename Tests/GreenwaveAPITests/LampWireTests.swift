import GreenwaveAPI
import SignalTiming
import XCTest

/// The lamp names of the wire: one table (`lampName`), read both ways.
final class LampWireTests: XCTestCase {
    func testEveryLampHasItsDocumentedWireName() {
        // The names the lamp stream has always carried (docs/operations.md, the SUMO and dashboard clients).
        let expected: [(Lamp, String)] = [
            (.dark, "dark"), (.red, "red"), (.yellow, "yellow"), (.green, "green"),
            (.flashingRed, "flashing-red"), (.flashingYellow, "flashing-yellow")
        ]
        for (l, name) in expected { XCTAssertEqual(lampName(l), name) }
        // No lamp is missing from the list above: every raw value that is a lamp is in it.
        let all = (0...UInt8.max).compactMap(Lamp.init(rawValue:))
        XCTAssertEqual(all.count, expected.count)
    }

    func testNamesReadBackToTheirLamp() {
        for l in (0...UInt8.max).compactMap(Lamp.init(rawValue:)) {
            XCTAssertEqual(lamp(named: lampName(l)), l)
        }
    }

    func testANameThatIsNoLampsIsRefused() {
        for bad in ["", "Green", "GREEN", "flashing red", "flashing_yellow", "amber", "green ", "G"] {
            XCTAssertNil(lamp(named: bad), bad)
        }
    }
}
