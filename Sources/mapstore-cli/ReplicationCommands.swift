import ArgumentParser
import Dispatch
import MapStore
import MapStoreReplication

#if canImport(Glibc)
import Glibc
#endif

/// `mapstore replicate DB --to s3://BUCKET/PREFIX [--once] [--interval S] [--retain DURATION]
/// [--base-ratio R] [--endpoint URL]`.
struct ReplicateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Ship DB's commits to S3-compatible object storage: a base copy, then the pages of each new commit.",
        discussion: """
            Runs until SIGTERM or SIGINT (then ships what is pending and exits 0), or once with --once. \
            Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the region \
            from AWS_REGION (default us-east-1); a custom endpoint from AWS_ENDPOINT_URL or --endpoint. \
            Refused keys exit 3 with one line. A new base copy is shipped once the commit objects since the \
            newest base outgrow --base-ratio times its size; after each round the objects that no restore point \
            within --retain needs are deleted (never the newest base or the commits after it).
            """
    )

    @Argument(help: "The database to ship.", completion: .file())
    var db: String

    @Option(help: "Where to: s3://BUCKET/PREFIX.")
    var to: String

    @Flag(help: "Ship once (a base copy if there is none, then what is new) and exit.")
    var once = false

    @Option(parsing: .unconditional, help: "Seconds between two looks for new commits (default 1).")
    var interval: Double = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("How far back a point-in-time restore stays possible: N followed by s, m, h or d (72h), or 'forever' (default 24h).", valueName: "duration"))
    var retain: String = "24h"

    @Option(name: .customLong("base-ratio"), parsing: .unconditional,
            help: "Ship a new base copy once the commit objects since the newest base are this many times its size (default 1; 0: every round).")
    var baseRatio: Double = 1

    @Option(help: "The object store's URL (http://HOST:PORT), for S3-compatible stores; default AWS_ENDPOINT_URL, else AWS S3.")
    var endpoint: String?

    func validate() throws {
        guard interval > 0, interval <= 86_400 else { throw ValidationError("--interval must be a number of seconds between 0 and 86400") }
        guard baseRatio >= 0, baseRatio <= 1_000_000 else { throw ValidationError("--base-ratio must be a number from 0 to 1000000") }
        _ = try retention()
    }

    /// `--retain` as a duration, nil for `forever`.
    func retention() throws(ValidationError) -> Duration? {
        if retain == "forever" { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = retain.last.flatMap({ units[$0] }), let count = Int64(retain.dropLast()), count >= 0,
              count <= 100 * 365 * 86_400 / unit
        else {
            throw ValidationError("--retain must be a number followed by s, m, h or d (for example 72h), or 'forever'; got '\(retain)'")
        }
        return .seconds(count * unit)
    }

    /// Ships, round after round, until told to stop.
    func run() throws {
        let location = try replicationArguments { () throws(S3Error) in try ReplicaLocation(url: to) }
        let client = S3Client(configuration: try replicationArguments { () throws(S3Error) in try S3Configuration.fromEnvironment(endpoint: endpoint) })
        let database = try naming(db: db) { try DatabaseOpener.forReading(db) }
        let policy = ReplicationPolicy(baseRatio: baseRatio, retain: try retention())
        let replicator = Replicator(database: database, location: location, client: client, policy: policy)
        if !once { StopSignal.install() }
        var output = Output()
        while true {
            let stopping = once || StopSignal.received
            let report: ShipReport
            do {
                report = try replicationRound("mapstore: replicate \(db)", retrying: !stopping) { try await replicator.shipOnce() }
            } catch let later as TryAgainLater {
                later.warn(interval: interval)
                StopSignal.sleep(seconds: interval)
                continue
            }
            for damaged in report.damaged {
                warnOnStderr("mapstore: replicate \(db): \(damaged.key) is damaged: \(damaged.reason); deleted, shipping again from the object before it")
            }
            // A first base comes before the commit shipped on it; a new base of the round's
            // commit (the chain outgrew --base-ratio) after it.
            let newBase = report.base != nil && report.base == report.commit
            if let base = report.base, !newBase { try output.write("\(location): base copy at txn \(base)\n") }
            if let commit = report.commit { try output.write("\(location): txn \(commit), \(report.pages) pages, \(report.bytes) bytes\n") }
            if let base = report.base, newBase { try output.write("\(location): base copy at txn \(base)\n") }
            if report.deleted > 0 { try output.write("\(location): \(report.deleted) objects past the retention window deleted\n") }
            if once, report.base == nil, report.commit == nil { try output.write("\(location): up to date at txn \(report.replicaAt)\n") }
            try output.flush()
            if stopping { return }
            StopSignal.sleep(seconds: interval)
        }
    }
}

