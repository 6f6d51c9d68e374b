import Foundation
import MapStore
import MapStoreTestSupport
import Testing
@testable import MapStoreShadow

/// Each workload on a ~330-page database: the model must agree with the kernel on >= 99% of
/// the pages, and the per-page facts of docs/shadow.md must hold on the real kernel.
@Suite(.serialized) struct ShadowExperimentTests {
    /// A database of 2,000 keys with 400-byte values: about 330 used pages.
    static func makeDatabase(in dir: TemporaryDirectory) throws -> String {
        let path = dir.file()
        let db = try Database(path: path, options: .testing(.readOnly, durability: .full))
        var random = SeededGenerator(seed: 42)
        try db.write { txn in
            for index in 0..<2000 {
                let key = Array(String(format: "key%06d", (index * 7919) % 100_000).utf8)
                try txn.put(key, (0..<400).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            }
        }
        // The commit's confirmation copy is written after its sync, and stays dirty in the page
        // cache until writeback: sync it, so the runs start from a file whose pages are all clean.
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        try file.synchronize()
        try file.close()
        return path
    }

    /// Runs `workload` on `path`; a workload that writes runs on a scratch copy unless `inPlace`
    /// (the tests that look at the file afterwards run in place).
    static func run(_ workload: ShadowWorkload, path: String, inPlace: Bool = false) throws -> ShadowReport {
        var experiment = ShadowExperiment(path: path, workload: workload)
        experiment.inPlace = inPlace
        experiment.maxSize = 1 << 30
        experiment.peerCommand = [CLI.executable, "vm", "shadow-peer"]
        return try experiment.run()
    }

    /// Pages written in place during the run.
    static func writtenPages(_ report: ShadowReport) -> Set<Int> {
        var pages = Set<Int>()
        for case let .write(first, count) in report.events { for page in Int(first)..<(Int(first) + count) { pages.insert(page) } }
        return pages
    }

    static func rootOnly(_ what: String) -> Bool {
        if KernelProbe.isRoot { return true }
        print("skipping \(what): needs root (PFNs in /proc/self/pagemap, /proc/kpageflags)")
        return false
    }

    @Test(arguments: ShadowWorkload.allCases)
    func agreesWithTheKernel(workload: ShadowWorkload) throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let report = try Self.run(workload, path: path)
        #expect(report.pages >= 300)
        #expect(report.present.observed > 0)
        // Without root the model cannot learn the page cache's large folios, and the kernel
        // maps those whole: agreement is then only roughly right.
        #expect(report.agreement >= (KernelProbe.isRoot ? 0.99 : 0.9), "\(report.text)")
        if Self.rootOnly("fault counts and agreement >= 0.99") {
            let predicted = report.predictedFaults.minor + report.predictedFaults.major
            let observed = report.observedFaults.minor + report.observedFaults.major
            // A few faults of the heap (the transaction's own bookkeeping) are not the map's.
            #expect(abs(predicted - observed) <= max(10, observed / 20), "\(report.text)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any]
        #expect(json?["workload"] as? String == workload.rawValue)
        #expect(json?["pages"] as? Int == report.pages)
        #expect((json?["faults"] as? [String: Any])?["observed"] != nil)
    }

    @Test func readsMapOnlyCleanFilePages() throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let report = try Self.run(.readrandom, path: path)
        #expect(report.anonymous.observed == 0)
        #expect(report.events.allSatisfy { if case .write = $0 { false } else { true } })
        if Self.rootOnly("dirty check after reads") {
            #expect(report.observed.allSatisfy { $0.dirty != true })
        }
    }

