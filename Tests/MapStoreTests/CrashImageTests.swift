import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// Crash images: a workload runs with a recording ``StorageIO``; the file is then rebuilt as a
/// crash would leave it at every point of the recorded sequence of writes and syncs (every
/// prefix; with the writes since the last completed sync dropped or reordered, for the
/// durabilities that promise to survive a power cut; with the last write torn at each
/// 512-byte boundary). Every image must open, pass `check()` and hold
/// exactly the commit whose meta is the newest one in it, which must be at least the last
/// commit whose syncs completed, with that commit's contents.
@Suite(.serialized) struct CrashImageTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        let mode: MappingMode
        let durability: Durability
        /// Commits in groups of three async writers (``Options/groupCommit``).
        var grouped = false
        /// ``Options/secureDelete``: the zeros written over released pages must never reach a
        /// page a crash image falls back to.
        var secureDelete = false
        /// Whether images may drop or reorder the writes since the last sync: a power cut.
        /// `.none` promises nothing then (it survives a process crash: in-order prefixes);
        /// `.noMetaSync` may lose its last commits but must stay consistent.
        var reorders: Bool { durability != .none }
        var testDescription: String {
            "\(mode.rawValue), \(durability.rawValue)\(grouped ? ", group commit" : "")\(secureDelete ? ", secureDelete" : "")"
        }
    }

    /// `.none` in a write map is left out: its pages reach the file by the kernel's writeback,
    /// with no call to record (its promise, surviving a process crash, is the kill -9 trials').
    static let scenarios: [Scenario] = [
        Scenario(mode: .readOnly, durability: .full),
        Scenario(mode: .writeMap, durability: .full),
        Scenario(mode: .readOnly, durability: .noMetaSync),
        Scenario(mode: .writeMap, durability: .noMetaSync),
        Scenario(mode: .readOnly, durability: .none),
        Scenario(mode: .readOnly, durability: .full, grouped: true),
        Scenario(mode: .writeMap, durability: .full, grouped: true),
        Scenario(mode: .readOnly, durability: .full, secureDelete: true),
        Scenario(mode: .writeMap, durability: .noMetaSync, secureDelete: true),
        Scenario(mode: .readOnly, durability: .full, grouped: true, secureDelete: true),
        Scenario(mode: .readOnly, durability: .lazy),
        Scenario(mode: .writeMap, durability: .lazy),
        Scenario(mode: .readOnly, durability: .lazy, grouped: true),
    ]

    typealias Model = [[UInt8]: [UInt8]]

    /// What a workload left: the file before it, every write and sync, and each commit's state.
    struct Recording {
        let pageSize: Int
        let before: [UInt8]
        let operations: [RecordingIO.Operation]
        let states: [UInt64: Model]
        let after: [UInt8]
    }

    /// The file as a crash left it, and the transaction ids in its two meta slots as the
    /// writes put them there (read by the test from the bytes it wrote, not by the engine).
    struct Image {
        var bytes: [UInt8]
        var metaTxn: [UInt64]
        let pageSize: Int

        init(_ bytes: [UInt8], pageSize: Int) {
            self.bytes = bytes
            self.pageSize = pageSize
            metaTxn = (0..<2).map { slot in Image.txn(bytes, at: slot * pageSize) }
        }

        /// The little-endian transaction id at offset 24 of the meta record at `start`.
        static func txn(_ bytes: [UInt8], at start: Int) -> UInt64 {
            guard start >= 0, start + 32 <= bytes.count else { return 0 }
            return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[start + 24 + $1]) << (8 * $1) }
        }

        /// The newest meta in the image.
        var newest: UInt64 { metaTxn.max()! }

        /// Applies `operation`; a write only up to `limit` bytes (a torn write).
        mutating func apply(_ operation: RecordingIO.Operation, limit: Int? = nil) {
            switch operation {
            case let .write(offset, written):
                let count = min(limit ?? written.count, written.count)
                if offset + count > bytes.count { bytes += [UInt8](repeating: 0, count: offset + count - bytes.count) }
                bytes.replaceSubrange(offset..<offset + count, with: written[0..<count])
                for slot in 0..<2 where offset <= slot * pageSize && offset + count >= slot * pageSize + Meta.length {
                    metaTxn[slot] = Image.txn(written, at: slot * pageSize - offset)
                }
            case let .grow(size):
                if size > bytes.count { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
            case .sync:
                break
            }
        }
    }

    /// Creates a new, empty database at `path` (its two metas, no commit: a workload's first
    /// commit grows the file) and returns its bytes, and the recorder and options a workload
    /// in `scenario` records with.
    static func startRecording(_ scenario: Scenario, at path: String) throws -> (before: [UInt8], recorder: RecordingIO, options: Options) {
        _ = try Database(path: path, options: .testing(scenario.mode, durability: .full))
        let before = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let recorder = RecordingIO()
        var options = Options.testing(scenario.mode, durability: scenario.durability)
        options.storageIO = recorder
        options.secureDelete = scenario.secureDelete
        // Lazy commits sync by the bytes they wrote (every few commits here), never by time:
        // the same recording every run.
        options.lazySyncBytes = 40 << 10
        options.lazySyncInterval = .seconds(3600)
        return (before, recorder, options)
    }

    /// Overflow values one commit of the workloads adds (one run each): more runs than a meta
    /// page lists (``Meta/listCapacity(pageSize:)``), so that commit keeps its page list in a
    /// commit record run.
    static let manyRuns = Meta.listCapacity(pageSize: Int(getpagesize())) + 20

    /// One seeded commit of the workload: the first puts 40 keys; every tenth from the sixth
    /// adds ``manyRuns`` overflow values (a commit with a record run), which the third commit
    /// after it deletes; every sixth adds 30 overflow values, which every twelfth deletes
    /// again (so pages are freed and reused); the others put and delete a few keys, some of
    /// them large. `draft` follows every change.
    static func randomCommit(_ txn: WriteTransaction, number: Int, draft: inout Model, rng: inout SeededGenerator) throws {
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        if number == 0 {
            for i in 0..<40 {
                let key = Array("k\(i)".utf8), value = bytes(Int.random(in: 0...200, using: &rng))
                try txn.put(key, value)
                draft[key] = value
            }
        } else if number % 10 == 6 || number % 10 == 9 {
            for i in 0..<manyRuns {
                let key = Array("many-\(number - number % 10 + 6)-\(i)".utf8)
                if number % 10 == 6 {
                    let value = bytes(3000)
                    try txn.put(key, value)
                    draft[key] = value
                } else {
                    _ = try txn.delete(key)
                    draft.removeValue(forKey: key)
                }
            }
        } else if number % 6 == 2 {
            for i in 0..<30 {
                let key = Array("big-\(number)-\(i)".utf8), value = bytes(3000)
                try txn.put(key, value)
                draft[key] = value
            }
        } else if number % 12 == 11 {
            for i in 0..<30 {
                let key = Array("big-\(number - 9)-\(i)".utf8)
                _ = try txn.delete(key)
                draft.removeValue(forKey: key)
            }
        } else {
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let key = Array("k\(Int.random(in: 0..<150, using: &rng))".utf8)
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    _ = try txn.delete(key)
                    draft.removeValue(forKey: key)
                } else {
                    let large = Int.random(in: 0..<20, using: &rng) == 0
                    let value = bytes(large ? Int.random(in: 1200...5000, using: &rng) : Int.random(in: 0...300, using: &rng))
                    try txn.put(key, value)
                    draft[key] = value
                }
            }
        }
    }

    /// Runs `commits` seeded commits of puts and deletes on a new database (the first grows
    /// the file; some add many overflow values, some delete them, so pages are reused) under a
    /// recording I/O.
    static func record(_ scenario: Scenario, in dir: TemporaryDirectory, seed: UInt64, commits: Int) throws -> Recording {
        let path = dir.file("work.mapstore")
        var rng = SeededGenerator(seed: seed)
        var model: Model = [:]
        let (before, recorder, options) = try startRecording(scenario, at: path)
        var states: [UInt64: Model] = [:]
        do {
            let db = try Database(path: path, options: options)
            states[try db.read { $0.transactionID }] = model
            for commit in 0..<commits {
                var draft = model
                try db.write { txn in try randomCommit(txn, number: commit, draft: &draft, rng: &rng) }
                model = draft
                states[try db.read { $0.transactionID }] = model
            }
        }
        let after = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return Recording(pageSize: Int(getpagesize()), before: before, operations: recorder.operations, states: states, after: after)
    }

    /// The same workload in groups: each round, three async writers (disjoint keys, so the
    /// order inside a group does not matter) are queued while the writer thread is held, then
    /// committed as one group. Only each group's last commit has a meta in the file.
    static func recordGrouped(_ scenario: Scenario, in dir: TemporaryDirectory, seed: UInt64, groups: Int) async throws -> Recording {
        let path = dir.file("work.mapstore")
        var rng = SeededGenerator(seed: seed)
        var model: Model = [:]
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var (before, recorder, options) = try startRecording(scenario, at: path)
        options.groupCommit = true
        var states: [UInt64: Model] = [:]
        do {
            let db = try Database(path: path, options: options)
            states[try await db.read { $0.transactionID }] = model
            for round in 0..<groups {
                var plans: [[([UInt8], [UInt8]?)]] = []
                for writer in 0..<3 {
                    var plan: [([UInt8], [UInt8]?)] = []
                    if writer == 1, round % 10 == 6 {
                        // The group lists more runs than its meta page holds: a record run.
                        for i in 0..<manyRuns { plan.append((Array("many-\(round)-\(i)".utf8), bytes(3000))) }
                    } else if writer == 1, round % 10 == 9 {
                        for i in 0..<manyRuns { plan.append((Array("many-\(round - 3)-\(i)".utf8), nil)) }
                    } else if writer == 0, round % 6 == 2 {
                        for i in 0..<30 { plan.append((Array("big-\(round)-\(i)".utf8), bytes(3000))) }
                    } else if writer == 0, round % 12 == 11 {
                        for i in 0..<30 { plan.append((Array("big-\(round - 9)-\(i)".utf8), nil)) }
                    } else {
                        for _ in 0..<Int.random(in: 1...6, using: &rng) {
                            let key = Array("w\(writer)-k\(Int.random(in: 0..<50, using: &rng))".utf8)
                            let delete = Int.random(in: 0..<4, using: &rng) == 0
                            plan.append((key, delete ? nil : bytes(Int.random(in: 0...300, using: &rng))))
                        }
                    }
                    for (key, value) in plan { model[key] = value }
                    plans.append(plan)
                }
                let holder = GroupCommitTests.WriterThreadHolder(db)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for plan in plans {
                        group.addTask {
                            try await db.write { txn in
                                for (key, value) in plan {
                                    if let value { try txn.put(key, value) } else { _ = try txn.delete(key) }
                                }
                            }
                        }
                    }
                    await GroupCommitTests.waitForQueued(db, plans.count)
                    holder.letGo()
                    try await group.waitForAll()
                }
                states[try await db.read { $0.transactionID }] = model
            }
            // Let the writer thread finish its drain before the handle closes.
            db.environment.writerQueue.sync {}
        }
        let after = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return Recording(pageSize: Int(getpagesize()), before: before, operations: recorder.operations, states: states, after: after)
    }

    /// Counts of images checked, and the first failures.
    struct Tally {
        var prefixes = 0
        var torn = 0
        var reordered = 0
        /// Images that opened at the commit before the newest meta (its pages did not all land).
        var fellBack = 0
        var failures: [String] = []
        var total: Int { prefixes + torn + reordered }
    }

    /// Opens `image` and checks it holds a commit at least `durable` with that commit's
    /// contents: exactly `image.newest` when `exact` (every write so far landed, in order),
    /// else the commit of either meta slot (a commit made durable by one sync whose pages
    /// did not all land is passed over for the one before).
    static func verify(_ image: Image, durable: UInt64, exact: Bool, recording: Recording, mode: MappingMode, path: String, label: String,
                       tally: inout Tally) {
        func fail(_ message: String) { if tally.failures.count < 10 { tally.failures.append("\(label): \(message)") } else { tally.failures[9] = "(more failures)" } }
        guard image.newest >= durable else { return fail("the newest meta \(image.newest) is older than the durable commit \(durable)") }
        do {
            try Data(image.bytes).write(to: URL(fileURLWithPath: path))
            // The open must be alone, as after a crash: not alone, it would open at the commit
            // the lock file (the last image's) published. A parallel test's child may still
            // hold a copy of the last image's handle until its exec.
            if FileManager.default.fileExists(atPath: path + "-lock") { try waitUntilNobodyHasItOpen(path) }
            let db = try Database(path: path, options: .testing(mode))
            let (txn, entries) = try db.read { txn in (txn.transactionID, try txn.entries()) }
            let allowed = exact ? [image.newest] : image.metaTxn
            guard allowed.contains(txn) else { return fail("opened at commit \(txn), the metas written are \(image.metaTxn)\(exact ? " and every write landed" : "")") }
            guard txn >= durable else { return fail("opened at commit \(txn), older than the durable commit \(durable)") }
            if txn < image.newest { tally.fellBack += 1 }
            guard let model = recording.states[txn] else { return fail("commit \(txn) is not a commit of the workload") }
            let expected = txn
            let want = model.sorted { $0.key.lexicographicallyPrecedes($1.key) }
            guard entries.map(\.key) == want.map(\.key), entries.map(\.value) == want.map(\.value) else {
                return fail("commit \(txn) has \(entries.count) entries, not the \(want.count) it committed")
            }
            let problems = try db.check()
            guard problems.isEmpty else { return fail("check: \(problems.prefix(3))") }
        } catch {
            fail("\(error)")
        }
    }

    /// Every image of `recording`: in-order prefixes, torn last writes, and (when the scenario
    /// allows) the writes since the last sync dropped and reordered.
    static func checkImages(_ recording: Recording, scenario: Scenario, in dir: TemporaryDirectory, seed: UInt64) -> Tally {
        let path = dir.file("image.mapstore")
        let pageSize = recording.pageSize
        var rng = SeededGenerator(seed: seed)
        var tally = Tally()
        let tornPerWrite = longMode ? 16 : 2
        let variantsPerWindow = longMode ? 24 : 3
        var image = Image(recording.before, pageSize: pageSize)
        var atLastSync = image
        var durable = image.newest  // the newest commit whose meta a completed sync covers
        var metaWritten = durable  // the newest meta written so far
        var window: [RecordingIO.Operation] = []  // operations since the last sync, cut into pages
        for (index, operation) in recording.operations.enumerated() {
            // In order, every write landed, so the newest meta opens; but a write map's pages
            // are logged only at the msync that follows the meta's pwrite (they were in the map,
            // unordered against it, before), so there that holds only at a sync.
            let exact = scenario.mode == .readOnly || index == 0 || recording.operations[index - 1] == .sync
            verify(image, durable: durable, exact: exact, recording: recording, mode: scenario.mode, path: path, label: "prefix \(index)", tally: &tally)
            tally.prefixes += 1
            if case let .write(offset, bytes) = operation, bytes.count > 512 {
                var boundaries = Array(stride(from: 512, to: bytes.count, by: 512))
                if boundaries.count > tornPerWrite { boundaries = Array(boundaries.shuffled(using: &rng).prefix(tornPerWrite)) }
                for boundary in boundaries {
                    var torn = image
                    torn.apply(operation, limit: boundary)
                    verify(torn, durable: durable, exact: false, recording: recording, mode: scenario.mode, path: path,
                           label: "prefix \(index), write of \(bytes.count) bytes at \(offset) torn after \(boundary)", tally: &tally)
                    tally.torn += 1
                }
            }
            switch operation {
            case .sync:
                if scenario.reorders, window.count > 1 {
                    for variant in 0..<variantsPerWindow {
                        let order = window.shuffled(using: &rng)
                        var reordered = atLastSync
                        for piece in order.prefix(Int.random(in: 0...order.count, using: &rng)) { reordered.apply(piece) }
                        verify(reordered, durable: durable, exact: false, recording: recording, mode: scenario.mode, path: path,
                               label: "before sync \(index), reordered variant \(variant)", tally: &tally)
                        tally.reordered += 1
                    }
                    // The disk kept every page written since the last sync and none of the metas:
                    // the newest meta before the window must still find all its pages intact.
                    let isMeta: (RecordingIO.Operation) -> Bool = { piece in
                        if case let .write(offset, _) = piece { offset < 2 * pageSize } else { false }
                    }
                    if window.contains(where: isMeta), window.contains(where: { !isMeta($0) }) {
                        var withoutMetas = atLastSync
                        for piece in window where !isMeta(piece) { withoutMetas.apply(piece) }
                        verify(withoutMetas, durable: durable, exact: false, recording: recording, mode: scenario.mode, path: path,
                               label: "before sync \(index), every page write kept and no meta", tally: &tally)
                        tally.reordered += 1
                    }
                }
                image.apply(operation)
                atLastSync = image
                durable = metaWritten
                window.removeAll()
            case let .write(offset, bytes):
                image.apply(operation)
                metaWritten = max(metaWritten, image.newest)
                var start = 0
                while start < bytes.count {
                    let end = min(bytes.count, (offset + start) / pageSize * pageSize + pageSize - offset)
                    window.append(.write(offset: offset + start, bytes: Array(bytes[start..<end])))
                    start = end
                }
            case .grow:
                image.apply(operation)
                window.append(operation)
            }
        }
        verify(image, durable: durable, exact: true, recording: recording, mode: scenario.mode, path: path, label: "every operation", tally: &tally)
        tally.prefixes += 1
        return tally
    }

    @Test(arguments: scenarios)
    func everyCrashImageOpensAtADurableCommit(scenario: Scenario) async throws {
        let dir = TemporaryDirectory()
        let seed: UInt64 = 0xC0FFEE + UInt64(Self.scenarios.firstIndex { $0.testDescription == scenario.testDescription }!)
        let recording = scenario.grouped
            ? try await Self.recordGrouped(scenario, in: dir, seed: seed, groups: longMode ? 60 : 20)
            : try Self.record(scenario, in: dir, seed: seed, commits: longMode ? 60 : 20)
        // The recording holds every byte the workload put in the file: replayed over the file
        // as it was before, it gives the file as it is after.
        var replayed = Image(recording.before, pageSize: recording.pageSize)
        for operation in recording.operations { replayed.apply(operation) }
        #expect(replayed.bytes == recording.after, "the recorded writes rebuild the file")
        let grows = recording.operations.filter { if case .grow = $0 { true } else { false } }.count
        let syncs = recording.operations.filter { $0 == .sync }.count
        #expect(grows > 0, "the workload grew the file")
        if scenario.grouped {
            // One meta per group (confirmation copies aside): the groups really formed.
            let metas = recording.operations.filter { operation in
                // (A write map's msync logs its range from page 0 as one write: not a meta write.)
                guard case let .write(offset, bytes) = operation, offset < 2 * recording.pageSize, offset % recording.pageSize == 0,
                      bytes.count <= recording.pageSize else { return false }
                return bytes.count >= Meta.length && bytes[44] & UInt8(Meta.confirmationFlag) == 0
            }.count
            #expect(metas == (longMode ? 60 : 20), "\(metas) metas written")
        }
        #expect(scenario.durability == .none ? syncs == 0 : syncs > 0, "\(syncs) syncs")
        // The commits of many runs kept their lists in record runs, wherever a commit lists.
        let records = recording.operations.filter { operation in
            guard case let .write(offset, bytes) = operation, offset < 2 * recording.pageSize, offset % recording.pageSize == 0,
                  bytes.count >= Meta.length, bytes.count <= recording.pageSize else { return false }
            return bytes[44] & UInt8(Meta.recordFlag) != 0 && bytes[44] & UInt8(Meta.confirmationFlag) == 0
        }.count
        let lists = scenario.durability == .full || scenario.durability == .lazy
        #expect(lists ? records >= 2 : records == 0, "\(records) metas with a record run")
        let tally = Self.checkImages(recording, scenario: scenario, in: dir, seed: seed)
        print("crash images \(scenario.testDescription): \(tally.total) checked (\(tally.prefixes) prefixes, \(tally.torn) torn writes, \(tally.reordered) reordered/dropped; \(tally.fellBack) opened at the commit before the newest meta) over \(recording.operations.count) operations")
        #expect(tally.failures.isEmpty, "\(tally.failures.joined(separator: "\n"))")
        #expect(tally.prefixes == recording.operations.count + 1)
    }

    /// How the first writer of ``aKilledWritersMetaCannotLetTheNextWriterDamageTheLastDurableCommit(handover:)``
    /// leaves the file to the second: killed between its last meta write and that meta's sync,
    /// or `.noMetaSync`, whose last meta no sync covers.
    struct Handover: Sendable, CustomTestStringConvertible {
        let mode: MappingMode
        let firstDurability: Durability
        var killed: Bool { firstDurability == .full }
        var testDescription: String { "\(mode.rawValue), " + (killed ? "writer killed before its meta sync" : ".\(firstDurability.rawValue) writer") }
    }

    /// The workload with every commit in an environment of its own (as if each were another
    /// process's: nothing in memory is shared, the files are): the first half with the first
    /// writer's durability, its last commit's meta reaching the page cache only, then the rest
    /// with `.full`.
    static func recordHandover(_ handover: Handover, in dir: TemporaryDirectory, seed: UInt64, commits: Int) throws -> Recording {
        let path = dir.file("work.mapstore")
        var rng = SeededGenerator(seed: seed)
        var model: Model = [:]
        var (before, recorder, options) = try startRecording(Scenario(mode: handover.mode, durability: handover.firstDurability), at: path)
        var states: [UInt64: Model] = [:]
        var transactionID: UInt64 = 0
        states[0] = model
        for commit in 0..<commits {
            var draft = model
            options.durability = commit < commits / 2 ? handover.firstDurability : .full
            do {
                let db = try Database(path: path, options: options)
                let killedHere = handover.killed && commit == commits / 2 - 1
                // Killed in the sync that would make its meta durable: the one sync of a
                // one-sync commit, its pages and meta written (an msync in a write map). The
                // handle is poisoned and writes nothing more.
                if killedHere { recorder.failSync(after: 0) }
                do {
                    try db.write { txn in try randomCommit(txn, number: commit, draft: &draft, rng: &rng) }
                    #expect(!killedHere, "the meta's sync failed")
                } catch {
                    #expect(killedHere, "\(error)")
                }
                // The killed commit's meta is in the file, never published: an image may hold it.
                transactionID = killedHere ? transactionID + 1 : try db.read { $0.transactionID }
                states[transactionID] = draft
                model = draft
                if killedHere {
                    #expect(throws: MapStoreError.self) { try db.write { try $0.put("after", "poisoned") } }
                    recorder.revive()
                }
            }
            #expect(EnvironmentRegistry.key(forPath: path).flatMap { key in EnvironmentRegistry.open.withLock { $0[key] } } == nil,
                    "each commit's handle is the only one, and closed")
        }
        let after = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return Recording(pageSize: Int(getpagesize()), before: before, operations: recorder.operations, states: states, after: after)
    }

    /// A writer killed between its meta write and its sync (or a `.noMetaSync` writer) leaves
    /// its meta in the page cache only; the next writer, in another environment, opens the file
    /// and finds that meta newest. A power cut before that writer's first sync may keep its page
    /// writes and lose the meta: the commit before must still be intact, so the next writer may
    /// not reuse a page that meta freed (the lock file's sync record says it is not durable).
    /// Every image opens, passes `check()` and holds the newest meta it has, never older than
    /// the last synced one; the images that keep every page write and drop the window's metas
    /// are among them.
    @Test(arguments: [
        Handover(mode: .readOnly, firstDurability: .full), Handover(mode: .writeMap, firstDurability: .full),
        Handover(mode: .readOnly, firstDurability: .noMetaSync), Handover(mode: .writeMap, firstDurability: .noMetaSync),
        Handover(mode: .readOnly, firstDurability: .lazy), Handover(mode: .writeMap, firstDurability: .lazy),
    ])
    func aKilledWritersMetaCannotLetTheNextWriterDamageTheLastDurableCommit(handover: Handover) throws {
        let dir = TemporaryDirectory()
        let commits = longMode ? 60 : 24
        let recording = try Self.recordHandover(handover, in: dir, seed: 0xDEAD + (handover.killed ? 0 : 1), commits: commits)
        var replayed = Image(recording.before, pageSize: recording.pageSize)
        for operation in recording.operations { replayed.apply(operation) }
        #expect(replayed.bytes == recording.after, "the recorded writes rebuild the file")
        let scenario = Scenario(mode: handover.mode, durability: .full)
        let tally = Self.checkImages(recording, scenario: scenario, in: dir, seed: 0xDEAD)
        print("crash images after a handover (\(handover.testDescription)): \(tally.total) checked (\(tally.prefixes) prefixes, \(tally.torn) torn writes, \(tally.reordered) reordered/dropped) over \(recording.operations.count) operations")
        #expect(tally.failures.isEmpty, "\(tally.failures.joined(separator: "\n"))")
    }

    /// A crash while a new file is created (its two metas written, not yet synced) leaves a file
    /// of up to two pages: empty, zero, or holding some sectors of the new metas. Every such
    /// image opens as a new, empty database that takes commits; a short file holding anything
    /// else is refused and left as it was.
    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func aCrashWhileCreatingTheFileLeavesANewDatabase(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let recorder = RecordingIO()
        var options = Options.testing(mode, durability: .full)
        options.storageIO = recorder
        _ = try Database(path: dir.file("created.mapstore"), options: options)
        let operations = recorder.operations
        #expect(operations.contains(.sync), "the creation syncs")
        let pageSize = Int(getpagesize())
        var images: [[UInt8]] = []
        var image = Image([], pageSize: pageSize)
        for operation in operations {
            images.append(image.bytes)
            if case let .write(_, bytes) = operation {
                for boundary in stride(from: 512, to: bytes.count, by: 512) {
                    var torn = image
                    torn.apply(operation, limit: boundary)
                    images.append(torn.bytes)
                }
            }
            image.apply(operation)
        }
        images.append(image.bytes)
        // A zero-filled file of the metas' size (space allocated, nothing written).
        images.append([UInt8](repeating: 0, count: 2 * pageSize))
        #expect(images.contains { !$0.isEmpty && $0.count < 2 * pageSize }, "some image is shorter than two pages")
        print("creation crash images (\(mode)): \(images.count) over \(operations.count) operations")
        let path = dir.file("image.mapstore")
        for (index, bytes) in images.enumerated() {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + "-lock")
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                let db = try Database(path: path, options: .testing(mode))
                #expect(try db.read { $0.transactionID } == 0, "image \(index) of \(bytes.count) bytes")
                try db.write { txn in try txn.put("after", "crash") }
                #expect(try db.check() == [], "image \(index)")
            } catch {
                Issue.record("image \(index) of \(bytes.count) bytes: \(error)")
                continue
            }
            let reopened = try Database(path: path, options: .testing(mode))
            #expect(try reopened.read { try $0.get("after") } == Array("crash".utf8), "image \(index)")
        }
    }

    /// What a creation cannot have left is not overwritten: a short foreign file, and a
    /// database cut down to its first page when that page's meta records a commit. (Cut down
    /// to a first page that still holds the new database's meta, it cannot be told from an
    /// unfinished creation, and nothing in it is left to lose.)
    @Test func aShortFileThatNoCreationLeftIsRefusedAndKept() throws {
        let dir = TemporaryDirectory()
        let pageSize = Int(getpagesize())
        let committed = dir.file("committed.mapstore")
        do {
            let db = try Database(path: committed, options: .testing())
            try db.write { txn in try txn.put("k", "v") }
            try db.write { txn in try txn.put("k", "w") }  // commit 2: its meta is in page 0
        }
        let truncated = [UInt8](try Data(contentsOf: URL(fileURLWithPath: committed)).prefix(pageSize))
        let foreign = Array("not a database, just some notes\n".utf8)
        for (name, bytes) in [("foreign", foreign), ("truncated", truncated), ("foreign page", foreign + [UInt8](repeating: 0, count: 2 * pageSize - foreign.count))] {
            let path = dir.file(name + ".mapstore")
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            #expect(throws: MapStoreError.self, "\(name)") { _ = try Database(path: path, options: .testing()) }
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == bytes, "\(name) is unchanged")
        }
    }
}
