
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

    final class WeakEnvironment: @unchecked Sendable {
        weak var environment: Environment?
        init(_ environment: Environment) { self.environment = environment }
    }

    static let open = Lock<[Key: WeakEnvironment]>([:])

    static func key(forPath path: String) -> Key? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// The environment of `path`: the one already open in this process, or a new one.
    static func environment(path: String, options: Options) throws(MapStoreError) -> Environment {
        if options.mappingMode == .privateCopyOnWrite && !options.readOnly {
            return try Environment(path: path, options: options)
        }
        let result: Result<Environment, MapStoreError> = open.withLock { table in
            if let key = key(forPath: path), let existing = table[key]?.environment {
                let mine = existing.options
                guard mine.mappingMode == options.mappingMode, mine.readOnly == options.readOnly else {
                    return .failure(.invalidArgument(reason: "\(path) is already open in this process with mapping mode \(mine.mappingMode)\(mine.readOnly ? " (read-only)" : ""); open it with the same options"))
                }
                return .success(existing)
            }
            do throws(MapStoreError) {
                let environment = try Environment(path: path, options: options)
                if let key = key(forPath: path) {
                    table = table.filter { $0.value.environment != nil }
                    table[key] = WeakEnvironment(environment)
                }
                return .success(environment)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
