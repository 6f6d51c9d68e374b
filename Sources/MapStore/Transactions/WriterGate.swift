import CShims

#if canImport(Glibc)
import Glibc
#endif

/// One writer at a time: a mutex between the threads of this process, and an OFD `fcntl`
/// lock on the lock file between processes (the kernel drops it if the process dies).
final class WriterGate: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let lockFile: Int32?
    private let path: String

    /// `lockFile` is the lock file's descriptor, or nil when no other process can write
    /// (a private copy-on-write handle).
    init(lockFile: Int32?, path: String) {
        self.lockFile = lockFile
        self.path = path
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        // An error-checking mutex reports a nested write transaction on the same thread
        // (EDEADLK) instead of hanging.
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Waits for the writer lock, for at most `timeout` (nil: for ever).
    func lock(timeout: Duration? = nil) throws(MapStoreError) {
        let deadline = timeout.map { Deadline(after: $0) }
        var result: Int32
        if let deadline {
            var limit = deadline.timespec
            result = pthread_mutex_timedlock(mutex, &limit)
        } else {
            result = pthread_mutex_lock(mutex)
        }
        if result == EDEADLK {
            throw MapStoreError.invalidArgument(reason: "a write transaction is already open on this thread (nested write)")
        }
        if result == ETIMEDOUT {
            throw MapStoreError.locked(reason: "another thread of this process holds the writer lock of \(path)")
        }
        precondition(result == 0, "pthread_mutex_lock failed: \(result)")
        guard let lockFile else { return }
        do throws(MapStoreError) {
            try lockAcrossProcesses(lockFile, deadline: deadline)
        } catch {
            pthread_mutex_unlock(mutex)
            throw error
        }
    }

    /// Takes the OFD lock on byte 0: blocking without a deadline, else polling until it passes.
    private func lockAcrossProcesses(_ fd: Int32, deadline: Deadline?) throws(MapStoreError) {
        var pause: UInt32 = 200  // microseconds, doubling to 10 ms
        while true {
            if cshim_ofd_setlk(fd, cshim_f_wrlck(), 0, 1, deadline == nil ? 1 : 0) == 0 { return }
            let code = errno
            if code == EINTR { continue }
            guard let deadline, code == EAGAIN || code == EACCES else {
                throw MapStoreError.io(errno: code, operation: "fcntl(F_OFD_SETLKW) writer lock", path: path)
            }
            if deadline.hasPassed {
                throw MapStoreError.locked(reason: "another process holds the writer lock of \(path)")
            }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
    }

    /// Releases the writer lock.
    func unlock() {
        if let lockFile { _ = cshim_ofd_setlk(lockFile, cshim_f_unlck(), 0, 1, 0) }
        pthread_mutex_unlock(mutex)
    }
}

/// A point in CLOCK_REALTIME time (what pthread_mutex_timedlock takes).
struct Deadline {
    let nanoseconds: Int64

    init(after duration: Duration) {
        var now = Glibc.timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let (seconds, attoseconds) = duration.components
        nanoseconds = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) + seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var timespec: Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    var hasPassed: Bool { Deadline(after: .zero).nanoseconds >= nanoseconds }
}
