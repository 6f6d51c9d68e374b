import ArgumentParser
import MapStore
import MapStoreReplication

#if canImport(Glibc)
import Glibc
#endif

/// `mapstore follow s3://BUCKET/PREFIX DB [--interval S] [--endpoint URL]`: keeps DB a read
/// replica of what `replicate` ships there.
struct FollowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Keep DB a read replica of s3://BUCKET/PREFIX, applying each new commit as it is shipped.",
        discussion: """
            A missing DB is restored from the bucket first; an existing DB must be a replica of the same \
            location. Other processes read DB as usual meanwhile; writes to it are refused (exit 3, \
            "read replica of s3://..."). Runs until SIGTERM or SIGINT, then finishes the commit in hand and \
            exits 0. Credentials and endpoint as for replicate.
            """
    )

    @Argument(help: "Where the commits are: s3://BUCKET/PREFIX.")
    var url: String

    @Argument(help: "The replica's data file.", completion: .file())
    var db: String

    @Option(parsing: .unconditional, help: "Seconds between two looks for new commits (default 1).")
    var interval: Double = 1

    @Option(help: "The object store's URL (http://HOST:PORT), for S3-compatible stores; default AWS_ENDPOINT_URL, else AWS S3.")
    var endpoint: String?

    func validate() throws {
        guard interval > 0, interval <= 86_400 else { throw ValidationError("--interval must be a number of seconds between 0 and 86400") }
    }

    /// Follows, round after round, until told to stop.
    func run() throws {
        let location = try replicationArguments { () throws(S3Error) in try ReplicaLocation(url: url) }
        let client = S3Client(configuration: try replicationArguments { () throws(S3Error) in try S3Configuration.fromEnvironment(endpoint: endpoint) })
        try DatabaseOpener.refuseNonDatabase(db, mustExist: false)
        let follower = Follower(location: location, client: client, path: db)
        StopSignal.install()
        var output = Output()
        while true {
            let report: FollowReport
            do {
                report = try following(location, retrying: !StopSignal.received) { try await follower.followOnce() }
            } catch let later as TryAgainLater {
                later.warn(interval: interval)
                StopSignal.sleep(seconds: interval)
                if StopSignal.received { return }
                continue
            }
            if report.restored {
                try output.write("\(db): replica of \(location) at txn \(report.primaryTransaction)\n")
            } else if let base = report.resyncedFromBase {
                try output.write("\(db): re-synced from base \(base) at txn \(report.primaryTransaction)\n")
            } else if report.commitObjects > 0 || report.puts + report.deletes > 0 {
                try output.write("\(db): txn \(report.primaryTransaction) (\(report.commitObjects) objects, \(report.puts) puts, \(report.deletes) deletes)\n")
            }
            try output.flush()
            StopSignal.sleep(seconds: interval)
            if StopSignal.received { return }
        }
    }

    /// One round; a FollowError (a DB that is not this location's replica) exits 3 as it is.
    private func following<T: Sendable>(_ location: ReplicaLocation, retrying: Bool, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        do {
            return try replicationRound("mapstore: follow \(location) -> \(db)", retrying: retrying, body)
        } catch let error as FollowError {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: follow: \(error)")
        }
    }
}
