import FoundationEssentials
import Secrets

extension TokenResponse {
    /// When the ID token the provider sent expires (its unverified `exp` claim); nil without one.
    public var idTokenExpiresAt: Date? { idToken.flatMap(JWT.expiry(of:)) }
}

extension Secret {
    /// The `exp` claim of a JWT, unverified (the holder only uses it to decide when to ask again).
    public var jwtExpiry: Date? { JWT.expiry(of: self) }
}
