import Testing
import MapStoreReplication

/// ``S3Client`` against a real SeaweedFS on loopback (``SeaweedFS``).
@Suite(.enabled(if: SeaweedFS.enabled, SeaweedFS.missing))
struct S3ClientTests {
    @Test func objectsRoundTripAndList() async throws {
        let server = try await SeaweedFS.shared()
        let client = server.client()
        let bucket = SeaweedFS.bucketName()
        try await client.createBucket(bucket)
        try await client.createBucket(bucket)  // ours already: not an error
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try await client.put(bucket: bucket, key: "db/base/0000000000000001.gz", bytes: big)
        try await client.put(bucket: bucket, key: "db/commits/0000000000000002 x.gz", bytes: Array("two".utf8))
        try await client.put(bucket: bucket, key: "other/key", bytes: [])
        #expect(try await client.get(bucket: bucket, key: "db/base/0000000000000001.gz") == big)
        #expect(try await client.get(bucket: bucket, key: "db/commits/0000000000000002 x.gz") == Array("two".utf8))
        #expect(try await client.get(bucket: bucket, key: "db/missing") == nil)
        #expect(try await client.exists(bucket: bucket, key: "other/key"))
        let listed = try await client.list(bucket: bucket, prefix: "db/")
        #expect(listed.map(\.key) == ["db/base/0000000000000001.gz", "db/commits/0000000000000002 x.gz"])
        #expect(listed.first?.size == big.count)
        try await client.delete(bucket: bucket, key: "db/base/0000000000000001.gz")
        #expect(try await client.get(bucket: bucket, key: "db/base/0000000000000001.gz") == nil)
        #expect(try await client.list(bucket: bucket, prefix: "db/").map(\.key) == ["db/commits/0000000000000002 x.gz"])
    }

    /// A listing longer than one page (S3 returns at most 1,000 keys a page) is followed to the end.
    @Test func aLongListingIsFollowedPageByPage() async throws {
        let server = try await SeaweedFS.shared()
        let client = server.client()
        let bucket = SeaweedFS.bucketName()
        try await client.createBucket(bucket)
        let keys = (0..<1_050).map { "many/\(String(1_000_000 + $0))" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: keys.count, by: 150) {
                let part = keys[chunk..<min(chunk + 150, keys.count)]
                group.addTask { for key in part { try await client.put(bucket: bucket, key: key, bytes: [1]) } }
            }
            try await group.waitForAll()
        }
        #expect(try await client.list(bucket: bucket, prefix: "many/").map(\.key) == keys)
    }

    /// A wrong secret is refused, not retried, and the error names the bucket, the key and the status.
    @Test func aWrongSecretIsRefusedNamingTheObject() async throws {
        let server = try await SeaweedFS.shared()
        let bucket = SeaweedFS.bucketName()
        try await server.client().createBucket(bucket)
        let wrong = server.client(credentials: S3Credentials(accessKeyID: SeaweedFS.credentials.accessKeyID, secretAccessKey: "not-the-secret"))
        do {
            try await wrong.put(bucket: bucket, key: "k", bytes: [1])
            Issue.record("a request signed with the wrong secret was accepted")
        } catch {
            #expect(error.isAccessDenied, "\(error)")
            #expect(error.description.hasPrefix("put s3://\(bucket)/k: HTTP 403"), "\(error)")
        }
        #expect(try await server.client().get(bucket: bucket, key: "k") == nil, "nothing was stored")
    }

    /// A store that does not answer is tried `attempts` times, then reported as such.
    @Test func noAnswerIsRetriedThenReported() async throws {
        let port = SeaweedFS.freePorts(1)[0]
        let client = S3Client(configuration: S3Configuration(credentials: SeaweedFS.credentials, endpoint: "http://127.0.0.1:\(port)", attempts: 3, timeoutSeconds: 1))
        do {
            _ = try await client.get(bucket: "b", key: "some/key")
            Issue.record("a request to a closed port succeeded")
        } catch {
            guard case let .connection(operation, bucket, key, _) = error else {
                Issue.record("expected a connection error, got \(error)")
                return
            }
            #expect(operation == "get" && bucket == "b" && key == "some/key")
            #expect(error.description.contains("no answer from the object store"))
        }
    }
}
