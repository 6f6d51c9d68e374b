import Atomics

/// The word a commit's publication changes, and the count of threads waiting for it to change.
///
/// For a handle that shares the reader table, both live in the lock file's header, mapped
/// `MAP_SHARED` by every process (the last published transaction id at byte 16, the waiter
/// count at byte 120), so a writer of any process wakes waiters of every process. A handle
/// without a shared table (a private copy-on-write world, a read-only user without a lock file)
/// has a pair of its own in this process's memory (``LocalCommitWord``).
///
/// Waiting is a futex wait on the low 32 bits of the transaction id (the word at its address,
/// little-endian): every commit changes them, and 2^32 commits never pass between a waiter's
/// look and its sleep. The protocol is the classic one, both sides sequentially consistent:
/// a waiter raises the count, then reads the id and sleeps only while it is unchanged; a writer
/// stores the id, then reads the count and wakes only when it is not zero. Either the writer
/// sees the count or the waiter sees the new id, and the kernel checks the word again as the
/// waiter goes to sleep. So a commit nobody waits for costs one more load and no system call.
struct CommitSignal: @unchecked Sendable {
    /// The published transaction id: 8 bytes, 8-aligned.
    private let word: UnsafeMutableRawPointer
    /// Threads (of every process) in ``wait(whileAt:timeoutNanoseconds:)`` on it: 4 bytes, 4-aligned.
    private let waiterWord: UnsafeMutableRawPointer

    init(transaction word: UnsafeMutableRawPointer, waiters: UnsafeMutableRawPointer) {
        precondition(Int(bitPattern: word) % 8 == 0 && Int(bitPattern: waiters) % 4 == 0, "misaligned commit signal")
        self.word = word
        self.waiterWord = waiters
    }

    private var transactionAtomic: UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: word.assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    private var waiters: UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: waiterWord.assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
    }

    /// The low half of the transaction id, the futex word.
    private var futexWord: UnsafeMutablePointer<UInt32> {
        #if _endian(little)
        return word.assumingMemoryBound(to: UInt32.self)
        #else
        return (word + 4).assumingMemoryBound(to: UInt32.self)
        #endif
    }

    /// The id of the newest published commit.
    var transaction: UInt64 { transactionAtomic.load(ordering: .sequentiallyConsistent) }

    /// Threads waiting right now (or left counted by a process killed while it waited).
    var waiterCount: UInt32 { waiters.load(ordering: .sequentiallyConsistent) }

    /// Publishes `txnID` and wakes whoever waits for a commit (no system call when nobody does).
    @inline(__always)
    func publish(_ txnID: UInt64) {
        transactionAtomic.store(txnID, ordering: .sequentiallyConsistent)
        if waiters.load(ordering: .sequentiallyConsistent) != 0 { Syscalls.futexWakeAll(futexWord) }
    }

    /// Blocks the calling thread while the published id is `seen`, for at most
    /// `timeoutNanoseconds` (or until ``wakeAll()``); returns the id then (still `seen` after
    /// a timeout or a wake that was not a commit). Never call it from Swift's cooperative pool.
    func wait(whileAt seen: UInt64, timeoutNanoseconds: Int64) -> UInt64 {
        waiters.wrappingIncrement(ordering: .sequentiallyConsistent)
        defer { waiters.wrappingDecrement(ordering: .sequentiallyConsistent) }
        let now = transaction
        guard now == seen else { return now }
        _ = Syscalls.futexWait(futexWord, expecting: UInt32(truncatingIfNeeded: seen), timeoutNanoseconds: timeoutNanoseconds)
        return transaction
    }

    /// Wakes every waiter (of every process, for the lock file's word): each looks at the id
    /// again and, when it did not change, goes back to sleep. How a waiter that is told to stop
    /// is woken early.
    func wakeAll() {
        Syscalls.futexWakeAll(futexWord)
    }

    /// Sets the waiter count to zero: only when no process has the lock file open, so none waits
    /// (a process killed while it waited leaves its count behind, which costs every commit a
    /// needless wake until then).
    func resetWaiters() {
        waiters.store(0, ordering: .sequentiallyConsistent)
    }
}

/// A ``CommitSignal`` in this process's memory, for a handle whose commits no other process
/// sees (or that has no lock file to share): it owns the 16 bytes the signal points into.
final class LocalCommitWord: @unchecked Sendable {
    private let storage: UnsafeMutableRawPointer
    let signal: CommitSignal

    init(transaction: UInt64) {
        storage = .allocate(byteCount: 16, alignment: 8)
        storage.initializeMemory(as: UInt64.self, repeating: 0, count: 2)
        signal = CommitSignal(transaction: storage, waiters: storage + 8)
        signal.publish(transaction)
    }

    deinit {
        storage.deallocate()
    }
}
