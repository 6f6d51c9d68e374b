import ArgumentParser
import MapStore
import MapStoreShadow

#if canImport(Glibc)
import Glibc
#endif

extension VMCommand {
    /// `mapstore vm compare DB --workload W [--json] [--plot FILE.svg] [--in-place]`: shadow mode.
    /// DB is never changed unless `--in-place`: a workload that writes runs on a copy beside it.
    /// `mapstore vm compare --workload thp [--json]` needs no DB (``THPExperiment``).
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a workload on DB in shadow mode and compare the VM model's prediction with the kernel, page by page.",
            discussion: "Workloads: \(Compare.workloadNames). thp needs no DB: it compares transparent huge pages on memory of its own (mapstore vm compare --workload thp). Those that write (\(ShadowWorkload.allCases.filter(\.writes).map(\.rawValue).joined(separator: ", "))) run on a copy of DB in a new directory beside it, removed afterwards, so DB is never changed; --in-place runs them on DB itself. Dirty bits and large folios need root (/proc/kpageflags)."
        )

        @Argument(help: "The database file (it must exist and hold keys); none for --workload thp.", completion: .file())
        var database: String?

        @Option(help: "readrandom, readseq, writemap-commit, cow-write, msync, dontneed, two-process or thp.")
        var workload: String

        /// Every workload's name, for help and errors.
        static var workloadNames: String {
            (ShadowWorkload.allCases.map(\.rawValue) + [THPExperiment.workload]).joined(separator: ", ")
        }

        @Option(help: "Lookups or puts (default: from the file's size).")
        var operations: Int?

        @Option(help: "Seed of the key choice.")
        var seed: UInt64 = 1

        @Flag(help: "Start from a cold page cache: write back and evict this file's cached pages first.")
        var cold = false

        @Option(help: "Write an SVG strip of the pages (model above, kernel below) to this file.")
        var plot: String?

        @Flag(help: "Print one JSON object as the last line.")
        var json = false

        @Flag(help: "Run a workload that writes on DB itself: its puts (random values over existing keys) are committed to DB.")
        var inPlace = false

        func run() throws {
            if workload == THPExperiment.workload { return try runTHP() }
            guard let chosen = ShadowWorkload(rawValue: workload) else {
                throw CommandExit(status: 2, message: "mapstore vm compare: unknown workload '\(workload)' (\(Compare.workloadNames))")
            }
            guard let database else {
                throw CommandExit(status: 2, message: "mapstore vm compare: --workload \(workload) needs a database: mapstore vm compare DB --workload \(workload) (only thp runs without one)")
            }
            if let operations, operations < 1 {
                throw CommandExit(status: 2, message: "mapstore vm compare: --operations must be at least 1")
            }
            try DatabaseOpener.requireExisting(database)
            var experiment = ShadowExperiment(path: database, workload: chosen)
            experiment.operations = operations
            experiment.seed = seed
            experiment.coldCache = cold
            experiment.inPlace = inPlace
            // two-process: the second process is this executable's hidden `vm shadow-peer`.
            experiment.peerCommand = ["/proc/self/exe", "vm", "shadow-peer"]
            let report = try experiment.run()
            if let plot {
                // Replaced whole (OutputFile): a failed write leaves an earlier plot as it was.
                do {
                    let output = try OutputFile(path: plot)
                    try output.write(Array(report.svg.utf8))
                    try output.commit()
                } catch {
                    throw CommandExit(status: 3, message: "mapstore vm compare: cannot write \(plot): \(error)")
                }
            }
            var out = Output()
            try out.write((json ? report.json : report.text) + "\n")
            try out.flush()
        }

        /// `--workload thp`: no database; the options about one do not apply.
        private func runTHP() throws {
            if let database {
                throw CommandExit(status: 2, message: "mapstore vm compare: the thp workload runs on memory of its own and takes no database (got \(database))")
            }
            let unused = [("--operations", operations != nil), ("--cold", cold), ("--plot", plot != nil), ("--in-place", inPlace)]
            if let (flag, _) = unused.first(where: { $0.1 }) {
                throw CommandExit(status: 2, message: "mapstore vm compare: \(flag) does not apply to the thp workload")
            }
            let report: THPReport
            do {
                report = try THPExperiment().run()
            } catch {
                throw CommandExit(status: 3, message: "mapstore vm compare: \(error)")
            }
            var out = Output()
            try out.write((json ? report.json : report.text) + "\n")
            try out.flush()
        }
    }

    /// `mapstore vm shadow-peer FILE`: the second process of `vm compare --workload two-process`
    /// (see ``ShadowPeer``). Not for people: hidden from help.
    struct ShadowPeerCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shadow-peer",
            abstract: "The second process of vm compare's two-process workload.",
            shouldDisplay: false
        )

        @Argument(help: "The data file to map.")
        var file: String

        func run() throws {
            let status = ShadowPeer.serve(path: file)
            if status != 0 { throw CommandExit(status: 3, message: nil) }
        }
    }
}
