import Foundation
import MapStore
import MapStoreReplication
import MapStoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Read replicas that follow a bucket (``Follower``, `mapstore follow`), against a real SeaweedFS.
@Suite(.enabled(if: SeaweedFS.enabled, SeaweedFS.missing))
struct FollowTests {
    /// The replica's contents, read through a plain handle (as any other process would).
    static func contents(_ path: String) throws -> [String: [[UInt8]]] {
        var options = Options.testing()
        options.readOnly = true
        options.create = false
        return try ReplicationTests.contents(Database(path: path, options: options))
    }

    /// Puts, overwrites, deletes, a named table created in round 1 and dropped in round 3.
    static func change(_ db: Database, round: Int) throws {
        for commit in 0..<4 {
            try db.write { txn in
                for key in 0..<60 { try txn.put("k\(round)-\(commit)-\(key)", "v\(round) \(commit) \(key)") }
                if round > 0 {
                    for key in stride(from: 0, to: 60, by: 3) { _ = try txn.delete("k\(round - 1)-\(commit)-\(key)") }
                    try txn.put("k\(round - 1)-\(commit)-1", "overwritten in \(round)")
                }
                try txn.put("shared", "round \(round) commit \(commit)")
                if round == 1 { try txn.table("audit").put(Array("a\(commit)".utf8), [UInt8](repeating: UInt8(commit), count: 6_000)) }
                if round == 2, commit == 0 { try txn.table("audit").put("a0", "changed") }
                if round == 3, commit == 1 { _ = try txn.dropTable("audit") }
            }
        }
    }

    @Test func followAppliesEachShippedCommitAndRefusesWriters() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await ReplicationTests.replica()
        let replicator = Replicator(database: db, location: location, client: client)
        let replica = dir.file("replica.mapstore")
        let follower = Follower(location: location, client: client, path: replica)
        try Self.change(db, round: 0)
        _ = try await replicator.shipOnce()
        let created = try await follower.followOnce()
        #expect(created.restored)
        #expect(try Self.contents(replica) == ReplicationTests.contents(db))
        for round in 1...4 {
            try Self.change(db, round: round)
            let shipped = try await replicator.shipOnce()
            let report = try await follower.followOnce()
            #expect(report.primaryTransaction == shipped.replicaAt && report.commitObjects == 1 && report.resyncedFromBase == nil)
            #expect(try Self.contents(replica) == ReplicationTests.contents(db), "round \(round)")
            #expect(try Follower.replicatedTransaction(at: replica) == shipped.replicaAt)
        }
        let tables = try await Database(path: replica, options: .testing()).read { try $0.tableNames() }
        #expect(tables == [], "the dropped table is dropped in the replica too")
        let idle = try await follower.followOnce()
        #expect(idle.commitObjects == 0 && idle.puts == 0 && idle.deletes == 0)
        #expect(try Database(path: replica, options: .testing()).check() == [])

