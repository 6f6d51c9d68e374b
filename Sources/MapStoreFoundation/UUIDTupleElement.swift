import Foundation
import MapStore

extension UUID: TupleElement {
    /// The UUID element: the 16 bytes of `uuid`, sorted as bytes.
    public var tupleElement: Tuple.Element { .uuid(TupleUUID(uuid)) }

    /// The UUID of a UUID element.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .uuid(value) = element else {
            throw MapStoreError.invalidArgument(reason: "expected UUID, found \(element)")
        }
        self.init(value)
    }

    /// The UUID of these 16 bytes.
    public init(_ value: TupleUUID) {
        self.init(uuid: value.uuid)
    }
}

extension TupleUUID {
    /// Foundation's `UUID` of these bytes.
    public var foundationUUID: UUID { UUID(self) }
}
