// The limit itself is allowed; one line more is reported. Single-line and empty bodies are 1 line.
// limit: 4
// expect: 11 longer(a:b:) 5
func exactly() {
    let a = 1
    _ = a
}
func oneLine() { _ = 1 }
func multi(
    a: Int, b: Int) {}
func longer(a: Int, b: Int) {
    let c = a
    let d = b
    _ = c + d
}
