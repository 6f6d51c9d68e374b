import Foundation
import MapStore
import MapStoreReplication
import MapStoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `mapstore replicate` and `mapstore restore s3://...` as a user runs them, against a real
/// SeaweedFS, with the credentials in the environment.
@Suite(.enabled(if: SeaweedFS.enabled, SeaweedFS.missing))
struct ReplicationCLITests {
    /// `mapstore ARGUMENTS` with the object store's variables set (through env(1)).
    static func mapstore(_ arguments: [String], endpoint: String, secret: String = SeaweedFS.credentials.secretAccessKey,
                         in directory: String) throws -> CLIResult {
        try CLI.run(program: "/usr/bin/env", [
            "AWS_ACCESS_KEY_ID=\(SeaweedFS.credentials.accessKeyID)", "AWS_SECRET_ACCESS_KEY=\(secret)",
            "AWS_ENDPOINT_URL=\(endpoint)", "AWS_REGION=us-east-1", CLI.executable,
        ] + arguments, in: directory)
    }

    @Test func replicateOnceThenRestoreLatestAndAtATransaction() async throws {
        let server = try await SeaweedFS.shared()
        let dir = TemporaryDirectory()
        let url = "s3://\(SeaweedFS.bucketName())/shop"  // a bucket nobody made: replicate makes it
        let endpoint = server.endpoint
        for key in 0..<3 { try #require(CLI.run(["put", "shop.mapstore", "k\(key)", "v\(key)"], in: dir.path).status == 0) }
        let first = try Self.mapstore(["replicate", "shop.mapstore", "--to", url, "--once", "--base-ratio", "1000"], endpoint: endpoint, in: dir.path)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.lines == ["\(url): base copy at txn 3"])
        try #require(CLI.run(["put", "shop.mapstore", "k3", "v3"], in: dir.path).status == 0)
        try #require(CLI.run(["del", "shop.mapstore", "k0"], in: dir.path).status == 0)
        let second = try Self.mapstore(["replicate", "shop.mapstore", "--to", url, "--once", "--base-ratio", "1000"], endpoint: endpoint, in: dir.path)
        #expect(second.status == 0 && second.lines.count == 1 && second.lines[0].hasPrefix("\(url): txn 5, "), "\(second.out)\(second.err)")
        let idle = try Self.mapstore(["replicate", "shop.mapstore", "--to", url, "--once", "--base-ratio", "1000"], endpoint: endpoint, in: dir.path)
        #expect(idle.lines == ["\(url): up to date at txn 5"])

        let restored = try Self.mapstore(["restore", url, "copy.mapstore"], endpoint: endpoint, in: dir.path)
        #expect(restored.status == 0, "\(restored.err)")
        #expect(restored.lines == ["copy.mapstore: txn 5 from \(url) (base 3, 1 commits)"])
        #expect(try CLI.run(["scan", "copy.mapstore"], in: dir.path).out == "k1\tv1\nk2\tv2\nk3\tv3\n")
        let atBase = try Self.mapstore(["restore", url, "old.mapstore", "--txn", "4"], endpoint: endpoint, in: dir.path)
        #expect(atBase.status == 0, "\(atBase.err)")
        #expect(try CLI.run(["scan", "old.mapstore"], in: dir.path).out == "k0\tv0\nk1\tv1\nk2\tv2\n")

        let none = try Self.mapstore(["restore", url, "none.mapstore", "--txn", "2"], endpoint: endpoint, in: dir.path)
        #expect(none.status == 1)
        #expect(none.err == "mapstore: restore: \(url) holds no commit at or before transaction 2\n")
        let exists = try Self.mapstore(["restore", url, "copy.mapstore"], endpoint: endpoint, in: dir.path)
        #expect(exists.status == 3 && exists.err.contains("exists; use --force"))
        let wrong = try Self.mapstore(["restore", url, "denied.mapstore"], endpoint: endpoint, secret: "wrong", in: dir.path)
        #expect(wrong.status == 3)
        #expect(wrong.err.split(separator: "\n").count == 1 && wrong.err.contains("HTTP 403"), "\(wrong.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("denied.mapstore")))
        let usage = try CLI.run(["restore", "backup.gz", "x.mapstore", "--txn", "3"], in: dir.path)
        #expect(usage.status == 2)
    }

