// Braces in comments, nested block comments included, do not count.
// limit: 4
// expect: 7 C.commented() 7
// expect: 14 C.nested() 5
// expect: 20 C.block() 8
enum C {
    static func commented() {
        // }
        /* } */
        let x = 1 // {
        _ = x
        /// }}
    }
    static func nested() {
        /* outer { /* inner } */ still a comment } */
        let y = 2 /* } */ + 3
        _ = y
    }
    static func short() { /* }}} */ }
    static func block() {
        /*
         }
         }
         */
        let z = 4 / 2 /* } */
        _ = z
    }
}
