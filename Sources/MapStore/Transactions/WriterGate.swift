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

    /// Waits for the writer lock.
    func lock() throws(MapStoreError) {
        let result = pthread_mutex_lock(mutex)
        if result == EDEADLK {
            throw MapStoreError.invalidArgument(reason: "a write transaction is already open on this thread (nested write)")
        }
        precondition(result == 0, "pthread_mutex_lock failed: \(result)")
        guard let lockFile else { return }
        while cshim_ofd_setlk(lockFile, cshim_f_wrlck(), 0, 1, 1) != 0 {
            let code = errno
            if code == EINTR { continue }
            pthread_mutex_unlock(mutex)
            throw MapStoreError.io(errno: code, operation: "fcntl(F_OFD_SETLKW) writer lock", path: path)
        }
    }

    /// Releases the writer lock.
    func unlock() {
        if let lockFile { _ = cshim_ofd_setlk(lockFile, cshim_f_unlck(), 0, 1, 0) }
        pthread_mutex_unlock(mutex)
    }
}
