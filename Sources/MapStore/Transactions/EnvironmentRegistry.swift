
#if canImport(Glibc)
import Glibc
#endif

/// The environments open in this process, by the data file's device and inode.
///
/// Two `Database` values for one file must share one reader list: otherwise the writer of
/// one could reuse a page that a reader of the other still reads. So opening a file that
/// is already open returns the same environment (as LMDB users expect not to have to think
/// about it). A private copy-on-write handle is a world of its own and is never shared.
enum EnvironmentRegistry {
    struct Key: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// An open environment and how many `Database` handles use it. Counted, not weakly
    /// referenced: a weak reference gives the environment a side table, which makes every
    /// retain and release of it (one pair per transaction) take the slow path.
    struct Entry {
        let environment: Environment
        var handles: Int
    }

    static let open = Lock<[Key: Entry]>([:])

    static func key(forPath path: String) -> Key? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// The environment of `path` for a new handle: the one already open in this process, or
    /// a new one. Pair with ``release(_:)`` when the handle goes away.
    static func acquire(path: String, options: Options) throws(MapStoreError) -> Environment {
        if options.mappingMode == .privateCopyOnWrite && !options.readOnly {
            return try Environment(path: path, options: options)
        }
        // A restore that renames a new file into place while this open is under way makes it
        // fail (ReaderTable.init): open the new file instead, as an open a moment later would.
        var attempts = 0
        while true {
            do throws(MapStoreError) {
                return try acquireOnce(path: path, options: options)
            } catch .locked(let reason) where reason.hasSuffix(ReaderTable.replacedWhileOpening) && attempts < 3 {
                attempts += 1
            }
        }
    }

    private static func acquireOnce(path: String, options: Options) throws(MapStoreError) -> Environment {
        let result: Result<Environment, MapStoreError> = open.withLock { table in
            if let key = key(forPath: path), let existing = table[key] {
                let mine = existing.environment.options
                guard mine.mappingMode == options.mappingMode, mine.readOnly == options.readOnly else {
                    return .failure(.invalidArgument(reason: "\(path) is already open in this process with mapping mode \(mine.mappingMode)\(mine.readOnly ? " (read-only)" : ""); open it with the same options"))
                }
                table[key]!.handles += 1
                return .success(existing.environment)
            }
            do throws(MapStoreError) {
                let environment = try Environment(path: path, options: options)
                if let key = key(forPath: path) { table[key] = Entry(environment: environment, handles: 1) }
                return .success(environment)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// A handle of `environment` went away; the last one closes it (by dropping the table's reference).
    static func release(_ environment: Environment) {
        open.withLock { table in
            guard let key = table.first(where: { $0.value.environment === environment })?.key else { return }
            table[key]!.handles -= 1
            if table[key]!.handles == 0 { table.removeValue(forKey: key) }
        }
    }
}
