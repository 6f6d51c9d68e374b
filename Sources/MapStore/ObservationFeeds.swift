/// What sits between the commit watch's thread and an observation's consumer: a mailbox that
/// holds at most one element, and the subscribers that fill it (a commit feed, a key's, a range's).
///
/// The watch's thread never waits for a consumer: it posts into the mailbox and goes on. A
/// consumer that is slower than the commits finds one element there, the newest, merged with
/// the ones it missed (a commit event keeps the newest id and the union of the tables; a value
/// or a range keeps only the newest state). So memory stays bounded however slow the consumer.

/// One element waiting for its consumer, or the consumer waiting for one.
final class Mailbox<Element: Sendable>: Sendable {
    private struct State {
        var pending: Element?
        var failure: MapStoreError?
        /// Ended (cancelled, or failed and the failure taken): nothing more is posted or taken.
        var isOver = false
        var waiter: CheckedContinuation<Result<Element?, MapStoreError>, Never>?
    }

    private let state = Lock(State())

    /// Hands `element` to the waiting consumer, or leaves it for the next ``take()``, merged into
    /// the one already waiting by `merge(older, newer)`.
    func post(_ element: Element, merging merge: (Element, Element) -> Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<Element?, MapStoreError>, Never>? in
            guard !state.isOver else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = state.pending.map { merge($0, element) } ?? element
            return nil
        }
        waiter?.resume(returning: .success(element))
    }

    /// Ends the feed with `error`, thrown once by the next ``take()`` (after an element still
    /// waiting); every take after that returns nil.
    func fail(_ error: MapStoreError) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<Element?, MapStoreError>, Never>? in
            guard !state.isOver, state.failure == nil else { return nil }
            guard let waiter = state.waiter else {
                state.failure = error
                return nil
            }
            state.waiter = nil
            state.isOver = true
            return waiter
        }
        waiter?.resume(returning: .failure(error))
    }

    /// Ends the feed: a waiting consumer gets nil, and so does every later ``take()``.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Result<Element?, MapStoreError>, Never>? in
            state.isOver = true
            state.pending = nil
            state.failure = nil
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .success(nil))
    }

    var isOver: Bool { state.withLock { $0.isOver || $0.failure != nil } }

    /// The next element, waiting for one if none is there; nil once the feed ended. One
    /// consumer at a time.
    func take() async -> Result<Element?, MapStoreError> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<Element?, MapStoreError>? in
                if let pending = state.pending {
                    state.pending = nil
                    return .success(pending)
                }
                if let failure = state.failure {
                    state.isOver = true
                    state.failure = nil
                    return .failure(failure)
                }
                if state.isOver { return .success(nil) }
                precondition(state.waiter == nil, "an observation is iterated by two tasks at once")
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// An observation's hold on the commit watch: its subscriber and mailbox. Ending it (the
/// consumer's task cancelled, the sequence ended, or the last sequence and iterator holding it
/// gone) removes the subscriber, so the watch's thread exits when nobody else is left.
final class Subscription<Element: Sendable>: Sendable {
    let mailbox: Mailbox<Element>
    private let watch: CommitWatch
    private let subscriber: any CommitSubscriber

    /// Subscribes `subscriber`, which has seen every commit up to the published id `told`.
    init(mailbox: Mailbox<Element>, subscriber: any CommitSubscriber, watch: CommitWatch, told: UInt64) {
        self.mailbox = mailbox
        self.subscriber = subscriber
        self.watch = watch
        watch.add(subscriber, told: told)
    }

    deinit {
        end()
    }

    /// Ends the observation; idempotent.
    func end() {
        mailbox.finish()
        watch.remove(subscriber)
    }

    /// The next element; nil once the observation ended (a cancelled task's ends here).
    func next() async throws(MapStoreError) -> Element? {
        if Task.isCancelled {
            end()
            return nil
        }
        let result = await withTaskCancellationHandler {
            await mailbox.take()
        } onCancel: {
            end()
        }
        switch result {
        case let .success(element?):
            return element
        case .success(nil):
            end()
            return nil
        case let .failure(error):
            end()
            throw error
        }
    }
}

// MARK: The subscribers

/// Tells a ``CommitEvents`` sequence of each commit, and with `reportingTables` which tables
/// changed: the version (``TreeVersion``) of every table, compared with the one at the last
/// event. Listing them is a pass over the main tree's entries, skipped when the main tree's own
/// version did not change.
final class CommitFeed: CommitSubscriber {
    private struct State {
        /// The newest commit an event was made for (or the sequence started at).
        var last: UInt64
        /// The main tree's version and every table's at `last`; nil when not reporting tables,
        /// or when they could not be read (then the next event's tables are unknown).
        var main: TreeVersion?
        var tables: [String: TreeVersion]?
    }

    let mailbox = Mailbox<CommitEvent>()
    private let database: Database
    private let reportingTables: Bool
    private let state: Lock<State>

    /// A feed of the commits after `start` (a published transaction id).
    init(database: Database, start: UInt64, reportingTables: Bool) {
        self.database = database
        self.reportingTables = reportingTables
        var initial = State(last: start)
        if reportingTables {
            // The baseline of the first event's tables (left unknown if the pages are damaged).
            _ = try? database.read { txn in
                initial = State(last: max(start, txn.transactionID), main: try txn.version(of: .main), tables: try txn.tableVersions())
            }
        }
        state = Lock(initial)
    }

