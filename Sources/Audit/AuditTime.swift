import Foundation

/// Parsing and printing of instants for the audit commands: ISO-8601 UTC (`2026-11-26T23:40:12.3Z`,
/// an offset such as `+05:30` is accepted too) or integer milliseconds since the Unix epoch. Integer
/// arithmetic only (proleptic Gregorian calendar), so that a printed time parses back to the same ms.
public enum AuditTime {
    /// Parses `text` into ms since the Unix epoch (UTC).
    public static func parse(_ text: String, option: String = "time") throws -> Int64 {
        let s = text.trimmingCharacters(in: .whitespaces)
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let v = Int64(s) else { throw AuditError("\(option): '\(text)' is out of range") }
            return v
        }
        guard let ms = parseISO(s) else {
            throw AuditError(
                "\(option): '\(text)' is neither an ISO-8601 UTC time (e.g. 2026-11-26T23:40:12.3Z) nor milliseconds since the epoch"
            )
        }
        return ms
    }

    /// `2026-11-26T23:40:12.345Z` (milliseconds; `digits` 1 gives tenths, as the hi-res log).
    public static func iso(_ ms: Int64, digits: Int = 3) -> String {
        let (date, time) = split(ms)
        let frac = time.ms
        let fraction: String
        switch digits {
        case ...0: fraction = ""
        case 1: fraction = "." + String(frac / 100)
        case 2: fraction = "." + pad(Int64(frac / 10), 2)
        default: fraction = "." + pad(Int64(frac), 3)
        }
        return
            "\(pad(date.y, 4))-\(pad(date.m, 2))-\(pad(date.d, 2))T\(pad(time.h, 2)):\(pad(time.min, 2)):\(pad(time.s, 2))\(fraction)Z"
    }

    /// `2026-11-26 23:40:12.3` with `separator` between date and time and tenths of a second,
    /// truncated (the hi-res log's resolution); no zone suffix.
    public static func tenths(_ ms: Int64, separator: String = " ") -> String {
        let (date, time) = split(ms)
        return
            "\(pad(date.y, 4))-\(pad(date.m, 2))-\(pad(date.d, 2))\(separator)\(pad(time.h, 2)):\(pad(time.min, 2)):\(pad(time.s, 2)).\(time.ms / 100)"
    }

    /// A duration as `12.3 s` or `4 min 05.0 s`.
    public static func duration(_ ms: Int64) -> String {
        let sign = ms < 0 ? "-" : ""
        let a = abs(ms)
        if a < 60_000 { return "\(sign)\(a / 1000).\(a % 1000 / 100) s" }
        return "\(sign)\(a / 60_000) min \(pad(a % 60_000 / 1000, 2)).\(a % 1000 / 100) s"
    }

    // MARK: - Calendar

    private static func split(
        _ ms: Int64
    ) -> (date: (y: Int64, m: Int64, d: Int64), time: (h: Int64, min: Int64, s: Int64, ms: Int64)) {
        let dayMs: Int64 = 86_400_000
        var days = ms / dayMs
        var rem = ms % dayMs
        if rem < 0 {
            rem += dayMs
            days -= 1
        }
        let date = civil(fromDays: days)
        return (date, (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000))
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (y: Int64, m: Int64, d: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// YYYY-MM-DD[T| ]HH:MM[:SS[.fff…]](Z|±HH:MM|±HHMM)? — no zone means UTC.
    private static func parseISO(_ s: String) -> Int64? {
        let c = Array(s.utf8)
        var i = 0
        func num(_ n: Int) -> Int64? {
            guard i + n <= c.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let ch = c[i + k]
                guard ch >= 48, ch <= 57 else { return nil }
                v = v * 10 + Int64(ch - 48)
            }
            i += n
            return v
        }
        func expect(_ ch: Character) -> Bool {
            guard i < c.count, c[i] == ch.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let y = num(4), expect("-"), let mo = num(2), expect("-"), let d = num(2) else { return nil }
        guard (1...12).contains(mo), d >= 1, d <= daysIn(month: mo, year: y) else { return nil }
        guard i < c.count, c[i] == UInt8(ascii: "T") || c[i] == UInt8(ascii: "t") || c[i] == UInt8(ascii: " ") else {
            return nil
        }
        i += 1
        guard let h = num(2), expect(":"), let mi = num(2), h < 24, mi < 60 else { return nil }
        var sec: Int64 = 0
        var fracMs: Int64 = 0
        if expect(":") {
            guard let sv = num(2), sv < 60 else { return nil }
            sec = sv
            if expect(".") || expect(",") {
                var digits = 0
                var scale: Int64 = 100
                while i < c.count, c[i] >= 48, c[i] <= 57 {
                    if digits < 3 {
                        fracMs += Int64(c[i] - 48) * scale
                        scale /= 10
                    }
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { return nil }
            }
        }
        var offsetMin: Int64 = 0
        if i < c.count {
            if c[i] == UInt8(ascii: "Z") || c[i] == UInt8(ascii: "z") {
                i += 1
            } else if c[i] == UInt8(ascii: "+") || c[i] == UInt8(ascii: "-") {
                let sign: Int64 = c[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = num(2) else { return nil }
                _ = expect(":")
                guard let om = num(2), oh < 24, om < 60 else { return nil }
                offsetMin = sign * (oh * 60 + om)
            } else {
                return nil
            }
        }
        guard i == c.count else { return nil }
        let days = days(fromCivil: y, mo, d)
        return ((days * 24 + h) * 60 + mi - offsetMin) * 60_000 + sec * 1000 + fracMs
    }

    private static func daysIn(month m: Int64, year y: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
