import Foundation
@testable import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// Waits until no open file description holds a liveness lock on the lock file of the
/// database at `path`, for a test whose next open must find itself alone.
///
/// A handle closed a moment ago can still count as open: a child process that another test
/// (running in parallel) spawns gets a copy of this process's descriptors, and keeps it until
/// its exec closes them. Once the lock is gone it stays gone, since no later child can copy a
/// descriptor that is already closed. Gives up after ten seconds and says so.
func waitUntilNobodyHasItOpen(_ path: String) throws {
    let lock = try Syscalls.open(path + "-lock", create: false, writable: false)
    defer { try? lock.close() }
    for _ in 0..<10_000 {
        if ReaderTable.nobodyHasItOpen(lock) { return }
        usleep(1_000)
    }
    throw MapStoreError.locked(reason: "\(path)-lock: still held 10 s after every handle of this test closed")
}
