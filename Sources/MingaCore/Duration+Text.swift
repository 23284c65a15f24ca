import Foundation

/// How durations read in Minga's messages, log lines and summaries: one place for both forms.
extension Duration {
    /// The duration in seconds with `decimals` decimals and no unit (`"2.5"`): the form of
    /// log lines and sync summaries.
    public func secondsText(decimals: Int = 1) -> String { String(format: "%.\(decimals)f", seconds) }

    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration for a person: whole minutes from an hour on, else minutes and seconds
    /// (`"10 min 59 s"`, never rounded to `"10 min"`, so that it is not read as within a limit
    /// of ten minutes), else seconds; whole units, truncated.
    public var minutesText: String {
        let millis = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if millis >= 3_600_000 { return "\(millis / 60_000) min" }
        return millis >= 60_000 ? "\(millis / 60_000) min \(millis / 1000 % 60) s" : "\(millis / 1000) s"
    }
}
