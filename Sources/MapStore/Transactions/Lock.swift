#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex.
///
/// The standard library's `Mutex` would do, but its lock is built from atomics in code that
/// ThreadSanitizer does not see into, so TSan reports every access it protects as a race;
/// `pthread_mutex_lock` is intercepted and understood. The cost is the same: an uncontended
/// lock is one atomic instruction either way.
package final class Lock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Only touched with the mutex held: the dynamic exclusivity check would cost more than the lock.
    @exclusivity(unchecked) private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    @inline(__always)
    package func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
