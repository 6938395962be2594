/// The version of Tessera: `tesserad --version`, the agent's `Version` property and
/// `tessera --version` all say this, and tesserad sends it in its HTTP `User-Agent` (the OIDC
/// module sits below the contract, so the daemon hands it the string).
public enum TesseraVersion {
    public static let current = "0.1.0"
}
