// Braces in string literals, interpolations, multi-line and raw strings do not count.
// limit: 5
// expect: 7 S.quoted() 7
// expect: 15 S.multiline() 9
// expect: 24 S.raw() 6
struct S {
    func quoted() -> String {
        let a = "}}}"
        let b = "\"}\\"
        let c = "\(a.map { "\($0)}" }.joined())"
        let d = "{"
        return a + b + c + d
    }
    func fine() { _ = "{{{{{{" }
    func multiline() -> String {
        let s = """
            } """ inside is not the end: \"""
            \(["}"].joined(separator: "\"}")) }
            """
        let t = "}"
        _ = t
        return s
    }
    func raw() -> String {
        let a = #"\(not interpolation "}" "#
        let b = ##"a "# quote } "##
        let c = #"\#(a.count) }"#
        return a + b + c
    }
}