    @Test func cowWriteMakesExactlyTheWrittenPagesAnonymousAndLeavesTheFile() throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let report = try Self.run(.cowWrite, path: path, inPlace: true)
        let after = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(before == after, "a private copy-on-write map never changes the file")
        let written = Self.writtenPages(report)
        #expect(!written.isEmpty)
        let anonymous = Set(report.observed.indices.filter { report.observed[$0].anonymous })
        #expect(anonymous == written)
        let predictedAnonymous = Set(report.predicted.indices.filter { report.predicted[$0].anonymous })
        #expect(predictedAnonymous == written)
    }

    @Test(arguments: [ShadowWorkload.msync, .writemapCommit])
    func durableWriteMapCommitLeavesNoDirtyPage(workload: ShadowWorkload) throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let report = try Self.run(workload, path: path, inPlace: true)
        #expect(!Self.writtenPages(report).isEmpty)
        // A one-sync commit's confirmation copy is written after its sync, into a meta page
        // (0 or 1), and stays dirty until the next sync: every other page is clean.
        let dataPages = { (index: Int) in index >= 2 }
        #expect(report.predicted.indices.allSatisfy { !dataPages($0) || !report.predicted[$0].dirty })
        #expect(report.anonymous.observed == 0, "a shared map never holds anonymous pages")
        if Self.rootOnly("dirty check after msync") {
            #expect(report.observed.indices.allSatisfy { !dataPages($0) || report.observed[$0].dirty == false || !report.observed[$0].present })
            #expect(report.dirty.compared > 0)
        }
        let reopened = try Database(path: path, options: .testing())
        #expect(try reopened.check().isEmpty)
    }

    @Test func dontNeedDropsTheCopiesAndTheNextReadSeesTheFile() throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let report = try Self.run(.dontneed, path: path, inPlace: true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        let filePages = before.count / 4096
        let written = Self.writtenPages(report).filter { $0 < filePages }
        #expect(!written.isEmpty)
        for page in written {
            #expect(report.observed[page].present && report.observed[page].fileBacked, "page \(page)")
            #expect(report.predicted[page].present && !report.predicted[page].anonymous, "page \(page)")
        }
    }

    @Test func twoProcessesShareTheFramesBothMap() throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let report = try Self.run(.twoProcess, path: path)
        #expect(report.shared.observed > 0)
        #expect(report.shared.mismatches == 0, "\(report.text)")
        // Exactly the pages the model says both processes map are the ones the kernel shares.
        let observedShared = Set(report.observed.indices.filter { report.observed[$0].present && !report.observed[$0].exclusive })
        let predictedShared = Set(report.predicted.indices.filter { report.predicted[$0].shared })
        #expect(observedShared == predictedShared)
        // The peer read every 32nd page of the first half: fault-around maps at most one
        // 16-page window (or a folio the window touches) around each.
        let peerReads = (report.pages / 2 + 31) / 32
        #expect(observedShared.count <= peerReads * 32)
        #expect(observedShared.allSatisfy { $0 < report.pages / 2 + 32 })
        #expect(report.anonymous.observed == 0)
    }

    /// Shadow mode needs a mapping of its own: a database this process already has open
    /// read-only, as the experiment opens it, shares that handle's mapping, so the
    /// experiment refuses it for that reason (not for one an empty database would give).
    @Test func aDatabaseOpenInThisProcessIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        var readOnly = Options.testing()
        readOnly.readOnly = true
        let open = try Database(path: path, options: readOnly)
        #expect(throws: MapStoreError.invalidArgument(reason: "\(path) is already open in this process: shadow mode needs a mapping of its own")) {
            try Self.run(.readrandom, path: path)
        }
        withExtendedLifetime(open) {}
    }

    /// Open for writing, the handle's options differ from the experiment's read-only ones:
    /// the engine refuses the experiment's open before shadow mode gets to ask.
    @Test func aDatabaseOpenForWritingInThisProcessIsRefusedByTheEngine() throws {
        let dir = TemporaryDirectory()
        let path = try Self.makeDatabase(in: dir)
        let open = try Database(path: path, options: .testing())
        #expect(throws: MapStoreError.invalidArgument(reason: "\(path) is already open in this process with mapping mode readOnly; open it with the same options")) {
            try Self.run(.readrandom, path: path)
        }
        withExtendedLifetime(open) {}
    }

    @Test func anEmptyDatabaseIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Database(path: path, options: .testing(.readOnly, durability: .full)).write { _ in }
        #expect(throws: MapStoreError.invalidArgument(reason: "\(path) holds no keys to work on")) {
            try Self.run(.readrandom, path: path)
        }
    }
}
