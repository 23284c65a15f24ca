/// The lines of a token file that hold something, trimmed and numbered from 1: blank lines and
/// `#` comments are skipped, and any line end counts (Swift reads a Windows CRLF as one
/// character, so splitting at "\n" alone would read such a file as one line).
enum TokenFile {
    static func lines(_ text: String) -> [(number: Int, text: String)] {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().compactMap { index, line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.hasPrefix("#") ? nil : (index + 1, trimmed)
        }
    }
}
