import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// A full disk is `MapStoreError.diskFull`, never SIGBUS, on a real small file system
/// (a 3 MiB tmpfs, which needs root to mount; skipped with a reason otherwise).
@Suite(.serialized) struct DiskFullTests {
    static func withSmallFileSystem(_ body: (String) throws -> Void) throws {
        let dir = TemporaryDirectory()
        let mountPoint = dir.path + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint]
        mount.standardError = FileHandle.nullDevice
        guard (try? mount.run()) != nil else {
            print("DiskFullTests skipped: /bin/mount cannot be run here")
            return
        }
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            print("DiskFullTests skipped: mounting a tmpfs needs root (mount exited \(mount.terminationStatus))")
            return
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", mountPoint]
            try? umount.run()
            umount.waitUntilExit()
        }
        try body(mountPoint)
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func aFullDiskIsAnErrorAndLosesNothing(mode: MappingMode) throws {
        try Self.withSmallFileSystem { directory in
            let path = directory + "/full.mapstore"
            let value = [UInt8](repeating: 0x5A, count: 2000)
            var committed = 0
            var failure: MapStoreError?
            do {
                let db = try Database(path: path, options: .testing(mode, durability: .full))
                for batch in 0..<100 {
                    do {
                        try db.write { txn in for i in 0..<50 { try txn.put("k\(batch * 50 + i)", value) } }
                        committed = (batch + 1) * 50
                    } catch let error as MapStoreError {
                        failure = error
                        break
                    }
                }
                #expect(failure?.code == "diskFull", "\(String(describing: failure))")
                // The handle is not poisoned: a small change that fits in the pages the file
                // already holds (freed by earlier commits) still commits.
                try db.write { txn in for i in 0..<2 { try txn.delete("k\(i)") } }
                try db.write { try $0.put("after", "full") }
                #expect(try db.read { try $0.getString("after") } == "full")
            }
            let reopened = try Database(path: path, options: .testing(mode))
            #expect(try reopened.read { try $0.count() } == committed - 2 + 1)
            #expect(try reopened.read { try $0.get("k\(committed - 1)") } == value)
            #expect(try reopened.check() == [])
        }
    }
}
