import Foundation
import OIDC
import Secrets
import Synchronization
import TestSupport
import Testing

/// Wraps the real transport and keeps what went out, for tests that check the wire format.
final class RecordingTransport: HTTPTransport {
    let inner: CurlTransport
    private let sent = Mutex<[HTTPRequest]>([])

    init(_ inner: CurlTransport = CurlTransport()) { self.inner = inner }

    var requests: [HTTPRequest] { sent.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        sent.withLock { $0.append(request) }
        return try await inner.send(request)
    }
}

extension HTTPRequest {
    var form: [(String, String)] {
        String(decoding: body ?? Data(), as: UTF8.self).split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }

    func formValues(_ name: String) -> [String] { form.filter { $0.0 == name }.map(\.1) }
}

func credentials(_ client: TestProvider.Client, post: Bool = false) -> ClientCredentials {
    guard let secret = client.secret else { return .publicClient(client.id) }
    return ClientCredentials(
        clientID: client.id,
        authentication: post ? .clientSecretPost(Secret(secret)) : .clientSecretBasic(Secret(secret)))
}

/// Runs `body` and returns the `OIDCError` it threw; records an issue if it did not throw one.
func expectOIDCError<T>(_ body: () async throws(OIDCError) -> T, sourceLocation: SourceLocation = #_sourceLocation)
    async -> OIDCError?
{
    do {
        _ = try await body()
        Issue.record("expected an OIDCError, got success", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Logs in through the device flow, approving the user code at the provider as soon as it is shown.
func deviceLogin(_ client: OIDCClient, provider: TestProvider, scopes: [String] = ["openid", "offline_access", "read"],
                 audience: [String] = []) async throws -> TokenResponse {
    let flow = try await client.startDeviceAuthorization(scopes: scopes, audience: audience)
    try await provider.approve(userCode: flow.userCode)
    return try await client.pollDeviceToken(flow)
}

/// One provider with default settings for every test that neither changes settings nor counts
/// requests: the machine has two cores, and each provider process costs about a second of CPU.
enum SharedProvider {
    private static let provider = Mutex<Task<TestProvider, any Error>?>(nil)

    static func get() async throws -> TestProvider {
        let task = provider.withLock { task in
            if let task { return task }
            let started = Task { try await TestProvider.start() }
            task = started
            return started
        }
        return try await task.value
    }
}
