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

    /// Waits (a hang guard, not a timing assertion) until `holds` is true.
    static func eventually(_ what: String, _ holds: () async throws -> Bool) async throws {
        for _ in 0..<3_600 {
            if try await holds() { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        Issue.record("never: \(what)")
    }

    /// The transaction of the newest commit object (or base) in the bucket, 0 when none.
    static func shippedTransaction(_ client: S3Client, _ location: ReplicaLocation) async -> UInt64 {
        guard let listing = try? await client.list(bucket: location.bucket, prefix: location.prefix + "/") else { return 0 }
        let (bases, commits) = location.catalog(listing)
        return max(bases.last?.txn ?? 0, commits.last?.txn ?? 0)
    }

    static func transaction(_ path: String) throws -> UInt64 {
        var options = Options.testing()
        options.readOnly = true
        options.create = false
        return try Database(path: path, options: options).read { $0.transactionID }
    }

    /// A short commit object where a killed upload left it: the next `replicate --once` names
    /// it on stderr, deletes it, ships from the object before it and exits 0.
    @Test func replicateNamesAndReplacesAShortObject() async throws {
        let server = try await SeaweedFS.shared()
        let dir = TemporaryDirectory()
        let location = ReplicaLocation(bucket: SeaweedFS.bucketName(), prefix: "shop")
        let client = server.client()
        let replicate = ["replicate", "shop.mapstore", "--to", location.description, "--once", "--base-ratio", "1000000"]
        try #require(CLI.run(["put", "shop.mapstore", "a", "1"], in: dir.path).status == 0)
        try #require(try Self.mapstore(replicate, endpoint: server.endpoint, in: dir.path).status == 0)
        try #require(CLI.run(["put", "shop.mapstore", "b", "2"], in: dir.path).status == 0)
        try #require(try Self.mapstore(replicate, endpoint: server.endpoint, in: dir.path).status == 0)
        let key = location.commitKey(2, since: 1)
        let whole = try #require(try await client.get(bucket: location.bucket, key: key))
        try await client.put(bucket: location.bucket, key: key, bytes: Array(whole.prefix(40)))
        try #require(CLI.run(["put", "shop.mapstore", "c", "3"], in: dir.path).status == 0)

        let again = try Self.mapstore(replicate, endpoint: server.endpoint, in: dir.path)
        #expect(again.status == 0, "\(again.err)")
        #expect(again.err == "mapstore: replicate shop.mapstore: \(key) is damaged: not a whole gzip stream; deleted, shipping again from the object before it\n")
        #expect(again.lines.last?.hasPrefix("\(location): txn 3, ") == true, "\(again.lines)")
        let restored = try Self.mapstore(["restore", location.description, "copy.mapstore"], endpoint: server.endpoint, in: dir.path)
        #expect(restored.lines == ["copy.mapstore: txn 3 from \(location) (base 1, 1 commits)"], "\(restored.err)")
        #expect(try CLI.run(["scan", "copy.mapstore"], in: dir.path).out == CLI.run(["scan", "shop.mapstore"], in: dir.path).out)
    }

    /// The object store crashes (SIGKILL) under a continuous replicate and comes back on the
    /// same ports: replicate says it will try again instead of exiting, ships what was
    /// committed meanwhile once the store answers, and stops with exit 0 on SIGTERM.
    @Test func replicateRidesOutAnObjectStoreRestart() async throws {
        let server = try await SeaweedFS.dedicated()
        defer { server.stop() }
        let dir = TemporaryDirectory()
        let location = ReplicaLocation(bucket: SeaweedFS.bucketName(), prefix: "shop")
        let client = server.client()
        try #require(CLI.run(["put", "shop.mapstore", "k", "0"], in: dir.path).status == 0)
        let replicate = try FollowTests.start(CLI.executable, ["replicate", "shop.mapstore", "--to", location.description, "--interval", "0.05"],
                                              endpoint: server.endpoint, in: dir.path, errors: dir.file("replicate.err"))
        defer { if replicate.isRunning { kill(replicate.processIdentifier, SIGKILL) } }
        try await Self.eventually("the base copy is shipped") { await Self.shippedTransaction(client, location) == 1 }

        server.stop()
        try #require(CLI.run(program: FollowTests.helper, ["commit-n", "shop.mapstore", "30", "k"], in: dir.path).status == 0)
        try await Self.eventually("replicate says it will try again") {
            (try? String(contentsOfFile: dir.file("replicate.err"), encoding: .utf8))?.contains("trying again") == true
        }
        #expect(replicate.isRunning, "a store that does not answer does not end a continuous replicate")
        try await server.restart()
        let primary = try Self.transaction(dir.file("shop.mapstore"))
        try await Self.eventually("the commits made while the store was down are shipped") { await Self.shippedTransaction(client, location) == primary }

        kill(replicate.processIdentifier, SIGTERM)
        replicate.waitUntilExit()
        #expect(replicate.terminationReason == .exit && replicate.terminationStatus == 0)
        let restored = try Self.mapstore(["restore", location.description, "copy.mapstore"], endpoint: server.endpoint, in: dir.path)
        #expect(restored.status == 0, "\(restored.err)")
        #expect(try CLI.run(["get", "copy.mapstore", "k"], in: dir.path).out == "30\n")
        let said = (try? String(contentsOfFile: dir.file("replicate.err"), encoding: .utf8)) ?? ""
        #expect(said.split(separator: "\n").allSatisfy { $0.contains("no answer from the object store") && $0.hasSuffix("trying again in 0.05 s") }, "\(said)")
    }

    /// replicate killed with SIGKILL again and again while a writer commits without pause, so
    /// the kills land in listings, reads and uploads; each restart goes on from what the bucket
    /// holds. In the end one unbroken chain (each object applies to the one before: the restore
    /// checks it) restores exactly the primary: nothing lost, nothing shipped twice.
    @Test func aReplicateKilledMidUploadLosesNothingAndShipsNothingTwice() async throws {
        let server = try await SeaweedFS.shared()
        let dir = TemporaryDirectory()
        let location = ReplicaLocation(bucket: SeaweedFS.bucketName(), prefix: "shop")
        let client = server.client()
        try #require(CLI.run(["put", "shop.mapstore", "first", "1"], in: dir.path).status == 0)
        let writer = try FollowTests.start(FollowTests.helper, ["commit-loop", "shop.mapstore", "0"], endpoint: server.endpoint, in: dir.path)
        defer { if writer.isRunning { kill(writer.processIdentifier, SIGKILL) } }
        var shipped: UInt64 = 0
        for _ in 0..<5 {
            let replicate = try FollowTests.start(CLI.executable, ["replicate", "shop.mapstore", "--to", location.description, "--interval", "0.01",
                                                                   "--base-ratio", "1000000"],
                                                  endpoint: server.endpoint, in: dir.path)
            let before = shipped
            try await Self.eventually("replicate ships past \(before)") {
                shipped = await Self.shippedTransaction(client, location)
                return shipped > before
            }
            kill(replicate.processIdentifier, SIGKILL)
            replicate.waitUntilExit()
        }
        kill(writer.processIdentifier, SIGKILL)
        writer.waitUntilExit()
        let last = try Self.mapstore(["replicate", "shop.mapstore", "--to", location.description, "--once", "--base-ratio", "1000000"],
                                     endpoint: server.endpoint, in: dir.path)
        #expect(last.status == 0, "\(last.err)")
        let primary = try Self.transaction(dir.file("shop.mapstore"))
        let (bases, commits) = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix + "/"))
        #expect(bases.count == 1, "one base: every restart found it and went on")
        #expect(commits.last?.txn == primary)
        let restored = try Self.mapstore(["restore", location.description, "copy.mapstore"], endpoint: server.endpoint, in: dir.path)
        #expect(restored.status == 0, "\(restored.err)")
        #expect(restored.lines == ["copy.mapstore: txn \(primary) from \(location) (base \(bases[0].txn), \(commits.count) commits)"])
        #expect(try CLI.run(["scan", "copy.mapstore"], in: dir.path).out == CLI.run(["scan", "shop.mapstore"], in: dir.path).out)
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