/// Runs one round of replicate or follow on the concurrency pool. Its errors become one line
/// after `prefix` with exit 3; a transient object store failure (no answer, a 5xx) is thrown as
/// ``TryAgainLater`` instead when `retrying`, so a continuous command rides out a store that is
/// down or restarting.
func replicationRound<T: Sendable>(_ prefix: String, retrying: Bool, _ body: @escaping @Sendable () async throws -> T) throws -> T {
    do {
        return try blockingAwait(body)
    } catch let error as S3Error {
        if retrying, error.isTransient { throw TryAgainLater(message: "\(prefix): \(error)") }
        throw CommandExit(status: ExitStatus.failure, message: "\(prefix): \(error)")
    } catch let error as ReplicationError {
        throw CommandExit(status: ExitStatus.failure, message: "\(prefix): \(error)")
    } catch let error as MapStoreError {
        throw CommandExit(status: ExitStatus.failure, message: "\(prefix): \(error)")
    }
}

/// `mapstore restore s3://BUCKET/PREFIX DB [--txn N] [--force]`: the restore command's object
/// storage form (``RestoreCommand`` hands it the arguments).
enum ReplicaRestoreCommand {
    static func run(from url: String, to db: String, txn: UInt64?, force: Bool, endpoint: String?) throws {
        let location = try replicationArguments { () throws(S3Error) in try ReplicaLocation(url: url) }
        let client = S3Client(configuration: try replicationArguments { () throws(S3Error) in try S3Configuration.fromEnvironment(endpoint: endpoint) })
        try DatabaseOpener.refuseNonDatabase(db, mustExist: false)
        if !force, DatabaseOpener.fileExists(db) {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore: \(db) exists; use --force to replace it")
        }
        let report: ReplicaRestoreReport
        do {
            report = try blockingAwait { try await ReplicaRestore.restore(from: location, client: client, to: db, transactionID: txn, overwrite: force) }
        } catch let error as ReplicationError {
            if case .noCommit = error { throw CommandExit(status: ExitStatus.notFound, message: "mapstore: restore: \(error)") }
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore \(location) -> \(db): \(error)")
        } catch let error as S3Error {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore \(location) -> \(db): \(error); nothing was changed")
        } catch let error as MapStoreError {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore \(location) -> \(db): \(error); nothing was changed")
        }
        var output = Output()
        try output.write("\(db): txn \(report.transactionID) from \(location) (base \(report.base), \(report.commits) commits)\n")
        try output.flush()
    }
}

/// A usage problem with a replication argument (an `s3://` URL, missing credentials): exit 2.
func replicationArguments<T>(_ body: () throws(S3Error) -> T) throws(CommandExit) -> T {
    do {
        return try body()
    } catch {
        throw CommandExit(status: ExitStatus.usage, message: "mapstore: \(error)")
    }
}

/// Runs `body` on the concurrency pool and waits on this (the main) thread for its result.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// Where ``blockingAwait(_:)``'s task leaves its result (written before the semaphore is
/// signalled, read after it is waited on).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// A round that failed for a reason that may pass (``S3Error/isTransient``): a continuous
/// replicate or follow says so on stderr and tries again after its interval.
struct TryAgainLater: Error {
    let message: String

    func warn(interval: Double) {
        warnOnStderr("\(message); trying again in \(interval) s")
    }
}

/// One line on stderr for a continuous command that goes on (its exit status is not changed).
func warnOnStderr(_ line: String) {
    var errors = Output(fd: STDERR_FILENO, name: "stderr")
    try? errors.write(line + "\n")
    try? errors.flush()
}

/// SIGTERM and SIGINT, noted for the replicate loop (which then ships once more and exits 0).
enum StopSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    static var received: Bool { flag != 0 }

    static func install() {
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
        signal(SIGINT) { _ in StopSignal.flag = 1 }
        // A parent that blocks them (a test runner, some supervisors) passes its mask on to
        // the processes it starts: unblock them, or SIGTERM would wait forever.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Sleeps `seconds`, waking early when a stop signal arrives.
    static func sleep(seconds: Double) {
        var slept = 0.0
        while slept < seconds, !received {
            let step = min(0.05, seconds - slept)
            usleep(useconds_t(step * 1_000_000))
            slept += step
        }
    }
}
