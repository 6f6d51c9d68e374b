import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// A write transaction's page view on its own, below the tree: allocation, copy-on-write,
/// frees, bounds, sealing and the buffers it gives back. Each test begins a write
/// transaction through the write side (as `Database.write` does), works its page view
/// directly, and ends it without committing, which must leave the file as it was.
@Suite struct TransactionPagesTests {
    /// A database of a few hundred entries (several leaf pages), in `mode`.
    private static func database(_ directory: TemporaryDirectory, mode: MappingMode = .readOnly) throws -> Database {
        let db = try Database(path: directory.file(), options: Options(mappingMode: mode))
        try db.write { txn in
            for index in 0..<400 { try txn.put("key \(index)", "value \(index)") }
        }
        return db
    }

    /// ``database(_:mode:)`` with the root's first leaf damaged (its slot 0 points two bytes
    /// before the page's end: no cell header fits there), reopened; and that leaf.
    private static func databaseWithADamagedLeaf(_ directory: TemporaryDirectory) throws -> (Database, leaf: UInt64) {
        let path = directory.file()
        let (leaf, pageSize): (UInt64, Int) = try {
            let db = try database(directory)
            return try db.read { txn in
                let root = try txn.pages.readPage(txn.base.main.root)
                return (try Node(root, number: txn.base.main.root).branchChild(0), txn.pages.pageSize)
            }
        }()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let slot = Int(leaf) * pageSize + PageLayout.headerSize
        bytes[slot] = UInt8((pageSize - 2) & 0xFF)
        bytes[slot + 1] = UInt8((pageSize - 2) >> 8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (try Database(path: path), leaf)
    }

    /// Runs `body` on the page view of a write transaction that is ended, not committed.
    private static func withPages<R>(of db: Database, _ body: (TransactionPages, WriteTransaction) throws -> R) throws -> R {
        try db.environment.withWriter(timeout: nil) { writer in
            var transaction = try writer.begin(for: db.writeHandle)
            defer { writer.end(&transaction, keepingIn: db.writeHandle) }
            return try body(transaction.pages, transaction)
        }
    }

    /// A page allocated and freed by the same transaction is reusable at once (no snapshot
    /// can reach it): the next allocation gets it back, and it never waits in `freedNow`.
    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func aPageFreedByItsOwnTransactionIsReusedAtOnce(mode: MappingMode) throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory, mode: mode)
        try Self.withPages(of: db) { pages, _ in
            let (number, _) = try pages.allocate(1)
            #expect(pages.dirty[number] != nil)
            pages.free(number, count: 1)
            #expect(pages.dirty[number] == nil)
            #expect(!pages.freedNow.contains(number))
            #expect(pages.freeList.reusable.contains(number))
            let (again, _) = try pages.allocate(1)
            #expect(again == number)
        }
    }

    /// Copy-on-write: the writable copy of a committed page has a new number, the same used
    /// bytes past the header, this transaction's id, and the old page waits in `freedNow`;
    /// asking again for the copy returns it, with no second copy.
    @Test func aWritableCommittedPageIsACopyAndTheOriginalWaits() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        let root = try db.read { txn in txn.base.main.root }
        try Self.withPages(of: db) { pages, transaction in
            let original = try pages.readPage(root)
            let (copy, page) = try pages.writablePage(root, checkingCells: true)
            #expect(copy != root)
            #expect(page.pageNumber == copy)
            #expect(page.txnID == transaction.committingTransactionID)
            #expect(page.u16(PageLayout.countOffset) == original.u16(PageLayout.countOffset))
            #expect(pages.freedNow == [root])
            let (same, _) = try pages.writablePage(copy, checkingCells: true)
            #expect(same == copy)
            #expect(pages.freedNow == [root])
            // The view reads its own copy under the new number and the map under the old one.
            #expect(try pages.readPage(copy).txnID == transaction.committingTransactionID)
            #expect(try pages.readPage(root).txnID == original.txnID)
        }
    }

    /// A committed leaf whose cells do not fit is refused when a write asks for a copy of it,
    /// with an error naming the page; the copy the check ran on is freed at once (reusable, not
    /// owned), and the page itself stays the snapshot's (not freed by this transaction).
    @Test func aDamagedLeafsCopyIsRefusedAndFreed() throws {
        let directory = TemporaryDirectory()
        let (db, leaf) = try Self.databaseWithADamagedLeaf(directory)
        try Self.withPages(of: db) { pages, _ in
            let owned = pages.dirty.count
            var refused: MapStoreError?
            do throws(MapStoreError) { _ = try pages.writablePage(leaf, checkingCells: true) } catch { refused = error }
            guard case let .corrupted(page, reason) = refused else {
                Issue.record("the damaged leaf's copy was not refused: \(String(describing: refused))")
                return
            }
            #expect(page == leaf)
            #expect(reason.contains("cell 0 header runs past the page end"), "\(reason)")
            #expect(pages.dirty.count == owned)
            #expect(!pages.freedNow.contains(leaf))
            #expect(pages.freeList.reusable.count >= 1)
        }
    }

    /// A branch page copied on a write's way down is not hashed when sealed: its source's
    /// checksum is patched for the header and the child pointer that changed. So the sealed
    /// copy verifies; and when the source's bytes did not match its checksum (here a child
    /// pointer the write never follows is damaged), the copy does not match either: the
    /// damage stays visible to `check` instead of being sealed over.
    @Test(arguments: [false, true])
    func aBranchCopysChecksumIsItsSourcesPatched(damaged: Bool) throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let (root, count, pageSize): (UInt64, Int, Int) = try {
            let db = try Self.database(directory)
            return try db.read { txn in
                let node = try Node(try txn.pages.readPage(txn.base.main.root), number: txn.base.main.root)
                #expect(!node.isLeaf, "a branch root")
                return (txn.base.main.root, node.count, txn.pages.pageSize)
            }
        }()
        if damaged {
            // The last cell's child pointer, whose cell a write to the first key never reads.
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let page = Int(root) * pageSize
            let slot = page + PageLayout.headerSize + 2 * (count - 1)
            let cell = Int(bytes[slot]) | Int(bytes[slot + 1]) << 8
            bytes[page + cell + Cell.branchChildOffset + 7] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        let db = try Database(path: path)
        try db.write { txn in try txn.put("key 0", "value 0 changed") }
        try db.read { txn in
            let copy = try txn.pages.readPage(txn.base.main.root)
            #expect(txn.base.main.root != root, "the root was copied")
            #expect((copy.storedChecksum == copy.computeChecksum(.crc32c)) == !damaged)
        }
        let newRoot = try db.read { $0.base.main.root }
        let problems = try db.check()
        #expect(problems.contains { $0.page == newRoot && $0.message.contains("checksum") } == damaged, "\(problems)")
    }

    /// A leaf copy that only gains cells is sealed without hashing its old cells: their share
    /// of the source's checksum is kept. The sealed copy verifies; and when an old cell's bytes
    /// did not match the source's checksum (a flipped value byte), the copy does not match
    /// either, and `check` reports it.
    @Test(arguments: [false, true])
    func aLeafCopysOldCellsKeepTheirShareOfTheChecksum(damaged: Bool) throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let (leaf, pageSize): (UInt64, Int) = try {
            let db = try Self.database(directory)
            return try db.read { txn in
                let root = txn.base.main.root
                let leaf = try Node(try txn.pages.readPage(root), number: root).branchChild(0)
                let node = NodeEditor(try txn.pages.readPage(leaf))
                #expect(node.contiguousFree > 64, "room for one more cell without a split")
                return (leaf, txn.pages.pageSize)
            }
        }()
        if damaged {
            // The last byte of the page: the value of the cell written first, an old cell.
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[Int(leaf) * pageSize + pageSize - 1] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        let db = try Database(path: path)
        try db.write { txn in try txn.put("key 0a", "new") }
        let copy: UInt64 = try db.read { txn in
            let root = txn.base.main.root
            let copy = try Node(try txn.pages.readPage(root), number: root).branchChild(0)
            let page = try txn.pages.readPage(copy)
            #expect(copy != leaf, "the leaf was copied")
            #expect((page.storedChecksum == page.computeChecksum(.crc32c)) == !damaged)
            return copy
        }
        #expect(try db.read { try $0.getString("key 0a") } == "new")
        let problems = try db.check()
        #expect(problems.contains { $0.page == copy && $0.message.contains("checksum") } == damaged, "\(problems)")
    }

    /// A put into a damaged leaf (copied unchecked, searched in its copy) is refused naming the
    /// leaf itself, and gives the copy back: the view owns only the copied root, and the leaf
    /// stays the snapshot's.
    @Test func aPutIntoADamagedLeafGivesItsCopyBack() throws {
        let directory = TemporaryDirectory()
        let (db, leaf) = try Self.databaseWithADamagedLeaf(directory)
        try Self.withPages(of: db) { pages, transaction in
            var refused: MapStoreError?
            do throws(MapStoreError) { try transaction.put("key 0", "new") } catch { refused = error }
            guard case let .corrupted(page, _) = refused else {
                Issue.record("the put into a damaged leaf was not refused: \(String(describing: refused))")
                return
            }
            #expect(page == leaf)
            #expect(!pages.freedNow.contains(leaf))
            #expect(pages.dirty.count == 1, "the root's copy only")
        }
    }

    /// Page numbers outside the snapshot's data pages are refused with an error naming the page.
    @Test func aReferenceOutsideTheSnapshotIsCorruptionNamingThePage() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        try Self.withPages(of: db) { pages, _ in
            for number in [UInt64(0), 1, pages.pageCount, pages.pageCount + 100] {
                #expect {
                    _ = try pages.readPage(number)
                } throws: { error in
                    guard case let .corrupted(page, reason) = error as? MapStoreError else { return false }
                    return page == number && reason.contains("page \(number)")
                }
            }
            // A run that starts inside but ends past the last page.
            #expect(throws: MapStoreError.self) { _ = try pages.readRun(pages.pageCount - 1, count: 2) }
        }
    }

    /// Sealing stamps every owned page with the transaction and a checksum that verifies;
    /// one flipped byte no longer does.
    @Test func sealingStampsTransactionAndChecksum() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        try Self.withPages(of: db) { pages, transaction in
            let (single, page) = try pages.allocate(1)
            let (run, runPage) = try pages.allocate(3)
            page.setU64(PageLayout.headerSize, 0xABCD)
            runPage.setU64(3 * pages.pageSize - 8, 0x1234)
            pages.seal()
            for (number, sealed) in [(single, page), (run, runPage)] {
                #expect(sealed.txnID == transaction.committingTransactionID)
                try sealed.verifyChecksum(pages.pageChecksum, number: number)
            }
            page.setU8(PageLayout.headerSize + 3, 0x55)
            #expect(throws: MapStoreError.self) { try page.verifyChecksum(pages.pageChecksum, number: single) }
        }
    }

    /// A run counts every page it holds, and the owned range spans from the lowest page to
    /// the end of the highest run.
    @Test func runsCountEveryPageTheyHold() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory, mode: .writeMap)
        try Self.withPages(of: db) { pages, _ in
            let (single, _) = try pages.allocate(1)
            let (run, _) = try pages.allocate(4)
            #expect(pages.runLength(run) == 4)
            #expect(pages.runLength(single) == 1)
            #expect(pages.dirtyPageCount == 5)
            let range = pages.pageRange()
            #expect(range.lowerBound == min(single, run))
            #expect(range.upperBound == max(single + 1, run + 4))
        }
    }

    /// In heap mode a transaction takes its single-page copies from the pool (allocating
    /// when it is empty) and its end gives every one back.
    @Test func heapCopiesGoBackToThePool() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        let before = try db.environment.withWriter(timeout: nil) { writer in writer.bufferPool.count }
        let owned = try Self.withPages(of: db) { pages, _ in
            for _ in 0..<(before + 5) { _ = try pages.allocate(1) }
            #expect(pages.bufferPool?.count == 0)  // every kept buffer taken, five allocated
            return pages.dirty.count
        }
        #expect(owned == before + 5)
        let after = try db.environment.withWriter(timeout: nil) { writer in writer.bufferPool.count }
        #expect(after == before + 5)
    }

    /// Whatever the view did, a transaction that ends without committing leaves the file's
    /// commit and entries as they were, and the next write transaction works.
    @Test func anEndedTransactionChangesNothing() throws {
        let directory = TemporaryDirectory()
        let db = try Self.database(directory)
        let (txnID, pageCount) = try db.read { txn in (txn.base.txnID, txn.base.pageCount) }
        try Self.withPages(of: db) { pages, _ in
            let root = try db.read { txn in txn.base.main.root }
            _ = try pages.writablePage(root, checkingCells: true)
            for _ in 0..<10 { _ = try pages.allocate(1) }
        }
        let (txnAfter, pagesAfter, entries) = try db.read { txn in (txn.base.txnID, txn.base.pageCount, try txn.count()) }
        #expect(txnAfter == txnID)
        #expect(pagesAfter == pageCount)
        #expect(entries == 400)
        try db.write { txn in try txn.put("after", "yes") }
        #expect(try db.read { txn in try txn.getString("after") } == "yes")
        #expect(try db.check().isEmpty)
    }
}
