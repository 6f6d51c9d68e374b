import Atomics
import Dispatch

/// One party told of commits by a ``CommitWatch``: an observation of commits, a key or a range.
protocol CommitSubscriber: AnyObject, Sendable {
    /// Called on the watch's thread once the published transaction id is `published` and this
    /// subscriber was last told of another one. It reads what it watches and hands its consumer
    /// what changed; it must never wait for that consumer.
    func committed(_ published: UInt64)
}

/// The thread that waits for commits on behalf of one open file's observers in this process.
///
/// One per ``Environment``, started by the first subscriber and ended when the last one leaves,
/// so a process with no observers has no thread and its commits make no system call. The thread
/// sleeps in a futex wait on the ``CommitSignal`` (the lock file's published transaction id,
/// which every process's writers store after each durable commit), so a commit of any process
/// wakes it; it then calls every subscriber that has not been told of that id, one after the
/// other, and sleeps again. It is a thread of a serial dispatch queue of its own, outside Swift's
/// cooperative pool, like the writer queue.
///
/// A wait also ends after ``idleWakeNanoseconds``: a subscriber that leaves wakes the thread
/// (``CommitSignal/wakeAll()``), but a wake that comes just before the thread goes to sleep is
/// lost (the word it sleeps on did not change), and then the timeout is what lets it see that
/// nobody is left and exit. The same timeout bounds how late a commit is seen whose writer wakes
/// nobody (a build older than the commit waiters, which publishes without a wake).
package final class CommitWatch: Sendable {
    /// How long the thread sleeps without a commit before it looks again: a second. (Tests that
    /// check that a commit's wake is what ends the sleep set it to an hour.)
    package static var idleWake: Duration {
        get { .nanoseconds(idleWakeNanoseconds.load(ordering: .relaxed)) }
        set { idleWakeNanoseconds.store(newValue.nanoseconds, ordering: .relaxed) }
    }
    private static let idleWakeNanoseconds = ManagedAtomic<Int64>(1_000_000_000)

    /// Watch loops running (0 or 1): the thread is back in the dispatch pool when it is 0.
    /// For tests that check that an ended observation leaves no thread behind.
    let liveThreads = ManagedAtomic<Int>(0)

    private struct Entry {
        let subscriber: any CommitSubscriber
        /// The published id this subscriber was last called for (or subscribed at).
        var told: UInt64
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        /// Whether the thread's loop runs (or is queued to).
        var running = false
        /// The published id the thread sleeps on, while it sleeps.
        var sleepingOn: UInt64?
    }

    let signal: CommitSignal
    /// What keeps the signal's memory mapped while the thread may touch it (the reader table or
    /// the local word): held by the running loop, so a file closed meanwhile is unmapped after.
    private let signalOwner: AnyObject & Sendable
    private let queue: DispatchQueue
    private let state = Lock(State())

    init(signal: CommitSignal, owner: AnyObject & Sendable, path: String) {
        self.signal = signal
        self.signalOwner = owner
        self.queue = DispatchQueue(label: "MapStore commit watch \(path)")
    }

    /// Adds `subscriber`, which has seen everything up to the published id `told`, and starts
    /// the thread if it is not running.
    func add(_ subscriber: any CommitSubscriber, told: UInt64) {
        let (start, wake) = state.withLock { state -> (Bool, Bool) in
            state.entries[ObjectIdentifier(subscriber)] = Entry(subscriber: subscriber, told: told)
            if !state.running {
                state.running = true
                return (true, false)
            }
            // Asleep on a newer id than the subscriber has seen: wake the thread to tell it.
            return (false, state.sleepingOn.map { $0 != told } ?? false)
        }
        if start {
            queue.async { [self] in run() }
        } else if wake {
            signal.wakeAll()
        }
    }

    /// Removes `subscriber`; the last one to leave wakes the thread so that it exits.
    func remove(_ subscriber: any CommitSubscriber) {
        let wake = state.withLock { state -> Bool in
            state.entries.removeValue(forKey: ObjectIdentifier(subscriber)) != nil && state.entries.isEmpty && state.sleepingOn != nil
        }
        if wake { signal.wakeAll() }
    }

    /// The thread's loop: tell every subscriber behind the published id, or sleep until it moves.
    private func run() {
        liveThreads.wrappingIncrement(ordering: .sequentiallyConsistent)
        defer { liveThreads.wrappingDecrement(ordering: .sequentiallyConsistent) }
        withExtendedLifetime(signalOwner) {
            while true {
                let step = state.withLock { state -> (due: [any CommitSubscriber], published: UInt64)? in
                    guard !state.entries.isEmpty else {
                        state.running = false
                        state.sleepingOn = nil
                        return nil
                    }
                    let published = signal.transaction
                    var due: [any CommitSubscriber] = []
                    for key in state.entries.keys where state.entries[key]!.told != published {
                        due.append(state.entries[key]!.subscriber)
                        state.entries[key]!.told = published
                    }
                    state.sleepingOn = due.isEmpty ? published : nil
                    return (due, published)
                }
                guard let step else { return }
                if step.due.isEmpty {
                    _ = signal.wait(whileAt: step.published, timeoutNanoseconds: CommitWatch.idleWakeNanoseconds.load(ordering: .relaxed))
                } else {
                    for subscriber in step.due { subscriber.committed(step.published) }
                }
            }
        }
    }
}
