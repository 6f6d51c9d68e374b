import CShims

#if canImport(Glibc)
import Glibc
#endif

/// One writer at a time, across threads and processes.
///
/// With a lock file, the lock is the process-shared, robust mutex in the lock file's header
/// (``ReaderTable/writerMutex``), as LMDB does it: an uncontended lock and unlock are two
/// atomic instructions, where an OFD `fcntl` lock cost two system calls per transaction
/// (2.7 µs here, more than LMDB's whole single-put transaction). If the holder dies, the
/// kernel marks the mutex and the next writer gets it with EOWNERDEAD: nothing the dead
/// writer did is reachable without its meta, so the mutex is made consistent and used.
/// Without a lock file (a private copy-on-write handle, whose writes no other process
/// sees) the mutex is this process's own.
final class WriterGate: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Whether `mutex` is this object's own (allocated and destroyed here).
    private let ownsMutex: Bool
    private let path: String

    /// `shared` is the lock file's writer mutex, or nil when no other process can write.
    init(shared: UnsafeMutablePointer<pthread_mutex_t>?, path: String) {
        self.path = path
        if let shared {
            mutex = shared
            ownsMutex = false
            return
        }
        mutex = .allocate(capacity: 1)
        ownsMutex = true
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        // An error-checking mutex reports a nested write transaction on the same thread
        // (EDEADLK) instead of hanging.
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        if ownsMutex {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }
    }

    /// Waits for the writer lock, for at most `timeout` (nil: for ever).
    func lock(timeout: Duration? = nil) throws(MapStoreError) {
        var result: Int32
        if let timeout {
            var limit = Deadline(after: timeout).timespec
            result = pthread_mutex_timedlock(mutex, &limit)
        } else {
            result = pthread_mutex_lock(mutex)
        }
        switch result {
        case 0:
            return
        case EOWNERDEAD:
            // The last writer died holding the lock: its transaction never reached a meta.
            pthread_mutex_consistent(mutex)
        case EDEADLK:
            throw MapStoreError.invalidArgument(reason: "a write transaction is already open on this thread (nested write)")
        case ETIMEDOUT:
            throw MapStoreError.locked(reason: "another writer holds the writer lock of \(path)")
        default:
            throw MapStoreError.io(errno: result, operation: "pthread_mutex_lock (writer lock)", path: path)
        }
    }

    /// Takes the writer lock if no one holds it; false (without waiting) if someone does.
    func tryLock() throws(MapStoreError) -> Bool {
        let result = pthread_mutex_trylock(mutex)
        switch result {
        case 0:
            return true
        case EBUSY:
            return false
        case EOWNERDEAD:
            pthread_mutex_consistent(mutex)
            return true
        default:
            throw MapStoreError.io(errno: result, operation: "pthread_mutex_trylock (writer lock)", path: path)
        }
    }

    /// Releases the writer lock.
    func unlock() {
        pthread_mutex_unlock(mutex)
    }
}

/// A point in CLOCK_REALTIME time (what pthread_mutex_timedlock takes).
struct Deadline {
    let nanoseconds: Int64

    init(after duration: Duration) {
        var now = Glibc.timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        nanoseconds = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) + duration.nanoseconds
    }

    var timespec: Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    var hasPassed: Bool { Deadline(after: .zero).nanoseconds >= nanoseconds }
}
