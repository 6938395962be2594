/// Escaping for text placed inside XML: introspection documents here, and desktop-notification
/// body markup in the agent (a subset of XML the notification server parses). One definition, so
/// every user escapes the same five characters.
public enum XMLText {
    /// `text` with the five characters XML reserves replaced by their predefined entities; safe
    /// in element content and in single- or double-quoted attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
