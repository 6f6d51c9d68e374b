import CoreMetrics
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Logging and metrics of one open database file, through swift-log and swift-metrics.
///
/// Metrics (each with the dimension `db` = the data file's path):
/// - `mapstore_commits_total` (counter), `mapstore_commit_duration` (timer, ns),
///   `mapstore_bytes_written_total` (counter: pages written by commits, meta included),
/// - `mapstore_syncs_total` (counter: fdatasync and msync calls made by commits; with
///   ``Options/groupCommit`` fewer than two per durable commit),
/// - `mapstore_pages_in_use` (gauge: the commit's page count), `mapstore_readers` (gauge:
///   live read transactions of every process, sampled at each commit),
/// - `mapstore_page_faults_total` (counter, dimension `kind` = minor|major: this process's
///   faults from getrusage, added at each commit).
final class Observer: Sendable {
    let logger: Logger?
    let commits: Counter
    let commitDuration: CoreMetrics.Timer
    let bytesWritten: Counter
    let syncs: Counter
    let pagesInUse: Gauge
    let readers: Gauge
    let minorFaults: Counter
    let majorFaults: Counter
    /// Whether metrics go anywhere: with swift-metrics' no-op factory (no backend bootstrapped
    /// and none in the options) every handler above is a no-op for the handle's life, so a
    /// commit skips the samples (a getrusage and a scan of the reader table) it would feed them.
    let isRecording: Bool
    /// getrusage's fault counts at the last sample.
    private let lastFaults = Lock((minor: 0, major: 0))

    init(path: String, options: Options) {
        logger = options.logger
        let factory = options.metricsFactory ?? MetricsSystem.factory
        isRecording = !(factory is NOOPMetricsHandler)
        let db = [("db", path)]
        commits = Counter(label: "mapstore_commits_total", dimensions: db, factory: factory)
        commitDuration = CoreMetrics.Timer(label: "mapstore_commit_duration", dimensions: db, factory: factory)
        bytesWritten = Counter(label: "mapstore_bytes_written_total", dimensions: db, factory: factory)
        syncs = Counter(label: "mapstore_syncs_total", dimensions: db, factory: factory)
        pagesInUse = Gauge(label: "mapstore_pages_in_use", dimensions: db, factory: factory)
        readers = Gauge(label: "mapstore_readers", dimensions: db, factory: factory)
        minorFaults = Counter(label: "mapstore_page_faults_total", dimensions: db + [("kind", "minor")], factory: factory)
        majorFaults = Counter(label: "mapstore_page_faults_total", dimensions: db + [("kind", "major")], factory: factory)
        let (minor, major) = Observer.faults()
        lastFaults.withLock { $0 = (minor, major) }
    }

    /// This process's minor and major page faults so far.
    static func faults() -> (Int, Int) {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return (Int(usage.ru_minflt), Int(usage.ru_majflt))
    }

    /// Records one fdatasync or msync of a commit.
    func synced() { if isRecording { syncs.increment() } }

    /// Records one commit.
    func committed(nanoseconds: Int64, bytes: Int, pages: UInt64, liveReaders: Int?) {
        guard isRecording else { return }
        commits.increment()
        commitDuration.recordNanoseconds(nanoseconds)
        bytesWritten.increment(by: bytes)
        pagesInUse.record(Double(pages))
        if let liveReaders { readers.record(Double(liveReaders)) }
        let (minor, major) = Observer.faults()
        let (lastMinor, lastMajor) = lastFaults.withLock { last in
            defer { last = (minor, major) }
            return last
        }
        if minor > lastMinor { minorFaults.increment(by: minor - lastMinor) }
        if major > lastMajor { majorFaults.increment(by: major - lastMajor) }
    }
}

extension Duration {
    /// The duration in whole nanoseconds (what the clocks and atomics here count in).
    var nanoseconds: Int64 { components.seconds &* 1_000_000_000 &+ components.attoseconds / 1_000_000_000 }
}

/// Nanoseconds on the monotonic clock, for timing commits.
func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
