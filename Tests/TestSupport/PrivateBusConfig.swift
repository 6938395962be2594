/// The parts every private test bus shares: its dbus-daemon configuration and the environment of
/// the processes that use it.
enum PrivateBusConfig {
    /// A session bus listening on `listen`. Every test bus lets peers own any name and lets
    /// dbus-monitor eavesdrop; `settings` (auth, service dirs) and `policy` rules come on top.
    static func text(listen: String, settings: [String] = [], policy: [String] = []) -> String {
        let indented = { (lines: [String], depth: Int) in
            lines.map { String(repeating: "  ", count: depth) + $0 + "\n" }.joined()
        }
        return """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>\(listen)</listen>

            """ + indented(settings, 1) + "  <policy context=\"default\">\n" + indented(policy + [
                #"<allow send_destination="*" eavesdrop="true"/>"#,
                #"<allow eavesdrop="true"/>"#,
                #"<allow own="*"/>"#,
            ], 2) + "  </policy>\n</busconfig>\n"
    }

    /// DBUS_SESSION_BUS_ADDRESS plus a private HOME, XDG_RUNTIME_DIR and XDG base dirs under `home`.
    static func environment(bus: String, home: String, runtime: String) -> [String: String] {
        [
            "DBUS_SESSION_BUS_ADDRESS": bus, "HOME": home, "XDG_RUNTIME_DIR": runtime,
            "XDG_CONFIG_HOME": "\(home)/.config", "XDG_DATA_HOME": "\(home)/.local/share",
            "XDG_CACHE_HOME": "\(home)/.cache",
        ]
    }
}
