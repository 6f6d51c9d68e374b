/// Observation: async sequences that yield after commits, of this process and of every other
/// process that has the file open (docs/observation.md).
///
/// ```swift
/// for await event in db.commits() {
///     print("commit \(event.transactionID)")
/// }
/// for try await change in try db.changes(forKey: "apple") {
///     print(change.value.map { String(decoding: $0, as: UTF8.self) } ?? "deleted")
/// }
/// ```
///
/// Each process has one thread per open file that waits for commits while anything observes it
/// (a futex wait on the lock file's published transaction id, which every writer wakes after
/// each durable commit when someone waits); the sequences themselves never block a thread of
/// Swift's cooperative pool. A writer never waits for an observer: a consumer slower than the
/// commits gets one element that stands for all it missed (the newest). Cancelling the task
/// that iterates a sequence ends it; so does dropping the sequence and its iterator.
extension Database {
    /// An async sequence with an element after each commit made from now on, by this process
    /// or another: its transaction id and, with `reportingTables`, which tables it changed.
    ///
    /// A consumer that falls behind gets one event for all the commits it missed: the newest
    /// transaction id (ids grow by one per commit, so the gap says how many) and the union of
    /// their tables. Commits published together (``Options/groupCommit``) are one event.
    ///
    /// - Parameter reportingTables: Fill ``CommitEvent/changedTables``. It costs a pass over the
    ///   main tree's entries for each event (the tables are listed among its keys), skipped when
    ///   the main tree did not change; cheap when the main tree holds little besides tables.
    public func commits(reportingTables: Bool = false) -> CommitEvents {
        let start = publishedTransaction
        let feed = CommitFeed(database: self, start: start, reportingTables: reportingTables)
        return CommitEvents(feed: Changes(subscription: Subscription(mailbox: feed.mailbox, subscriber: feed, watch: environment.commitWatch, told: start)))
    }

    /// An async sequence of the value under `key` (in `table`, or the main tree): first the value
    /// now, then the new value after each commit that changed it (nil: the key is absent).
    ///
    /// After a commit that did not change the tree the key lives in, it costs one read of that
    /// tree's root page (and, in a table, a lookup of the table); otherwise a lookup of the key
    /// and a comparison with the last value. A consumer that falls behind gets only the newest
    /// value. Throws ``MapStoreError/keyTooLarge(size:limit:)`` for a key that cannot exist, or
    /// what reading the value now throws; the sequence throws what a later read meets (a
    /// damaged page) and ends.
    public func changes<K: Collection<UInt8>>(forKey key: K, inTable table: String? = nil) throws(MapStoreError) -> Changes<ValueChange> {
        let start = publishedTransaction
        let feed = try StateFeed(database: self, tree: try observedTree(table), target: .key(Array(key))) { transaction, value in
            guard case let .value(bytes) = value else { preconditionFailure("a key observation read entries") }
            return ValueChange(transactionID: transaction, value: bytes)
        }
        return Changes(subscription: Subscription(mailbox: feed.mailbox, subscriber: feed, watch: environment.commitWatch, told: start))
    }

    /// An async sequence of the value under the UTF-8 bytes of `key`; see ``changes(forKey:inTable:)-(K,_)``.
    public func changes(forKey key: String, inTable table: String? = nil) throws(MapStoreError) -> Changes<ValueChange> {
        try changes(forKey: Array(key.utf8), inTable: table)
    }

    /// An async sequence of the entries in `range` (of `table`, or the main tree): first the
    /// entries now, then all of them again after each commit that changed any.
    ///
    /// After a commit that did not change the tree, it costs one read of its root page; otherwise
    /// a scan of the range, copying every entry, and a comparison with the last copy, which the
    /// observation keeps: meant for ranges of modest size. A consumer that falls behind gets
    /// only the newest entries. Throws what scanning the range now throws; the sequence throws
    /// what a later scan meets (a damaged page) and ends.
    public func changes(in range: KeyRange, inTable table: String? = nil) throws(MapStoreError) -> Changes<RangeChange> {
        let start = publishedTransaction
        let feed = try StateFeed(database: self, tree: try observedTree(table), target: .range(range)) { transaction, value in
            guard case let .entries(entries) = value else { preconditionFailure("a range observation read a value") }
            return RangeChange(transactionID: transaction, entries: entries)
        }
        return Changes(subscription: Subscription(mailbox: feed.mailbox, subscriber: feed, watch: environment.commitWatch, told: start))
    }

    /// An async sequence of the entries whose keys start with `prefix`; see ``changes(in:inTable:)``.
    public func changes(prefix: [UInt8], inTable table: String? = nil) throws(MapStoreError) -> Changes<RangeChange> {
        try changes(in: .prefix(prefix), inTable: table)
    }