    func committed(_ published: UInt64) {
        guard !mailbox.isOver else { return }
        let event = state.withLock { state in
            reportingTables ? eventNamingTables(published, &state) : plainEvent(published, &state)
        }
        guard let event else { return }
        mailbox.post(event) { older, newer in
            let tables = older.changedTables.flatMap { older in newer.changedTables.map { older.union($0) } }
            return CommitEvent(transactionID: newer.transactionID, changedTables: tables)
        }
    }

    private func plainEvent(_ published: UInt64, _ state: inout State) -> CommitEvent? {
        guard published > state.last else { return nil }
        state.last = published
        return CommitEvent(transactionID: published, changedTables: nil)
    }

    private func eventNamingTables(_ published: UInt64, _ state: inout State) -> CommitEvent? {
        let now: (transaction: UInt64, main: TreeVersion, tables: [String: TreeVersion])?
        do {
            now = try database.read { txn in
                guard txn.transactionID > state.last else { return nil }
                let main = try txn.version(of: .main)
                // An unchanged main tree holds unchanged tables (say, a commit of the snapshot catalog alone).
                let known = main == state.main ? state.tables : nil
                return (txn.transactionID, main, try known ?? txn.tableVersions())
            }
        } catch {
            // A damaged page on the way: the commit is still told, its tables as unknown.
            state.main = nil
            state.tables = nil
            return plainEvent(published, &state)
        }
        guard let now else { return nil }
        let before = state.tables
        state = State(last: now.transaction, main: now.main, tables: now.tables)
        guard let before else { return CommitEvent(transactionID: now.transaction, changedTables: nil) }
        var changed = Set(now.tables.compactMap { name, version in before[name] == version ? nil : name })
        for name in before.keys where now.tables[name] == nil { changed.insert(name) }
        return CommitEvent(transactionID: now.transaction, changedTables: changed)
    }
}

/// What a key or range observation watches: one key's value, or the entries of a range, in one tree.
enum ObservedTarget: Sendable {
    case key([UInt8])
    case range(KeyRange)
}

/// Tells a ``Changes`` sequence the new value of a key, or the new entries of a range, after
/// each commit that changed them. A commit that left the tree's version as it was
/// (``TreeVersion``) costs one root-page read; otherwise the key is looked up again (the range
/// read again, a copy of every entry) and compared with what was last handed on.
final class StateFeed<Element: Sendable>: CommitSubscriber {
    private struct State {
        var version: TreeVersion
        var value: ObservedValue
        var last: UInt64
    }

    let mailbox = Mailbox<Element>()
    private let database: Database
    private let tree: TreeID
    private let target: ObservedTarget
    private let makeElement: @Sendable (UInt64, ObservedValue) -> Element
    private let state: Lock<State>

    /// Reads the current state (thrown: a damaged page, a key that is too long) and leaves it in
    /// the mailbox as the first element.
    init(database: Database, tree: TreeID, target: ObservedTarget,
         makeElement: @escaping @Sendable (UInt64, ObservedValue) -> Element) throws(MapStoreError) {
        self.database = database
        self.tree = tree
        self.target = target
        self.makeElement = makeElement
        let initial = try StateFeed.read(database, tree, target, unless: nil)!
        state = Lock(initial)
        mailbox.post(makeElement(initial.last, initial.value)) { $1 }
    }

    /// The state at the newest commit, or nil when the tree's version is still `known`.
    private static func read(_ database: Database, _ tree: TreeID, _ target: ObservedTarget,
                             unless known: TreeVersion?) throws(MapStoreError) -> State? {
        do {
            return try database.read { txn -> State? in
                let version = try txn.version(of: tree)
                if version == known { return nil }
                switch target {
                case let .key(key):
                    return State(version: version, value: .value(try txn.get(key, in: tree)), last: txn.transactionID)
                case let .range(range):
                    var scan = Scan(transaction: txn, tree: tree, range: range, reverse: false)
                    return State(version: version, value: .entries(try scan.collect(limit: .max)), last: txn.transactionID)
                }
            }
        } catch let error as MapStoreError {
            throw error
        } catch {
            preconditionFailure("a read threw \(error)")
        }
    }

    func committed(_ published: UInt64) {
        guard !mailbox.isOver else { return }
        let result = state.withLock { state -> Result<Element?, MapStoreError> in
            do throws(MapStoreError) {
                guard let now = try StateFeed.read(database, tree, target, unless: state.version), now.last > state.last else { return .success(nil) }
                let changed = now.value != state.value
                state = now
                return .success(changed ? makeElement(now.last, now.value) : nil)
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case let .success(element?): mailbox.post(element) { $1 }
        case .success(nil): break
        case let .failure(error): mailbox.fail(error)
        }
    }
}

/// A key's value or a range's entries, as a ``StateFeed`` compares them.
enum ObservedValue: Sendable, Equatable {
    case value([UInt8]?)
    case entries([(key: [UInt8], value: [UInt8])])

    static func == (a: ObservedValue, b: ObservedValue) -> Bool {
        switch (a, b) {
        case let (.value(x), .value(y)): return x == y
        case let (.entries(x), .entries(y)): return x.elementsEqual(y) { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }
}
