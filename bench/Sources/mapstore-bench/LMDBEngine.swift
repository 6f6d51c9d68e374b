import CLMDB

/// LMDB through its C API, configured like db_bench's LMDB port: MDB_NOSYNC|MDB_NOMETASYNC
/// for the non-durable workloads, default flags (two syncs per commit) for the durable ones.
final class LMDBEngine: Engine {
    let env: OpaquePointer
    let dbi: MDB_dbi

    init(directory: String, durable: Bool) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        self.env = env!
        try check(mdb_env_set_mapsize(env, benchMapSize ?? 1 << 37), "mdb_env_set_mapsize")
        try check(mdb_env_set_maxreaders(env, 16), "mdb_env_set_maxreaders")
        let flags = durable ? 0 : UInt32(MDB_NOSYNC | MDB_NOMETASYNC)
        try check(mdb_env_open(env, directory, flags, 0o644), "mdb_env_open \(directory)")
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn, nil, 0, &dbi), "mdb_dbi_open")
        try check(mdb_txn_commit(txn), "mdb_txn_commit")
        self.dbi = dbi
    }

    func close() {
        mdb_env_close(env)
    }

    func readerHandle() throws -> Engine { self }

    func write(_ keys: KeySet, _ order: ArraySlice<Int32>, value: UnsafeRawBufferPointer, batch: Int) throws {
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        var i = order.startIndex
        while i < order.endIndex {
            var txn: OpaquePointer?
            try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
            let end = min(order.endIndex, i + batch)
            while i < end {
                let key = keys[order[i]]
                var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
                try check(mdb_put(txn, dbi, &k, &v, 0), "mdb_put")
                i += 1
            }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
        }
    }

    func delete(_ keys: KeySet, _ order: ArraySlice<Int32>, batch: Int) throws -> Int {
        var deleted = 0
        var i = order.startIndex
        while i < order.endIndex {
            var txn: OpaquePointer?
            try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
            let end = min(order.endIndex, i + batch)
            while i < end {
                let key = keys[order[i]]
                var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
                let rc = mdb_del(txn, dbi, &k, nil)
                if rc == 0 { deleted += 1 } else if rc != MDB_NOTFOUND { try check(rc, "mdb_del") }
                i += 1
            }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
        }
        return deleted
    }

    func get(_ keys: KeySet, _ order: ArraySlice<Int32>) throws -> Int {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        var found = 0
        var touched = 0
        var v = MDB_val()
        for index in order {
            let key = keys[index]
            var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
            let rc = mdb_get(txn, dbi, &k, &v)
            if rc == 0 {
                found += 1
                touched &+= v.mv_size > 0 ? Int(v.mv_data.load(as: UInt8.self)) : 0
            } else if rc != MDB_NOTFOUND { try check(rc, "mdb_get") }
        }
        blackHole(touched)
        return found
    }

    func scan(reverse: Bool) throws -> Int {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var count = 0, touched = 0
        var rc = mdb_cursor_get(cursor, &k, &v, reverse ? MDB_LAST : MDB_FIRST)
        while rc == 0 {
            count += 1
            touched &+= Int(k.mv_size) &+ Int(v.mv_size)
            rc = mdb_cursor_get(cursor, &k, &v, reverse ? MDB_PREV : MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get") }
        blackHole(touched)
        return count
    }

    func seek(_ keys: KeySet, _ order: ArraySlice<Int32>, entries: Int) throws -> Int {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var read = 0, touched = 0
        var v = MDB_val()
        for index in order {
            let key = keys[index]
            var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
            var rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            var n = 0
            while rc == 0 {
                read += 1
                touched &+= Int(k.mv_size) &+ Int(v.mv_size)
                n += 1
                if n == entries { break }
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            if rc != 0 && rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get") }
        }
        blackHole(touched)
        return read
    }
}

private func check(_ rc: Int32, _ what: @autoclosure () -> String) throws {
    guard rc != 0 else { return }
    throw BenchError(description: "LMDB \(what()): \(String(cString: mdb_strerror(rc)))")
}

/// Keeps the optimizer from dropping reads whose result is otherwise unused.
@inline(never)
func blackHole(_ value: Int) {
    if value == 0x5EED_5EED { print("") }
}