    /// An async sequence of the entries whose keys start with the UTF-8 bytes of `prefix`; see ``changes(in:inTable:)``.
    public func changes(prefix: String, inTable table: String? = nil) throws(MapStoreError) -> Changes<RangeChange> {
        try changes(in: .prefix(prefix), inTable: table)
    }

    private func observedTree(_ table: String?) throws(MapStoreError) -> TreeID {
        guard let table else { return .main }
        guard !table.isEmpty, table.utf8.count <= maxKeySize else {
            throw MapStoreError.invalidArgument(reason: "table name must be 1...\(maxKeySize) bytes of UTF-8")
        }
        return .table(table)
    }

    /// The published commit an observation starts after: taken before its first read, so a
    /// commit published in between is looked at again rather than missed.
    private var publishedTransaction: UInt64 { environment.commitWatch.signal.transaction }
}

/// A commit, as ``Database/commits(reportingTables:)`` yields it.
public struct CommitEvent: Sendable, Hashable {
    /// The id of the newest commit this event stands for. It is the commit's own when the
    /// consumer kept up; a consumer that fell behind gets the newest, and the commits in
    /// between (ids grow by one per commit) are folded into this event.
    public var transactionID: UInt64
    /// The tables the commits of this event created, wrote or dropped, by name; nil unless the
    /// sequence reports tables, and for an event whose tables could not be read (a damaged page).
    /// Keys outside tables (the main tree's own) are not named here: observe them with
    /// ``Database/changes(forKey:inTable:)-(K,_)`` or ``Database/changes(in:inTable:)``.
    public var changedTables: Set<String>?

    /// An event for `transactionID` naming `changedTables`.
    public init(transactionID: UInt64, changedTables: Set<String>? = nil) {
        self.transactionID = transactionID
        self.changedTables = changedTables
    }
}

/// A key's value after a commit, as ``Database/changes(forKey:inTable:)-(K,_)`` yields it.
public struct ValueChange: Sendable, Hashable {
    /// The commit the value was read at.
    public var transactionID: UInt64
    /// The value under the key at that commit; nil when the key is absent.
    public var value: [UInt8]?

    /// The value `value` at commit `transactionID`.
    public init(transactionID: UInt64, value: [UInt8]?) {
        self.transactionID = transactionID
        self.value = value
    }
}

/// A range's entries after a commit, as ``Database/changes(in:inTable:)`` yields them.
public struct RangeChange: Sendable {
    /// The commit the entries were read at.
    public var transactionID: UInt64
    /// Every entry of the range at that commit, in key order, copied.
    public var entries: [(key: [UInt8], value: [UInt8])]

    /// The entries `entries` at commit `transactionID`.
    public init(transactionID: UInt64, entries: [(key: [UInt8], value: [UInt8])]) {
        self.transactionID = transactionID
        self.entries = entries
    }
}

/// The commits of ``Database/commits(reportingTables:)``: an `AsyncSequence` that never throws
/// and ends only when the task iterating it is cancelled. Iterate it once (one task at a time).
public struct CommitEvents: AsyncSequence, Sendable {
    /// A commit sequence never throws.
    public typealias Failure = Never

    /// The same feed as a key's or a range's; a commit feed posts no failure.
    let feed: Changes<CommitEvent>

    /// The iterator; the observation it holds ends when the iterator and the sequence are gone.
    public func makeAsyncIterator() -> Iterator {
        Iterator(feed: feed.makeAsyncIterator())
    }

    /// Waits for the next commit (suspended, holding no thread); nil once the task was cancelled.
    public struct Iterator: AsyncIteratorProtocol {
        var feed: Changes<CommitEvent>.Iterator

        /// The next commit event, or nil once the observation ended.
        public mutating func next() async -> CommitEvent? {
            try? await feed.next()
        }
    }
}

/// The states of a key or range of ``Database/changes(forKey:inTable:)-(K,_)`` and
/// ``Database/changes(in:inTable:)``: an `AsyncSequence` that yields the state now, then the
/// new state after each commit that changed it, and ends when the task iterating it is
/// cancelled, or by throwing the ``MapStoreError`` a read met. Iterate it once (one task at a time).
public struct Changes<Element: Sendable>: AsyncSequence, Sendable {
    /// What a read met (a damaged page); the sequence ends after throwing it.
    public typealias Failure = MapStoreError

    let subscription: Subscription<Element>

    /// The iterator; the observation it holds ends when the iterator and the sequence are gone.
    public func makeAsyncIterator() -> Iterator {
        Iterator(subscription: subscription)
    }

    /// Waits for the next state (suspended, holding no thread); nil once the task was cancelled.
    public struct Iterator: AsyncIteratorProtocol {
        /// What a read met (a damaged page).
        public typealias Failure = MapStoreError

        let subscription: Subscription<Element>

        /// The next state, or nil once the observation ended.
        public mutating func next() async throws(MapStoreError) -> Element? {
            try await subscription.next()
        }
    }
}
