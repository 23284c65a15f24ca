/// `count` and its noun, the noun plural unless the count is one: "1 change", "3 changes",
/// "2 entries" (with `plural:`). For messages and summary lines that an operator reads.
public func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}