    /// `--base-ratio 0` ships a new base with each commit, after it; `--retain 0s` then deletes
    /// everything the newest base makes unneeded, and says how many objects went.
    @Test func replicateShipsNewBasesAndDeletesPastTheWindow() async throws {
        let server = try await SeaweedFS.shared()
        let dir = TemporaryDirectory()
        let url = "s3://\(SeaweedFS.bucketName())/shop"
        try #require(CLI.run(["put", "shop.mapstore", "a", "1"], in: dir.path).status == 0)
        let first = try Self.mapstore(["replicate", "shop.mapstore", "--to", url, "--once"], endpoint: server.endpoint, in: dir.path)
        #expect(first.lines == ["\(url): base copy at txn 1"], "\(first.err)")
        try #require(CLI.run(["put", "shop.mapstore", "b", "2"], in: dir.path).status == 0)
        let second = try Self.mapstore(["replicate", "shop.mapstore", "--to", url, "--once", "--base-ratio", "0", "--retain", "0s"],
                                       endpoint: server.endpoint, in: dir.path)
        #expect(second.status == 0, "\(second.err)")
        #expect(second.lines.count == 3 && second.lines[0].hasPrefix("\(url): txn 2, "), "\(second.out)")
        #expect(second.lines.dropFirst() == ["\(url): base copy at txn 2", "\(url): 2 objects past the retention window deleted"])
        let restored = try Self.mapstore(["restore", url, "copy.mapstore"], endpoint: server.endpoint, in: dir.path)
        #expect(restored.lines == ["copy.mapstore: txn 2 from \(url) (base 2, 0 commits)"], "\(restored.err)")
        let gone = try Self.mapstore(["restore", url, "old.mapstore", "--txn", "1"], endpoint: server.endpoint, in: dir.path)
        #expect(gone.status == 1)
        let bad = try Self.mapstore(["replicate", "shop.mapstore", "--to", url, "--retain", "3 days"], endpoint: server.endpoint, in: dir.path)
        #expect(bad.status == 2 && bad.err.contains("--retain must be"))
    }

    /// Without `--once`, replicate ships each new commit until SIGTERM, then what is pending, and exits 0.
    @Test func replicateRunsUntilSIGTERMAndShipsWhatIsPending() async throws {
        let server = try await SeaweedFS.shared()
        let dir = TemporaryDirectory()
        let bucket = SeaweedFS.bucketName()
        let url = "s3://\(bucket)/live"
        try #require(CLI.run(["put", "live.mapstore", "a", "1"], in: dir.path).status == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["replicate", "live.mapstore", "--to", url, "--interval", "0.1"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = SeaweedFS.credentials.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = SeaweedFS.credentials.secretAccessKey
        environment["AWS_ENDPOINT_URL"] = server.endpoint
        process.environment = environment
        // Not this process's output: `swift test` waits for its pipes to close.
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let client = server.client()
        let location = ReplicaLocation(bucket: bucket, prefix: "live")
        // Wait for the base copy, then commit while it runs.
        // (Until replicate has made the bucket, listing it fails.)
        for _ in 0..<300 where (try? await client.list(bucket: bucket, prefix: "live/"))?.isEmpty ?? true {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        for key in 0..<5 { try #require(CLI.run(["put", "live.mapstore", "k\(key)", "v\(key)"], in: dir.path).status == 0) }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        let report = try await ReplicaRestore.restore(from: location, client: client, to: dir.file("copy.mapstore"))
        #expect(report.transactionID == 6, "every commit made before SIGTERM was shipped")
        #expect(try CLI.run(["get", "copy.mapstore", "k4"], in: dir.path).out == "v4\n")
    }
}
