/// A call the simulated kernel refuses, as Linux would with EINVAL or ENOMEM.
///
/// The model's own error: MapStoreVM imports nothing of the store. Each case has a stable
/// ``code`` that scripts and tests can match on, and a ``description`` that names the call
/// and what is wrong with its arguments. A trace replay reports it with the trace's line
/// (``TraceReplayError``).
public enum VMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `call` was given an address that is not a multiple of the page size.
    case unalignedAddress(call: String, address: UInt64)
    /// `call` was given a length of 0.
    case emptyRange(call: String)
    /// `call`'s range, rounded up to whole pages, ends past the user address space.
    case pastUserSpace(call: String)
    /// `mmap` of a file at an offset that is not a multiple of the page size.
    case unalignedFileOffset(offset: UInt64)
    /// `spawn` or `fork` past the most processes the model has address-space ids for.
    case tooManyProcesses(limit: Int)
    /// `spawn` or `fork` found no free physical frame for the new process's top-level page table.
    case noFrameForPageTable

    /// A short, stable name for the kind of error (`"unalignedAddress"`, ...).
    public var code: String {
        switch self {
        case .unalignedAddress: "unalignedAddress"
        case .emptyRange: "emptyRange"
        case .pastUserSpace: "pastUserSpace"
        case .unalignedFileOffset: "unalignedFileOffset"
        case .tooManyProcesses: "tooManyProcesses"
        case .noFrameForPageTable: "noFrameForPageTable"
        }
    }

    /// One line naming the call and what is wrong.
    public var description: String {
        switch self {
        case let .unalignedAddress(call, address): "\(call): address 0x\(String(address, radix: 16)) is not page aligned"
        case let .emptyRange(call): "\(call): length is 0"
        case let .pastUserSpace(call): "\(call): range ends past the user address space"
        case let .unalignedFileOffset(offset): "mmap: file offset \(offset) is not page aligned"
        case let .tooManyProcesses(limit): "spawn: at most \(limit) processes (12-bit PCIDs)"
        case .noFrameForPageTable: "spawn: physical memory has no room for another page table"
        }
    }
}
