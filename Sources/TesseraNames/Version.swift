/// The version of Tessera: `tesserad --version`, the agent's `Version` property and
/// `tessera --version` all say this. (The OIDC module's User-Agent keeps its own copy: that
/// module sits below the contract and imports nothing of it.)
public enum TesseraVersion {
    public static let current = "0.1.0"
}
