// Every kind of declaration body; protocol requirements have none; closures and stored values are not counted.
// limit: 3
// expect: 16 P.Impl.init?(encodedState:_:) 4
// expect: 20 P.Impl.deinit 4
// expect: 24 P.Impl.subscript(_:) 4
// expect: 28 P.Impl.total 4
// expect: 32 P.Impl.generic(_:in:) 9
// expect: 34 P.Impl.inner() 4
// expect: 55 Outer.Inner.defaults(x:y:) 5
protocol Req {
    func a()
    var b: Int { get }
}
enum P {
    final class Impl: Req {
        init?(encodedState: [UInt8], _ n: Int) {
            guard n > 0 else { return nil }
            _ = encodedState
        }
        deinit {
            let q = 1
            _ = q
        }
        subscript(_ i: Int) -> Int {
            let r = i
            return r
        }
        var total: Int {
            let s = 1
            return s
        }
        func generic<T: Comparable>(_ v: [T], in range: ClosedRange<Int>) -> [T] {
            var local: Int
            func inner() {
                local = 1
                _ = local
            }
            if v.isEmpty { inner() }
            return v
        }
        func a() {}
        var b: Int { 1 }
        let closure = {
            print(1)
            print(2)
            print(3)
        }
        var stored: [Int] = [1, 2].map {
            $0 * 2
            + 1
        }
    }
}
extension Outer.Inner {
    func defaults(x: () -> Void = {}, y: [String: Int] = [:]) {
        x()
        _ = y
        _ = { }
    }
}