        // Writers other than the follower are refused, naming the source.
        let local = try Database(path: replica, options: .testing())
        #expect(throws: MapStoreError.readReplica(source: location.description)) { try local.write { try $0.put("x", "y") } }
        let put = try CLI.run(["put", replica, "x", "y"])
        #expect(put.status == 3 && put.err.split(separator: "\n").count == 1 && put.err.contains("read replica of \(location)"), "\(put.err)")
        #expect(try CLI.run(["get", replica, "shared"]).out == "round 4 commit 3\n", "readers read it as usual")
        // An ordinary database is not taken over.
        try await db.write { try $0.put("p", "q") }
        await #expect(throws: FollowError.notAReplica(path: db.path, location: location.description)) {
            try await Follower(location: location, client: client, path: db.path).followOnce()
        }
    }

    /// A short newest object, as a killed upload leaves it: the follower applies the whole
    /// objects before it and waits; once a replicator round has shipped past it, the follower
    /// takes what replaced it.
    @Test func aShortNewestObjectMakesTheFollowerWaitForItsReplacement() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await ReplicationTests.replica()
        let replica = dir.file("replica.mapstore")
        let follower = Follower(location: location, client: client, path: replica)
        let replicator = Replicator(database: db, location: location, client: client, policy: Self.oneBase)
        try Self.change(db, round: 0)
        _ = try #require(try await replicator.shipOnce().base)
        _ = try await follower.followOnce()
        try Self.change(db, round: 1)
        let first = try #require(try await replicator.shipOnce().commit)
        let atFirst = try ReplicationTests.contents(db)
        try Self.change(db, round: 2)
        let second = try #require(try await replicator.shipOnce().commit)
        let key = location.commitKey(second, since: first)
        let whole = try #require(try await client.get(bucket: location.bucket, key: key))
        try await client.put(bucket: location.bucket, key: key, bytes: Array(whole.prefix(whole.count / 3)))

        let waiting = try await follower.followOnce()
        #expect(waiting.primaryTransaction == first && waiting.commitObjects == 1, "the whole object before the short one is applied")
        #expect(try Self.contents(replica) == atFirst)

        try Self.change(db, round: 3)
        let restarted = try await Replicator(database: db, location: location, client: client, policy: Self.oneBase).shipOnce()
        #expect(restarted.damaged.map(\.key) == [key])
        let caughtUp = try await follower.followOnce()
        #expect(caughtUp.primaryTransaction == restarted.replicaAt && caughtUp.resyncedFromBase == nil)
        #expect(try Self.contents(replica) == ReplicationTests.contents(db))
    }

    /// No new base copies past the first: the tests below count the bases they make.
    static let oneBase = ReplicationPolicy(baseRatio: .infinity)

    /// The bucket's chain no longer links to where the follower is (everything deleted, then a
    /// new base): it re-syncs from the newest base.
    @Test func aBrokenChainMakesTheFollowerResync() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await ReplicationTests.replica()
        let replica = dir.file("replica.mapstore")
        let follower = Follower(location: location, client: client, path: replica)
        try Self.change(db, round: 0)
        _ = try await Replicator(database: db, location: location, client: client, policy: Self.oneBase).shipOnce()
        _ = try await follower.followOnce()
        try Self.change(db, round: 1)
        _ = try await Replicator(database: db, location: location, client: client, policy: Self.oneBase).shipOnce()
        _ = try await follower.followOnce()
        for object in try await client.list(bucket: location.bucket, prefix: location.prefix + "/") {
            try await client.delete(bucket: location.bucket, key: object.key)
        }
        try Self.change(db, round: 2)
        let base = try await Replicator(database: db, location: location, client: client, policy: Self.oneBase).shipOnce()
        #expect(base.base != nil)
        try Self.change(db, round: 3)
        let shipped = try await Replicator(database: db, location: location, client: client, policy: Self.oneBase).shipOnce()
        let report = try await follower.followOnce()
        #expect(report.resyncedFromBase == base.base && report.primaryTransaction == shipped.replicaAt)
        #expect(try Self.contents(replica) == ReplicationTests.contents(db))
        // And it follows on from there.
        try Self.change(db, round: 4)
        _ = try await Replicator(database: db, location: location, client: client, policy: Self.oneBase).shipOnce()
        let next = try await follower.followOnce()
        #expect(next.resyncedFromBase == nil && next.commitObjects == 1)
        #expect(try Self.contents(replica) == ReplicationTests.contents(db))
    }

    /// A process of the built CLI or test helper, with the object store's variables set.
    static func start(_ executable: String, _ arguments: [String], endpoint: String, in directory: String, output: String? = nil,
                      errors: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = SeaweedFS.credentials.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = SeaweedFS.credentials.secretAccessKey
        environment["AWS_ENDPOINT_URL"] = endpoint
        process.environment = environment
        // Not this process's output: `swift test` waits for its pipes to close.
        if let output {
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        if let errors {
            _ = FileManager.default.createFile(atPath: errors, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    static var helper: String { URL(fileURLWithPath: CLI.executable).deletingLastPathComponent().appendingPathComponent("mapstore-testhelper").path }

    /// Waits (a hang guard, not a timing assertion) until the replica holds `txn`.
    static func waitUntil(_ replica: String, holds txn: UInt64) async throws {
        for _ in 0..<2_400 {
            if FileManager.default.fileExists(atPath: replica), (try? Follower.replicatedTransaction(at: replica)) == txn { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        Issue.record("the replica never reached txn \(txn)")
    }

    /// A bank: transfers on the primary while `replicate` ships them and `follow` applies them;
    /// a reader process sums the replica's balances all along and must always find the same
    /// total. Midway the follower is killed with SIGKILL and restarted; at the end the replica
    /// equals the primary.
    @Test func aBankReaderAlwaysSeesTheSameTotalThroughAKilledFollower() async throws {
        let server = try await SeaweedFS.shared()
        let dir = TemporaryDirectory()
        let url = "s3://\(SeaweedFS.bucketName())/bank"
        let accounts = 40, balance = 1_000
        try #require(CLI.run(program: Self.helper, ["bank-init", "primary.mapstore", "\(accounts)", "\(balance)"], in: dir.path).status == 0)
        let replicate = try Self.start(CLI.executable, ["replicate", "primary.mapstore", "--to", url, "--interval", "0.05"], endpoint: server.endpoint, in: dir.path)
        defer { if replicate.isRunning { kill(replicate.processIdentifier, SIGKILL) } }
        // follow needs a base copy to start from (without one it exits 3): wait for replicate's.
        let bucket = String(url.dropFirst(5).prefix { $0 != "/" })
        let client = server.client()
        for _ in 0..<600 {
            if let objects = try? await client.list(bucket: bucket, prefix: "bank/base/"), !objects.isEmpty { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        var follow = try Self.start(CLI.executable, ["follow", url, "replica.mapstore", "--interval", "0.05"], endpoint: server.endpoint, in: dir.path)
        defer { if follow.isRunning { kill(follow.processIdentifier, SIGKILL) } }
        try await Self.waitUntil(dir.file("replica.mapstore"), holds: 1)

        let readerOutput = dir.file("reader.out")
        let reader = try Self.start(Self.helper, ["bank-reader", "replica.mapstore", "\(accounts)", "200", "\(accounts * balance)", "reader.stop"],
                                    endpoint: server.endpoint, in: dir.path, output: readerOutput)
        defer { if reader.isRunning { kill(reader.processIdentifier, SIGKILL) } }
        for batch in 0..<4 {
            try #require(CLI.run(program: Self.helper, ["bank-writer", "primary.mapstore", "\(accounts)", "60", "\(batch + 7)"], in: dir.path).status == 0)
            if batch == 1 {
                kill(follow.processIdentifier, SIGKILL)
                follow.waitUntilExit()
                follow = try Self.start(CLI.executable, ["follow", url, "replica.mapstore", "--interval", "0.05"], endpoint: server.endpoint, in: dir.path)
            }
        }
        let primaryTxn = try await Database(path: dir.file("primary.mapstore"), options: .testing()).read { $0.transactionID }
        try await Self.waitUntil(dir.file("replica.mapstore"), holds: primaryTxn)
        _ = FileManager.default.createFile(atPath: dir.file("reader.stop"), contents: nil)
        reader.waitUntilExit()
        let said = try String(contentsOfFile: readerOutput, encoding: .utf8)
        let lines = said.split(separator: "\n")
        #expect(lines.first?.hasPrefix("violations 0 scans ") == true, "\(said)")
        // The scans overlapped the follower's commits: they read more than one replica state.
        let snapshots = lines.last.flatMap { Int($0.dropFirst("snapshots ".count)) } ?? 0
        #expect(snapshots > 1, "\(said)")
        #expect(try CLI.run(["scan", "replica.mapstore"], in: dir.path).out == CLI.run(["scan", "primary.mapstore"], in: dir.path).out)

        kill(follow.processIdentifier, SIGTERM)
        follow.waitUntilExit()
        #expect(follow.terminationReason == .exit && follow.terminationStatus == 0)
        kill(replicate.processIdentifier, SIGTERM)
        replicate.waitUntilExit()
        #expect(try CLI.run(["check", "replica.mapstore"], in: dir.path).status == 0)
    }
}
