import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// kill -9 at random moments: a child commits numbered transactions and reports each
/// acknowledgement on a pipe; after the kill, every acknowledged commit must be there.
/// The child's commits are `.noMetaSync`, or `.lazy` (which survives a process crash too:
/// its unsynced commits are in the page cache).
@Suite(.serialized) struct CrashTrialTests {
    @Test(arguments: [(false, Durability.noMetaSync), (true, .noMetaSync), (false, .lazy), (true, .lazy)])
    func acknowledgedCommitsSurviveSIGKILL(writeMap: Bool, durability: Durability) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let trials = longMode ? 5000 : 50
        var rng = SeededGenerator(seed: (writeMap ? 2 : 1) + (durability == .lazy ? 2 : 0))
        var next = 0
        var lost = 0
        var acknowledged = 0
        for trial in 0..<trials {
            let child = try TestHelper.start(["commit-loop", path, "\(next)"], writeMap: writeMap, durability: durability)
            // Let it run for a random number of acknowledgements (0 kills it while it opens).
            let wanted = Int.random(in: 0...12, using: &rng)
            var last = next - 1
            for _ in 0..<wanted {
                guard let line = child.readLine(), line.hasPrefix("ack ") else { break }
                last = Int(line.dropFirst(4))!
            }
            child.kill()
            acknowledged += last - next + 1
            let db = try Database(path: path, options: .testing(writeMap ? .writeMap : .readOnly))
            let present = try db.read { txn in
                (next...max(next, last)).filter { (try? txn.get("n-\($0)")) != nil }.count
            }
            if last >= next { lost += (last - next + 1) - present }
            if trial % 10 == 0 { #expect(try db.check() == [], "trial \(trial)") }
            // The next child continues after the last key that made it (acknowledged or not).
            next = try db.read { txn in
                var k = max(next, last + 1)
                while try txn.get("n-\(k)") != nil { k += 1 }
                return k
            }
        }
        #expect(lost == 0, "\(lost) acknowledged commits lost of \(acknowledged)")
        #expect(acknowledged > trials, "the children got to commit")
        let db = try Database(path: path, options: .testing(writeMap ? .writeMap : .readOnly))
        #expect(try db.check() == [])
    }
}
